// Kernels of conv_transpose_subpixel_filter_kernels.h, compiled per ISA. Include only from
// the conv_transpose_subpixel_filter_kernels*.cc files, after defining PHASE_FILTER_ISA_NS.
#include <cstdint>
#ifdef __AVX512F__
#include <immintrin.h>

#include "gemm/transpose16x16__avx512.h"
#endif

#include "conv_transpose_subpixel_filter_kernels.h"

#ifndef PHASE_FILTER_ISA_NS
#error "define PHASE_FILTER_ISA_NS before including conv_transpose_subpixel_filter_kernels_impl.h"
#endif

namespace cnnnative {
namespace subpixel {
namespace PHASE_FILTER_ISA_NS {

#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

// F(4x4, 3x3)'s G (winograd_kernels_impl.h has the same numbers).
constexpr float G[6][3] = {{1.0f / 4, 0, 0},
                           {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                           {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                           {1.0f / 24, 1.0f / 12, 1.0f / 6},
                           {1.0f / 24, -1.0f / 12, 1.0f / 6},
                           {0, 0, 1}};

// One tap of the 16 filters: base[off[l]] for l < lanes, 0 past them.
inline v16 load_tap(const float* base, const int32_t* off, int lanes) {
#ifdef __AVX512F__
  const __mmask16 m = static_cast<__mmask16>(lanes >= 16 ? 0xFFFF : (1u << lanes) - 1);
  const __m512i idx = _mm512_loadu_si512(off);
  return (v16)_mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, base, 4);
#else
  v16 f = {};
  for (int l = 0; l < 16; ++l) f[l] = l < lanes ? base[off[l]] : 0.f;
  return f;
#endif
}

// U = G f G^T at the 36 points for the taps present in P (bit a * 3 + b); absent taps
// are zero and skipped. P a constant: every skip folds away (the common patterns); or
// the runtime mask `present` when P < 0.
template <int P>
inline void transform_present(const v16* f, int present, float* u, int64_t xi_stride, bool zero_points) {
  const int mask = P >= 0 ? P : present;
  v16 t[6][3];  // t[i][s] = sum_r G[i][r] f[r][s]
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i)
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) {
      v16 acc = {};
      bool first = true;
#pragma GCC unroll 3
      for (int r = 0; r < 3; ++r) {
        if (G[i][r] == 0.f || !(mask >> (r * 3 + s) & 1)) continue;
        const v16 term = f[r * 3 + s] * G[i][r];
        acc = first ? term : acc + term;
        first = false;
      }
      t[i][s] = acc;
    }
  const int cols = (mask | mask >> 3 | mask >> 6) & 7;
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      if (!zero_points) {  // U[i][j] is zero whatever the taps when no tap reaches it
        bool reached = false;
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s) reached |= G[i][r] != 0.f && G[j][s] != 0.f && (mask >> (r * 3 + s) & 1);
        if (!reached) continue;
      }
      v16 acc = {};
      bool first = true;
#pragma GCC unroll 3
      for (int s = 0; s < 3; ++s) {
        if (G[j][s] == 0.f || !(cols >> s & 1)) continue;
        const v16 term = G[j][s] == 1.f ? t[i][s] : t[i][s] * G[j][s];
        acc = first ? term : acc + term;
        first = false;
      }
      *reinterpret_cast<v16u*>(u + (i * 6 + j) * xi_stride) = acc;
    }
}

// The transform of one phase whose window taps are f (present: bit pos where taps[pos] >= 0).
inline void transform_taps(const v16* f, int present, float* u, int64_t xi_stride, bool zero_points) {
  // The four 2x2 corners of the 3x3 window: the phases of a 4x4 stride-2 kernel.
  switch (present) {
    case 0x1B: transform_present<0x1B>(f, present, u, xi_stride, zero_points); break;
    case 0x36: transform_present<0x36>(f, present, u, xi_stride, zero_points); break;
    case 0xD8: transform_present<0xD8>(f, present, u, xi_stride, zero_points); break;
    case 0x1B0: transform_present<0x1B0>(f, present, u, xi_stride, zero_points); break;
    default: transform_present<-1>(f, present, u, xi_stride, zero_points); break;
  }
}

void transform(const PhaseFilterArgs& a) {
  v16 f[9];
  int present = 0;
  for (int pos = 0; pos < 9; ++pos) {
    if (a.taps[pos] < 0) {
      f[pos] = v16{};
      continue;
    }
    present |= 1 << pos;
    f[pos] = load_tap(a.base + a.taps[pos], a.lane_offset, a.lanes);
  }
  transform_taps(f, present, a.u, a.xi_stride, true);
}

// t[tap][lane] = filter `lane`'s tap: the 16 filters loaded whole and transposed. False
// when a tap is NaN or inf (x - x is then NaN).
inline bool load_transposed(const PhaseFilterBlockArgs& a, v16* t) {
#ifdef __AVX512F__
  const __mmask16 taps = static_cast<__mmask16>((1u << a.taps_per_filter) - 1);
  __m512 r[16];
  __m512 nonfinite = _mm512_setzero_ps();
  for (int l = 0; l < 16; ++l) {
    r[l] = l < a.lanes ? _mm512_maskz_loadu_ps(taps, a.base + l * a.lane_stride) : _mm512_setzero_ps();
    nonfinite = _mm512_add_ps(nonfinite, _mm512_sub_ps(r[l], r[l]));
  }
  gemm_detail::transpose16x16(r);
  for (int tap = 0; tap < 16; ++tap) t[tap] = (v16)r[tap];
  return _mm512_cmp_ps_mask(nonfinite, nonfinite, _CMP_UNORD_Q) == 0;
#else
  bool finite = true;
  for (int tap = 0; tap < 16; ++tap) t[tap] = v16{};
  for (int l = 0; l < a.lanes; ++l)
    for (int tap = 0; tap < a.taps_per_filter; ++tap) {
      const float v = a.base[l * a.lane_stride + tap];
      finite &= v - v == 0.f;
      t[tap][l] = v;
    }
  return finite;
#endif
}

bool transform_phases(const PhaseFilterBlockArgs& a) {
  v16 t[16];
  const bool finite = load_transposed(a, t);
  for (int i = 0; i < a.phases; ++i) {
    v16 f[9];
    int present = 0;
    for (int pos = 0; pos < 9; ++pos) {
      const int tap = a.taps[i][pos];
      f[pos] = tap < 0 ? v16{} : t[tap];
      if (tap >= 0) present |= 1 << pos;
    }
    transform_taps(f, present, a.u[i], a.xi_stride, a.zero_points);
  }
  return finite;
}

inline const PhaseFilterKernels& table() {
  static const PhaseFilterKernels k{&transform, &transform_phases};
  return k;
}

}  // namespace PHASE_FILTER_ISA_NS
}  // namespace subpixel
}  // namespace cnnnative
