// The requantizing output stage of conv_int8 / linear_int8 over one output row
// (engine/int8_nodes.h has the arithmetic; RowStage below, its folded form), and quantize /
// dequantize. The rows in int8_requant.cc use SSE2 intrinsics: every x86-64 CPU has them,
// and written as plain C++ the clamps became branches (GCC keeps floating-point compares
// that may trap) and the loops ran scalar. Their vector and scalar parts compute the same
// float32 operations in the same order, so the result does not depend on where a row's
// vector part ends. _mm_cvtps_epi32 rounds to nearest, ties to even (the default MXCSR
// mode), as rint does.
#pragma once
#include <cstdint>

#include "cnnnative/engine.h"
#include "cnnnative/isa.h"

namespace cnnnative {
namespace engine {

// One output channel's stage over a row of pixels (engine/int8_nodes.h folds the node's
// parameters into these constants, int8_conv.cc's epilogue):
//   t = float(acc + corr) * scale + offset        (two roundings, no FMA)
//   t = t + float(r) * res_scale                  (residual r: raw uint8 q, its zero point
//                                                  in offset; or float32)
//   uint8 out: clamp(t, lo, hi) -> rint           (NaN -> lo; rint: half to even)
//   float out: relu max(0, t) / relu6 min(6, max(0, t)) (NaN kept, as the float engine)
struct RowStage {
  int32_t corr = 0;
  float scale = 1.f, offset = 0.f;
  const uint8_t* res_u8 = nullptr;  // residual row (one of these two, or neither)
  const float* res_f32 = nullptr;
  float res_scale = 1.f;
  Activation act = Activation::none;  // float output only
  float lo = 0.f, hi = 255.f;         // uint8 output's clamp
  uint8_t* out_u8 = nullptr;          // output row (one of these two)
  float* out_f32 = nullptr;
};

// One row of n values: acc (int32) -> out (int8_requant.cc, SSE2; the scalar ISA's row and
// the other rows' reference).
void requant_row(const RowStage& s, const int32_t* acc, int64_t n);

// The same row 16 lanes at a time (engine/int8_requant__avx512.cc) and 8 at a time
// (engine/int8_requant__avx2.cc), equal value for value.
void requant_row_avx512(const RowStage& s, const int32_t* acc, int64_t n);
void requant_row_avx2(const RowStage& s, const int32_t* acc, int64_t n);

using RequantRowFn = void (*)(const RowStage&, const int32_t*, int64_t);
// The row function for the active ISA (checked per node run: tests switch ISAs).
inline RequantRowFn requant_row_fn() {
  switch (active_isa()) {
    case Isa::avx512: return requant_row_avx512;
    case Isa::avx2: return requant_row_avx2;
    default: return requant_row;
  }
}

// y = clamp(rint(x * inv + zero), 0, 255) (NaN -> 0).
void quantize_row(const float* x, int64_t n, float inv, float zero, uint8_t* y);

// y = scale * (q - zero).
void dequantize_row(const uint8_t* x, int64_t n, float scale, int32_t zero, float* y);

}  // namespace engine
}  // namespace cnnnative
