// A/B timing and float64 accuracy of the elementwise kernels of two source trees (see build.sh).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>
#include <string>
#include <algorithm>
#include <thread>
#include <chrono>
#include "act/elementwise.h"
using namespace cnnnative;
namespace cnnnative { extern const ElementwiseKernels base_scalar, base_avx2, base_avx512, new_scalar, new_avx2, new_avx512; }

static double tcpu() { timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static double sig(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
static double sp(double x) { return (x > 0 ? x : 0) + std::log1p(std::exp(-std::fabs(x))); }
const double B = std::sqrt(2 / M_PI), K = 0.044715;
struct Op { const char* name; bool bin; int idx; ActParams p; double (*ref)(double, const ActParams&); double rtol, atol; };
static double r_gelu(double x, const ActParams&) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }
static double r_gelu_b(double x, const ActParams&) { return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-x * x / 2) / std::sqrt(2 * M_PI); }
static double r_gt(double x, const ActParams&) { double u = B * (x + K * x * x * x); return x * sig(2 * u); }
static double r_gt_b(double x, const ActParams&) { double u = B * (x + K * x * x * x); double s = sig(2 * u), sm = sig(-2*u);
  return s + 2 * x * s * sm * B * (1 + 3 * K * x * x); }
static double r_mish(double x, const ActParams&) { return x * std::tanh(sp(x)); }
static double r_mish_b(double x, const ActParams&) { double t = std::tanh(sp(x)); return t + x * sig(x) * (1 - t * t); }
static double r_sp(double x, const ActParams& p) { return p.a * x > p.b ? x : sp(p.a * x) / p.a; }
static double r_sp_b(double x, const ActParams& p) { return p.a * x > p.b ? 1 : sig(p.a * x); }
static double r_ls(double x, const ActParams&) { return -sp(-x); }
static double r_ls_b(double x, const ActParams&) { return sig(-x); }
static double r_elu(double x, const ActParams& p) { return x > 0 ? p.b * x : p.a * std::expm1(p.c * x); }
static double r_elu_b(double x, const ActParams& p) { return x > 0 ? p.b : p.a * p.c * std::exp(p.c * x); }
static double r_silu(double x, const ActParams&) { return x * sig(x); }
static double r_silu_b(double x, const ActParams&) { double s = sig(x); return s * (1 + x * sig(-x)); }
static double r_sigm(double x, const ActParams&) { return sig(x); }
static double r_tanh(double x, const ActParams&) { return std::tanh(x); }
const float SA = 1.6732632423543772848f, SS = 1.0507009873554804934f;
std::vector<Op> ops = {
  {"gelu", 0, (int)UnaryOp::gelu, {}, r_gelu, 1e-5, 1e-6},
  {"gelu_b", 1, (int)BinaryOp::gelu_backward, {}, r_gelu_b, 1e-5, 1e-5},
  {"gelu_tanh", 0, (int)UnaryOp::gelu_tanh, {}, r_gt, 1e-5, 1e-6},
  {"gelu_tanh_b", 1, (int)BinaryOp::gelu_tanh_backward, {}, r_gt_b, 1e-5, 1e-5},
  {"mish", 0, (int)UnaryOp::mish, {}, r_mish, 2e-6, 1e-6},
  {"mish_b", 1, (int)BinaryOp::mish_backward, {}, r_mish_b, 2e-6, 1e-5},
  {"softplus", 0, (int)UnaryOp::softplus, {1, 20, 0}, r_sp, 2e-6, 1e-7},
  {"softplus_b", 1, (int)BinaryOp::softplus_backward, {1, 20, 0}, r_sp_b, 2e-6, 1e-6},
  {"softplus2", 0, (int)UnaryOp::softplus, {2, 5, 0}, r_sp, 2e-6, 1e-7},
  {"softplus2_b", 1, (int)BinaryOp::softplus_backward, {2, 5, 0}, r_sp_b, 2e-6, 1e-6},
  {"logsigmoid", 0, (int)UnaryOp::log_sigmoid, {}, r_ls, 2e-6, 1e-7},
  {"logsigmoid_b", 1, (int)BinaryOp::log_sigmoid_backward, {}, r_ls_b, 2e-6, 1e-6},
  {"elu", 0, (int)UnaryOp::elu, {0.7f, 1, 1}, r_elu, 2e-6, 1e-7},
  {"elu_b", 1, (int)BinaryOp::elu_backward, {0.7f, 1, 1}, r_elu_b, 2e-6, 1e-6},
  {"selu_b", 1, (int)BinaryOp::elu_backward, {SA * SS, SS, 1}, r_elu_b, 2e-6, 1e-6},
  {"celu_b", 1, (int)BinaryOp::elu_backward, {1.5f, 1, 1 / 1.5f}, r_elu_b, 2e-6, 1e-6},
  {"silu", 0, (int)UnaryOp::silu, {}, r_silu, 2e-6, 1e-7},
  {"silu_b", 1, (int)BinaryOp::silu_backward, {}, r_silu_b, 2e-6, 1e-6},
  {"sigmoid", 0, (int)UnaryOp::sigmoid, {}, r_sigm, 2e-6, 1e-37},
  {"tanh", 0, (int)UnaryOp::tanh, {}, r_tanh, 2e-6, 0},
};
static void run(const ElementwiseKernels& t, const Op& o, const float* x, const float* g, float* y, int64_t n) {
  if (o.bin) t.binary[o.idx](g, x, y, n, o.p); else t.unary[o.idx](x, y, n, o.p);
}
int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "time";
  std::string only = argc > 2 ? argv[2] : "";
  auto want = [&](const Op& o) { if (only.empty()) return true; std::string s = "," + only + ","; return s.find("," + std::string(o.name) + ",") != std::string::npos; };

  if (mode == "big") {  // 2^24 floats, base and new interleaved, threads T, wall clock (T=2) or thread CPU time (T=1)
    const int T = argc > 3 ? atoi(argv[3]) : 2; const int64_t n = 1 << 24; const int rounds = argc > 4 ? atoi(argv[4]) : 11;
    std::vector<float> x(n), g(n), y(n), y2(n);
    srand(1); for (int64_t i = 0; i < n; ++i) { x[i] = 3.0f * ((rand() / (float)RAND_MAX) * 2 - 1) * 1.7f; g[i] = 1.0f; }
    auto wall = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
    auto par = [&](auto&& body) {  // run body(b, e) on T threads over [0, n)
      if (T == 1) { body(0, n); return; }
      std::vector<std::thread> th; for (int t = 0; t < T; ++t) th.emplace_back([&, t] { body(n * t / T, n * (t + 1) / T); });
      for (auto& h : th) h.join(); };
    auto timeit = [&](auto&& body) { double t0 = T == 1 ? tcpu() : wall(); par(body); return ((T == 1 ? tcpu() : wall()) - t0) * 1e3; };
    printf("%-14s %8s %8s %8s %6s | %6s %6s  (ms, n=2^24, %d thread(s), %s, medians of %d interleaved rounds; bw = copy (fwd) / add (bwd) time over op time)\n",
           "op", "copy/add", "base", "new", "new/b", "bw b", "bw n", T, T == 1 ? "thread CPU time" : "wall", rounds);
    for (auto& o : ops) { if (!want(o)) continue;
      std::vector<double> tr, tb, tn;
      for (int r = 0; r < rounds + 1; ++r) {
        double a = o.bin ? timeit([&](int64_t b, int64_t e) { base_avx512.binary[(int)BinaryOp::add](g.data() + b, x.data() + b, y2.data() + b, e - b, {}); })
                         : timeit([&](int64_t b, int64_t e) { memcpy(&y2[b], &x[b], (e - b) * 4); });
        double b = timeit([&](int64_t s, int64_t e) { run(base_avx512, o, x.data() + s, g.data() + s, y.data() + s, e - s); });
        double c = timeit([&](int64_t s, int64_t e) { run(new_avx512, o, x.data() + s, g.data() + s, y.data() + s, e - s); });
        if (r) { tr.push_back(a); tb.push_back(b); tn.push_back(c); }
      }
      std::sort(tr.begin(), tr.end()); std::sort(tb.begin(), tb.end()); std::sort(tn.begin(), tn.end());
      const double R = tr[rounds / 2], B = tb[rounds / 2], N = tn[rounds / 2];
      printf("%-14s %8.2f %8.2f %8.2f %6.2f | %6.2f %6.2f\n", o.name, R, B, N, N / B, R / B, R / N);
    }
    return 0;
  }
  if (mode == "time") {
    const int64_t n = 2048; int reps = argc > 3 ? atoi(argv[3]) : 20000;
    std::vector<float> x(n), g(n, 1.0f), y(n);
    srand(1); for (auto& v : x) v = 3.0f * ((rand() / (float)RAND_MAX) * 2 - 1) * 2;  // ~[-6, 6]
    printf("%-14s %9s %9s %6s   (ns/element, 1 thread CPU time, n=2048 in L1; medians of 9 interleaved)\n", "op", "base", "new", "new/b");
    for (auto& o : ops) { if (!want(o)) continue;
      std::vector<double> tb, tn;
      for (int r = 0; r < 9; ++r) for (int w = 0; w < 2; ++w) {
        const ElementwiseKernels& t = w ? new_avx512 : base_avx512;
        run(t, o, x.data(), g.data(), y.data(), n);
        double t0 = tcpu(); for (int k = 0; k < reps; ++k) run(t, o, x.data(), g.data(), y.data(), n);
        (w ? tn : tb).push_back((tcpu() - t0) / reps / n * 1e9);
      }
      std::sort(tb.begin(), tb.end()); std::sort(tn.begin(), tn.end());
      printf("%-14s %9.3f %9.3f %6.2f\n", o.name, tb[4], tn[4], tn[4] / tb[4]);
    }
    return 0;
  }
  // accuracy: every `stride`-th float bit pattern over the whole line, plus specials
  const uint32_t stride = argc > 3 ? atoi(argv[3]) : 97;
  std::vector<float> x;
  for (uint64_t u = 0; u < (1ull << 32); u += stride) { float f; uint32_t b = (uint32_t)u; memcpy(&f, &b, 4); if (!std::isnan(f)) x.push_back(f); }
  const float sp_[] = {0.f, -0.f, INFINITY, -INFINITY, 1e-45f, -1e-45f, 1e-38f, -1e-38f, 20.f, 20.000002f, 19.999998f, 88.f, 89.f, -87.f, -88.f, -100.f, 2.5f, 5.f, -5.f, 1e6f, -1e6f, 0.34657359f, -0.34657359f, 10.f, -10.f, 15.f, -15.f, 16.f, -16.f, -9.f, -13.f, -14.f, -103.f, 104.f};
  for (float f : sp_) x.push_back(f);
  for (int i = -400000; i <= 400000; ++i) x.push_back(i * 2.5e-5f);  // dense in [-10, 10]
  const int64_t n = x.size();
  std::vector<float> g(n, 1.0f), y(n);
  struct T { const char* nm; const ElementwiseKernels* t; } tabs[] = {{"base512", &base_avx512}, {"new512", &new_avx512}, {"new_avx2", &new_avx2}, {"new_scal", &new_scalar}};
  printf("%-13s %-9s %10s %10s %10s %9s  (rel: |ref|>=1e-30; score = max |y-ref|/(atol+rtol|ref|), test fails > 1)\n", "op", "table", "max rel", "at x", "score", "at x");
  for (auto& o : ops) { if (!want(o)) continue;
    for (auto& tb : tabs) {
      run(*tb.t, o, x.data(), g.data(), y.data(), n);
      double mr = 0, mx = 0, ms = 0, sx = 0; int64_t badspecial = 0; double bsx = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double r = o.ref(x[i], o.p); const double v = y[i];
        if (std::isnan(r) || std::isinf(r) || std::isnan(v) || std::isinf(v)) {
          bool same = (std::isnan(r) && std::isnan(v)) || (r == v);
          if (!same && !(std::isinf(r) && std::fabs(v) > 3e38) ) { if (!badspecial) bsx = x[i]; ++badspecial; }
          continue;
        }
        const double e = std::fabs(v - r);
        if (std::fabs(r) >= 1e-30) { double rel = e / std::fabs(r); if (rel > mr) { mr = rel; mx = x[i]; } }
        double s = e / (o.atol + o.rtol * std::fabs(r)); if (s > ms) { ms = s; sx = x[i]; }
      }
      printf("%-13s %-9s %10.3g %10.4g %10.3g %9.4g", o.name, tb.nm, mr, mx, ms, sx);
      if (badspecial) printf("  nonfinite mismatch %lld (first x=%g)", (long long)badspecial, bsx);
      printf("\n");
    }
  }
}
