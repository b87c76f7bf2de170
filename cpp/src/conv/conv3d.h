// 3-D convolution (torch.nn.functional.conv3d): NCDHW activations, OIDHW weights
// (K x C/groups x T x R x S). Three algorithms:
//   - vol2col + the packed SGEMM (any stride, dilation, padding, groups): the 3-D
//     im2col. A "column" matrix of Cg*T*R*S rows by (a band of) OD*OH*OW columns is
//     built from one image's group of channels; then the forward pass is
//     y_g = w_g * cols, the input gradient dcols = w_g^T * dy_g then col2vol, and the
//     weight gradient dw_g += dy_g * cols^T (vol2col.cc, conv3d_gemm.cc).
//   - a direct depthwise kernel for groups == C == K (one input and one output channel
//     per group), where the GEMMs would be 1 row tall (depthwise3d.cc).
//   - a direct kernel for >= 32 output channels per group on AVX-512 and AVX2
//     (conv3d_direct.h):
//     output channels in the vector lanes, no column matrix, padding taps skipped; the
//     forward, the stride-1 input gradient and the weight gradient (the C3D block).
#pragma once
#include <cstdint>
#include <string>

namespace cnnnative {

struct Conv3dParams {
  int64_t N = 0, C = 0, K = 0, groups = 1;
  int64_t in[3] = {0, 0, 0};        // D, H, W
  int64_t kernel[3] = {0, 0, 0};    // T, R, S
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad_lo[3] = {0, 0, 0};    // front, top, left
  int64_t pad_hi[3] = {0, 0, 0};    // back, bottom, right

  int64_t out(int d) const {
    return (in[d] + pad_lo[d] + pad_hi[d] - dilation[d] * (kernel[d] - 1) - 1) / stride[d] + 1;
  }
  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  int64_t taps() const { return kernel[0] * kernel[1] * kernel[2]; }
  int64_t in_volume() const { return in[0] * in[1] * in[2]; }
  int64_t out_volume() const { return out(0) * out(1) * out(2); }
  int64_t weight_numel() const { return K * Cg() * taps(); }
  bool depthwise() const { return groups == C && K == C; }

  // Throws ValueError / OverflowError naming the first violated constraint and the sizes.
  void validate() const;
};

// "auto" (depthwise kernel when depthwise(), else the direct kernel where it applies, else
// vol2col+GEMM), "gemm", "direct" (vol2col+GEMM where it does not apply) or "depthwise".
// y, dx, dw, db are written in full (never read).
void conv3d_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias,
                    float* y, const std::string& algo = "auto");
void conv3d_backward_input(const Conv3dParams& p, const float* dy, const float* w, float* dx,
                           const std::string& algo = "auto");
// db may be null (no bias gradient).
void conv3d_backward_weight(const Conv3dParams& p, const float* x, const float* dy, float* dw,
                            float* db, const std::string& algo = "auto");

namespace conv3d {

// vol2col: rows [row0, row1) of the column matrix for output rows [r0, r1) (an output row
// is one (od, oh) pair, r = od * OH + oh) of one group xg (Cg x D x H x W). Row
// (c, kt, kr, ks) starts at cols + (row - row0) * ld and gets (r1 - r0) * OW elements.
void vol2col_rows(const Conv3dParams& p, const float* xg, int64_t r0, int64_t r1, int64_t row0,
                  int64_t row1, float* cols, int64_t ld);
// All rows, split across the library's threads when threaded.
void vol2col(const Conv3dParams& p, const float* xg, int64_t r0, int64_t r1, float* cols,
             int64_t ld, bool threaded);
// The adjoint: adds the band's column matrix into dxg (accumulates, never clears).
// Threads own channels, so no two write the same element.
void col2vol(const Conv3dParams& p, const float* cols, int64_t ld, int64_t r0, int64_t r1,
             float* dxg, bool threaded);

// The direct depthwise kernels (groups == C == K).
void depthwise_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias,
                       float* y);
void depthwise_backward_input(const Conv3dParams& p, const float* dy, const float* w, float* dx);
void depthwise_backward_weight(const Conv3dParams& p, const float* x, const float* dy, float* dw);

// dy summed over N and the output volume, in float64 -> db (K).
void bias_gradient(const Conv3dParams& p, const float* dy, float* db);

}  // namespace conv3d
}  // namespace cnnnative
