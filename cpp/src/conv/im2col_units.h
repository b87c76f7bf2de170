// Runs a pass's units (image n, group g, band of output rows) as its Plan says: in
// parallel, each thread with its own scratch slot and single-threaded kernels inside, or
// one after another with threaded kernels inside. Never nests parallel regions.
#pragma once

#include <algorithm>

#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"

namespace cnnnative {
namespace im2col {

// body(const Unit&, int slot, bool threaded); slot indexes the per-thread scratch.
template <typename Body>
void run_units(const Plan& plan, Body&& body) {
  const int64_t units = plan.units();
  if (!plan.parallel_units) {
    for (int64_t i = 0; i < units; ++i) body(unit_at(plan, i), 0, true);
    return;
  }
  // On the library's team: a member whose core is busy elsewhere has its share run by
  // the caller instead of holding the pass up (cnnnative/thread_pool.h).
  run_team(plan.threads, [&](int slot, int team) {
    const auto [begin, end] = team_share(units, slot, team);
    for (int64_t i = begin; i < end; ++i) body(unit_at(plan, i), slot, false);
  });
}

// Stacked units keep Kg x (images * P) matrices (dy in, y out) in a staging buffer: image
// i's block of channels [g*Kg, (g+1)*Kg) sits at columns [i*P, (i+1)*P).
inline void stack_images(const Plan& plan, const Unit& u, int64_t K, const float* src,
                         float* staging) {
  const int64_t ld = u.images() * plan.P;
  for (int64_t i = 0; i < u.images(); ++i)
    for (int64_t k = 0; k < plan.Kg; ++k)
      std::copy_n(src + ((u.n0 + i) * K + u.g * plan.Kg + k) * plan.P, plan.P,
                  staging + k * ld + i * plan.P);
}

inline void unstack_images(const Plan& plan, const Unit& u, int64_t K, const float* staging,
                           float* dst) {
  const int64_t ld = u.images() * plan.P;
  for (int64_t i = 0; i < u.images(); ++i)
    for (int64_t k = 0; k < plan.Kg; ++k)
      std::copy_n(staging + k * ld + i * plan.P, plan.P,
                  dst + ((u.n0 + i) * K + u.g * plan.Kg + k) * plan.P);
}

}  // namespace im2col
}  // namespace cnnnative
