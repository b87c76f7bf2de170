// The int8 nodes besides conv / linear: quantize, dequantize, the uint8 pools and concat,
// and the dispatch of all int8 nodes (engine/int8_nodes.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "engine/int8_nodes.h"
#include "engine/int8_requant.h"
#include "engine/u8_rows.h"

namespace cnnnative {
namespace engine {

int64_t int8_conv_scratch_bytes(const Node& n, int threads);  // int8_conv.cc
void conv_int8_forward(const Node& n, int64_t batch, const uint8_t* x, const void* residual, void* y, void* scratch,
                       int threads);
void linear_int8_forward(const Node& n, int64_t batch, const uint8_t* x, void* y, void* scratch, int threads);

namespace {
constexpr int64_t kSerial = int64_t(1) << 15;

// clamp(rint(x / scale) + zero, 0, 255) with x / scale computed as x * (1 / scale), in
// chunks of 4096 values per thread.
constexpr int64_t kChunk = 4096;
void quantize(const float* x, int64_t count, QParams q, uint8_t* y, int threads) {
  const float inv = 1.f / q.scale, zero = float(q.zero);
  if (count < kSerial) threads = 1;
  const int64_t chunks = (count + kChunk - 1) / kChunk;
  team_for_each(threads, chunks, [&](int64_t c) {
    quantize_row(x + c * kChunk, std::min(kChunk, count - c * kChunk), inv, zero, y + c * kChunk);
  });
}

void dequantize(const uint8_t* x, int64_t count, QParams q, float* y, int threads) {
  if (count < kSerial) threads = 1;
  const int64_t chunks = (count + kChunk - 1) / kChunk;
  team_for_each(threads, chunks, [&](int64_t c) {
    dequantize_row(x + c * kChunk, std::min(kChunk, count - c * kChunk), q.scale, q.zero, y + c * kChunk);
  });
}

// A pooled value of one window: uint8 (rounded, same scale) or dequantized float.
inline void store_pooled(const QuantNode& q, float mean_q, void* y, int64_t i) {
  if (q.out_u8) {
    const float t = std::min(255.f, std::max(0.f, mean_q));
    static_cast<uint8_t*>(y)[i] = uint8_t(std::nearbyint(t));
  } else {
    static_cast<float*>(y)[i] = q.in.scale * (mean_q - float(q.in.zero));
  }
}

// max_pool_u8 one plane at a time, separably, in three passes over the plane: (1) for each
// output row, the column-wise max of its window's valid input rows, into a row that is zero
// outside the image (zero is the identity of max on uint8, so padding taps drop out);
// (2) with stride 2 or more, each such row split into its stride phases (even and odd bytes),
// so that (3) each output row is the max over the window's taps of contiguous runs. The
// passes are vector byte maxima. Whole passes, not row by row: a row's bytes reloaded right
// after they were stored, at another offset, stalled on store forwarding. Max is exact, so
// this equals the per-window loop (which took 0.6 ms of an int8 ResNet-50 on one core: its
// stem's 3x3/2 pool; a quarter of an int8 SqueezeNet before that).
class MaxPoolU8Plane {
 public:
  MaxPoolU8Plane(const PoolWindow& w, int64_t H, int64_t W, int64_t OH, int64_t OW)
      : w_(w), W_(W), OH_(OH), OW_(OW) {
    span_ = std::max(w.pad_left + W, (OW - 1) * w.sw + (w.kw - 1) * w.dw + 1);
    phase_len_ = (span_ + w.sw - 1) / w.sw;
    for (int64_t ow = 0; ow < OW; ++ow) {
      bool any = false;
      for (int64_t s = 0; s < w.kw && !any; ++s) {
        const int64_t iw = ow * w.sw - w.pad_left + s * w.dw;
        any = iw >= 0 && iw < W;
      }
      if (!any) empty_columns_.push_back(ow);
    }
    // The input rows of output row oh are the window's rows r in [row_begin_[oh],
    // row_end_[oh]) (those inside the image: a contiguous run), row_offsets_[r - begin]
    // bytes after the first of them.
    for (int64_t r = 0; r < w.kh; ++r) row_offsets_.push_back(r * w.dh * W);
    for (int64_t oh = 0; oh < OH; ++oh) {
      int64_t begin = w.kh, end = 0;
      for (int64_t r = 0; r < w.kh; ++r) {
        const int64_t ih = oh * w.sh - w.pad_top + r * w.dh;
        if (ih >= 0 && ih < H) {
          begin = std::min(begin, r);
          end = r + 1;
        }
      }
      row_begin_.push_back(begin);
      row_end_.push_back(std::max(begin, end));
    }
    // Tap s of output ow reads padded[ow * sw + s * dw]: in an output row's phases (stride
    // >= 2) or padded row, at tap_offsets_[s] + ow.
    for (int64_t s = 0; s < w.kw; ++s) {
      const int64_t at = s * w.dw;
      tap_offsets_.push_back(w.sw > 1 ? (at % w.sw) * phase_len_ + at / w.sw : at);
    }
  }
  // Bytes of one member's scratch: the padded rows, their stride phases, one output row.
  int64_t scratch_bytes() const { return OH_ * (span_ + phases_bytes()) + OW_; }

  // One plane into y + yo; `scratch` is one member's, zeroed once before its first plane.
  void run(const QuantNode& q, const uint8_t* xp, uint8_t* scratch, void* y, int64_t yo) const {
    uint8_t* padded = scratch;                      // OH rows of span bytes
    uint8_t* phases = padded + OH_ * span_;         // OH rows of sw phases (stride >= 2)
    uint8_t* row_u8 = phases + OH_ * phases_bytes();  // one output row, for float output
    const uint8_t zero = uint8_t(q.in.zero);
    for (int64_t oh = 0; oh < OH_; ++oh) {
      const int64_t r0 = row_begin_[size_t(oh)], rows = row_end_[size_t(oh)] - r0;
      const uint8_t* first = xp + (oh * w_.sh - w_.pad_top + r0 * w_.dh) * W_;
      if (rows) max_rows_u8(padded + oh * span_ + w_.pad_left, first, row_offsets_.data(), rows, W_);
    }
    if (w_.sw > 1)
      for (int64_t oh = 0; oh < OH_; ++oh) split_phases(padded + oh * span_, phases + oh * phases_bytes());
    for (int64_t oh = 0; oh < OH_; ++oh) {
      uint8_t* out = q.out_u8 ? static_cast<uint8_t*>(y) + yo + oh * OW_ : row_u8;
      if (row_end_[size_t(oh)] == row_begin_[size_t(oh)]) {
        std::memset(out, zero, size_t(OW_));  // a window wholly in the padding
      } else {
        const uint8_t* taps = w_.sw > 1 ? phases + oh * phases_bytes() : padded + oh * span_;
        max_rows_u8(out, taps, tap_offsets_.data(), w_.kw, OW_);
        for (int64_t ow : empty_columns_) out[ow] = zero;
      }
      if (!q.out_u8) {
        float* yf = static_cast<float*>(y) + yo + oh * OW_;
        for (int64_t ow = 0; ow < OW_; ++ow) yf[ow] = q.in.scale * (float(out[ow]) - float(q.in.zero));
      }
    }
  }

 private:
  int64_t phases_bytes() const { return w_.sw > 1 ? w_.sw * phase_len_ : 0; }

  // phases[ph * phase_len + i] = padded[i * sw + ph].
  void split_phases(const uint8_t* padded, uint8_t* phases) const {
    if (w_.sw == 2) {
      split_pairs_u8(padded, span_, phases, phases + phase_len_);
    } else {
      for (int64_t ph = 0; ph < w_.sw; ++ph)
        for (int64_t i = 0; i * w_.sw + ph < span_; ++i) phases[ph * phase_len_ + i] = padded[i * w_.sw + ph];
    }
  }

  PoolWindow w_;
  int64_t W_, OH_, OW_, span_, phase_len_;
  std::vector<int64_t> empty_columns_;
  std::vector<int64_t> row_offsets_, row_begin_, row_end_, tap_offsets_;
};

// max_pool_u8 (is_max) and avg_pool_u8 over (image, channel) planes.
void pool_u8(const Node& n, bool is_max, int64_t batch, const uint8_t* x, void* y, int threads) {
  const QuantNode& q = *n.quant;
  const PoolWindow& w = n.pool;
  const int64_t C = n.in_shape[1], H = n.in_shape[2], W = n.in_shape[3];
  const int64_t OH = n.out_shape[2], OW = n.out_shape[3];
  const int64_t planes = batch * C;
  if (planes * OH * OW * w.kh * w.kw < kSerial) threads = 1;
  const MaxPoolU8Plane max_plane(w, H, W, OH, OW);
  auto pool_u8_plane = [&](int64_t plane, uint8_t* rows) {
    const uint8_t* xp = x + plane * H * W;
    const int64_t yo = plane * OH * OW;
    if (is_max) {
      max_plane.run(q, xp, rows, y, yo);
      return;
    }
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        // PyTorch's divisor (as engine/pool_nodes.cc); padding counts as the zero point.
        const int64_t h0 = oh * w.sh - w.pad_top, h1p = std::min(h0 + w.kh, H + w.pad_bottom);
        const int64_t h0c = std::max<int64_t>(h0, 0), h1c = std::min(h0 + w.kh, H);
        const int64_t w0 = ow * w.sw - w.pad_left, w1p = std::min(w0 + w.kw, W + w.pad_right);
        const int64_t w0c = std::max<int64_t>(w0, 0), w1c = std::min(w0 + w.kw, W);
        int64_t sum = 0;
        for (int64_t ih = h0c; ih < h1c; ++ih)
          for (int64_t iw = w0c; iw < w1c; ++iw) sum += xp[ih * W + iw];
        const int64_t valid = std::max<int64_t>((h1c - h0c) * (w1c - w0c), 0);
        const int64_t count = w.count_include_pad ? (h1p - h0) * (w1p - w0) : valid;
        sum += (count - valid) * q.in.zero;
        store_pooled(q, count > 0 ? float(sum) / float(count) : float(q.in.zero), y, yo + oh * OW + ow);
      }
  };
  // The max pool's scratch: one per member, zeroed and allocated before the region.
  const int team = int(std::max<int64_t>(1, std::min<int64_t>(threads, planes)));
  const int64_t row_bytes = is_max ? max_plane.scratch_bytes() : 0;
  std::vector<uint8_t> rows(static_cast<size_t>(team * row_bytes), 0);
  DynamicChunks chunks(planes, 4);
  run_team(team, [&](int tid, int) {
    for (int64_t begin, end; chunks.next(&begin, &end);)
      for (int64_t plane = begin; plane < end; ++plane) pool_u8_plane(plane, rows.data() + tid * row_bytes);
  });
}

void global_pool_u8(const Node& n, int64_t batch, const uint8_t* x, void* y, int threads) {
  const int64_t C = n.in_shape[1], HW = n.in_shape[2] * n.in_shape[3], planes = batch * C;
  if (planes * HW < kSerial) threads = 1;
  team_for_each(threads, planes, [&](int64_t plane) {
    const uint8_t* xp = x + plane * HW;
    int64_t sum = 0;
    for (int64_t i = 0; i < HW; ++i) sum += xp[i];
    store_pooled(*n.quant, float(sum) / float(HW), y, plane);
  });
}
}  // namespace

int64_t int8_scratch_bytes(const Node& n, int threads) {
  if (n.kind == OpKind::conv_int8 || n.kind == OpKind::linear_int8) return int8_conv_scratch_bytes(n, threads);
  return 0;
}

int64_t int8_weight_bytes(const Node& n) {
  const QuantNode& q = *n.quant;
  int64_t b = int64_t(q.weight.size() + 4 * (q.corr.size() + q.mult.size() + q.bias.size()));
  for (const auto& p : q.packed) b += int64_t(p.data.size() + 4 * p.row_sums.size());
  for (const auto& t : q.tables) b += int64_t(t.size());
  return b;
}

void int8_node_forward(const Node& n, int64_t batch, const std::vector<const void*>& ins, void* out, void* scratch,
                       int threads) {
  const QuantNode& q = *n.quant;
  const int64_t count = [&] {
    int64_t c = batch;
    for (size_t i = 1; i < n.in_shape.size(); ++i) c *= n.in_shape[i];
    return c;
  }();
  const auto* x8 = static_cast<const uint8_t*>(ins[0]);
  switch (n.kind) {
    case OpKind::quantize:
      quantize(static_cast<const float*>(ins[0]), count, q.out, static_cast<uint8_t*>(out), threads);
      return;
    case OpKind::dequantize: dequantize(x8, count, q.in, static_cast<float*>(out), threads); return;
    case OpKind::conv_int8:
      conv_int8_forward(n, batch, x8, ins.size() > 1 ? ins[1] : nullptr, out, scratch, threads);
      return;
    case OpKind::linear_int8: linear_int8_forward(n, batch, x8, out, scratch, threads); return;
    case OpKind::max_pool_u8: pool_u8(n, true, batch, x8, out, threads); return;
    case OpKind::avg_pool_u8: pool_u8(n, false, batch, x8, out, threads); return;
    case OpKind::global_avg_pool_u8: global_pool_u8(n, batch, x8, out, threads); return;
    case OpKind::concat_u8: {
      int64_t total = 0;
      for (int64_t per : q.parts) total += per;
      auto* y = static_cast<uint8_t*>(out);
      int64_t offset = 0;
      for (size_t k = 0; k < ins.size(); ++k) {
        const auto* xk = static_cast<const uint8_t*>(ins[k]);
        const int64_t per = q.parts[k];
        const uint8_t* t = q.tables[k].data();
        for (int64_t b = 0; b < batch; ++b) {
          uint8_t* dst = y + b * total + offset;
          const uint8_t* src = xk + b * per;
          if (q.identity[k]) std::memcpy(dst, src, size_t(per));
          else
            for (int64_t i = 0; i < per; ++i) dst[i] = t[src[i]];
        }
        offset += per;
      }
      return;
    }
    default: CN_CHECK(false, "not an int8 node: ", op_name(n.kind));
  }
}

}  // namespace engine
}  // namespace cnnnative
