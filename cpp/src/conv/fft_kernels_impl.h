// Tiled-FFT kernels, written once and compiled per ISA (include only from the
// fft_kernels*.cc files after defining FFT_ISA_NS).
//
// The 2-D real DFT of a T x T window is done separably with radix-2 butterflies
// (fft_butterfly_impl.h), the 32 windows of a block as vector lanes (two halves of 16):
//   rows:    two real rows ride in one complex FFT (row i as real part, row i+1 as
//            imaginary part) and are separated by the conjugate symmetry of real DFTs;
//   columns: complex FFTs of the row DFTs, columns v = 1 .. T/2-1; columns 0 and T/2
//            are real and again share one complex FFT.
// The output side runs the same steps backwards (column IFFTs, then two real rows per
// complex IFFT). The packing trick leaves factors of 2 (columns 1 .. T/2-1) and 4
// (columns 0, T/2) in V; the filter transform divides them out together with the 1/T^2
// of the inverse DFT, so M = conj(W) X / T^2 and the output needs no scaling.
// V, U and M hold the Gauss planes of each kept frequency (see fft_kernels.h).
//
// Window gather and output scatter: windows wholly inside the image copy rows without
// bounds checks; only border windows test every element.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "fft_kernels.h"

#ifndef FFT_ISA_NS
#error "define FFT_ISA_NS before including fft_kernels_impl.h"
#endif

#include "fft_butterfly_impl.h"

namespace cnnnative {
namespace fft {
namespace FFT_ISA_NS {

constexpr int L = kLanes;

// Where each lane's window sits: image plane, top-left corner, and the window columns
// [j_begin, j_end) that fall inside the image (the rest read as zero).
struct LaneWindows {
  const float* plane[L];
  int64_t row0[L], col0[L];
  int j_begin[L], j_end[L];
  int count = 0;  // lanes holding a tile (the rest are zero padding)
};

template <int T>
LaneWindows locate_inputs(const InputArgs& a) {
  LaneWindows w;
  const Tiles& g = a.tiles;
  const int64_t per_image = g.TH * g.TW;
  w.count = static_cast<int>(std::min<int64_t>(L, g.tile_end - g.tile_begin));
  for (int lane = 0; lane < w.count; ++lane) {
    const int64_t tile = g.tile_begin + lane, n = tile / per_image, r = tile % per_image;
    w.plane[lane] = a.x + n * a.image_stride;
    w.row0[lane] = (r / g.TW) * g.step_h - g.pad_top;
    w.col0[lane] = (r % g.TW) * g.step_w - g.pad_left;
    const int64_t jb = std::max<int64_t>(0, -w.col0[lane]), je = std::min<int64_t>(T, a.W - w.col0[lane]);
    w.j_begin[lane] = static_cast<int>(std::min<int64_t>(jb, T));
    w.j_end[lane] = static_cast<int>(std::max<int64_t>(je, w.j_begin[lane]));
  }
  return w;
}

// rows[k][j][lane] = window row i+k, column j, of every lane (zero outside the image).
// Each window row is one contiguous run of image columns: no per-element tests.
template <int T>
void gather_row_pair(const InputArgs& a, const LaneWindows& w, int i, float (*rows)[T][L]) {
  for (int lane = 0; lane < L; ++lane)
    for (int k = 0; k < 2; ++k) {
      const int64_t ih = lane < w.count ? w.row0[lane] + i + k : -1;
      if (ih < 0 || ih >= a.H) {
#pragma GCC unroll 16
        for (int j = 0; j < T; ++j) rows[k][j][lane] = 0.f;
        continue;
      }
      const float* row = w.plane[lane] + ih * a.W;
      const int64_t c0 = w.col0[lane];
      const int jb = w.j_begin[lane], je = w.j_end[lane];
      if (jb == 0 && je == T) {
#pragma GCC unroll 16
        for (int j = 0; j < T; ++j) rows[k][j][lane] = row[c0 + j];
        continue;
      }
      for (int j = 0; j < jb; ++j) rows[k][j][lane] = 0.f;
      for (int j = jb; j < je; ++j) rows[k][j][lane] = row[c0 + j];
      for (int j = je; j < T; ++j) rows[k][j][lane] = 0.f;
    }
}

// Splits Z = FFT(a + i b) of two real sequences into 2*A[v] and 2*B[v] (v <= T/2):
// 2A = Z[v] + conj(Z[-v]), 2B = -i (Z[v] - conj(Z[-v])).
template <int T, typename Put>
inline void split_real_pair(const cvf* Z, Put put) {
  static_for<0, T / 2 + 1>([&](auto vv) {
    constexpr int v = decltype(vv)::value, nv = (T - v) % T;
    const cvf p = Z[v], r = Z[nv];
    put(v, cvf{p.re + r.re, p.im - r.im}, cvf{p.im + r.im, r.re - p.re});
  });
}

// flatten: every butterfly lambda inlined (GCC otherwise leaves some as calls).
template <int T>
__attribute__((flatten)) void input_transform(const InputArgs& a) {
  constexpr int V = T / 2 + 1, bits = log2_of(T);
  const LaneWindows w = locate_inputs<T>(a);
  // Vector halves holding a window (the last block of a call may fill only the first);
  // an empty half gets zeros in V so the GEMM reads defined values.
  const int used = (w.count + kVec - 1) / kVec * kVec;
  for (int h = used; h < L; h += kVec)
    for (int xi = 0; xi < num_freqs(T); ++xi)
      for (int p = 0; p < 3; ++p) store(a.v + xi * a.xi_stride + p * a.plane_stride + h, vf{});
  // Ask for every window row up front: the gather below then finds them in L1 instead
  // of stalling on one L2/L3 miss after another.
  for (int lane = 0; lane < w.count; ++lane)
    for (int i = 0; i < T; ++i) {
      const int64_t ih = w.row0[lane] + i;
      if (ih < 0 || ih >= a.H || w.j_begin[lane] >= w.j_end[lane]) continue;
      const float* row = w.plane[lane] + ih * a.W;
      __builtin_prefetch(row + w.col0[lane] + w.j_begin[lane]);
      __builtin_prefetch(row + w.col0[lane] + w.j_end[lane] - 1);
    }
  alignas(64) float rows[2][T][L];
  alignas(64) float A[T][V][2][L];  // row DFTs (times 2), [re | im]
  for (int i = 0; i < T; i += 2) {
    gather_row_pair<T>(a, w, i, rows);
    for (int h = 0; h < used; h += kVec) {
      cvf z[T];
      static_for<0, T>([&](auto kk) {
        constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
        z[k] = cvf{load(&rows[0][s][h]), load(&rows[1][s][h])};
      });
      fft_from_bit_reversed<T, -1>(z);
      split_real_pair<T>(z, [&](int v, const cvf& row_i, const cvf& row_i1) {
        store(&A[i][v][0][h], row_i.re);
        store(&A[i][v][1][h], row_i.im);
        store(&A[i + 1][v][0][h], row_i1.re);
        store(&A[i + 1][v][1][h], row_i1.im);
      });
    }
  }
  auto out = [&](int u, int v, int h, const cvf& x) {
    float* dst = a.v + freq_index(T, u, v) * a.xi_stride + h;
    store(dst, x.re);
    store(dst + a.plane_stride, x.im - x.re);
    store(dst + 2 * a.plane_stride, x.re + x.im);
  };
  for (int h = 0; h < used; h += kVec) {
    // Columns 0 and T/2 are real: one complex FFT, split like the rows.
    cvf z[T];
    static_for<0, T>([&](auto kk) {
      constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
      z[k] = cvf{load(&A[s][0][0][h]), load(&A[s][T / 2][0][h])};
    });
    fft_from_bit_reversed<T, -1>(z);
    static_for<0, T / 2 + 1>([&](auto uu) {  // u > T/2: conjugates, not stored
      constexpr int u = decltype(uu)::value, nu = (T - u) % T;
      const cvf p = z[u], r = z[nu];
      out(u, 0, h, cvf{p.re + r.re, p.im - r.im});
      out(u, T / 2, h, cvf{p.im + r.im, r.re - p.re});
    });
    for (int v = 1; v < T / 2; ++v) {
      static_for<0, T>([&](auto kk) {
        constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
        z[k] = cvf{load(&A[s][v][0][h]), load(&A[s][v][1][h])};
      });
      fft_from_bit_reversed<T, -1>(z);
      static_for<0, T>([&](auto uu) {
        constexpr int u = decltype(uu)::value;
        out(u, v, h, z[u]);
      });
    }
  }
}

template <int T>
__attribute__((flatten)) void output_transform(const OutputArgs& a) {
  constexpr int V = T / 2 + 1, bits = log2_of(T);
  const Tiles& g = a.tiles;
  const int mh = static_cast<int>(g.step_h), mw = static_cast<int>(g.step_w);
  const int rows_needed = (mh + 1) & ~1;  // row IFFTs come in pairs (<= T: T is even)
  const int count = static_cast<int>(std::min<int64_t>(L, g.tile_end - g.tile_begin));
  const int used = (count + kVec - 1) / kVec * kVec;  // vector halves holding a window
  alignas(64) float Z[T][V][2][L];  // column IFFTs; columns 0 and T/2 real
  // re = k1 - k3, im = k1 + k2 (Gauss planes, fft_kernels.h).
  auto in = [&](int u, int v, int h) {
    const float* src = a.m + freq_index(T, u, v) * a.xi_stride + h;
    const vf k1 = load(src);
    return cvf{k1 - load(src + 2 * a.plane_stride), k1 + load(src + a.plane_stride)};
  };
  for (int h = 0; h < used; h += kVec) {
    // Columns 0 and T/2 have Hermitian spectra (real inverse): one complex IFFT of
    // M[.][0] + i M[.][T/2]; its real part is column 0, its imaginary part column T/2.
    // Rows u > T/2 are the conjugates of rows T-u; rows 0 and T/2 are real.
    cvf z[T];
    static_for<0, T>([&](auto kk) {
      constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
      cvf c0, cH;
      if constexpr (s == 0 || s == T / 2) {
        c0 = cvf{in(s, 0, h).re, vf{}};
        cH = cvf{in(s, T / 2, h).re, vf{}};
      } else if constexpr (s < T / 2) {
        c0 = in(s, 0, h);
        cH = in(s, T / 2, h);
      } else {
        const cvf p0 = in(T - s, 0, h), pH = in(T - s, T / 2, h);
        c0 = cvf{p0.re, -p0.im};
        cH = cvf{pH.re, -pH.im};
      }
      z[k] = cvf{c0.re - cH.im, c0.im + cH.re};
    });
    fft_from_bit_reversed<T, +1>(z);
    for (int p = 0; p < rows_needed; ++p) {
      store(&Z[p][0][0][h], z[p].re);
      store(&Z[p][T / 2][0][h], z[p].im);
    }
    for (int v = 1; v < T / 2; ++v) {
      static_for<0, T>([&](auto kk) {
        constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
        z[k] = in(s, v, h);
      });
      fft_from_bit_reversed<T, +1>(z);
      for (int p = 0; p < rows_needed; ++p) {
        store(&Z[p][v][0][h], z[p].re);
        store(&Z[p][v][1][h], z[p].im);
      }
    }
  }
  // Rows p, p+1: C[v] = Zp[v] + i Zq[v] over the full Hermitian spectrum; the complex
  // IFFT of C is row p in its real part and row p+1 in its imaginary part.
  // Each lane's first output and how many of its rows / columns lie in the image;
  // those rows are requested (for writing) now, so the stores below do not wait on them.
  alignas(64) float out[2][T][L];
  float* out_start[L];
  int out_rows[L], out_cols[L];
  const int64_t per_image = g.TH * g.TW;
  for (int lane = 0; lane < count; ++lane) {
    const int64_t tile = g.tile_begin + lane, n = tile / per_image, r = tile % per_image;
    const int64_t oh0 = (r / g.TW) * g.step_h, ow0 = (r % g.TW) * g.step_w;
    out_start[lane] = a.y + n * a.image_stride + oh0 * a.OW + ow0;
    out_rows[lane] = static_cast<int>(std::min<int64_t>(mh, a.OH - oh0));
    out_cols[lane] = static_cast<int>(std::min<int64_t>(mw, a.OW - ow0));
    for (int p = 0; p < out_rows[lane]; ++p) {
      __builtin_prefetch(out_start[lane] + p * a.OW, 1);
      __builtin_prefetch(out_start[lane] + p * a.OW + out_cols[lane] - 1, 1);
    }
  }
  for (int p = 0; p < rows_needed; p += 2) {
    for (int h = 0; h < used; h += kVec) {
      cvf c[T];
      c[0] = cvf{load(&Z[p][0][0][h]), load(&Z[p + 1][0][0][h])};
      c[T / 2] = cvf{load(&Z[p][T / 2][0][h]), load(&Z[p + 1][T / 2][0][h])};
      static_for<1, T / 2>([&](auto vv) {
        constexpr int v = decltype(vv)::value;
        const vf pr = load(&Z[p][v][0][h]), pi = load(&Z[p][v][1][h]);
        const vf qr = load(&Z[p + 1][v][0][h]), qi = load(&Z[p + 1][v][1][h]);
        c[v] = cvf{pr - qi, pi + qr};
        c[T - v] = cvf{pr + qi, qr - pi};
      });
      cvf z[T];
      static_for<0, T>([&](auto kk) {
        constexpr int k = decltype(kk)::value;
        z[k] = c[bit_reverse(k, bits)];
      });
      fft_from_bit_reversed<T, +1>(z);
      const vf bias = splat(a.bias);
      for (int q = 0; q < mw; ++q) {
        store(&out[0][q][h], z[q].re + bias);
        store(&out[1][q][h], z[q].im + bias);
      }
    }
    for (int lane = 0; lane < count; ++lane) {
      for (int k = 0; k < 2 && p + k < out_rows[lane]; ++k) {
        float* dst = out_start[lane] + (p + k) * a.OW;
        for (int q = 0; q < out_cols[lane]; ++q) dst[q] = out[k][q][lane];
      }
    }
  }
}

// Filters: the same butterflies as the windows (done once per call; the 12 filters of a
// row block as the first 12 lanes of one vector, the zero-padded R x S taps as the
// window): rows in pairs, then columns, so each kept frequency carries the same factor
// s_v (2, or 4 in columns 0 and T/2) as V. U = conj(W) / (T^2 s_v) = conj(s_v W) /
// (T^2 s_v^2), stored as the three Gauss planes [a + b | a | b], conj(W)/(T^2 s_v) = a + ib.
template <int T>
__attribute__((flatten)) void filter_transform(const FilterArgs& a) {
  constexpr int V = T / 2 + 1, R12 = 12, bits = log2_of(T);
  const int R = a.R, S = a.S;
  alignas(64) vf taps[T][T];           // rows >= R and columns >= S stay zero
  alignas(64) vf A[T][V][2];           // row DFTs (times 2); rows >= R stay zero
  for (int r = 0; r < T; ++r)
    for (int s = 0; s < T; ++s) taps[r][s] = vf{};
  for (int r = 0; r < T; ++r)
    for (int v = 0; v < V; ++v) A[r][v][0] = A[r][v][1] = vf{};
  auto put = [&](int u, int v, int64_t c, const cvf& x) {
    const float sv = (v == 0 || v == T / 2) ? 4.f : 2.f, scale = 1.f / (float(T * T) * sv * sv);
    const vf re = x.re * scale, im = -x.im * scale;  // a, b
    alignas(64) float planes[3][kVec];
    store(planes[0], re + im);
    store(planes[1], re);
    store(planes[2], im);
    float* base = a.u + freq_index(T, u, v) * a.xi_stride + c * R12;
    for (int p = 0; p < 3; ++p) std::memcpy(base + p * a.plane_stride, planes[p], R12 * sizeof(float));
  };
  for (int64_t c = 0; c < a.C; ++c) {
    const float* fc = a.f + c * R * S * R12;
    for (int r = 0; r < R; ++r)
      for (int s = 0; s < S; ++s) {
        alignas(64) float lanes[kVec] = {};
        std::memcpy(lanes, fc + (r * S + s) * R12, R12 * sizeof(float));
        taps[r][s] = load(lanes);
      }
    for (int r = 0; r < R; r += 2) {  // rows r, r+1 (row R, if reached, is zero)
      cvf z[T];
      static_for<0, T>([&](auto kk) {
        constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
        z[k] = cvf{taps[r][s], taps[r + 1][s]};
      });
      fft_from_bit_reversed<T, -1>(z);
      split_real_pair<T>(z, [&](int v, const cvf& row_r, const cvf& row_r1) {
        A[r][v][0] = row_r.re;
        A[r][v][1] = row_r.im;
        if (r + 1 < R) {
          A[r + 1][v][0] = row_r1.re;
          A[r + 1][v][1] = row_r1.im;
        }
      });
    }
    cvf z[T];
    static_for<0, T>([&](auto kk) {
      constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
      z[k] = cvf{A[s][0][0], A[s][T / 2][0]};
    });
    fft_from_bit_reversed<T, -1>(z);
    static_for<0, T / 2 + 1>([&](auto uu) {
      constexpr int u = decltype(uu)::value, nu = (T - u) % T;
      const cvf p = z[u], q = z[nu];
      put(u, 0, c, cvf{p.re + q.re, p.im - q.im});
      put(u, T / 2, c, cvf{p.im + q.im, q.re - p.re});
    });
    for (int v = 1; v < T / 2; ++v) {
      static_for<0, T>([&](auto kk) {
        constexpr int k = decltype(kk)::value, s = bit_reverse(k, bits);
        z[k] = cvf{A[s][v][0], A[s][v][1]};
      });
      fft_from_bit_reversed<T, -1>(z);
      for (int u = 0; u < T; ++u) put(u, v, c, z[u]);
    }
  }
}

// The transform-domain GEMM, M[rows x 32] = U[rows x C] V[C x 32] with U packed
// [C][12] (rows <= 12) — the Winograd GEMM's contract, written here over the ISA's own
// vector width: 64-byte vectors lowered to AVX2 or SSE go through the stack in GCC's
// generic code (the Winograd GEMM measured 30x slower under AVX2 than AVX-512 for
// that reason). MR rows of accumulators stay in registers while the C loop streams V.
#if defined(__AVX512F__)
constexpr int kNative = 16, kGemmMR = 12;  // 24 accumulators of 32 zmm
#elif defined(__AVX2__)
constexpr int kNative = 8, kGemmMR = 2;    // 8 accumulators + 4 V vectors of 16 ymm
#else
constexpr int kNative = 4, kGemmMR = 1;    // 8 accumulators of 16 xmm
#endif
typedef float vn __attribute__((vector_size(kNative * 4)));
typedef float vnu __attribute__((vector_size(kNative * 4), aligned(4)));
constexpr int kParts = L / kNative;

template <int MR>
inline void gemm_rows(const float* u, const float* v, float* m, int64_t C) {
  vn acc[MR][kParts];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int p = 0; p < kParts; ++p) acc[r][p] = vn{};
  for (int64_t c = 0; c < C; ++c) {
    vn b[kParts];
#pragma GCC unroll 8
    for (int p = 0; p < kParts; ++p) b[p] = *reinterpret_cast<const vnu*>(v + c * L + p * kNative);
    const float* uc = u + c * 12;
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const vn s = vn{} + uc[r];
#pragma GCC unroll 8
      for (int p = 0; p < kParts; ++p) acc[r][p] += b[p] * s;
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int p = 0; p < kParts; ++p) *reinterpret_cast<vnu*>(m + r * L + p * kNative) = acc[r][p];
}

inline void gemm(const float* u, const float* v, float* m, int64_t C, int rows) {
  int r = 0;
  for (; r + kGemmMR <= rows; r += kGemmMR) gemm_rows<kGemmMR>(u + r, v, m + r * L, C);
  if constexpr (kGemmMR > 4)
    for (; r + 4 <= rows; r += 4) gemm_rows<4>(u + r, v, m + r * L, C);
  for (; r < rows; ++r) gemm_rows<1>(u + r, v, m + r * L, C);
}

template <int T>
Kernels make_kernels() {
  return Kernels{&input_transform<T>, &output_transform<T>, &filter_transform<T>, &gemm};
}

inline const Kernels& table(int T) {
  static const Kernels k8 = make_kernels<8>(), k16 = make_kernels<16>();
  return T == 8 ? k8 : k16;
}

}  // namespace FFT_ISA_NS
}  // namespace fft
}  // namespace cnnnative
