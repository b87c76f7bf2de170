// The elementwise kernels, written once and compiled per ISA: the including file defines
// CNNNATIVE_TABLE (the table's name) and is built with that ISA's flags; the loops are
// plain `omp simd` loops the compiler vectorises for it. Everything but the table has
// internal linkage, so the copies built for different ISAs never mix.
#include "act/elementwise.h"
#include "act/vmath.h"

namespace cnnnative {
namespace {

// NaN passes through every activation (x < 0 is false for NaN), as in PyTorch.
void relu(const float* x, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}
void relu6(const float* x, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float t = x[i] < 0.0f ? 0.0f : x[i];
    y[i] = t > 6.0f ? 6.0f : t;
  }
}
void leaky_relu(const float* x, float* y, int64_t n, const ActParams& p) {
  const float slope = p.a;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
}
void sigmoid(const float* x, float* y, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::exp_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = vm::sigmoid_fast(x[i], c);
}
void tanh_(const float* x, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = vm::tanh(x[i]);
}
// The modern activations follow torch.nn.functional's formulas term for term, so that
// infinities give what PyTorch gives (silu(-inf) is NaN there too) and NaN stays NaN.
void silu(const float* x, float* y, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::exp_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + vm::exp_sat(-x[i], c));
}
// x * Phi(x), with Phi(x) = 1 - Phi(-x) for x >= 0 (Phi accurate in the negative tail, see
// vm::normal_tail).
void gelu(const float* x, float* y, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::gelu_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float h = vm::normal_tail(std::fabs(x[i]), c).h;
    y[i] = x[i] * (x[i] < 0.0f ? h : 1.0f - h);
  }
}
// GELU's tanh form: x/2 * (1 + tanh(u)), u = sqrt(2/pi) * (x + 0.044715 x^3), computed as
// x * sigmoid(2u) = x / (1 + exp(-2u)) (the same function: 1 + tanh(u) = 2 sigmoid(2u)). One
// exp and one division instead of tanh's expm1 and division plus the rest, and no
// cancellation in 1 + tanh(u) for negative u. exp2_sat_core's inf (-2u >= 88.4) gives -0 (x < 0), as
// x/2 * (1 + tanh(u)) does; x = -inf gives NaN (inf / inf), as PyTorch.
constexpr float kGeluBeta = 0.7978845608f, kGeluKappa = 0.044715f;
// -2u log2(e) = x (a + b x^2) (the exponent in base 2, see vm::exp2_sat_core) and
// 2 x u' = x (2 beta + 6 beta kappa x^2): two operations each.
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kMinus2BetaLog2e = -2.0f * kGeluBeta * kLog2e;
constexpr float kMinus2BetaKappaLog2e = -2.0f * kGeluBeta * kGeluKappa * kLog2e;
constexpr float k2Beta = 2.0f * kGeluBeta, k6BetaKappa = 6.0f * kGeluBeta * kGeluKappa;
void gelu_tanh(const float* x, float* y, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::clamp_bounds(-150.0f, 150.0f);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float x2 = x[i] * x[i];
    y[i] = x[i] / (1.0f + vm::exp2_sat_core(vm::clamp(x[i] * (x2 * kMinus2BetaKappaLog2e + kMinus2BetaLog2e), c)));
  }
}
// relu6(x + 3) / 6, written so that NaN passes (both comparisons are false for NaN).
static inline float hard_gate(float x) {
  float t = x + 3.0f;
  t = t < 0.0f ? 0.0f : t;
  return (t > 6.0f ? 6.0f : t) / 6.0f;
}
void hardswish(const float* x, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float t = x[i] + 3.0f;
    t = t < 0.0f ? 0.0f : t;
    t = t > 6.0f ? 6.0f : t;
    y[i] = x[i] * t / 6.0f;  // multiply first, then divide, as PyTorch
  }
}
void hardsigmoid(const float* x, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = hard_gate(x[i]);
}

// The ELU family as PyTorch computes it: x > 0 ? scale * x : alpha * scale * expm1(input_scale * x)
// (see ActParams); NaN takes the expm1 branch and stays NaN.
void elu(const float* x, float* y, int64_t n, const ActParams& p) {
  const float neg = p.a, pos = p.b, in_scale = p.c;
  if (in_scale > 0.0f) {  // the expm1 side only sees x * in_scale <= 0 (or NaN): one path
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float z = x[i] * in_scale;
      y[i] = x[i] > 0.0f ? x[i] * pos : vm::expm1_nonpos(z > 0.0f ? 0.0f : z) * neg;
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] * pos : vm::expm1(x[i] * in_scale) * neg;
}
// log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's cut-off).
// log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): no overflow, and exp's argument <= 0.
void softplus(const float* x, float* y, int64_t n, const ActParams& p) {
  const float beta = p.a, threshold = p.b;
  const vm::Clamp c = vm::exp_bounds();
  if (beta == 1.0f && threshold >= 15.0f) {
    // The default: no scaling in and out, and no cut-off either: from z = 15 on,
    // log1p(exp(-z)) < ulp(z)/2 and z + log1p(exp(-z)) rounds to z itself.
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float z = x[i], az = std::fabs(z);
      y[i] = (z > 0.0f ? z : 0.0f) + vm::log1p_unit(vm::exp_nonpos(-az, c));
    }
    return;
  }
  if (beta == 1.0f) {  // no scaling in and out (the same values)
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float z = x[i], az = std::fabs(z);
      const float sp = (z > 0.0f ? z : 0.0f) + vm::log1p_unit(vm::exp_nonpos(-az, c));
      y[i] = z > threshold ? z : sp;
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float z = x[i] * beta, az = std::fabs(z);
    const float sp = (z > 0.0f ? z : 0.0f) + vm::log1p_unit(vm::exp_nonpos(-az, c));
    y[i] = z > threshold ? x[i] : sp / beta;
  }
}
// clamp(x, min_val, max_val); NaN fails both comparisons and passes.
void hardtanh(const float* x, float* y, int64_t n, const ActParams& p) {
  const float lo = p.a, hi = p.b;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float t = x[i] < lo ? lo : x[i];
    y[i] = t > hi ? hi : t;
  }
}
void threshold(const float* x, float* y, int64_t n, const ActParams& p) {
  const float th = p.a, value = p.b;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] <= th ? value : x[i];
}
// mish(x) = x * tanh(softplus(x)). With e = exp(x), tanh(log(1 + e)) = n / (n + 2), n = e (e + 2):
// one exp and one division instead of exp, log1p and tanh. Past x = 20 the ratio is 1 in float,
// so e is computed at min(x, 20) (no overflow; NaN stays NaN), and 0 below -104.
static inline vm::Clamp mish_bounds() { return vm::clamp_bounds(-104.0f, 20.0f); }
void mish(const float* x, float* y, int64_t n, const ActParams&) {
  const vm::Clamp c = mish_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float e = vm::exp_sat_core(vm::clamp(x[i], c)), m = e * (e + 2.0f);
    y[i] = x[i] * (m / (m + 2.0f));
  }
}
void softsign(const float* x, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + (x[i] < 0.0f ? -x[i] : x[i]));
}
// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any x.
void log_sigmoid(const float* x, float* y, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::exp_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    y[i] = (x[i] > 0.0f ? 0.0f : x[i]) - vm::log1p_unit(vm::exp_nonpos(-ax, c));
  }
}

void add(const float* a, const float* b, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void add_relu(const float* a, const float* b, float* y, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float s = a[i] + b[i];
    y[i] = s < 0.0f ? 0.0f : s;
  }
}
// Gradients from the saved output: relu passes where out > 0; relu6 where 0 < out < 6.
void relu_backward(const float* g, const float* out, float* gx, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = out[i] > 0.0f ? g[i] : 0.0f;
}
void relu6_backward(const float* g, const float* out, float* gx, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = (out[i] > 0.0f && out[i] < 6.0f) ? g[i] : 0.0f;
}
void leaky_relu_backward(const float* g, const float* in, float* gx, int64_t n, const ActParams& p) {
  const float slope = p.a;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = in[i] > 0.0f ? g[i] : g[i] * slope;
}
void sigmoid_backward(const float* g, const float* out, float* gx, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * (1.0f - out[i]) * out[i];
}
void tanh_backward(const float* g, const float* out, float* gx, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * (1.0f - out[i] * out[i]);
}

// Gradients of the modern activations, from the forward's input.
void silu_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::exp_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float s = vm::sigmoid_fast(x[i], c);
    gx[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}
// Phi(x) + x * phi(x), phi the standard normal density: both from one exp(-x^2 / 2).
void gelu_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::gelu_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const vm::NormalTail nt = vm::normal_tail(std::fabs(x[i]), c);  // exp(-x^2/2), Phi(-|x|)
    const float cdf = x[i] < 0.0f ? nt.h : 1.0f - nt.h;
    gx[i] = g[i] * ((x[i] * 0.39894228f) * nt.e + cdf);
  }
}
// d/dx x s(2u) = s + 2x s (1 - s) u' with s = sigmoid(2u) = 1 / (1 + e), e = exp(-2u), and
// 1 - s = e s without cancellation (the tanh form's 0.5 (1 + t) + x/2 (1 - t^2) u', since
// 1 + t = 2s and 1 - t^2 = 4 s (1 - s)). Past -2u = 88 (127 in base 2), where e overflows, the
// gradient is 0 in float; it is set so (0 * x: NaN for x = -inf, as PyTorch), since e s would
// be inf * 0.
void gelu_tanh_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::clamp_bounds(-150.0f, 127.0f);  // above 127 the result is selected away
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float x2 = x[i] * x[i], z = x[i] * (x2 * kMinus2BetaKappaLog2e + kMinus2BetaLog2e);  // -2u log2(e)
    const float e = vm::exp2_sat_core(vm::clamp(z, c)), s = 1.0f / (1.0f + e);
    // s + 2 x u' (e s) s, with e s multiplied in first: it is 0 for large x, where 2 x u'
    // alone would overflow from x = 1e13 on (inf * 0)
    const float d = (((e * s) * x[i]) * (x2 * k6BetaKappa + k2Beta)) * s + s;
    gx[i] = (z > 127.0f ? 0.0f * x[i] : d) * g[i];
  }
}
// PyTorch's choice at the kinks: 0 at x <= -3, grad at x >= 3, NaN input gives NaN.
void hardswish_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float mid = g[i] * (x[i] / 3.0f + 0.5f);
    gx[i] = x[i] <= -3.0f ? 0.0f : (x[i] >= 3.0f ? g[i] : mid);
  }
}
// grad / 6 strictly inside (-3, 3); 0 at the kinks, outside, and for NaN (as PyTorch).
void hardsigmoid_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = (x[i] > -3.0f && x[i] < 3.0f) ? g[i] * (1.0f / 6.0f) : 0.0f;
}

// PyTorch's elu_backward from the input: the x <= 0 branch is the derivative of the expm1
// side (so x = 0 gives alpha * scale * input_scale); NaN x gives NaN (as PyTorch's
// vectorised path; its scalar path for tiny tensors gives grad * scale).
void elu_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams& p) {
  const float pos = p.b, in_scale = p.c, neg_slope = p.a * p.c;
  if (in_scale > 0.0f) {  // exp only matters where x * in_scale <= 0 (or NaN)
    const vm::Clamp c = vm::clamp_bounds(-104.0f, 0.0f);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float z = x[i] * in_scale, e = vm::exp_sat_core(vm::clamp(z, c));
      gx[i] = g[i] * (x[i] > 0.0f ? pos : neg_slope * e);
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    gx[i] = x[i] > 0.0f ? g[i] * pos : g[i] * neg_slope * vm::exp(x[i] * in_scale);
  }
}
// grad * sigmoid(beta x) below the threshold, grad above it. sigmoid(z) = 1 / (1 + exp(-z)):
// exp_sat's inf for z <= -88.4 gives 0, and z above 88 gives 1 (PyTorch's exp(z) / (exp(z) + 1)
// is NaN there, which only a threshold above 88 reaches).
void softplus_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams& p) {
  const float beta = p.a, threshold = p.b;
  const vm::Clamp c = vm::exp_bounds();
  if (threshold >= 17.0f) {  // from z = 17 on, 1 + exp(-z) rounds to 1: no cut-off needed
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gx[i] = g[i] / (1.0f + vm::exp_sat(-(x[i] * beta), c));
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float z = x[i] * beta;
    gx[i] = z > threshold ? g[i] : g[i] / (1.0f + vm::exp_sat(-z, c));
  }
}
// grad strictly between the bounds; 0 at and beyond them (PyTorch's choice at the kinks)
// and for NaN (as PyTorch's vectorised path).
void hardtanh_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams& p) {
  const float lo = p.a, hi = p.b;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = (x[i] > lo) & (x[i] < hi) ? g[i] : 0.0f;
}
void threshold_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams& p) {
  const float th = p.a;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = x[i] <= th ? 0.0f : g[i];
}
// d/dx x tanh(sp(x)) = t + x sig (1 - t^2), sig = sigmoid(x). With e = exp(x), w = 1 + e and
// m = e (e + 2) = w^2 - 1 as in the forward: t = m / (m + 2), sig = e / w and
// 1 - t^2 = 4 w^2 q^2 with q = 1 / (m + 2), so the whole is q (m + 4 x e w q): one division
// instead of three, and no cancellation but the one at the derivative's zero (x = -1.19),
// which the formula itself has. e is taken at min(x, 20) (m^2 < 6e34: no overflow); past 20
// the ratio is 1 in float, and 1 + 0 * x there makes x = +inf give NaN (inf * 0), as PyTorch.
void mish_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
  const vm::Clamp c = mish_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float e = vm::exp_sat_core(vm::clamp(x[i], c)), w = 1.0f + e, m = e * (e + 2.0f), m2 = m + 2.0f;
    const float q = 1.0f / m2, d = q * ((x[i] * (4.0f * e * w)) * q + m);  // x * 0 below -104, NaN at -inf
    gx[i] = g[i] * (x[i] > 20.0f ? 1.0f + 0.0f * x[i] : d);
  }
}
// grad / (1 + |x|)^2; NaN at +-inf, as PyTorch's x / (|x| + 1) differentiates there.
void softsign_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float ax = x[i] < 0.0f ? -x[i] : x[i], r = 1.0f / (1.0f + ax);
    gx[i] = ax < __builtin_inff() ? g[i] * r * r : __builtin_nanf("");
  }
}
// grad * sigmoid(-x), from z = exp(-|x|): 1 / (1 + z) for x < 0, z / (1 + z) otherwise.
void log_sigmoid_backward(const float* g, const float* x, float* gx, int64_t n, const ActParams&) {
  const vm::Clamp c = vm::exp_bounds();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]), z = vm::exp_nonpos(-ax, c), r = g[i] / (1.0f + z);
    gx[i] = x[i] < 0.0f ? r : r * z;
  }
}

// PReLU's backward for one slope (see PreluBackwardKernel). The weight-gradient sum runs in
// float over blocks (vectorised) and in double across blocks, so long rows keep precision.
double prelu_backward(const float* g, const float* x, float* gx, int64_t n, float slope) {
  constexpr int64_t kBlock = 2048;
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = n - b < kBlock ? n : b + kBlock;
    float sum = 0.0f;
    if (gx != nullptr) {
#pragma omp simd reduction(+ : sum)
      for (int64_t i = b; i < e; ++i) {
        const bool positive = x[i] > 0.0f;
        gx[i] = positive ? g[i] : g[i] * slope;
        sum += positive ? 0.0f : x[i] * g[i];
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (int64_t i = b; i < e; ++i) sum += x[i] > 0.0f ? 0.0f : x[i] * g[i];
    }
    total += sum;
  }
  return total;
}

}  // namespace

// Order must follow UnaryOp / BinaryOp.
extern const ElementwiseKernels CNNNATIVE_TABLE = {
    {relu, relu6, leaky_relu, sigmoid, tanh_, silu, gelu, gelu_tanh, hardswish, hardsigmoid, elu,
     softplus, hardtanh, threshold, mish, softsign, log_sigmoid},
    {add, add_relu, relu_backward, relu6_backward, leaky_relu_backward, sigmoid_backward,
     tanh_backward, silu_backward, gelu_backward, gelu_tanh_backward, hardswish_backward,
     hardsigmoid_backward, elu_backward, softplus_backward, hardtanh_backward, threshold_backward,
     mish_backward, softsign_backward, log_sigmoid_backward},
    prelu_backward,
};

}  // namespace cnnnative
