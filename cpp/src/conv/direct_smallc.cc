// Small-channel direct convolution driver: splits each image's output into chunks of
// pixels, builds the tap planes of each chunk's rows in the thread's scratch (see direct_smallc.h for the layout),
// and runs the ISA's band kernel. Registered as the conv algorithm "direct_smallc".
#include "direct_smallc.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "act/epilogue_activation.h"
#include "autotune.h"  // ScratchBuffer
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/isa.h"
#include "cnnnative/threads.h"
#include "core/int_math.h"
#include "direct_smallc_kernels.h"

namespace cnnnative {
namespace direct_smallc {
namespace {

// A band's planes should stay in L2 (2 MiB here, shared with the weights and the output
// being written): ~384 KiB.
constexpr int64_t kBandBudgetFloats = 96 * 1024;
constexpr int64_t kMaxScratchMiB = 64;

// Everything the driver derives from the shape, in one place (all int64, checked).
//
// Work is split into chunks of consecutive output pixels of one image (flat index
// oh * OW + ow), a multiple of 16 pixels each, so only the image's last vector can have
// idle lanes (bands of whole rows would waste up to 15 lanes per band: 4% on AlexNet's
// 55-pixel rows). A chunk builds the planes of the output rows it touches.
struct Geometry {
  int64_t OH = 0, OW = 0;
  int64_t halo = 0;          // extra plane rows below the chunk's last output row
  int64_t chunks = 1;        // per image
  int64_t chunk_pixels = 0;  // pixels per chunk (the last one may have fewer)
  int64_t band_rows = 1;     // most output rows a chunk touches
  int64_t plane_floats = 0;  // (band_rows + halo) * OW
  int64_t planes = 0;        // C * S * stride_h
  int64_t phase_width = 0;   // a de-interleaved padded input row: ceil(W_padded / stride_w)
  int64_t thread_floats = 0; // one thread's scratch: planes + pad + the de-interleaved row
};

// n rounded up to a multiple of 16; std::overflow_error past int64 (a width near 2**63 from
// a malformed call: supports() then refuses the shape instead of wrapping to a small size).
int64_t round16(int64_t n) { return checked_mul(ceil_div(n, 16), 16, "direct_smallc scratch"); }

Geometry geometry(const ConvParams& p, int threads) {
  Geometry g;
  g.OH = p.output_h();
  g.OW = p.output_w();
  const int64_t sh = p.stride_h, P = checked_mul(g.OH, g.OW, "output pixels");
  g.halo = (p.R - 1) * p.dilation_h / sh;
  g.planes = checked_numel({p.C, p.S, sh}, "direct_smallc planes");
  const int64_t row_floats = checked_mul(g.planes, g.OW, "direct_smallc plane row");
  // Pixels per chunk: the rows fitting the L2 budget, but enough chunks that every thread
  // gets several (a thread that starts late on a busy machine then takes fewer), and at
  // least 3 vectors each (one register tile).
  const int64_t fit_rows = std::max<int64_t>(1, kBandBudgetFloats / std::max<int64_t>(row_floats, 1) - g.halo - 1);
  int64_t chunks = (P + fit_rows * g.OW - 1) / (fit_rows * g.OW);
  const int64_t images = std::max<int64_t>(p.N, 1);
  const int64_t want = (4 * int64_t(threads) + images - 1) / images;
  chunks = std::max(chunks, std::min(want, (P + 47) / 48));
  g.chunk_pixels = round16((P + chunks - 1) / chunks);
  g.chunks = (P + g.chunk_pixels - 1) / g.chunk_pixels;
  g.band_rows = std::min(g.OH, (g.chunk_pixels + g.OW - 1) / g.OW + 1);
  g.plane_floats = checked_mul(g.band_rows + g.halo, g.OW, "direct_smallc plane");
  const int64_t Wp = checked_add(checked_add(p.W, p.pad_left), p.pad_right, "padded width");
  g.phase_width = ceil_div(Wp, p.stride_w);
  const int64_t band_floats = checked_mul(g.planes, g.plane_floats, "direct_smallc planes");
  g.thread_floats = checked_add(round16(band_floats + kPlanePadFloats),
                                round16(checked_mul(p.stride_w, g.phase_width, "phase row")), "direct_smallc");
  return g;
}

// ph[q * width + i] = padded_row[stride * i + q] for q < stride, i < width, where the
// padded row is `pad_left` zeros, row[0..W), then zeros.
template <int64_t kStride>
void deinterleave_fixed(const float* row, int64_t W, int64_t pad_left, int64_t stride_rt, int64_t width,
                        float* ph) {
  const int64_t stride = kStride > 0 ? kStride : stride_rt;
  // [lo, hi): the i whose whole group stride*i + [0, stride) - pad_left lies inside the row.
  const int64_t lo = std::min(width, (pad_left + stride - 1) / stride);
  const int64_t last = pad_left + W - stride;  // the largest group start stride*i inside
  const int64_t hi = std::max(lo, std::min(width, last >= 0 ? last / stride + 1 : 0));
  // The edges, value by value, zeros outside the row.
  for (int64_t q = 0; q < stride; ++q) {
    float* out = ph + q * width;
    auto at = [&](int64_t i) {
      const int64_t col = stride * i + q - pad_left;
      return col >= 0 && col < W ? row[col] : 0.f;
    };
    for (int64_t i = 0; i < lo; ++i) out[i] = at(i);
    for (int64_t i = hi; i < width; ++i) out[i] = at(i);
  }
  // The inside in row order, one group of `stride` values at a time: contiguous loads
  // (phase by phase this was a strided scalar gather, 5% of AlexNet conv1 under
  // direct_smallc_wino).
  const float* src = row - pad_left;
  int64_t i0 = lo;
  if ((stride == 2 || stride == 4 || stride == 8) && active_isa() == Isa::avx512)
    i0 = deinterleave_interior__avx512(src, stride, lo, hi, width, ph);
  for (int64_t i = i0; i < hi; ++i)
    for (int64_t q = 0; q < stride; ++q) ph[q * width + i] = src[stride * i + q];
}

}  // namespace

void deinterleave(const float* row, int64_t W, int64_t pad_left, int64_t stride, int64_t width, float* ph) {
  switch (stride) {  // constant strides let the compiler vectorise the gather
    case 1: deinterleave_fixed<1>(row, W, pad_left, 1, width, ph); break;
    case 2: deinterleave_fixed<2>(row, W, pad_left, 2, width, ph); break;
    case 4: deinterleave_fixed<4>(row, W, pad_left, 4, width, ph); break;
    case 8: deinterleave_fixed<8>(row, W, pad_left, 8, width, ph); break;  // direct_smallc_wino at stride 4
    default: deinterleave_fixed<0>(row, W, pad_left, stride, width, ph); break;
  }
}

namespace {

// Fills plane(c, s, q) rows [0, rows + halo) for the band starting at output row oh0 of
// image xn (C x H x W). Row phases no kernel row uses are skipped.
void build_planes(const ConvParams& p, const Geometry& g, const std::vector<char>& phase_used, const float* xn,
                  int64_t oh0, int64_t rows, float* planes, float* ph) {
  const int64_t sh = p.stride_h, sw = p.stride_w, OW = g.OW;
  for (int64_t c = 0; c < p.C; ++c) {
    const float* xc = xn + c * p.H * p.W;
    for (int64_t lr = 0; lr < rows + g.halo; ++lr) {
      for (int64_t q = 0; q < sh; ++q) {
        if (!phase_used[size_t(q)]) continue;
        const int64_t ih = sh * (oh0 + lr) + q - p.pad_top;
        const bool inside = ih >= 0 && ih < p.H;
        if (inside) deinterleave(xc + ih * p.W, p.W, p.pad_left, sw, g.phase_width, ph);
        for (int64_t s = 0; s < p.S; ++s) {
          float* dst = planes + ((c * p.S + s) * sh + q) * g.plane_floats + lr * OW;
          if (!inside) {
            std::memset(dst, 0, sizeof(float) * size_t(OW));
          } else {
            const int64_t col = s * p.dilation_w;
            std::memcpy(dst, ph + (col % sw) * g.phase_width + col / sw, sizeof(float) * size_t(OW));
          }
        }
      }
    }
  }
}

bool supports_entry(const ConvParams& p, std::string* why) { return supports(p, why); }

size_t workspace_entry(const ConvParams& p) { return workspace_bytes(p, num_threads()); }

}  // namespace

bool supports(const ConvParams& p, std::string* why) {
  if (p.groups != 1) {
    if (why) *why = concat("direct_smallc needs groups == 1, got groups=", p.groups);
    return false;
  }
  if (p.C > kMaxChannels) {
    if (why) *why = concat("direct_smallc is for few input channels (C <= ", kMaxChannels, "), got C=", p.C);
    return false;
  }
  // Even one output row of tap planes can be large for very wide images with big kernels.
  // (Huge strides can make the scratch size overflow int64: then it is surely too large.)
  int64_t mib = std::numeric_limits<int64_t>::max();
  try {
    mib = geometry(p, 1).thread_floats / (int64_t(1) << 20) * int64_t(sizeof(float));
  } catch (const std::overflow_error&) {
  }
  if (mib > kMaxScratchMiB) {
    if (why) *why = concat("direct_smallc would need ", mib, " MiB of scratch per thread (limit ", kMaxScratchMiB, ")");
    return false;
  }
  return true;
}

int64_t packed_weight_floats(const ConvParams& p) {
  const int64_t blocks = (p.K + kBlockK - 1) / kBlockK;
  return checked_numel({blocks, p.C, p.R, p.S, kBlockK}, "direct_smallc packed weights");
}

void pack_weights(const ConvParams& p, const float* w, float* packed) {
  const int64_t taps = p.C * p.R * p.S, blocks = (p.K + kBlockK - 1) / kBlockK;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t i = 0; i < kBlockK; ++i) {
        const int64_t k = b * kBlockK + i;
        packed[(b * taps + t) * kBlockK + i] = k < p.K ? w[k * taps + t] : 0.f;
      }
}

size_t workspace_bytes(const ConvParams& p, int threads) {
  const Geometry g = geometry(p, threads);
  return size_t(checked_numel({int64_t(threads), g.thread_floats, int64_t(sizeof(float))}, "direct_smallc workspace"));
}

void forward_packed(const ConvParams& p, const float* x, const float* packed_w, const ConvEpilogue& ep,
                    float* y, float* workspace, size_t workspace_size, int threads) {
  if (p.N == 0) return;
  const Geometry g = geometry(p, threads);
  const BandFn band = band_kernel_for(active_isa());
  const int64_t sh = p.stride_h, taps = p.C * p.R * p.S;
  std::vector<int64_t> tap_offset(static_cast<size_t>(taps));
  std::vector<char> phase_used(static_cast<size_t>(sh), 0);
  for (int64_t c = 0; c < p.C; ++c)
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t q = r * p.dilation_h % sh, row = r * p.dilation_h / sh;
        phase_used[size_t(q)] = 1;
        tap_offset[size_t((c * p.R + r) * p.S + s)] = ((c * p.S + s) * sh + q) * g.plane_floats + row * g.OW;
      }
  std::unique_ptr<ScratchBuffer> own;
  const int64_t need = checked_mul(threads, g.thread_floats, "direct_smallc workspace");
  if (!workspace || workspace_size < size_t(need) * sizeof(float)) {
    own = std::make_unique<ScratchBuffer>(size_t(need));
    workspace = own->data();
  }
  const int64_t items = p.N * g.chunks, P = g.OH * g.OW, in_image = p.C * p.H * p.W;
  const ActivationPass pass = activation_pass(ep);  // what the band's store does not apply
  // Dynamic: on a busy machine a thread that starts late takes fewer chunks.
  DynamicChunks work(items, 1);
  run_team(threads, [&](int tid, int) {
    float* planes = workspace + int64_t(tid) * g.thread_floats;
    float* ph = planes + round16(g.planes * g.plane_floats + kPlanePadFloats);
    int64_t item, item_end;
    while (work.next(&item, &item_end)) {
      const int64_t n = item / g.chunks, j0 = (item % g.chunks) * g.chunk_pixels;
      const int64_t j1 = std::min(P, j0 + g.chunk_pixels);
      const int64_t oh0 = j0 / g.OW, rows = (j1 - 1) / g.OW + 1 - oh0;
      build_planes(p, g, phase_used, x + n * in_image, oh0, rows, planes, ph);
      BandArgs a;
      a.planes = planes + (j0 - oh0 * g.OW);  // the chunk's first pixel within row oh0
      a.tap_offset = tap_offset.data();
      a.taps = taps;
      a.packed_w = packed_w;
      a.bias = ep.bias;
      a.K = p.K;
      a.pixels = j1 - j0;
      a.y = y + n * p.K * P + j0;
      a.residual = ep.residual ? ep.residual + n * p.K * P + j0 : nullptr;
      a.ld = P;
      a.act = stored_by_kernel(ep.activation);
      band(a);
      pass.apply_rows(a.y, p.K, a.pixels, P, 0);  // the band just stored, in cache
    }
  });
}

void forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  std::vector<float> packed(static_cast<size_t>(packed_weight_floats(p)));
  pack_weights(p, w, packed.data());
  ConvEpilogue ep;
  ep.bias = bias;
  forward_packed(p, x, packed.data(), ep, y, nullptr, 0, num_threads());
}

CNNNATIVE_REGISTER_CONV_ALGORITHM(direct_smallc, ConvAlgorithm{"direct_smallc", &supports_entry, &forward, nullptr,
                                                               &workspace_entry});

}  // namespace direct_smallc
}  // namespace cnnnative
