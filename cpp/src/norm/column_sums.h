// Column sums over many rows, split across threads.
//
// Rows [0, rows) are split into one contiguous range per thread. add_row(row, acc1, acc2)
// adds one row's terms into two float vectors of n columns (and may write per-row
// outputs). Every kRowsPerBlock rows the float sums go into the thread's double totals,
// so float error is bounded by the block length, not by the number of rows; at the end
// the threads' totals are added in a fixed order.
#pragma once
#include "cnnnative/thread_pool.h"

#include <cstdint>
#include <vector>

namespace cnnnative {
namespace norm {

template <class AddRow>
void column_sums(int64_t rows, int64_t n, int threads, AddRow add_row, double* out1, double* out2) {
  constexpr int64_t kRowsPerBlock = 256;
  std::vector<float> block(static_cast<size_t>(threads) * 2 * n);
  std::vector<double> total(block.size(), 0.0);
  run_team_no_backoff(threads, [&](int t, int nt) {
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    float *b1 = block.data() + 2 * n * t, *b2 = b1 + n;
    double *t1 = total.data() + 2 * n * t, *t2 = t1 + n;
    for (int64_t first = begin; first < end; first += kRowsPerBlock) {
      const int64_t last = first + kRowsPerBlock < end ? first + kRowsPerBlock : end;
      for (int64_t j = 0; j < 2 * n; ++j) b1[j] = 0.0f;
      for (int64_t row = first; row < last; ++row) add_row(row, b1, b2);
      for (int64_t j = 0; j < n; ++j) {
        t1[j] += b1[j];
        t2[j] += b2[j];
      }
    }
  });
  for (int64_t j = 0; j < n; ++j) {
    double s1 = 0.0, s2 = 0.0;
    for (int t = 0; t < threads; ++t) {
      s1 += total[2 * n * t + j];
      s2 += total[2 * n * t + n + j];
    }
    out1[j] = s1;
    out2[j] = s2;
  }
}

}  // namespace norm
}  // namespace cnnnative
