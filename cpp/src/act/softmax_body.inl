// softmax / log_softmax kernels, written once and compiled per ISA (see softmax.h).
// The including file defines CNNNATIVE_TABLE and carries the ISA's flags.
#include "act/softmax.h"
#include "act/vmath.h"

namespace cnnnative {
namespace {

constexpr int64_t kBlock = 64;  // inner positions processed together in the strided case

void rows_forward(const float* x, float* y, int64_t rows, int64_t D, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    float m = -__builtin_inff();
#pragma omp simd reduction(max : m)
    for (int64_t d = 0; d < D; ++d) m = xr[d] > m ? xr[d] : m;
    float s = 0.0f;
    if (!log) {
#pragma omp simd reduction(+ : s)
      for (int64_t d = 0; d < D; ++d) {
        const float e = vm::exp(xr[d] - m);
        yr[d] = e;
        s += e;
      }
      const float inv = 1.0f / s;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t d = 0; d < D; ++d) s += vm::exp(xr[d] - m);
      const float ls = __builtin_logf(s);
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) - ls;
    }
  }
}

// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).
void rows_backward(const float* g, const float* y, float* gx, int64_t rows, int64_t D, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = g + r * D;
    const float* yr = y + r * D;
    float* o = gx + r * D;
    float s = 0.0f;
    if (!log) {
#pragma omp simd reduction(+ : s)
      for (int64_t d = 0; d < D; ++d) s += gr[d] * yr[d];
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) o[d] = yr[d] * (gr[d] - s);
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t d = 0; d < D; ++d) s += gr[d];
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) o[d] = gr[d] - vm::exp(yr[d]) * s;
    }
  }
}

void strided_forward(const float* x, float* y, int64_t D, int64_t inner, int64_t i0, int64_t i1,
                     bool log) {
  float m[kBlock], s[kBlock];
  for (int64_t c0 = i0; c0 < i1; c0 += kBlock) {
    const int64_t w = i1 - c0 < kBlock ? i1 - c0 : kBlock;
    for (int64_t j = 0; j < w; ++j) {
      m[j] = -__builtin_inff();
      s[j] = 0.0f;
    }
    for (int64_t d = 0; d < D; ++d) {
      const float* xr = x + d * inner + c0;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) m[j] = xr[j] > m[j] ? xr[j] : m[j];
    }
    for (int64_t d = 0; d < D; ++d) {
      const float* xr = x + d * inner + c0;
      float* yr = y + d * inner + c0;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) {
        const float e = vm::exp(xr[j] - m[j]);
        if (!log) yr[j] = e;
        s[j] += e;
      }
    }
    if (!log) {
      for (int64_t j = 0; j < w; ++j) s[j] = 1.0f / s[j];
      for (int64_t d = 0; d < D; ++d) {
        float* yr = y + d * inner + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) yr[j] *= s[j];
      }
    } else {
      for (int64_t j = 0; j < w; ++j) s[j] = __builtin_logf(s[j]);
      for (int64_t d = 0; d < D; ++d) {
        const float* xr = x + d * inner + c0;
        float* yr = y + d * inner + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) yr[j] = (xr[j] - m[j]) - s[j];
      }
    }
  }
}

void strided_backward(const float* g, const float* y, float* gx, int64_t D, int64_t inner,
                      int64_t i0, int64_t i1, bool log) {
  float s[kBlock];
  for (int64_t c0 = i0; c0 < i1; c0 += kBlock) {
    const int64_t w = i1 - c0 < kBlock ? i1 - c0 : kBlock;
    for (int64_t j = 0; j < w; ++j) s[j] = 0.0f;
    for (int64_t d = 0; d < D; ++d) {
      const float* gr = g + d * inner + c0;
      const float* yr = y + d * inner + c0;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) s[j] += log ? gr[j] : gr[j] * yr[j];
    }
    for (int64_t d = 0; d < D; ++d) {
      const float* gr = g + d * inner + c0;
      const float* yr = y + d * inner + c0;
      float* o = gx + d * inner + c0;
      if (!log) {
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) o[j] = yr[j] * (gr[j] - s[j]);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) o[j] = gr[j] - vm::exp(yr[j]) * s[j];
      }
    }
  }
}

}  // namespace

extern const SoftmaxKernels CNNNATIVE_TABLE = {rows_forward, rows_backward, strided_forward,
                                               strided_backward};

}  // namespace cnnnative
