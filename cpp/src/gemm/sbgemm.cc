// The ISA-independent half of the bf16 GEMM (gemm/sbgemm.h): feature detection, the
// build-time weight packing, and the fallback that runs where vdpbf16ps does not.
#include "gemm/sbgemm.h"

#include <cpuid.h>

#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "cnnnative/errors.h"
#include "core/peak_probe.h"
#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"

namespace cnnnative {
namespace bf16 {

bool cpu_has_avx512_bf16() {
  static const bool has = [] {
    if (!cpu_supports(Isa::avx512)) return false;  // also checks the OS saves ZMM state
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
    return (eax & (1u << 5)) != 0;
  }();
  return has;
}

bool native() { return active_isa() == Isa::avx512 && cpu_has_avx512_bf16(); }

void round_array(const float* x, float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = round_float(x[i]);
}

PackedWeights::PackedWeights(const float* w, int64_t ldw, int64_t n, int64_t k, bool as_rows)
    : n_(n), k_(k), rows_(as_rows) {
  CN_CHECK(n > 0 && k > 0, "bf16 weights must be non-empty, got ", n, " x ", k);
  const int64_t dwords = checked_mul(checked_mul(panels(), pairs(), "bf16 weights"), int64_t(rows_ ? kMR : kNR),
                                     "bf16 weights");
  void* mem = std::aligned_alloc(64, size_t((dwords * 4 + 63) / 64 * 64));
  if (!mem) throw std::bad_alloc();
  data_ = std::shared_ptr<uint32_t>(static_cast<uint32_t*>(mem), [](uint32_t* p) { std::free(p); });
  uint32_t* d = data_.get();
  std::fill(d, d + dwords, 0u);
  for (int64_t row = 0; row < n; ++row) {
    const float* src = w + row * ldw;
    // Where (row, pair p) goes: its panel, then [pair][row within the panel].
    const int64_t width = rows_ ? kMR : panel_width(row / kNR);
    uint32_t* out = rows_ ? d + (row / kMR) * pairs() * kMR + row % kMR : d + (row / kNR) * pairs() * kNR + row % kNR;
    for (int64_t p = 0; p < pairs(); ++p) {
      const uint32_t lo = round_to_bf16(src[2 * p]);
      const uint32_t hi = 2 * p + 1 < k ? round_to_bf16(src[2 * p + 1]) : 0u;
      out[p * width] = lo | (hi << 16);
    }
  }
}

void PackedWeights::unpack(float* w, int64_t ldw) const {
  const uint32_t* d = data_.get();
  for (int64_t row = 0; row < n_; ++row) {
    float* dst = w + row * ldw;
    const int64_t width = rows_ ? kMR : panel_width(row / kNR);
    const uint32_t* in = rows_ ? d + (row / kMR) * pairs() * kMR + row % kMR : d + (row / kNR) * pairs() * kNR + row % kNR;
    for (int64_t p = 0; p < pairs(); ++p) {
      const uint32_t v = in[p * width];
      dst[2 * p] = bf16_to_float(uint16_t(v & 0xffffu));
      if (2 * p + 1 < k_) dst[2 * p + 1] = bf16_to_float(uint16_t(v >> 16));
    }
  }
}

namespace {

// The packed A block of one call (grows only; one per calling thread).
struct ABuffer {
  uint32_t* data = nullptr;
  int64_t capacity = 0;
  ~ABuffer() { std::free(data); }
  uint32_t* get(int64_t dwords) {
    if (dwords > capacity) {
      std::free(data);
      data = static_cast<uint32_t*>(std::aligned_alloc(64, size_t((dwords * 4 + 63) / 64 * 64)));
      if (!data) {
        capacity = 0;
        throw std::bad_alloc();
      }
      capacity = dwords;
    }
    return data;
  }
};
thread_local ABuffer tl_a;

}  // namespace

void gemm(const float* a, int64_t lda, int64_t m, const PackedWeights& w, float* c, int64_t ldc, int threads) {
  if (m == 0) return;
  const int64_t n = w.n(), k = w.k();
  if (!native()) {
    std::vector<float> ar(size_t(m * k)), wr(size_t(n * k));
    for (int64_t i = 0; i < m; ++i) round_array(a + i * lda, ar.data() + i * k, k);
    w.unpack(wr.data(), k);
    if (threads > 1)
      sgemm(false, true, m, n, k, 1.f, ar.data(), k, wr.data(), k, 0.f, c, ldc);
    else
      sgemm_single_thread(false, true, m, n, k, 1.f, ar.data(), k, wr.data(), k, 0.f, c, ldc);
    return;
  }
  uint32_t* packed = tl_a.get(packed_a_dwords(m, k));
  pack_a_mxk(a, lda, m, k, packed);
  const int64_t panels = w.panels();
  // Few rows (a linear layer): threads take whole W panels, so each streams its own share
  // of the weights once; worth waking them only for large weights.
  const int team = int(std::min<int64_t>(panels, m * n * k >= (int64_t(1) << 20) ? threads : 1));
  if (team <= 1) {
    multiply(packed, m, w, 0, panels, c, ldc);
    return;
  }
  run_team(team, [&](int t, int nt) {
    const auto [q0, q1] = team_share(panels, t, nt);
    if (q1 > q0) multiply(packed, m, w, q0, q1, c + q0 * kNR, ldc);
  });
}

double measure_peak(double seconds) {
  CN_CHECK(seconds > 0 && seconds <= 60, "measure_bf16_peak: seconds must be in (0, 60], got ", seconds);
  if (!cpu_has_avx512_bf16()) return 0.0;
  return cnnnative::measure_peak("measure_bf16_peak", seconds, 1, /*thread_cpu_time=*/true, dpbf16_loop);
}

}  // namespace bf16
}  // namespace cnnnative
