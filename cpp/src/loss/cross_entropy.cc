// Threaded drivers for cross-entropy (see loss/cross_entropy.h): whole rows per thread.
#include "loss/cross_entropy.h"

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrainElements = 16384;

const CrossEntropyKernels& kernels() {
  return table_for_active_isa(cross_entropy_kernels_scalar, cross_entropy_kernels_avx2,
                              cross_entropy_kernels_avx512);
}

int64_t grain(int64_t classes) { return classes >= kGrainElements ? 1 : kGrainElements / classes; }

}  // namespace

void cross_entropy_forward(const float* x, const int64_t* target, int64_t N, int64_t C,
                           const CrossEntropyOptions& opt, float* loss) {
  const CrossEntropyKernels& k = kernels();
  parallel_for(N, grain(C),
               [&](int64_t b, int64_t e) { k.forward(x + b * C, target + b, e - b, C, opt, loss + b); });
}

void cross_entropy_backward(const float* x, const int64_t* target, int64_t N, int64_t C,
                            const CrossEntropyOptions& opt, const float* row_scale, float scale, float* gx) {
  const CrossEntropyKernels& k = kernels();
  parallel_for(N, grain(C), [&](int64_t b, int64_t e) {
    k.backward(x + b * C, target + b, e - b, C, opt, row_scale ? row_scale + b : nullptr, scale, gx + b * C);
  });
}

}  // namespace cnnnative
