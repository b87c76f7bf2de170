// Elementwise losses (see loss/pointwise.h): threaded over fixed chunks.
#include "loss/pointwise.h"

#include <cmath>
#include <vector>

#include "act/parallel.h"

namespace cnnnative {
namespace {

constexpr int64_t kChunk = 16384;

// Runs body(begin, end) over fixed chunks of [0, n) and returns the sum of what it returns,
// added in chunk order (the same bits for any thread count).
template <typename Body>
double chunked_sum(int64_t n, Body body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) partial[c] = body(c * kChunk, std::min(n, (c + 1) * kChunk));
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

template <typename Body>
void chunked(int64_t n, Body body) {
  parallel_for(n, kChunk, body);
}

// log(1 + exp(-x)) without overflow for any x.
inline float softplus_neg(float x) { return std::log1p(std::exp(-std::fabs(x))) + std::fmax(-x, 0.0f); }

inline float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

inline float bce_element(float x, float y, float w, float pw) {
  return w * ((1.0f - y) * x + (1.0f + (pw - 1.0f) * y) * softplus_neg(x));
}

}  // namespace

double mse_loss_forward(const float* x, const float* y, int64_t n, float* out) {
  if (out) {
    chunked(n, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) out[i] = (x[i] - y[i]) * (x[i] - y[i]);
    });
    return 0.0;
  }
  return chunked_sum(n, [&](int64_t b, int64_t e) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) {
      const float d = x[i] - y[i];
      s += static_cast<double>(d * d);
    }
    return s;
  });
}

void mse_loss_backward(const float* x, const float* y, int64_t n, const float* grad, float scale, float* gx) {
  const float k = 2.0f * scale;
  chunked(n, [&](int64_t b, int64_t e) {
    if (grad) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) gx[i] = (x[i] - y[i]) * (k * grad[i]);
    } else {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) gx[i] = (x[i] - y[i]) * k;
    }
  });
}

double bce_with_logits_forward(const float* x, const float* y, const float* weight, const float* pos_weight,
                               int64_t n, float* out) {
  auto element = [&](int64_t i) {
    return bce_element(x[i], y[i], weight ? weight[i] : 1.0f, pos_weight ? pos_weight[i] : 1.0f);
  };
  if (out) {
    chunked(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = element(i);
    });
    return 0.0;
  }
  return chunked_sum(n, [&](int64_t b, int64_t e) {
    double s = 0.0;
    for (int64_t i = b; i < e; ++i) s += static_cast<double>(element(i));
    return s;
  });
}

void bce_with_logits_backward(const float* x, const float* y, const float* weight, const float* pos_weight,
                              int64_t n, const float* grad, float scale, float* gx) {
  chunked(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float pw = pos_weight ? pos_weight[i] : 1.0f;
      const float L = 1.0f + (pw - 1.0f) * y[i];
      const float k = scale * (grad ? grad[i] : 1.0f) * (weight ? weight[i] : 1.0f);
      gx[i] = (L * sigmoid(x[i]) - pw * y[i]) * k;
    }
  });
}

}  // namespace cnnnative
