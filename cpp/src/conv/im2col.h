// im2col / col2im and the work plan shared by the im2col convolution's three passes.
//
// The im2col convolution turns one image's group of input channels (Cg x H x W) into a
// "column" matrix of Cg*R*S rows by OH*OW columns: row (c, r, s) holds, for every output
// pixel, the input value the kernel tap (r, s) of channel c sees there (0 in the padding).
// Then the forward pass is a GEMM   y_g[Kg, P] = w_g[Kg, Cg*R*S] * cols[Cg*R*S, P],
// the input gradient is             dcols = w_g^T * dy_g, then col2im (accumulating),
// and the weight gradient is        dw_g += dy_g * cols^T.
//
// The column matrix is R*S times larger than the input, so it is built one band of output
// rows at a time (a band's columns are contiguous in y and dy, so the GEMM writes straight
// into them with the full row stride). That bounds the scratch per thread and keeps it in
// cache, and bands double as units of parallel work when the batch is small.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "cnnnative/conv_params.h"

namespace cnnnative {
namespace im2col {

// Fills rows [r0, r1) of the band's column matrix from one group's input xg
// (Cg x H x W). Row `row` starts at cols + row * ld and gets (oh1-oh0)*OW elements, all
// written (ld is larger than that when several images sit side by side).
void im2col_rows(const ConvParams& p, const float* xg, int64_t oh0, int64_t oh1, int64_t r0,
                 int64_t r1, float* cols, int64_t ld);
// All Cg*R*S rows; threaded splits the rows across the library's threads (call it only
// from outside a parallel region).
void im2col_band(const ConvParams& p, const float* xg, int64_t oh0, int64_t oh1, float* cols,
                 int64_t ld, bool threaded);

// The adjoint: adds each element of the band's column matrix into the input position it
// was copied from. dxg (Cg x H x W) is accumulated into, never cleared here. Channels
// [c0, c1) only, so threads that own different channels never write the same element.
void col2im_channels(const ConvParams& p, const float* cols, int64_t ld, int64_t oh0,
                     int64_t oh1, int64_t c0, int64_t c1, float* dxg);
void col2im_band(const ConvParams& p, const float* cols, int64_t ld, int64_t oh0, int64_t oh1,
                 float* dxg, bool threaded);

// True for 1x1, stride-1, unpadded convolutions: the input itself is the column matrix
// (Cg x H*W), so no im2col is needed.
bool is_pointwise(const ConvParams& p);

// How one pass splits its work. A unit is (images [n0, n1), group g, band of output
// rows [oh0, oh1)): either one image and a band of its rows, or, when one image's column
// matrix is small (LeNet-sized layers), several whole images side by side, so the GEMMs
// are wide enough to run near peak (their outputs go through a staging buffer).
struct Plan {
  int64_t N = 0, groups = 1;
  int64_t Cg = 0, Kg = 0, CRS = 0;  // channels/group, outputs/group, Cg*R*S
  int64_t OH = 0, OW = 0, P = 0;    // output height, width, OH*OW
  int64_t band_rows = 0, bands = 0; // output rows per band, bands per (image, group)
  int64_t images_per_unit = 1;      // > 1 only with bands == 1
  bool pointwise = false;           // GEMM straight on the input, no column matrix
  bool parallel_units = false;      // units run in parallel, single-threaded GEMMs inside
  int threads = 1;
  int64_t column_floats = 0;        // column-matrix scratch per slot (0 when pointwise)
  int64_t staging_floats = 0;       // Kg x images*P staging per slot (0 unless stacking)

  int64_t image_chunks() const { return (N + images_per_unit - 1) / images_per_unit; }
  int64_t units() const { return image_chunks() * groups * bands; }
  int workspace_slots() const { return parallel_units ? threads : 1; }
  int64_t slot_floats() const { return column_floats + staging_floats; }
};

struct Unit {
  int64_t n0, n1, g, oh0, oh1;
  int64_t images() const { return n1 - n0; }
};

inline Unit unit_at(const Plan& plan, int64_t i) {
  const int64_t band = i % plan.bands, chunk_group = i / plan.bands;
  const int64_t chunk = chunk_group / plan.groups, g = chunk_group % plan.groups;
  const int64_t n0 = chunk * plan.images_per_unit, oh0 = band * plan.band_rows;
  return {n0, n0 + plan.images_per_unit < plan.N ? n0 + plan.images_per_unit : plan.N, g, oh0,
          oh0 + plan.band_rows < plan.OH ? oh0 + plan.band_rows : plan.OH};
}

enum class Pass { forward, backward_input, backward_weight };

// Chooses bands, image stacking and parallelism for this pass: units run in parallel
// when there are enough of them to keep every thread equally busy (images, groups, or,
// for forward and weight gradient, bands of one image); otherwise units run one after
// another with a threaded GEMM and a threaded im2col/col2im. The input gradient never
// splits an image into parallel bands (col2im of neighbouring bands overlaps in dx).
Plan make_plan(const ConvParams& p, Pass pass, int threads);

// Scratch bytes forward needs (for conv_algorithms() and planners).
size_t forward_workspace_bytes(const ConvParams& p);

// Scratch is filled with NaN first when CNNNATIVE_DEBUG_NAN is set (tests set it), so a
// kernel that reads scratch it never wrote produces NaN instead of passing by luck.
bool debug_nan_enabled();
// Uninitialised (every kernel writes its scratch before reading it), or all NaN in debug.
std::unique_ptr<float[]> allocate_scratch(int64_t floats);

}  // namespace im2col
}  // namespace cnnnative
