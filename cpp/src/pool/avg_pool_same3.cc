// Driver of the separable 3x3 average pooling (pool/avg_pool_same3.h): the per-pixel
// neighbour masks and divisors of a plane, then whole planes per team member.
#include "pool/avg_pool_same3.h"

#include <algorithm>
#include <vector>

#include "act/isa_table.h"
#include "cnnnative/thread_pool.h"

namespace cnnnative {

bool avg_pool_same3_applies(const PoolParams& p) {
  return p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 1 && p.pad_w == 1 &&
         p.dilation_h == 1 && p.dilation_w == 1 && p.H >= 1 && p.W >= 1 && p.OH == p.H && p.OW == p.W;
}

void avg_pool_same3(const PoolParams& p, const float* x, float* y, int threads) {
  const int64_t H = p.H, W = p.W, HW = H * W, planes = p.N * p.C;
  if (planes <= 0) return;
  // The masks and divisors of one plane, shared by all (thread_local: reused by later calls).
  thread_local std::vector<float> table;
  table.resize(static_cast<size_t>(3 * HW));
  float* left = table.data();
  float* right = left + HW;
  float* divisor = right + HW;
  for (int64_t r = 0; r < H; ++r) {
    const int64_t rows = 1 + (r > 0) + (r < H - 1);  // rows of the window inside the input
    for (int64_t c = 0; c < W; ++c) {
      left[r * W + c] = c > 0 ? 1.0f : 0.0f;
      right[r * W + c] = c < W - 1 ? 1.0f : 0.0f;
      divisor[r * W + c] = static_cast<float>(rows * (1 + (c > 0) + (c < W - 1)));
    }
  }
  AvgSame3Shape s;
  s.H = H, s.W = W, s.has_left = left, s.has_right = right;
  s.divisor = p.count_include_pad ? nullptr : divisor;  // count_include_pad: 9 everywhere
  const AvgSame3Kernels& k = table_for_active_isa(avg_same3_scalar, avg_same3_avx2, avg_same3_avx512);
  // Below about this many elements per member, waking a team costs more than it saves.
  constexpr int64_t kGrainElements = 16384;
  int64_t team = planes * HW / kGrainElements;
  if (team > threads) team = threads;
  if (team > planes) team = planes;
  if (team < 1) team = 1;
  // Chunks of planes to whichever member asks first; each plane's bits are the same on any.
  const int64_t chunk = std::max<int64_t>(1, 8192 / HW);  // about 32 KB of input
  DynamicChunks chunks(planes, chunk);
  run_team(static_cast<int>(team), [&](int, int) {
    thread_local std::vector<float> scratch;  // H*W + 2 floats; grows once, then reused
    if (static_cast<int64_t>(scratch.size()) < HW + 2) scratch.resize(static_cast<size_t>(HW + 2));
    int64_t b, e;
    while (chunks.next(&b, &e)) k.planes(s, x + b * HW, y + b * HW, e - b, scratch.data());
  });
}

}  // namespace cnnnative
