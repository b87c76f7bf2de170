// How the im2col convolution splits its work into bands and across threads.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "cnnnative/errors.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"

namespace cnnnative {
namespace im2col {
namespace {

// Column-matrix scratch per band: about 2 MiB, so a band stays near L2 while the GEMM
// reads it, and even the largest layers need a bounded workspace.
constexpr int64_t kBandTargetFloats = int64_t(1) << 19;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Ratio of the busiest thread's output rows to the average, when `units` units of the
// given band shape are handed out in static contiguous chunks (as `omp for` does).
double static_imbalance(int64_t per_image_units, int64_t bands, int64_t band_rows, int64_t OH,
                        int64_t units, int threads) {
  auto rows_of = [&](int64_t u) {
    const int64_t b = (u % per_image_units) % bands;
    return std::min(OH, (b + 1) * band_rows) - b * band_rows;
  };
  int64_t total = 0, worst = 0;
  for (int t = 0; t < threads; ++t) {
    const int64_t u0 = units * t / threads, u1 = units * (t + 1) / threads;
    int64_t rows = 0;
    for (int64_t u = u0; u < u1; ++u) rows += rows_of(u);
    total += rows;
    worst = std::max(worst, rows);
  }
  return total == 0 ? 1.0 : double(worst) * threads / double(total);
}

}  // namespace

Plan make_plan(const ConvParams& p, Pass pass, int threads) {
  Plan plan;
  plan.N = p.N;
  plan.groups = p.groups;
  plan.Cg = p.channels_per_group();
  plan.Kg = p.outputs_per_group();
  plan.CRS = plan.Cg * p.R * p.S;
  plan.OH = p.output_h();
  plan.OW = p.output_w();
  plan.P = plan.OH * plan.OW;
  plan.pointwise = is_pointwise(p);
  plan.threads = std::max(1, threads);

  // Bands sized by the scratch target (one band covers everything when pointwise).
  const int64_t row_floats = std::max<int64_t>(1, plan.CRS * plan.OW);
  plan.band_rows = plan.pointwise ? plan.OH : std::clamp<int64_t>(kBandTargetFloats / row_floats, 1, plan.OH);
  plan.bands = ceil_div(plan.OH, plan.band_rows);

  const int64_t T = plan.threads;
  const int64_t images_groups = p.N * p.groups;
  if (T == 1) {
    plan.parallel_units = false;
  } else if (images_groups >= T) {
    // The input gradient's units are whole (n, g) (its bands run in order inside one).
    const int64_t bands = pass == Pass::backward_input ? 1 : plan.bands;
    const int64_t rows = pass == Pass::backward_input ? plan.OH : plan.band_rows;
    plan.parallel_units = static_imbalance(p.groups * bands, bands, rows, plan.OH,
                                           images_groups * bands, plan.threads) <= 1.2;
  } else if (pass != Pass::backward_input && images_groups > 0) {
    // Few images: split each image's rows into more bands so every thread gets some.
    // (The input gradient cannot: col2im of neighbouring bands overlaps in dx.)
    const int64_t want = ceil_div(std::max(plan.bands, ceil_div(T, images_groups)), T) * T;
    const int64_t rows = std::max<int64_t>(1, ceil_div(plan.OH, want));
    const int64_t bands = ceil_div(plan.OH, rows);
    const bool balanced =
        static_imbalance(p.groups * bands, bands, rows, plan.OH, images_groups * bands,
                         plan.threads) <= 1.15;
    // A band narrower than a few vector widths makes GEMMs too thin to be worth it.
    if (balanced && rows * plan.OW >= 64) {
      plan.band_rows = rows;
      plan.bands = bands;
      plan.parallel_units = true;
    }
  }
  plan.workspace_floats = plan.pointwise ? 0 : plan.CRS * plan.band_rows * plan.OW;
  return plan;
}

size_t forward_workspace_bytes(const ConvParams& p) {
  const Plan plan = make_plan(p, Pass::forward, num_threads());
  return size_t(plan.workspace_floats) * size_t(plan.workspace_slots()) * sizeof(float);
}

bool debug_nan_enabled() {
  const char* env = std::getenv("CNNNATIVE_DEBUG_NAN");
  return env != nullptr && *env != '\0' && *env != '0';
}

void allocate_scratch(std::vector<float>& buffer, int64_t floats) {
  checked_mul(floats, int64_t(sizeof(float)), "im2col workspace bytes");
  if (debug_nan_enabled())
    buffer.assign(size_t(floats), std::numeric_limits<float>::quiet_NaN());
  else
    buffer.resize(size_t(floats));
}

}  // namespace im2col
}  // namespace cnnnative
