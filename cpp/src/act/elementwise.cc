// Threaded drivers for the elementwise kernels (see act/elementwise.h).
#include "act/elementwise.h"

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

// Below this many elements per thread, threading costs more than it saves.
constexpr int64_t kGrain = 32768;

const ElementwiseKernels& kernels() {
  return table_for_active_isa(elementwise_kernels_scalar, elementwise_kernels_avx2,
                              elementwise_kernels_avx512);
}

}  // namespace

void elementwise_unary(UnaryOp op, const float* x, float* y, int64_t n, float param) {
  const UnaryKernel k = kernels().unary[static_cast<int>(op)];
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { k(x + b, y + b, e - b, param); });
}

void elementwise_binary(BinaryOp op, const float* a, const float* b, float* y, int64_t n, float param) {
  const BinaryKernel k = kernels().binary[static_cast<int>(op)];
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) { k(a + s, b + s, y + s, e - s, param); });
}

}  // namespace cnnnative
