// One thread count for the whole library.
//
// omp_set_num_threads() only sets the calling thread's value, so a kernel called from
// another Python thread would ignore it. Instead the count is a process-wide setting
// and every parallel region asks for it explicitly:
//   #pragma omp parallel for num_threads(cnnnative::num_threads())
// Start value: OMP_NUM_THREADS if set, else the number of processors OpenMP reports.
#pragma once

namespace cnnnative {

int num_threads();
void set_num_threads(int n);  // n >= 1, else ValueError
bool openmp_enabled();

}  // namespace cnnnative
