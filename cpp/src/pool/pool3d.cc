// Threaded drivers for 3-D pooling (see pool/pool3d.h). Forward passes share out output rows
// ((volume, od, oh) triples) so one large volume still uses every thread; backward passes
// scatter within a volume, so they share out whole volumes.
#include <cstdint>
#include <vector>

#include "act/isa_table.h"
#include "act/parallel.h"
#include "cnnnative/errors.h"
#include "pool/pool3d.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrainWork = 16384;  // about this many window taps per thread at least

const Pool3dKernels& kernels() {
  return table_for_active_isa(pool3d_kernels_scalar, pool3d_kernels_avx2, pool3d_kernels_avx512);
}

// Taps read for one output row: at most min(kernel, input) per axis. Saturates.
int64_t row_work(const Pool3dParams& p) {
  const int64_t in[3] = {p.D, p.H, p.W};
  int64_t work = p.OW;
  for (int a = 0; a < 3; ++a)
    if (__builtin_mul_overflow(work, p.kernel[a] < in[a] ? p.kernel[a] : in[a], &work)) return INT64_MAX;
  return work;
}

int64_t grain_for(int64_t work_per_item) {
  return work_per_item >= kGrainWork ? 1 : kGrainWork / (work_per_item > 0 ? work_per_item : 1);
}

// Calls fn(volume, r0, r1) for the rows [b, e) of the flattened (volume, row) space.
template <typename Fn>
void for_rows(int64_t rows, int64_t b, int64_t e, Fn fn) {
  while (b < e) {
    const int64_t v = b / rows, r0 = b % rows;
    const int64_t r1 = (e - v * rows) < rows ? e - v * rows : rows;
    fn(v, r0, r1);
    b = v * rows + r1;
  }
}

}  // namespace

void max_pool3d_forward(const Pool3dParams& p, const float* x, float* y, int64_t* indices) {
  const Pool3dKernels& k = kernels();
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW, rows = p.OD * p.OH;
  parallel_for(p.N * p.C * rows, grain_for(row_work(p)), [&](int64_t b, int64_t e) {
    for_rows(rows, b, e, [&](int64_t v, int64_t r0, int64_t r1) {
      k.max_forward(p, x + v * in, y + v * out, indices ? indices + v * out : nullptr, r0, r1);
    });
  });
}

void avg_pool3d_forward(const Pool3dParams& p, const float* x, float* y) {
  const Pool3dKernels& k = kernels();
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW, rows = p.OD * p.OH;
  parallel_for(p.N * p.C * rows, grain_for(row_work(p)), [&](int64_t b, int64_t e) {
    for_rows(rows, b, e, [&](int64_t v, int64_t r0, int64_t r1) { k.avg_forward(p, x + v * in, y + v * out, r0, r1); });
  });
}

void max_pool3d_backward(const Pool3dParams& p, const float* dy, const int64_t* indices, float* dx) {
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW, total = p.N * p.C * out;
  for (int64_t i = 0; i < total; ++i) {  // indices come from the caller: check before writing
    const int64_t v = indices[i];
    if (v < 0 || v >= in)
      throw std::invalid_argument(concat("max_pool3d_backward: indices[", i, "] = ", v,
                                         " is outside the input volume of ", p.D, "x", p.H, "x", p.W, " = ", in,
                                         " elements"));
  }
  const Pool3dKernels& k = kernels();
  parallel_for(p.N * p.C, grain_for(in + out), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) k.max_backward(p, dy + c * out, indices + c * out, dx + c * in);
  });
}

void avg_pool3d_backward(const Pool3dParams& p, const float* dy, float* dx) {
  const Pool3dKernels& k = kernels();
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW, rows = p.OD * p.OH;
  const int64_t rw = row_work(p);
  const int64_t work = rw > (INT64_MAX - in) / rows ? INT64_MAX : in + rows * rw;
  parallel_for(p.N * p.C, grain_for(work), [&](int64_t b, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(p.OW));  // once per thread
    for (int64_t c = b; c < e; ++c) k.avg_backward(p, dy + c * out, dx + c * in, scratch.data());
  });
}

}  // namespace cnnnative
