// Tiled-FFT kernels, written once and compiled per ISA (include only from the
// fft_kernels*.cc files after defining FFT_ISA_NS). The DFTs are applied as small dense
// real matrices, separably (rows, then columns), with the 32 tiles of a block as vector
// lanes: for T <= 16 that is cheaper to get right and to vectorise than butterflies,
// and the transforms stay a small part of the time next to the frequency-domain GEMMs.
#include <cmath>

#include "fft_kernels.h"

#ifndef FFT_ISA_NS
#error "define FFT_ISA_NS before including fft_kernels_impl.h"
#endif

namespace cnnnative {
namespace fft {
namespace FFT_ISA_NS {

constexpr int L = kLanes;

// cos / sin of 2*pi*a*b/T, computed in double once.
template <int T>
struct Dft {
  float c[T][T], s[T][T];
  Dft() {
    for (int a = 0; a < T; ++a)
      for (int b = 0; b < T; ++b) {
        const double t = 2.0 * M_PI * double((a * b) % T) / T;
        c[a][b] = static_cast<float>(std::cos(t));
        s[a][b] = static_cast<float>(std::sin(t));
      }
  }
  static const Dft& get() {
    static const Dft d;
    return d;
  }
};

template <int T>
void input_transform(const InputArgs& a) {
  constexpr int V = T / 2 + 1;
  const Dft<T>& D = Dft<T>::get();
  alignas(64) float d[T][T][L];
  alignas(64) float A[T][V][L], B[T][V][L];
  const Tiles& g = a.tiles;
  const int64_t per_image = g.TH * g.TW;
  for (int lane = 0; lane < L; ++lane) {
    const int64_t tile = g.tile_begin + lane;
    if (tile >= g.tile_end) {
      for (int i = 0; i < T; ++i)
        for (int j = 0; j < T; ++j) d[i][j][lane] = 0.f;
      continue;
    }
    const int64_t n = tile / per_image, r = tile % per_image;
    const int64_t ih0 = (r / g.TW) * g.step_h - g.pad_top, iw0 = (r % g.TW) * g.step_w - g.pad_left;
    const float* plane = a.x + n * a.image_stride;
    for (int i = 0; i < T; ++i) {
      const int64_t ih = ih0 + i;
      const bool row_ok = ih >= 0 && ih < a.H;
      for (int j = 0; j < T; ++j) {
        const int64_t iw = iw0 + j;
        d[i][j][lane] = (row_ok && iw >= 0 && iw < a.W) ? plane[ih * a.W + iw] : 0.f;
      }
    }
  }
  // Rows (real input): A - iB = sum_s d[i][s] e^{-2 pi i v s / T}.
  for (int i = 0; i < T; ++i)
    for (int v = 0; v < V; ++v) {
      float ar[L] = {}, br[L] = {};
      for (int s = 0; s < T; ++s) {
        const float cv = D.c[v][s], sv = D.s[v][s];
        for (int l = 0; l < L; ++l) {
          ar[l] += cv * d[i][s][l];
          br[l] += sv * d[i][s][l];
        }
      }
      for (int l = 0; l < L; ++l) {
        A[i][v][l] = ar[l];
        B[i][v][l] = -br[l];
      }
    }
  // Columns (complex): X = sum_i e^{-2 pi i u i / T} (A + iB).
  for (int u = 0; u < T; ++u)
    for (int v = 0; v < V; ++v) {
      float xr[L] = {}, xi[L] = {};
      for (int i = 0; i < T; ++i) {
        const float cu = D.c[u][i], su = D.s[u][i];
        for (int l = 0; l < L; ++l) {
          xr[l] += cu * A[i][v][l] + su * B[i][v][l];
          xi[l] += cu * B[i][v][l] - su * A[i][v][l];
        }
      }
      float* dst = a.v + (u * V + v) * a.xi_stride;
      for (int l = 0; l < L; ++l) {
        dst[l] = xr[l];
        dst[a.im_offset + l] = xi[l];
      }
    }
}

template <int T>
void output_transform(const OutputArgs& a) {
  constexpr int V = T / 2 + 1;
  const Dft<T>& D = Dft<T>::get();
  const Tiles& g = a.tiles;
  const int mh = static_cast<int>(g.step_h), mw = static_cast<int>(g.step_w);
  alignas(64) float Zr[T][V][L], Zi[T][V][L];
  alignas(64) float out[T][T][L];
  // Columns: Z[p][v] = sum_u Y[u][v] e^{+2 pi i u p / T}, only the mh valid rows.
  for (int p = 0; p < mh; ++p)
    for (int v = 0; v < V; ++v) {
      float zr[L] = {}, zi[L] = {};
      for (int u = 0; u < T; ++u) {
        const float cu = D.c[u][p], su = D.s[u][p];
        const float* yr = a.m + (u * V + v) * a.xi_stride;
        const float* yi = yr + a.im_offset;
        for (int l = 0; l < L; ++l) {
          zr[l] += cu * yr[l] - su * yi[l];
          zi[l] += cu * yi[l] + su * yr[l];
        }
      }
      for (int l = 0; l < L; ++l) {
        Zr[p][v][l] = zr[l];
        Zi[p][v][l] = zi[l];
      }
    }
  // Rows (Hermitian): y[p][q] = 1/T^2 sum_v alpha_v Re(Z[p][v] e^{+2 pi i v q / T}),
  // alpha = 1 at v = 0 and T/2, 2 between.
  const float inv = 1.0f / float(T * T);
  for (int p = 0; p < mh; ++p)
    for (int q = 0; q < mw; ++q) {
      float acc[L] = {};
      for (int v = 0; v < V; ++v) {
        const float w = (v == 0 || v == T / 2) ? inv : 2.f * inv;
        const float cv = w * D.c[v][q], sv = w * D.s[v][q];
        for (int l = 0; l < L; ++l) acc[l] += cv * Zr[p][v][l] - sv * Zi[p][v][l];
      }
      for (int l = 0; l < L; ++l) out[p][q][l] = acc[l];
    }
  const int64_t per_image = g.TH * g.TW;
  const int64_t count = g.tile_end - g.tile_begin;
  for (int64_t lane = 0; lane < count && lane < L; ++lane) {
    const int64_t tile = g.tile_begin + lane;
    const int64_t n = tile / per_image, r = tile % per_image;
    const int64_t oh0 = (r / g.TW) * g.step_h, ow0 = (r % g.TW) * g.step_w;
    float* plane = a.y + n * a.image_stride;
    for (int i = 0; i < mh && oh0 + i < a.OH; ++i)
      for (int j = 0; j < mw && ow0 + j < a.OW; ++j) plane[(oh0 + i) * a.OW + ow0 + j] = out[i][j][lane] + a.bias;
  }
}

template <int T>
void filter_transform(const FilterArgs& a) {
  constexpr int V = T / 2 + 1, R12 = 12;
  const Dft<T>& D = Dft<T>::get();
  for (int64_t c = 0; c < a.C; ++c) {
    const float* fc = a.f + c * a.R * a.S * R12;
    float Pr[T][V][R12], Pi[T][V][R12];
    // P[r][v] = sum_s w[r][s] e^{-2 pi i v s / T}
    for (int r = 0; r < a.R; ++r)
      for (int v = 0; v < V; ++v) {
        float pr[R12] = {}, pi[R12] = {};
        for (int s = 0; s < a.S; ++s) {
          const float cv = D.c[v][s], sv = D.s[v][s];
          const float* w = fc + (r * a.S + s) * R12;
          for (int l = 0; l < R12; ++l) {
            pr[l] += cv * w[l];
            pi[l] -= sv * w[l];
          }
        }
        for (int l = 0; l < R12; ++l) {
          Pr[r][v][l] = pr[l];
          Pi[r][v][l] = pi[l];
        }
      }
    // W[u][v] = sum_r e^{-2 pi i u r / T} P[r][v]; packed as conj for correlation.
    for (int u = 0; u < T; ++u)
      for (int v = 0; v < V; ++v) {
        float wr[R12] = {}, wi[R12] = {};
        for (int r = 0; r < a.R; ++r) {
          const float cu = D.c[u][r], su = D.s[u][r];
          for (int l = 0; l < R12; ++l) {
            wr[l] += cu * Pr[r][v][l] + su * Pi[r][v][l];
            wi[l] += cu * Pi[r][v][l] - su * Pr[r][v][l];
          }
        }
        float* base = a.u + (u * V + v) * a.xi_stride;
        float* re_c = base + c * R12;                          // part 0, column c
        float* re_ci = base + (a.C + c) * R12;                 // part 0, column C + c
        float* im_c = base + a.part_stride + c * R12;          // part 1, column c
        float* im_ci = base + a.part_stride + (a.C + c) * R12; // part 1, column C + c
        for (int l = 0; l < R12; ++l) {
          re_c[l] = wr[l];
          re_ci[l] = wi[l];
          im_c[l] = -wi[l];
          im_ci[l] = wr[l];
        }
      }
  }
}

template <int T>
Kernels make_kernels() {
  return Kernels{&input_transform<T>, &output_transform<T>, &filter_transform<T>};
}

inline const Kernels& table(int T) {
  static const Kernels k8 = make_kernels<8>(), k16 = make_kernels<16>();
  return T == 8 ? k8 : k16;
}

}  // namespace FFT_ISA_NS
}  // namespace fft
}  // namespace cnnnative
