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
  // One part per planned thread, fixed here: part s always runs the same units with
  // scratch slot s, whatever team runs the parts (fewer members, or the caller alone
  // during a busy-machine back-off), so the weight gradient's per-slot partial sums give
  // the same bits on every call. A member whose core is busy elsewhere has its parts run
  // by the caller instead of holding the pass up (cnnnative/thread_pool.h).
  const int parts = plan.threads;
  team_for_each(parts, parts, [&](int64_t slot) {
    const auto [begin, end] = team_share(units, int(slot), parts);
    for (int64_t i = begin; i < end; ++i) body(unit_at(plan, i), int(slot), false);
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
