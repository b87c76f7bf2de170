// Threaded drivers for softmax / log_softmax (see act/softmax.h): contiguous rows are
// shared out in groups of whole rows; the strided case in (slab, block of inner) pieces.
#include "act/softmax.h"

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrainElements = 16384;  // about this much work per thread at least
constexpr int64_t kInnerBlock = 256;

const SoftmaxKernels& kernels() {
  return table_for_active_isa(softmax_kernels_scalar, softmax_kernels_avx2, softmax_kernels_avx512);
}

template <typename RowFn, typename SlabFn>
void run(int64_t outer, int64_t D, int64_t inner, RowFn rows_fn, SlabFn slab_fn) {
  if (outer == 0 || D == 0 || inner == 0) return;
  if (inner == 1) {
    const int64_t grain = D >= kGrainElements ? 1 : kGrainElements / D;
    parallel_for(outer, grain, [&](int64_t b, int64_t e) { rows_fn(b, e - b); });
    return;
  }
  const int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t per_task = D * (inner < kInnerBlock ? inner : kInnerBlock);
  const int64_t grain = per_task >= kGrainElements ? 1 : kGrainElements / per_task;
  parallel_for(outer * blocks, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, blk = t % blocks;
      const int64_t i0 = blk * kInnerBlock;
      const int64_t i1 = i0 + kInnerBlock < inner ? i0 + kInnerBlock : inner;
      slab_fn(o * D * inner, i0, i1);
    }
  });
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t outer, int64_t D, int64_t inner, bool log) {
  const SoftmaxKernels& k = kernels();
  run(
      outer, D, inner,
      [&](int64_t r0, int64_t nr) { k.rows_forward(x + r0 * D, y + r0 * D, nr, D, log); },
      [&](int64_t off, int64_t i0, int64_t i1) {
        k.strided_forward(x + off, y + off, D, inner, i0, i1, log);
      });
}

void softmax_backward(const float* g, const float* y, float* gx, int64_t outer, int64_t D,
                      int64_t inner, bool log) {
  const SoftmaxKernels& k = kernels();
  run(
      outer, D, inner,
      [&](int64_t r0, int64_t nr) {
        k.rows_backward(g + r0 * D, y + r0 * D, gx + r0 * D, nr, D, log);
      },
      [&](int64_t off, int64_t i0, int64_t i1) {
        k.strided_backward(g + off, y + off, gx + off, D, inner, i0, i1, log);
      });
}

}  // namespace cnnnative
