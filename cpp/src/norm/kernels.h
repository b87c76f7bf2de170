// Leaf kernels shared by every normalization, one table per instruction set.
//
// Each normalization (batch, layer, group/instance, local response) is a loop over
// contiguous spans of floats: "sum this span", "normalize this span", ... The loops
// that decide WHICH spans (and the team's threads) live in batch_norm.cc,
// layer_norm.cc, group_norm.cc and local_response_norm.cc; the span work lives here,
// written once in kernels_impl.h and compiled per ISA (norm_kernels__scalar.cc,
// norm_kernels__avx2.cc, norm_kernels__avx512.cc). `kernels()` picks the table for
// cnnnative::active_isa() on every call.
//
// Accuracy of reductions: sums are accumulated in float vector lanes over blocks of
// at most kSumBlock elements and the block totals are added in double, so the error
// does not grow with the span length (mean/variance over N*H*W of millions of
// elements stays accurate). Variance is always two-pass: first the mean, then the
// squared deviations about it, which stay exact-ish when the data sit on a large
// offset (x ~ 1e4 + noise) where the one-pass E[x^2] - E[x]^2 would cancel
// catastrophically. See stats.h for how the two passes meet the memory: over a whole
// set that fits in cache (sum, dev_sums), or per 8 KiB block (mean_m2) for large sets,
// merging the blocks' (mean, M2) with Chan et al.'s update so memory is read once.
#pragma once
#include <cstdint>

namespace cnnnative {
namespace norm {

constexpr int64_t kSumBlock = 2048;

// Two sums from one pass.
struct Sums {
  double first;
  double second;
};

struct Kernels {
  const char* isa;
  // sum of x[0..n)
  double (*sum)(const float* x, int64_t n);
  // {sum (x - mu), sum (x - mu)^2}
  Sums (*dev_sums)(const float* x, int64_t n, float mu);
  // {mean, sum of (x - mean)^2} of x[0..n), n > 0, each kSumBlock block two-pass in L1
  Sums (*mean_m2)(const float* x, int64_t n);
  // y = (x - mu) * scale + shift
  void (*scale_shift)(const float* x, float* y, int64_t n, float mu, float scale, float shift);
  // y[j] = (x[j] - mu) * rstd * w[j] + b[j]; w == nullptr means 1, b == nullptr means 0
  void (*normalize_affine)(const float* x, float* y, int64_t n, float mu, float rstd,
                           const float* w, const float* b);
  // {sum w*dy, sum w*dy*(x - mu)}; w == nullptr means 1
  Sums (*grad_sums)(const float* dy, const float* x, const float* w, int64_t n, float mu);
  // dx[j] = a * w[j] * dy[j] + b * (x[j] - mu) + c; w == nullptr means 1
  void (*grad_input)(const float* dy, const float* x, const float* w, float* dx, int64_t n,
                     float a, float b, float mu, float c);
  // dw[j] += dy[j] * (x[j] - mu) * rstd; db[j] += dy[j]   (layer norm's affine grads)
  void (*accumulate_affine_grads)(const float* dy, const float* x, int64_t n, float mu,
                                  float rstd, float* dw, float* db);

  // Column forms for batch norm on (N, C) data and small spatial sizes: one row of n
  // floats at a time, with a per-column mean / scale / ... vector.
  // acc1[j] += x[j] - mu[j]; acc2[j] += (x[j] - mu[j])^2
  void (*cols_dev_sums)(const float* x, const float* mu, int64_t n, float* acc1, float* acc2);
  // acc1[j] += dy[j]; acc2[j] += dy[j] * (x[j] - mu[j])
  void (*cols_grad_sums)(const float* dy, const float* x, const float* mu, int64_t n, float* acc1,
                         float* acc2);
  // y[j] = (x[j] - mu[j]) * scale[j] + shift[j]
  void (*cols_scale_shift)(const float* x, float* y, int64_t n, const float* mu,
                           const float* scale, const float* shift);
  // dx[j] = a[j] * dy[j] + b[j] * (x[j] - mu[j]) + c[j]
  void (*cols_grad_input)(const float* dy, const float* x, float* dx, int64_t n, const float* mu,
                          const float* a, const float* b, const float* c);

  // Local response norm over channels for one column block: x, y point at channel 0
  // of the block, channels are `stride` floats apart, `len` floats per channel.
  // scratch: len floats.
  void (*lrn_forward)(const float* x, float* y, int64_t channels, int64_t stride, int64_t len,
                      int64_t size, float k, float alpha_over_size, float beta, float* scratch);
  // Its gradient. scratch: (2 * channels + 1) * len floats.
  void (*lrn_backward)(const float* dy, const float* x, float* dx, int64_t channels,
                       int64_t stride, int64_t len, int64_t size, float k, float alpha_over_size,
                       float beta, float* scratch);
};

const Kernels& kernels_scalar();
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();
// The table for cnnnative::active_isa().
const Kernels& kernels();

}  // namespace norm
}  // namespace cnnnative
