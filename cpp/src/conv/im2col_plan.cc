// How the im2col convolution splits its work into bands and across threads.
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "cnnnative/errors.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"

namespace cnnnative {
namespace im2col {
namespace {

// Column-matrix scratch per unit: about 2 MiB. Measured on ResNet-18's 3x3 layers (one
// thread): 256 KiB-1 MiB bands make GEMMs too narrow, 4 MiB and more gain nothing and
// leave L2; 2-4 MiB were best. The largest layers still need a bounded workspace.
constexpr int64_t kBandTargetFloats = int64_t(1) << 19;
// Units narrower than this many output pixels make GEMMs too thin to be worth running
// in parallel; below it one unit at a time with a threaded GEMM does better.
constexpr int64_t kMinParallelBandColumns = 256;
// Stacked images' column matrices: about 512 KiB, within L2 (measured on LeNet's layers:
// 64-128 Ki floats best, 1.05-1.1x faster than the band target).
constexpr int64_t kStackTargetFloats = int64_t(1) << 17;
// Images are stacked only while one image's output is narrower than this.
constexpr int64_t kStackBelowPixels = 1024;
constexpr int64_t kMaxImagesPerUnit = 64;
// Stacking also goes on until a unit's GEMM is this many pixels wide, with up to 4x the
// band target of scratch: measured on ResNet-18's 7x7x512 layer at batch 32 (49 pixels
// per image), 6 images per unit are 1.27x faster than 1; 512 helped 7x7 a little more
// but slowed 14x14.
constexpr int64_t kMinStackColumns = 256;
// A weight gradient block (Kg x CRS) from this many floats (4 MiB) up is reduced by one
// threaded GEMM over stacked images rather than by per-thread partial copies: each copy
// would stream the whole block through memory once per unit and again in the final sum.
// Measured on DCGAN's 512->256 4x4 stride-2 layer (2M floats, 16 images of 4x4 pixels),
// quiet, 2 threads: 15.1 ms with two partial copies (no faster than 1 thread), see
// benchmarks/RESULTS.md for the figure with this rule.
constexpr int64_t kLargeWeightGradFloats = int64_t(1) << 20;
// Per-thread copies of the whole weight gradient (all groups) above this many floats
// (256 MiB in all) are not worth it either.
constexpr int64_t kMaxPartialFloats = int64_t(1) << 26;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Ratio of the busiest thread's work (images x output rows) to the average, when the
// plan's units are handed out in static contiguous chunks (as `omp for` does).
double static_imbalance(const Plan& plan, int threads) {
  const int64_t units = plan.units();
  int64_t total = 0, worst = 0;
  for (int t = 0; t < threads; ++t) {
    int64_t work = 0;
    for (int64_t i = units * t / threads; i < units * (t + 1) / threads; ++i) {
      const Unit u = unit_at(plan, i);
      work += u.images() * (u.oh1 - u.oh0);
    }
    total += work;
    worst = std::max(worst, work);
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
  // A large weight gradient is planned as for one thread (the most images a unit can stack,
  // units in order) and its GEMMs use the threads: no per-thread partial copies
  // (kLargeWeightGradFloats, kMaxPartialFloats).
  const bool shared_weight_grad =
      pass == Pass::backward_weight &&
      ((p.groups == 1 && plan.Kg * plan.CRS >= kLargeWeightGradFloats) ||
       checked_mul(p.weight_numel(), plan.threads) > kMaxPartialFloats);
  const int T = shared_weight_grad ? 1 : plan.threads;

  // Bands sized by the scratch target (one band covers everything when pointwise).
  const int64_t row_floats = std::max<int64_t>(1, plan.CRS * plan.OW);
  plan.band_rows = plan.pointwise ? plan.OH : std::clamp<int64_t>(kBandTargetFloats / row_floats, 1, plan.OH);
  plan.bands = ceil_div(plan.OH, plan.band_rows);

  // Small images: stack several per unit, as many as fit the target while still leaving
  // every thread an equal share of units.
  if (!plan.pointwise && plan.bands == 1 && plan.P < kStackBelowPixels && p.N > 1) {
    const int64_t image_floats = std::max<int64_t>(1, plan.CRS * plan.P);
    // As many as fit the target; at least enough for a GEMM kMinStackColumns wide.
    const int64_t wide = std::min(ceil_div(kMinStackColumns, plan.P), 4 * kBandTargetFloats / image_floats);
    const int64_t fit = std::min<int64_t>({std::max(kStackTargetFloats / image_floats, wide), p.N,
                                           kMaxImagesPerUnit});
    for (int64_t nb = fit; nb >= 2; --nb) {
      Plan trial = plan;
      trial.images_per_unit = nb;
      if (T == 1 || (trial.units() >= T && static_imbalance(trial, T) <= 1.15)) {
        plan.images_per_unit = nb;
        break;
      }
    }
  }

  const int64_t image_units = plan.image_chunks() * p.groups;
  if (T == 1 || image_units == 0) {
    plan.parallel_units = false;
  } else if (image_units >= T) {
    Plan trial = plan;
    if (pass == Pass::backward_input) {  // its units are whole images (bands run inside)
      trial.bands = 1;
      trial.band_rows = plan.OH;
    }
    plan.parallel_units = static_imbalance(trial, T) <= 1.2;
  } else if (pass != Pass::backward_input) {
    // Few images: split each image's rows into a multiple of T bands so every thread gets
    // an equal share. The fewest bands that meet the scratch target come first; if those
    // bands are too thin for a good GEMM, fewer, wider ones (up to 4x the scratch).
    for (int64_t m = ceil_div(plan.bands, T * image_units); m >= 1; --m) {
      Plan trial = plan;
      trial.band_rows = std::max<int64_t>(1, ceil_div(plan.OH, T * m));
      trial.bands = ceil_div(plan.OH, trial.band_rows);
      const bool wide = trial.band_rows * plan.OW >= kMinParallelBandColumns;
      const bool fits = plan.CRS * trial.band_rows * plan.OW <= 4 * kBandTargetFloats;
      if (wide && fits && static_imbalance(trial, T) <= 1.15) {
        plan = trial;
        plan.parallel_units = true;
        break;
      }
      if (!fits) break;  // fewer bands would only be larger
    }
  }
  const int64_t unit_columns = plan.images_per_unit * plan.band_rows * plan.OW;
  plan.column_floats = plan.pointwise ? 0 : plan.CRS * unit_columns;
  plan.staging_floats = plan.images_per_unit > 1 ? plan.Kg * unit_columns : 0;
  return plan;
}

size_t forward_workspace_bytes(const ConvParams& p) {
  const Plan plan = make_plan(p, Pass::forward, num_threads());
  return size_t(plan.slot_floats()) * size_t(plan.workspace_slots()) * sizeof(float);
}

bool debug_nan_enabled() {
  const char* env = std::getenv("CNNNATIVE_DEBUG_NAN");
  return env != nullptr && *env != '\0' && *env != '0';
}

std::unique_ptr<float[]> allocate_scratch(int64_t floats) {
  checked_mul(floats, int64_t(sizeof(float)), "im2col workspace bytes");
  std::unique_ptr<float[]> buffer(new float[size_t(floats)]);
  if (debug_nan_enabled())
    std::fill(buffer.get(), buffer.get() + floats, std::numeric_limits<float>::quiet_NaN());
  return buffer;
}

}  // namespace im2col
}  // namespace cnnnative
