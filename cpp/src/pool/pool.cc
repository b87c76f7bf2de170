// Threaded drivers for pooling (see pool/pool.h). Forward passes share out output rows
// across threads (so even one large plane uses every thread); backward passes scatter
// within a plane, so they share out whole planes.
#include <cstdint>
#include <vector>

#include "act/isa_table.h"
#include "act/parallel.h"
#include "cnnnative/errors.h"
#include "pool/avg_pool_same3.h"
#include "pool/max_pool_separable.h"
#include "pool/pool.h"
#include "pool/pool_cblock.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrainWork = 16384;  // about this many multiply-adds per thread at least

const PoolKernels& kernels() {
  return table_for_active_isa(pool_kernels_scalar, pool_kernels_avx2, pool_kernels_avx512);
}

// Work of one output row for the grain: each output reads at most min(kernel, input) taps
// per axis (the kernels skip the rest). Saturates rather than overflowing for huge kernels.
int64_t row_work(const PoolParams& p) {
  const int64_t taps_h = p.kernel_h < p.H ? p.kernel_h : p.H;
  const int64_t taps_w = p.kernel_w < p.W ? p.kernel_w : p.W;
  int64_t work;
  if (__builtin_mul_overflow(p.OW, taps_h, &work) || __builtin_mul_overflow(work, taps_w, &work))
    return INT64_MAX;
  return work;
}

int64_t grain_for(int64_t work_per_item) {
  return work_per_item >= kGrainWork ? 1 : kGrainWork / (work_per_item > 0 ? work_per_item : 1);
}

// Calls fn(plane, oh0, oh1) for the rows [b, e) of the flattened (plane, output row) space.
template <typename Fn>
void for_rows(const PoolParams& p, int64_t b, int64_t e, Fn fn) {
  while (b < e) {
    const int64_t plane = b / p.OH, oh0 = b % p.OH;
    const int64_t oh1 = (e - plane * p.OH) < p.OH ? e - plane * p.OH : p.OH;
    fn(plane, oh0, oh1);
    b = plane * p.OH + oh1;
  }
}

}  // namespace

void max_pool2d_forward(const PoolParams& p, const float* x, float* y, int64_t* indices) {
  // Without indices and dilation, the separable kernel reads each input element once. It
  // shares out whole planes, so it needs at least one plane per thread.
  if (!indices && p.dilation_h == 1 && p.dilation_w == 1 && p.N * p.C >= num_threads()) {
    MaxPoolWindow w;
    w.H = p.H, w.W = p.W, w.OH = p.OH, w.OW = p.OW;
    w.kernel_h = p.kernel_h, w.kernel_w = p.kernel_w, w.stride_h = p.stride_h, w.stride_w = p.stride_w;
    w.pad_top = p.pad_h, w.pad_left = p.pad_w;
    if (max_separable_applies(w)) {
      max_pool2d_separable(w, x, y, p.N * p.C, num_threads());
      return;
    }
  }
  const PoolKernels& k = kernels();
  const int64_t hw = p.H * p.W, ohw = p.OH * p.OW;
  parallel_for(p.N * p.C * p.OH, grain_for(row_work(p)), [&](int64_t b, int64_t e) {
    for_rows(p, b, e, [&](int64_t plane, int64_t oh0, int64_t oh1) {
      k.max_forward(p, x + plane * hw, y + plane * ohw, indices ? indices + plane * ohw : nullptr, oh0, oh1);
    });
  });
}

void avg_pool2d_forward(const PoolParams& p, const float* x, float* y) {
  if (avg_pool_same3_applies(p) && !pool_layout_forced()) {  // Inception's 3x3 / 1 / 1: separable
    avg_pool_same3(p, x, y, num_threads());
    return;
  }
  if (avg_pool_cblock_applies(p)) {  // 16 planes per vector where measured faster
    avg_pool_cblock(p, x, y, num_threads());
    return;
  }
  const PoolKernels& k = kernels();
  const int64_t hw = p.H * p.W, ohw = p.OH * p.OW;
  parallel_for(p.N * p.C * p.OH, grain_for(row_work(p)), [&](int64_t b, int64_t e) {
    for_rows(p, b, e, [&](int64_t plane, int64_t oh0, int64_t oh1) {
      k.avg_forward(p, x + plane * hw, y + plane * ohw, oh0, oh1);
    });
  });
}

void max_pool2d_backward(const PoolParams& p, const float* dy, const int64_t* indices, float* dx) {
  const int64_t hw = p.H * p.W, ohw = p.OH * p.OW, total = p.N * p.C * ohw;
  // Indices come from the caller: check them all before writing anything.
  for (int64_t i = 0; i < total; ++i) {
    const int64_t v = indices[i];
    if (v < 0 || v >= hw)
      throw std::invalid_argument(concat("max_pool2d_backward: indices[", i, "] = ", v,
                                         " is outside the input plane of ", p.H, "x", p.W, " = ", hw,
                                         " elements"));
  }
  const PoolKernels& k = kernels();
  parallel_for(p.N * p.C, grain_for(hw + ohw), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) k.max_backward(p, dy + c * ohw, indices + c * ohw, dx + c * hw);
  });
}

void avg_pool2d_backward(const PoolParams& p, const float* dy, float* dx) {
  const PoolKernels& k = kernels();
  const int64_t hw = p.H * p.W, ohw = p.OH * p.OW;
  parallel_for(p.N * p.C, grain_for(row_work(p) > (INT64_MAX - hw) / p.OH ? INT64_MAX : hw + p.OH * row_work(p)), [&](int64_t b, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(p.OW));  // once per thread, not per plane
    for (int64_t c = b; c < e; ++c) k.avg_backward(p, dy + c * ohw, dx + c * hw, scratch.data());
  });
}

void global_avg_pool2d_forward(const float* x, float* y, int64_t planes, int64_t hw) {
  const PoolKernels& k = kernels();
  parallel_for(planes, grain_for(hw), [&](int64_t b, int64_t e) {
    k.global_forward(x + b * hw, y + b, e - b, hw);
  });
}

void global_avg_pool2d_backward(const float* dy, float* dx, int64_t planes, int64_t hw) {
  const PoolKernels& k = kernels();
  parallel_for(planes, grain_for(hw), [&](int64_t b, int64_t e) {
    k.global_backward(dy + b, dx + b * hw, e - b, hw);
  });
}

}  // namespace cnnnative
