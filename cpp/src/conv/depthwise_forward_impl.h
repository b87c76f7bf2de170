// Forward plane kernels of the depthwise convolution: a part of depthwise_kernels_impl.h
// (compiled per ISA; include only from there). The tap-by-tap rows for any geometry, the
// portable padded-copy chunks, and the AVX-512 3x3 kernels (stride 1 and 2) and flat
// narrow-plane stencil; forward_plane picks among them.
#ifndef DEPTHWISE_ISA_NS
#error "include depthwise_kernels_impl.h, not this part of it"
#endif

namespace cnnnative {
namespace depthwise {
namespace DEPTHWISE_ISA_NS {

// One row: acc[ow] += wv * in[ow*stride] for ow in [0, n). Stride 1 gets its own loop so
// it vectorises without gathers.
inline void axpy_row(float* __restrict acc, const float* __restrict in, float wv, int64_t n, int64_t stride) {
  if (stride == 1) {
    for (int64_t i = 0; i < n; ++i) acc[i] += wv * in[i];
  } else if (stride == 2) {
    for (int64_t i = 0; i < n; ++i) acc[i] += wv * in[2 * i];
  } else {
    for (int64_t i = 0; i < n; ++i) acc[i] += wv * in[i * stride];
  }
}

inline void forward_plane_rows(const ConvParams& p, const float* x, const float* w, float bias, float* y) {
  const int64_t OH = out_h(p), OW = out_w(p);
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* row = y + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) row[ow] = bias;
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) continue;
      const float* xrow = x + ih * p.W;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t off = s * p.dilation_w - p.pad_left;
        int64_t lo, hi;
        valid_range(OW, p.W, p.stride_w, off, &lo, &hi);
        if (hi > lo) axpy_row(row + lo, xrow + lo * p.stride_w + off, w[r * p.S + s], hi - lo, p.stride_w);
      }
    }
  }
}


// V accumulators of 16 pixels each: out[0..16V) = bias + sum over the taps, kept in
// registers across all R*S taps (one store per pixel instead of one per tap).
template <int V>
inline void forward_chunk(const ConvParams& p, const float* x, const float* w, float bias, int64_t oh,
                          int64_t ow0, float* out) {
  v16 acc[V];
  for (int v = 0; v < V; ++v) acc[v] = v16{} + bias;
  for (int64_t r = 0; r < p.R; ++r) {
    const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
    if (ih < 0 || ih >= p.H) continue;
    const float* src = x + ih * p.W + ow0 - p.pad_left;
    for (int64_t s = 0; s < p.S; ++s) {
      const float wv = w[r * p.S + s];
      const float* q = src + s * p.dilation_w;
      for (int v = 0; v < V; ++v) acc[v] += wv * *reinterpret_cast<const v16u*>(q + 16 * v);
    }
  }
  for (int v = 0; v < V; ++v) *reinterpret_cast<v16u*>(out + 16 * v) = acc[v];
}

// 3x3, stride 1, dilation 1 (the MobileNet case): ROWS output rows x V vectors of 16
// pixels at once. Each input row's three shifted vectors are loaded once and feed up to
// three output rows, so loads per FMA drop from 1 to (ROWS+2)*3/(ROWS*9), and the nine
// weights stay in registers. `in` is the zero-padded copy (no bounds checks).
template <int ROWS, int V>
inline void forward_block3x3(const float* in, int64_t ld, const v16* wb, float bias, int64_t oh0,
                             int64_t ow0, float* y, int64_t OW) {
  // Every loop below has a compile-time trip count and is unrolled completely, so the
  // ROWS*V accumulators are registers and the row tests vanish (GCC keeps them on the
  // stack without the pragmas).
  v16 acc[ROWS][V];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = v16{} + bias;
#pragma GCC unroll 8
  for (int i = 0; i < ROWS + 2; ++i) {  // input row oh0 + i feeds output rows i-2 .. i
    const float* src = in + (oh0 + i) * ld + ow0;
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const v16 xv = *reinterpret_cast<const v16u*>(src + s + 16 * v);
#pragma GCC unroll 3
        for (int r = 0; r < 3; ++r) {
          const int o = i - r;
          if (o >= 0 && o < ROWS) acc[o][v] += wb[r * 3 + s] * xv;
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) *reinterpret_cast<v16u*>(y + (oh0 + r) * OW + ow0 + 16 * v) = acc[r][v];
}

// The column blocks of an output row of OW >= 16 pixels: block(V, ow0) for 32-pixel
// blocks (V = 2), then a 16-pixel one, then one last block that overlaps the previous one
// (recomputing identical values). V arrives as std::integral_constant, a compile-time value.
template <class Block>
inline void column_blocks(int64_t OW, Block block) {
  int64_t ow = 0;
  for (; ow + 32 <= OW; ow += 32) block(std::integral_constant<int, 2>{}, ow);
  if (ow + 16 <= OW) {
    block(std::integral_constant<int, 1>{}, ow);
    ow += 16;
  }
  if (ow < OW) block(std::integral_constant<int, 1>{}, OW - 16);
}

template <int ROWS>
inline void forward_rows3x3(const float* in, int64_t ld, const v16* wb, float bias, int64_t oh0, float* y,
                            int64_t OW) {
  column_blocks(OW, [&](auto V, int64_t ow) { forward_block3x3<ROWS, V>(in, ld, wb, bias, oh0, ow, y, OW); });
}

// All output rows of the zero-padded copy `in` (ld floats per row): bands of 4 rows.
inline void forward_plane3x3(const float* in, int64_t ld, const float* w, float bias, float* y, int64_t OH,
                             int64_t OW) {
  v16 wb[9];
  for (int t = 0; t < 9; ++t) wb[t] = v16{} + w[t];
  int64_t oh = 0;
  for (; oh + 4 <= OH; oh += 4) forward_rows3x3<4>(in, ld, wb, bias, oh, y, OW);
  switch (OH - oh) {
    case 3: forward_rows3x3<3>(in, ld, wb, bias, oh, y, OW); break;
    case 2: forward_rows3x3<2>(in, ld, wb, bias, oh, y, OW); break;
    case 1: forward_rows3x3<1>(in, ld, wb, bias, oh, y, OW); break;
    default: break;
  }
}

#if defined(__AVX512F__)
// What the AVX-512 3x3 kernels need besides the data: the nine weights and the bias as
// vectors, and the activation fused into their stores (the engine's ReLU / ReLU6; act as in
// PlaneEpilogueFn). NaN stays NaN under either, as in plane_epilogue (data second: x86
// max/min return the second operand on NaN).
struct Taps3x3 {
  __m512 w[9];
  __m512 bias, lo, hi;
  bool clamp;
  Taps3x3(const float* weights, float b, int act)
      : bias(_mm512_set1_ps(b)), lo(_mm512_setzero_ps()), hi(_mm512_set1_ps(act == 2 ? 6.f : INFINITY)),
        clamp(act != 0) {
    for (int t = 0; t < 9; ++t) w[t] = _mm512_set1_ps(weights[t]);
  }
  __m512 finish(__m512 v) const { return clamp ? _mm512_min_ps(hi, _mm512_max_ps(lo, v)) : v; }
};
#endif

#if defined(__AVX512F__)
// AVX-512 only: 3x3 stride 1 straight from the unpadded plane, no copy. Rows above or
// below the image point at a zero row; blocks that touch the left or right border use
// masked loads (lanes outside [0, W) read as zero and never fault).
//
// On this machine a 512-bit load that crosses a cache line costs 1.7 cycles against 1 for
// a line-aligned one, and a 512-bit shuffle issues beside the FMAs for free. So each input
// row is loaded once per 16 columns at the centre tap's offset, and the left and right taps
// are made from neighbouring vectors with valignd instead of two more unaligned loads.

// ROWS output rows x V vectors of 16 pixels starting at column ow0. rows[i] is input row
// oh0 - pad_top + i. Per input row: V + 2 loads (the outer two need one lane each), 2V
// shuffles, and up to 9V FMAs; the nine weights and the ROWS*V accumulators stay in
// registers (ROWS = 6, V = 2 uses 12 + 9 + 4 of the 32).
template <int ROWS, int V, bool EDGE>
inline void direct_block3x3(const float* const* rows, int64_t W, int64_t pl, const Taps3x3& k, int64_t ow0,
                            float* y, int64_t OW) {
  __m512 acc[ROWS][V];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = k.bias;
  const int64_t c0 = ow0 - pl + 1;  // input column of the centre tap for pixel ow0
  // Vector j (0 .. V+1) holds columns c0 + 16(j-1) .. +15: j = 0 contributes its last lane
  // (the left tap of pixel ow0), j = V+1 its first (the right tap of the last pixel).
  __mmask16 m[V + 2];
#pragma GCC unroll 6
  for (int j = 0; j < V + 2; ++j) m[j] = EDGE ? inside_mask(c0 + 16 * (j - 1), W) : 0xFFFF;
  m[0] &= 0x8000;
  m[V + 1] &= 0x0001;
#pragma GCC unroll 8
  for (int i = 0; i < ROWS + 2; ++i) {  // input row i feeds output rows i-2 .. i
    __m512 a[V + 2];
#pragma GCC unroll 6
    for (int j = 0; j < V + 2; ++j) {
      const float* q = rows[i] + c0 + 16 * (j - 1);
      a[j] = EDGE || j == 0 || j == V + 1 ? _mm512_maskz_loadu_ps(m[j], q) : _mm512_loadu_ps(q);
    }
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __m512i lo = _mm512_castps_si512(a[v]), mid = _mm512_castps_si512(a[v + 1]),
                    hi = _mm512_castps_si512(a[v + 2]);
      const __m512 taps[3] = {_mm512_castsi512_ps(_mm512_alignr_epi32(mid, lo, 15)), a[v + 1],
                              _mm512_castsi512_ps(_mm512_alignr_epi32(hi, mid, 1))};
#pragma GCC unroll 3
      for (int r = 0; r < 3; ++r) {
        const int o = i - r;
        if (o < 0 || o >= ROWS) continue;
#pragma GCC unroll 3
        for (int s = 0; s < 3; ++s) acc[o][v] = _mm512_fmadd_ps(k.w[r * 3 + s], taps[s], acc[o][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(y + r * OW + ow0 + 16 * v, k.finish(acc[r][v]));
}

template <int ROWS, int V>
inline void direct_block3x3_any(const float* const* rows, int64_t W, int64_t pl, const Taps3x3& k, int64_t ow0,
                                float* y, int64_t OW) {
  if (ow0 - pl >= 0 && ow0 - pl + 16 * V + 2 <= W)
    direct_block3x3<ROWS, V, false>(rows, W, pl, k, ow0, y, OW);
  else
    direct_block3x3<ROWS, V, true>(rows, W, pl, k, ow0, y, OW);
}

template <int ROWS>
inline void direct_rows3x3(const float* const* rows, int64_t W, int64_t pl, const Taps3x3& k, float* y,
                           int64_t OW) {
  column_blocks(OW, [&](auto V, int64_t ow) { direct_block3x3_any<ROWS, V>(rows, W, pl, k, ow, y, OW); });
}

// Bands of 6 output rows (8 input rows each): measured best against 3, 4, 5 and 8 rows
// and 1, 3 or 4 vectors per block on 112x112 planes.
// zero: scratch of at least W floats (the rows above and below the image).
inline void direct_plane3x3(const ConvParams& p, const float* x, const float* w, float bias, float* y,
                            float* zero, int act) {
  constexpr int64_t kBand = 6;
  const int64_t OH = out_h(p), OW = out_w(p);
  for (int64_t j = 0; j < p.W; ++j) zero[j] = 0.f;
  const Taps3x3 k(w, bias, act);
  for (int64_t oh = 0; oh < OH; oh += kBand) {
    const float* rows[kBand + 2];
    band_rows(p, x, zero, oh - p.pad_top, kBand + 2, rows);
    float* yb = y + oh * OW;
    switch (OH - oh < kBand ? OH - oh : kBand) {
      case 6: direct_rows3x3<6>(rows, p.W, p.pad_left, k, yb, OW); break;
      case 5: direct_rows3x3<5>(rows, p.W, p.pad_left, k, yb, OW); break;
      case 4: direct_rows3x3<4>(rows, p.W, p.pad_left, k, yb, OW); break;
      case 3: direct_rows3x3<3>(rows, p.W, p.pad_left, k, yb, OW); break;
      case 2: direct_rows3x3<2>(rows, p.W, p.pad_left, k, yb, OW); break;
      default: direct_rows3x3<1>(rows, p.W, p.pad_left, k, yb, OW); break;
    }
  }
}
#endif

#if defined(__AVX512F__)
// 3x3 stride 2, dilation 1 (MobileNet's downsampling layers), straight from the plane.
// 16 outputs of a row read input columns b .. b+32 (b = 2*ow0 - pad_left): two loads A, B
// of 16, then the even lanes (tap 0), the odd lanes (tap 1) and the even lanes moved one
// along (tap 2, its last lane from the next vector's first even value) come from two
// permutes and a valignd. Each input row feeds one or two output rows (bands of ROWS
// output rows read 2*ROWS + 1 input rows). Blocks touching a border use masked loads;
// the last block stores only the lanes inside the output row.
template <int ROWS, int V, bool EDGE>
inline void s2_block3x3(const float* const* rows, int64_t W, int64_t pl, const Taps3x3& k, int64_t ow0,
                        float* y, int64_t OW, __mmask16 last_store) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  __m512 acc[ROWS][V];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = k.bias;
  const int64_t b = 2 * ow0 - pl;
  __mmask16 m[2 * V + 1];  // A_v, B_v, then the one value after the block
#pragma GCC unroll 8
  for (int j = 0; j < 2 * V + 1; ++j) m[j] = EDGE ? inside_mask(b + 16 * j, W) : 0xFFFF;
  m[2 * V] &= 0x0001;
#pragma GCC unroll 9
  for (int i = 0; i < 2 * ROWS + 1; ++i) {  // input row i feeds output row o with kernel row i - 2o
    __m512 e[V + 1], o[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const float* q = rows[i] + b + 32 * v;
      const __m512 a = EDGE ? _mm512_maskz_loadu_ps(m[2 * v], q) : _mm512_loadu_ps(q);
      const __m512 bb = EDGE ? _mm512_maskz_loadu_ps(m[2 * v + 1], q + 16) : _mm512_loadu_ps(q + 16);
      e[v] = _mm512_permutex2var_ps(a, even, bb);
      o[v] = _mm512_permutex2var_ps(a, odd, bb);
    }
    e[V] = _mm512_maskz_loadu_ps(m[2 * V], rows[i] + b + 32 * V);
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __m512 taps[3] = {
          e[v], o[v],
          _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(e[v + 1]), _mm512_castps_si512(e[v]), 1))};
#pragma GCC unroll 2
      for (int oo = 0; oo < ROWS; ++oo) {
        const int r = i - 2 * oo;
        if (r < 0 || r > 2) continue;
#pragma GCC unroll 3
        for (int s = 0; s < 3; ++s) acc[oo][v] = _mm512_fmadd_ps(k.w[r * 3 + s], taps[s], acc[oo][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      float* dst = y + r * OW + ow0 + 16 * v;
      if (v == V - 1 && last_store != 0xFFFF)
        _mm512_mask_storeu_ps(dst, last_store, k.finish(acc[r][v]));
      else
        _mm512_storeu_ps(dst, k.finish(acc[r][v]));
    }
}

template <int ROWS>
inline void s2_rows3x3(const float* const* rows, int64_t W, int64_t pl, const Taps3x3& k, float* y,
                       int64_t OW) {
  int64_t ow = 0;
  for (; ow + 32 <= OW; ow += 32) {
    const int64_t b = 2 * ow - pl;
    if (b >= 0 && b + 65 <= W)
      s2_block3x3<ROWS, 2, false>(rows, W, pl, k, ow, y, OW, 0xFFFF);
    else
      s2_block3x3<ROWS, 2, true>(rows, W, pl, k, ow, y, OW, 0xFFFF);
  }
  for (; ow < OW; ow += 16) {  // 16 or fewer: the last block stores the lanes inside the row
    const __mmask16 keep = OW - ow >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (OW - ow)) - 1u);
    s2_block3x3<ROWS, 1, true>(rows, W, pl, k, ow, y, OW, keep);
  }
}

// zero: scratch of at least W floats (rows above and below the image).
inline void s2_plane3x3(const ConvParams& p, const float* x, const float* w, float bias, float* y, float* zero,
                        int act) {
  constexpr int64_t kBand = 4;
  const int64_t OH = out_h(p), OW = out_w(p);
  for (int64_t j = 0; j < p.W; ++j) zero[j] = 0.f;
  const Taps3x3 k(w, bias, act);
  for (int64_t oh = 0; oh < OH; oh += kBand) {
    const float* rows[2 * kBand + 1];
    band_rows(p, x, zero, 2 * oh - p.pad_top, 2 * kBand + 1, rows);
    float* yb = y + oh * OW;
    switch (OH - oh < kBand ? OH - oh : kBand) {
      case 4: s2_rows3x3<4>(rows, p.W, p.pad_left, k, yb, OW); break;
      case 3: s2_rows3x3<3>(rows, p.W, p.pad_left, k, yb, OW); break;
      case 2: s2_rows3x3<2>(rows, p.W, p.pad_left, k, yb, OW); break;
      default: s2_rows3x3<1>(rows, p.W, p.pad_left, k, yb, OW); break;
    }
  }
}

#endif

// Narrow planes (OW < 16: MobileNet's 14x14 and 7x7), stride 1, dilation 1, S = 3 or 5.
// A row of 16 lanes would be mostly idle, so the plane is treated as one flat array: in
// the zero-padded copy with row pitch P = W + pad_left + pad_right, output (oh, ow) is
// sum_{r,s} w[r][s] * in[(oh + r) * P + ow + s], a 1-D stencil over flat index oh*P + ow.
// Vectors of 16 run across row ends; the P - OW values past each row's end are computed
// and dropped when the rows are copied out. Per input row and vector: one load (shared
// with the neighbour) and the S shifted copies made by valignd.
inline bool flat_applies(const ConvParams& p) {
  return out_w(p) < 16 && out_w(p) >= 1 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 &&
         p.dilation_w == 1 && (p.S == 3 || p.S == 5) && p.R <= 5;
}

#if defined(__AVX512F__)
template <int S, int G>
inline void flat_block(const float* in, int64_t P, int64_t R, const __m512* wb, __m512 bias, float* out) {
  __m512 acc[G];
#pragma GCC unroll 4
  for (int j = 0; j < G; ++j) acc[j] = bias;
  for (int64_t r = 0; r < R; ++r) {
    __m512 a[G + 1];
#pragma GCC unroll 5
    for (int j = 0; j <= G; ++j) a[j] = _mm512_loadu_ps(in + r * P + 16 * j);
#pragma GCC unroll 5
    for (int s = 0; s < S; ++s) {
#pragma GCC unroll 4
      for (int j = 0; j < G; ++j) {
        const __m512 shifted =
            s == 0 ? a[j]
                   : _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(a[j + 1]), _mm512_castps_si512(a[j]), s));
        acc[j] = _mm512_fmadd_ps(wb[r * S + s], shifted, acc[j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < G; ++j) _mm512_store_ps(out + 16 * j, acc[j]);
}

// scratch: flat_input_floats(p) + OH * P + 16 floats, 64-byte aligned. act: fused into
// the rows' copy-out (see Taps3x3).
template <int S>
inline void flat_plane(const ConvParams& p, const float* x, const float* w, float bias, float* y, float* scratch,
                       int act = 0) {
  const int64_t OH = out_h(p), OW = out_w(p), R = p.R;
  const int64_t P = p.W + p.pad_left + p.pad_right;
  float* in = scratch;
  float* out = scratch + flat_input_floats(p);
  flat_copy_input(p, x, in);
  __m512 wb[5 * S];  // R <= 5 (checked by the caller)
  for (int64_t t = 0; t < R * S; ++t) wb[t] = _mm512_set1_ps(w[t]);
  const __m512 bv = _mm512_set1_ps(bias);
  const int64_t vectors = (OH * P + 15) / 16;
  int64_t v = 0;
  for (; v + 4 <= vectors; v += 4) flat_block<S, 4>(in + 16 * v, P, R, wb, bv, out + 16 * v);
  for (; v < vectors; ++v) flat_block<S, 1>(in + 16 * v, P, R, wb, bv, out + 16 * v);
  const __mmask16 row = static_cast<__mmask16>((1u << OW) - 1u);
  const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(act == 2 ? 6.f : INFINITY);
  for (int64_t oh = 0; oh < OH; ++oh) {
    __m512 v = _mm512_maskz_loadu_ps(row, out + oh * P);
    if (act != 0) v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));  // data second: keeps NaN
    _mm512_mask_storeu_ps(y + oh * OW, row, v);
  }
}

#else
// Without AVX-512 (the AVX2 and scalar builds): the same flat stencil on the compiler's
// 16-float vectors (two ymm under AVX2), one unaligned load per tap.
template <int S>
inline void flat_plane(const ConvParams& p, const float* x, const float* w, float bias, float* y, float* scratch) {
  const int64_t OH = out_h(p), OW = out_w(p), R = p.R;
  const int64_t P = p.W + p.pad_left + p.pad_right;
  float* in = scratch;
  float* out = scratch + flat_input_floats(p);
  flat_copy_input(p, x, in);
  const int64_t vectors = (OH * P + 15) / 16;
  for (int64_t v = 0; v < vectors; ++v) {
    v16 acc = v16{} + bias;
    for (int64_t r = 0; r < R; ++r)
#pragma GCC unroll 5
      for (int s = 0; s < S; ++s) acc += w[r * S + s] * *reinterpret_cast<const v16u*>(in + 16 * v + r * P + s);
    *reinterpret_cast<v16u*>(out + 16 * v) = acc;
  }
  for (int64_t oh = 0; oh < OH; ++oh) std::memcpy(y + oh * OW, out + oh * P, sizeof(float) * size_t(OW));
}
#endif

#if defined(__AVX2__) && !defined(__AVX512F__)
// Even-indexed and odd-indexed values of the 16 floats at q.
inline void avx2_even_odd(const float* q, __m256* even, __m256* odd) {
  const __m256 a = _mm256_loadu_ps(q), b = _mm256_loadu_ps(q + 8);
  // Per 128-bit half: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit pairs into order.
  const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

// AVX2 only (16 ymm registers; the portable 16-float blocks above spill there): 3x3,
// dilation 1, stride 1 or 2, on the zero-padded copy `in` (row pitch ld, 16 zeros past
// each row), 8 output pixels per vector and bands of ROWS output rows; a last vector
// overlapping the previous one covers a width that is not a multiple of 8 (OW >= 8).
// Output pixel ow of band row oo reads padded columns STRIDE*ow .. +2 of padded rows
// STRIDE*(oh0 + oo) .. +2. At stride 2 taps 0 and 1 are the even and odd values from
// column 2ow, tap 2 the even values from column 2ow + 2.
template <int STRIDE, int ROWS>
inline void avx2_band3x3(const float* in, int64_t ld, const __m256* wb, __m256 bias, int64_t oh0, float* y,
                         int64_t OW) {
  for (int64_t ow = 0; ow < OW; ow += 8) {
    const int64_t o = ow + 8 <= OW ? ow : OW - 8;
    __m256 acc[ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) acc[r] = bias;
#pragma GCC unroll 9
    for (int i = 0; i < STRIDE * (ROWS - 1) + 3; ++i) {  // padded row STRIDE*oh0 + i: kernel row i - STRIDE*oo
      const float* src = in + (STRIDE * oh0 + i) * ld + STRIDE * o;
      __m256 taps[3];  // stride 2: all three at once from the even/odd split
      if constexpr (STRIDE == 2) {
        __m256 unused;
        avx2_even_odd(src, &taps[0], &taps[1]);
        avx2_even_odd(src + 2, &taps[2], &unused);
      }
#pragma GCC unroll 3
      for (int s = 0; s < 3; ++s) {
        // stride 1: one load per tap, used at once (loading all three first spills: 6% slower)
        const __m256 t = STRIDE == 1 ? _mm256_loadu_ps(src + s) : taps[s];
#pragma GCC unroll 4
        for (int oo = 0; oo < ROWS; ++oo) {
          const int r = i - STRIDE * oo;
          if (r >= 0 && r <= 2) acc[oo] = _mm256_fmadd_ps(wb[r * 3 + s], t, acc[oo]);
        }
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) _mm256_storeu_ps(y + (oh0 + r) * OW + o, acc[r]);
  }
}

template <int STRIDE>
inline void avx2_plane3x3(const float* in, int64_t ld, const float* w, float bias, float* y, int64_t OH,
                          int64_t OW) {
  constexpr int64_t kBand = STRIDE == 1 ? 4 : 2;
  __m256 wb[9];
  for (int t = 0; t < 9; ++t) wb[t] = _mm256_set1_ps(w[t]);
  const __m256 bv = _mm256_set1_ps(bias);
  int64_t oh = 0;
  for (; oh + kBand <= OH; oh += kBand) avx2_band3x3<STRIDE, kBand>(in, ld, wb, bv, oh, y, OW);
  for (; oh < OH; ++oh) avx2_band3x3<STRIDE, 1>(in, ld, wb, bv, oh, y, OW);
}
#endif

// Stride 2 along the width, any kernel (the 5x5 downsampling layers of MnasNet,
// EfficientNet and MobileNet-v3; 3x3 has its own kernels above): the zero-padded copy
// keeps each row's even columns, then its odd columns, so tap column c of output ow,
// padded column 2*ow + c, is value ow + c/2 of half c%2. Every tap then reads
// consecutive values and the rows vectorise as at stride 1 (the tap-by-tap loop over the
// plane reads every second value instead). `split` holds PH rows of two halves of
// split_half_floats(p) (padded_plane_floats covers them).
inline void forward_plane_stride2_split(const ConvParams& p, const float* x, const float* w, float bias, float* y,
                                        float* split) {
  const int64_t OH = out_h(p), OW = out_w(p);
  const int64_t PH = p.H + p.pad_top + p.pad_bottom;
  const int64_t half_ld = split_half_floats(p), ld = 2 * half_ld;
  for (int64_t i = 0; i < PH; ++i) {
    float* even = split + i * ld;
    float* odd = even + half_ld;
    const int64_t ih = i - p.pad_top;
    if (ih < 0 || ih >= p.H) {
      for (int64_t j = 0; j < ld; ++j) even[j] = 0.f;
      continue;
    }
    // Zeros first, then the image: whole (even, odd) column pairs in one loop the compiler
    // vectorises with permutes, and the one unpaired column at either end.
    for (int64_t j = 0; j < ld; ++j) even[j] = 0.f;
    const float* src = x + ih * p.W;
    const int64_t off = p.pad_left, first_pair = (off + 1) / 2, end_pair = (off + p.W) / 2;
    for (int64_t i = first_pair; i < end_pair; ++i) {
      even[i] = src[2 * i - off];
      odd[i] = src[2 * i + 1 - off];
    }
    if (off & 1) odd[(off - 1) / 2] = src[0];                  // first column is odd
    if ((off + p.W) & 1) even[(off + p.W - 1) / 2] = src[p.W - 1];  // last column is even
  }
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* row = y + oh * OW;
#if defined(__AVX512F__)
    {
      // 16 outputs per vector, all R*S taps accumulated in registers; the last vector
      // overlaps the one before (recomputing identical values). A row narrower than one
      // vector computes 16 lanes and keeps OW: its reads end 15 + (S - 1) * dilation_w / 2
      // values into a half, inside the half's data and 16-float zero margin.
      for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
        const int64_t start = ow0 + 16 <= OW || OW < 16 ? ow0 : OW - 16;
        v16 acc = v16{} + bias;
        for (int64_t r = 0; r < p.R; ++r) {
          const float* prow = split + (oh * p.stride_h + r * p.dilation_h) * ld + start;
          for (int64_t s = 0; s < p.S; ++s) {
            const int64_t c = s * p.dilation_w;
            acc += w[r * p.S + s] * *reinterpret_cast<const v16u*>(prow + (c & 1) * half_ld + (c >> 1));
          }
        }
        if (OW >= 16) {
          *reinterpret_cast<v16u*>(row + start) = acc;
        } else {
          alignas(64) float lanes[16];
          *reinterpret_cast<v16*>(lanes) = acc;
          for (int64_t i = 0; i < OW; ++i) row[i] = lanes[i];
        }
      }
      continue;
    }
#endif
    for (int64_t ow = 0; ow < OW; ++ow) row[ow] = bias;
    for (int64_t r = 0; r < p.R; ++r) {
      const float* prow = split + (oh * p.stride_h + r * p.dilation_h) * ld;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t c = s * p.dilation_w;
        axpy_row(row, prow + (c & 1) * half_ld + (c >> 1), w[r * p.S + s], OW, 1);
      }
    }
  }
}

// One plane: the AVX-512 3x3 kernels (stride 2; stride 1 straight from the plane) where
// they apply, the flat stencil for narrow planes, tap by tap for other strided or narrow
// shapes, else stride 1 on a zero-padded copy: no bounds checks at all; 64- and 16-pixel
// chunks, and one last chunk that overlaps the previous one (recomputing identical values).
inline void forward_plane_unfused(const ConvParams& p, const float* x, const float* w, float bias, float* y,
                                  float* padded) {
  const int64_t OH = out_h(p), OW = out_w(p);
  if (flat_applies(p)) {
    if (p.S == 3)
      flat_plane<3>(p, x, w, bias, y, padded);
    else
      flat_plane<5>(p, x, w, bias, y, padded);
    return;
  }
#if defined(__AVX2__) && !defined(__AVX512F__)
  const bool avx2_3x3 = p.R == 3 && p.S == 3 && p.dilation_h == 1 && p.dilation_w == 1 && OW >= 8 &&
                        ((p.stride_h == 1 && p.stride_w == 1) || (p.stride_h == 2 && p.stride_w == 2));
#else
  const bool avx2_3x3 = false;
#endif
#if defined(__AVX512F__)
  const bool chunks = true;
#else
  // forward_chunk's 16-float vectors are one AVX-512 register; GCC lowers them through
  // the stack on narrower ISAs (measured 2x slower than torch on a 1x3 depthwise row,
  // conv1d's shape): there, every shape but the 3x3 kernels goes tap by tap over whole
  // rows (each row stays in L1; the loops vectorise to the ISA's own width).
  const bool chunks = p.R == 3 && p.S == 3 && p.stride_h == 1 && p.dilation_h == 1 && p.dilation_w == 1;
#endif
  if (!avx2_3x3 && p.stride_w == 2) {
    forward_plane_stride2_split(p, x, w, bias, y, padded);
    return;
  }
  if (!avx2_3x3 && (p.stride_w != 1 || OW < 16 || !chunks)) {  // strided or narrow: tap by tap
    forward_plane_rows(p, x, w, bias, y);
    return;
  }
  const int64_t PH = p.H + p.pad_top + p.pad_bottom, PW = p.W + p.pad_left + p.pad_right;
  // Rows are ld floats apart (a multiple of 16) and the copy starts `lead` floats in, so
  // the image itself begins on a 64-byte boundary: the copy's stores and the centre tap's
  // loads are aligned. Each row keeps 16 zeros after the right padding.
  const int64_t ld = padded_row_floats(p);
  float* base = padded + (p.pad_left <= 16 ? 16 - p.pad_left : 0);
  for (int64_t i = 0; i < PH; ++i) {
    float* dst = base + i * ld;
    const int64_t ih = i - p.pad_top;
    if (ih < 0 || ih >= p.H) {
      for (int64_t j = 0; j < PW + 16; ++j) dst[j] = 0.f;
      continue;
    }
    for (int64_t j = 0; j < p.pad_left; ++j) dst[j] = 0.f;
    for (int64_t j = 0; j < p.W; ++j) dst[p.pad_left + j] = x[ih * p.W + j];
    for (int64_t j = p.pad_left + p.W; j < PW + 16; ++j) dst[j] = 0.f;
  }
#if defined(__AVX2__) && !defined(__AVX512F__)
  if (avx2_3x3) {
    if (p.stride_h == 1)
      avx2_plane3x3<1>(base, ld, w, bias, y, OH, OW);
    else
      avx2_plane3x3<2>(base, ld, w, bias, y, OH, OW);
    return;
  }
#endif
  if (p.R == 3 && p.S == 3 && p.stride_h == 1 && p.dilation_h == 1 && p.dilation_w == 1) {
    forward_plane3x3(base, ld, w, bias, y, OH, OW);
    return;
  }
  ConvParams q = p;  // the copy has no padding
  q.H = PH;
  q.W = ld;
  q.pad_top = q.pad_bottom = q.pad_left = q.pad_right = 0;
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* row = y + oh * OW;
    int64_t ow = 0;
    for (; ow + 64 <= OW; ow += 64) forward_chunk<4>(q, base, w, bias, oh, ow, row + ow);
    // The rest (< 64) in one pass: whole vectors, then one overlapping vector.
    const int64_t rest = (OW - ow) / 16;
    if (rest == 3) forward_chunk<3>(q, base, w, bias, oh, ow, row + ow);
    if (rest == 2) forward_chunk<2>(q, base, w, bias, oh, ow, row + ow);
    if (rest == 1) forward_chunk<1>(q, base, w, bias, oh, ow, row + ow);
    ow += rest * 16;
    if (ow < OW) forward_chunk<1>(q, base, w, bias, oh, OW - 16, row + OW - 16);
  }
}

// act: the activation of the engine's fused epilogue (0 none, 1 ReLU, 2 ReLU6). The
// AVX-512 3x3 and flat kernels apply it in registers as they store; the other paths run
// plane_epilogue over the finished plane.
inline void forward_plane(const ConvParams& p, const float* x, const float* w, float bias, float* y,
                          float* padded, int act) {
#if defined(__AVX512F__)
  if (p.R == 3 && p.S == 3 && p.dilation_h == 1 && p.dilation_w == 1) {
    if (p.stride_h == 2 && p.stride_w == 2) {
      s2_plane3x3(p, x, w, bias, y, padded, act);
      return;
    }
    if (p.stride_h == 1 && p.stride_w == 1 && !flat_applies(p)) {
      direct_plane3x3(p, x, w, bias, y, padded, act);
      return;
    }
  }
  if (flat_applies(p)) {
    if (p.S == 3)
      flat_plane<3>(p, x, w, bias, y, padded, act);
    else
      flat_plane<5>(p, x, w, bias, y, padded, act);
    return;
  }
#endif
  forward_plane_unfused(p, x, w, bias, y, padded);
  if (act != 0) plane_epilogue(y, nullptr, out_h(p) * out_w(p), act);
}

}  // namespace DEPTHWISE_ISA_NS
}  // namespace depthwise
}  // namespace cnnnative
