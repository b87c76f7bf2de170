// Size checks shared by the normalization entry points.
#include "cnnnative/errors.h"
#include "norm/norm.h"

namespace cnnnative {
namespace norm {

int64_t NormShape::numel() const { return checked_numel({N, C, S}, "normalization input size"); }

void NormShape::validate() const {
  CN_CHECK(N >= 0 && C >= 0 && S >= 0, "normalization input has a negative size: N=", N,
           ", C=", C, ", spatial=", S);
  numel();
}

void LrnParams::validate() const {
  CN_CHECK(size >= 1, "size must be >= 1, got ", size);
  CN_CHECK(k == k && alpha == alpha && beta == beta, "alpha, beta and k must not be NaN");
}

}  // namespace norm
}  // namespace cnnnative
