// Backward plane kernels of the depthwise convolution: a part of depthwise_kernels_impl.h
// (compiled per ISA; include only from there). The input gradient tap by tap (the driver
// runs stride 1 as a forward convolution instead) and the weight gradient, with AVX-512
// one-pass kernels for 3x3 at stride 1 and 2.
#ifndef DEPTHWISE_ISA_NS
#error "include depthwise_kernels_impl.h, not this part of it"
#endif

namespace cnnnative {
namespace depthwise {
namespace DEPTHWISE_ISA_NS {

inline void backward_input_plane(const ConvParams& p, const float* dy, const float* w, float* dx) {
  const int64_t OH = out_h(p), OW = out_w(p);
  const int64_t sw = p.stride_w;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* dyrow = dy + oh * OW;
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) continue;
      float* dxrow = dx + ih * p.W;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t off = s * p.dilation_w - p.pad_left;
        int64_t lo, hi;
        valid_range(OW, p.W, sw, off, &lo, &hi);
        const float wv = w[r * p.S + s];
        float* __restrict out = dxrow + lo * sw + off;
        const float* __restrict in = dyrow + lo;
        const int64_t n = hi - lo;
        if (sw == 1) {
          for (int64_t i = 0; i < n; ++i) out[i] += wv * in[i];
        } else {
          for (int64_t i = 0; i < n; ++i) out[i * sw] += wv * in[i];
        }
      }
    }
  }
}

#if defined(__AVX512F__)
// The nine sums dw[r][s] of a 3x3 weight gradient: 16-lane float accumulators whose lane
// sums move to double every 32 vectors (a plane's thousands of products stay accurate).
struct NineSums {
  __m512 acc[9];
  double total[9] = {};
  int pending = 0;  // vectors summed in acc since the last move to double
  NineSums() {
    for (auto& a : acc) a = _mm512_setzero_ps();
  }
  // acc[3r + s] += g * taps[s] for kernel row r.
  void add(int r, __m512 g, const __m512 (&taps)[3]) {
    for (int s = 0; s < 3; ++s) acc[r * 3 + s] = _mm512_fmadd_ps(g, taps[s], acc[r * 3 + s]);
  }
  // After each vector of dy (all three rows added).
  void next() {
    if (++pending == 32) flush();
  }
  void flush() {
    for (int t = 0; t < 9; ++t) {
      total[t] += static_cast<double>(_mm512_reduce_add_ps(acc[t]));
      acc[t] = _mm512_setzero_ps();
    }
    pending = 0;
  }
  void add_to(float* dw) {
    flush();
    for (int t = 0; t < 9; ++t) dw[t] += static_cast<float>(total[t]);
  }
};

// 3x3 stride 1 dilation 1: all nine sums in one pass over the flat layout of the narrow
// forward path. dy is copied with the padded copy's row pitch P (zeros in the P - OW
// columns past each row), so dw[r][s] = sum_f dyflat[f] * in[f + r*P + s] over the flat
// index f; per 16 values of dy, one load per kernel row (shared with the next vector) and
// two valignd shifts give the three taps.
inline void flat_weight_grad3x3(const ConvParams& p, const float* x, const float* dy, float* dw, float* scratch) {
  const int64_t OH = out_h(p), OW = out_w(p);
  const int64_t P = p.W + p.pad_left + p.pad_right;
  float* in = scratch;
  float* d = scratch + flat_input_floats(p);
  flat_copy_input(p, x, in);
  const int64_t vectors = (OH * P + 15) / 16;
  std::memset(d, 0, sizeof(float) * size_t(vectors * 16));
  for (int64_t oh = 0; oh < OH; ++oh) std::memcpy(d + oh * P, dy + oh * OW, sizeof(float) * size_t(OW));
  NineSums sums;
  for (int64_t v = 0; v < vectors; ++v) {
    const __m512 g = _mm512_load_ps(d + 16 * v);
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
      const float* q = in + 16 * v + r * P;
      const __m512i a0 = _mm512_castps_si512(_mm512_loadu_ps(q)), a1 = _mm512_castps_si512(_mm512_loadu_ps(q + 16));
      const __m512 taps[3] = {_mm512_castsi512_ps(a0), _mm512_castsi512_ps(_mm512_alignr_epi32(a1, a0, 1)),
                              _mm512_castsi512_ps(_mm512_alignr_epi32(a1, a0, 2))};
      sums.add(r, g, taps);
    }
    sums.next();
  }
  sums.add_to(dw);
}

// 3x3 stride 2 dilation 1: per output row and 16 values of dy, each of the three input
// rows gives the even lanes (tap 0), the odd lanes (tap 1) and the even lanes moved one
// along (tap 2) as in the forward stride-2 kernel. Lanes past the output row's end load dy
// as zero. zero: scratch of W floats.
inline void s2_weight_grad3x3(const ConvParams& p, const float* x, const float* dy, float* dw, float* zero) {
  const int64_t OH = out_h(p), OW = out_w(p), W = p.W;
  for (int64_t j = 0; j < W; ++j) zero[j] = 0.f;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  NineSums sums;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* rows[3];
    band_rows(p, x, zero, 2 * oh - p.pad_top, 3, rows);
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
      const __mmask16 keep = OW - ow0 >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (OW - ow0)) - 1u);
      const __m512 g = _mm512_maskz_loadu_ps(keep, dy + oh * OW + ow0);
      const int64_t b = 2 * ow0 - p.pad_left;
      const __mmask16 ma = inside_mask(b, W), mb = inside_mask(b + 16, W), mc = inside_mask(b + 32, W) & 0x0001;
#pragma GCC unroll 3
      for (int r = 0; r < 3; ++r) {
        const __m512 a = _mm512_maskz_loadu_ps(ma, rows[r] + b), bb = _mm512_maskz_loadu_ps(mb, rows[r] + b + 16);
        const __m512 next = _mm512_maskz_loadu_ps(mc, rows[r] + b + 32);
        const __m512 e = _mm512_permutex2var_ps(a, even, bb);
        const __m512 taps[3] = {
            e, _mm512_permutex2var_ps(a, odd, bb),
            _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(e), 1))};
        sums.add(r, g, taps);
      }
      sums.next();
    }
  }
  sums.add_to(dw);
}
#endif

inline void backward_weight_plane(const ConvParams& p, const float* x, const float* dy, float* dw, float* scratch) {
#if defined(__AVX512F__)
  if (p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1) {
    flat_weight_grad3x3(p, x, dy, dw, scratch);
    return;
  }
  if (p.R == 3 && p.S == 3 && p.stride_h == 2 && p.stride_w == 2 && p.dilation_h == 1 && p.dilation_w == 1) {
    s2_weight_grad3x3(p, x, dy, dw, scratch);
    return;
  }
#else
  (void)scratch;
#endif
  const int64_t OH = out_h(p), OW = out_w(p);
  const int64_t sw = p.stride_w;
  for (int64_t r = 0; r < p.R; ++r) {
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t off = s * p.dilation_w - p.pad_left;
      int64_t lo, hi;
      valid_range(OW, p.W, sw, off, &lo, &hi);
      const int64_t n = hi - lo;
      double total = 0.0;  // rows summed in float, the (few hundred) row sums in double
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
        if (ih < 0 || ih >= p.H || n <= 0) continue;
        const float* __restrict a = dy + oh * OW + lo;
        const float* __restrict b = x + ih * p.W + lo * sw + off;
        // 16 partial sums (lanewise, so the compiler vectorises without reassociating).
        float lanes[16] = {};
        int64_t i = 0;
        if (sw == 1) {
          for (; i + 16 <= n; i += 16)
            for (int l = 0; l < 16; ++l) lanes[l] += a[i + l] * b[i + l];
        }
        float acc = 0.f;
        for (; i < n; ++i) acc += a[i] * b[i * sw];
        for (int l = 0; l < 16; ++l) acc += lanes[l];
        total += acc;
      }
      dw[r * p.S + s] += static_cast<float>(total);
    }
  }
}

}  // namespace DEPTHWISE_ISA_NS
}  // namespace depthwise
}  // namespace cnnnative
