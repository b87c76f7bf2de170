// Threaded drivers for the elementwise kernels (see act/elementwise.h).
#include "act/elementwise.h"

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

// Below this many elements per thread, threading costs more than it saves.
constexpr int64_t kGrain = 32768;

}  // namespace

const ElementwiseKernels& elementwise_kernels() {
  return table_for_active_isa(elementwise_kernels_scalar, elementwise_kernels_avx2,
                              elementwise_kernels_avx512);
}

void elementwise_unary(UnaryOp op, const float* x, float* y, int64_t n, const ActParams& p) {
  const UnaryKernel k = elementwise_kernels().unary[static_cast<int>(op)];
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { k(x + b, y + b, e - b, p); });
}

void elementwise_binary(BinaryOp op, const float* a, const float* b, float* y, int64_t n,
                        const ActParams& p) {
  const BinaryKernel k = elementwise_kernels().binary[static_cast<int>(op)];
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) { k(a + s, b + s, y + s, e - s, p); });
}

}  // namespace cnnnative
