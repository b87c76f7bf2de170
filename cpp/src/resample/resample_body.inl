// The resampling row kernels, written once and compiled per ISA: the including file
// defines CNNNATIVE_TABLE and is built with that ISA's flags. Contiguous loops are plain
// `omp simd` loops the compiler vectorises; the scatters stay scalar (their order is the
// order of accumulation, which keeps backward passes deterministic).
#include <cstring>

#include "resample/resample.h"

namespace cnnnative {
namespace {

void gather(const float* in, const int32_t* idx, float* out, int64_t n) {
#pragma omp simd
  for (int64_t o = 0; o < n; ++o) out[o] = in[idx[o]];
}

void duplicate2(const float* in, float* out, int64_t n_in) {
#pragma omp simd
  for (int64_t i = 0; i < n_in; ++i) {
    out[2 * i] = in[i];
    out[2 * i + 1] = in[i];
  }
}

void scatter_add(const float* g, const int32_t* idx, float* out, int64_t n) {
  for (int64_t o = 0; o < n; ++o) out[idx[o]] += g[o];
}

void pair_sum(const float* g, float* out, int64_t n_out) {
#pragma omp simd
  for (int64_t i = 0; i < n_out; ++i) out[i] += g[2 * i] + g[2 * i + 1];
}

// Two taps per output, as PyTorch's order: l0 * in[i0] + l1 * in[i1].
void lerp(const float* in, const int32_t* i0, const int32_t* i1, const float* l0, const float* l1, float* out,
          int64_t n) {
#pragma omp simd
  for (int64_t o = 0; o < n; ++o) out[o] = l0[o] * in[i0[o]] + l1[o] * in[i1[o]];
}

void lerp_transpose(const float* g, const int32_t* i0, const int32_t* i1, const float* l0, const float* l1,
                    float* out, int64_t n) {
  for (int64_t o = 0; o < n; ++o) {
    out[i0[o]] += l0[o] * g[o];
    out[i1[o]] += l1[o] * g[o];
  }
}

void blend(const float* a, float wa, const float* b, float wb, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = wa * a[i] + wb * b[i];
}

void axpy(float w, const float* a, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] += w * a[i];
}

void add(const float* a, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] += a[i];
}

void scale(const float* x, float s, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// r == 2 (the common factor) gets its own loop: a zip the compiler turns into unpacks.
void interleave(const float* const* src, int64_t r, float* out, int64_t n) {
  if (r == 2) {
    const float *a = src[0], *b = src[1];
#pragma omp simd
    for (int64_t w = 0; w < n; ++w) {
      out[2 * w] = a[w];
      out[2 * w + 1] = b[w];
    }
    return;
  }
  for (int64_t j = 0; j < r; ++j) {
    const float* s = src[j];
    for (int64_t w = 0; w < n; ++w) out[w * r + j] = s[w];
  }
}

void deinterleave(const float* in, int64_t r, float* const* dst, int64_t n) {
  if (r == 2) {
    float *a = dst[0], *b = dst[1];
#pragma omp simd
    for (int64_t w = 0; w < n; ++w) {
      a[w] = in[2 * w];
      b[w] = in[2 * w + 1];
    }
    return;
  }
  for (int64_t j = 0; j < r; ++j) {
    float* d = dst[j];
    for (int64_t w = 0; w < n; ++w) d[w] = in[w * r + j];
  }
}

}  // namespace

extern const ResampleKernels CNNNATIVE_TABLE = {
    gather, duplicate2, scatter_add, pair_sum, lerp, lerp_transpose, blend, axpy, add, scale, dot,
    interleave, deinterleave,
};

}  // namespace cnnnative
