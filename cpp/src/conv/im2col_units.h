// Runs a pass's units (image n, group g, band of output rows) as its Plan says: in
// parallel, each thread with its own scratch slot and single-threaded kernels inside, or
// one after another with threaded kernels inside. Never nests parallel regions.
#pragma once
#include <omp.h>

#include <algorithm>

#include "cnnnative/threads.h"
#include "conv/im2col.h"

namespace cnnnative {
namespace im2col {

struct Unit {
  int64_t n, g, oh0, oh1;
};

inline Unit unit_at(const Plan& plan, int64_t i) {
  const int64_t band = i % plan.bands, ng = i / plan.bands;
  const int64_t oh0 = band * plan.band_rows;
  return {ng / plan.groups, ng % plan.groups, oh0, std::min(plan.OH, oh0 + plan.band_rows)};
}

// body(const Unit&, int slot, bool threaded); slot indexes the per-thread scratch.
template <typename Body>
void run_units(const Plan& plan, Body&& body) {
  const int64_t units = plan.units();
  if (!plan.parallel_units) {
    for (int64_t i = 0; i < units; ++i) body(unit_at(plan, i), 0, true);
    return;
  }
#pragma omp parallel num_threads(plan.threads)
  {
    const int slot = omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < units; ++i) body(unit_at(plan, i), slot, false);
  }
}

}  // namespace im2col
}  // namespace cnnnative
