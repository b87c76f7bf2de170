// Radix-2 complex FFTs of length 8 and 16 whose every "number" is a vector of 16 lanes
// (16 independent tiles), so a butterfly is a handful of whole-vector adds and FMAs and
// no lane ever talks to another. Fully unrolled at compile time: twiddles are constants,
// multiplications by 1 and by +-i are left out.
//
// Included by fft_kernels_impl.h inside its per-ISA namespace (FFT_ISA_NS), so each ISA's
// compilation gets its own copy of these inline functions.
#pragma once
#include <type_traits>

// The vector types never cross a non-inlined call between ISAs; GCC's note about the
// 64-byte vector ABI without AVX-512 (scalar and AVX2 builds) does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#ifndef FFT_ISA_NS
#error "include fft_butterfly_impl.h only from fft_kernels_impl.h"
#endif

namespace cnnnative {
namespace fft {
namespace FFT_ISA_NS {

constexpr int kVec = 16;  // lanes per vector value
typedef float vf __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4)));

inline vf load(const float* p) { return *reinterpret_cast<const vfu*>(p); }
inline void store(float* p, vf x) { *reinterpret_cast<vfu*>(p) = x; }
inline vf splat(float x) { return vf{} + x; }

struct cvf {
  vf re, im;
};

// Calls f(std::integral_constant<int, I>) for I = Begin .. End-1, unrolled.
template <int Begin, int End, typename F>
inline __attribute__((always_inline)) void static_for(F&& f) {
  if constexpr (Begin < End) {
    f(std::integral_constant<int, Begin>{});
    static_for<Begin + 1, End>(f);
  }
}

constexpr int log2_of(int n) { return n <= 1 ? 0 : 1 + log2_of(n / 2); }

constexpr int bit_reverse(int n, int bits) {
  int r = 0;
  for (int i = 0; i < bits; ++i) r |= ((n >> i) & 1) << (bits - 1 - i);
  return r;
}

// cos and sin of 2*pi*k/16, k = 0..7 (the only twiddles a 16-point radix-2 FFT uses).
constexpr float kCos16[8] = {1.000000000f, 0.923879533f, 0.707106781f, 0.382683432f,
                             0.000000000f, -0.382683432f, -0.707106781f, -0.923879533f};
constexpr float kSin16[8] = {0.000000000f, 0.382683432f, 0.707106781f, 0.923879533f,
                             1.000000000f, 0.923879533f, 0.707106781f, 0.382683432f};

// x * e^{Sign * 2*pi*i*K/16}.
template <int Sign, int K>
inline __attribute__((always_inline)) cvf twiddle(const cvf& x) {
  if constexpr (K == 0) {
    return x;
  } else if constexpr (K == 4) {  // e^{Sign*i*pi/2} = Sign*i
    if constexpr (Sign > 0) return cvf{-x.im, x.re};
    else return cvf{x.im, -x.re};
  } else {
    constexpr float c = kCos16[K], s = Sign * kSin16[K];
    return cvf{x.re * c - x.im * s, x.re * s + x.im * c};
  }
}

// In-place FFT of length N (8 or 16): on entry x[k] holds input element bit_reverse(k),
// on exit x[k] = sum_n input[n] e^{Sign*2*pi*i*k*n/N} (no normalisation). Sign = -1 is
// the forward DFT, +1 the inverse.
template <int N, int Sign>
inline __attribute__((always_inline)) void fft_from_bit_reversed(cvf* x) {
  static_assert(N == 8 || N == 16, "FFT lengths 8 and 16");
  static_for<0, log2_of(N)>([&](auto stage) {
    constexpr int h = 1 << decltype(stage)::value;  // butterfly span
    static_for<0, N / (2 * h)>([&](auto block) {
      constexpr int b = decltype(block)::value * 2 * h;
      static_for<0, h>([&](auto jj) {
        constexpr int j = decltype(jj)::value;
        const cvf t = twiddle<Sign, j * (16 / (2 * h))>(x[b + j + h]);
        const cvf u = x[b + j];
        x[b + j] = cvf{u.re + t.re, u.im + t.im};
        x[b + j + h] = cvf{u.re - t.re, u.im - t.im};
      });
    });
  });
}

}  // namespace FFT_ISA_NS
}  // namespace fft
}  // namespace cnnnative
