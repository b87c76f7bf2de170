// Cross-entropy kernels, written once and compiled per ISA (see loss/cross_entropy.h).
// The including file defines CNNNATIVE_TABLE and carries the ISA's flags.
#include "act/vmath.h"
#include "loss/cross_entropy.h"

namespace cnnnative {
namespace {

// Row maximum and sum of exp(x - max): the stable log-sum-exp pieces.
inline void row_stats(const float* xr, int64_t C, float* max_out, float* sum_out) {
  float m = -__builtin_inff();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < C; ++j) m = xr[j] > m ? xr[j] : m;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < C; ++j) s += vm::exp(xr[j] - m);
  *max_out = m;
  *sum_out = s;
}

inline bool ignored(const CrossEntropyOptions& opt, int64_t t) { return opt.has_ignore && t == opt.ignore_index; }

void forward(const float* x, const int64_t* target, int64_t rows, int64_t C, const CrossEntropyOptions& opt,
             float* loss) {
  const float* w = opt.class_weight;
  const float eps = opt.label_smoothing;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = target[r];
    if (ignored(opt, t)) {
      loss[r] = 0.0f;
      continue;
    }
    const float* xr = x + r * C;
    float m, s;
    row_stats(xr, C, &m, &s);
    const float log_s = __builtin_logf(s);
    float l = (w ? w[t] : 1.0f) * ((m - xr[t]) + log_s);
    if (eps != 0.0f) {
      // sum_j w_j (lse - x_j) as sum_j w_j (m - x_j) + W log s: every gap is >= 0, no cancellation.
      float gap = 0.0f;
      if (w) {
#pragma omp simd reduction(+ : gap)
        for (int64_t j = 0; j < C; ++j) gap += w[j] * (m - xr[j]);
      } else {
#pragma omp simd reduction(+ : gap)
        for (int64_t j = 0; j < C; ++j) gap += m - xr[j];
      }
      l = (1.0f - eps) * l + eps / static_cast<float>(C) * (gap + opt.weight_sum * log_s);
    }
    loss[r] = l;
  }
}

void backward(const float* x, const int64_t* target, int64_t rows, int64_t C, const CrossEntropyOptions& opt,
              const float* row_scale, float scale, float* gx) {
  const float* w = opt.class_weight;
  const float eps = opt.label_smoothing;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* g = gx + r * C;
    const int64_t t = target[r];
    if (ignored(opt, t)) {
#pragma omp simd
      for (int64_t j = 0; j < C; ++j) g[j] = 0.0f;
      continue;
    }
    const float k = row_scale ? row_scale[r] : scale;
    float m, s;
    row_stats(xr, C, &m, &s);
    if (!w && eps == 0.0f) {  // the plain fused case: (softmax - onehot) * k
      const float ks = k / s;
#pragma omp simd
      for (int64_t j = 0; j < C; ++j) g[j] = vm::exp(xr[j] - m) * ks;
      g[t] -= k;
      continue;
    }
    const float wt = (w ? w[t] : 1.0f) * (1.0f - eps);
    const float smooth = eps / static_cast<float>(C) * k;  // multiplies w_j
    const float a = (wt * k + smooth * opt.weight_sum) / s;  // multiplies exp(x_j - m)
    if (w) {
#pragma omp simd
      for (int64_t j = 0; j < C; ++j) g[j] = vm::exp(xr[j] - m) * a - w[j] * smooth;
    } else {
#pragma omp simd
      for (int64_t j = 0; j < C; ++j) g[j] = vm::exp(xr[j] - m) * a - smooth;
    }
    g[t] -= wt * k;
  }
}

}  // namespace

extern const CrossEntropyKernels CNNNATIVE_TABLE = {forward, backward};

}  // namespace cnnnative
