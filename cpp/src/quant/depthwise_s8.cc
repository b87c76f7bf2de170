// depthwise_s8u8_s32: validation, zero-point padding, threads and dispatch (see quant.h).
//
// Each input plane is copied once into a buffer padded with the zero point on every
// side, so the plane kernels read every tap without bounds checks and the padding
// contributes zero_point * w exactly; the copy (H*W bytes) is small next to the R*S
// products per output. A channel multiplier m reuses the padded plane m times.
// Plane kernels: vpdpbusd on vpermb-gathered taps (AVX512-VNNI + VBMI, strides and
// dilations whose 16 outputs' taps fit one 64-byte load), else vpmaddwd (AVX-512, or
// AVX2 at 8 outputs per vector), else scalar.
#include <cpuid.h>
#include <algorithm>
#include <cstring>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/quant.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "quant/depthwise_s8_kernels.h"

namespace cnnnative::quant {
namespace detail {

bool cpu_has_avx512_vbmi() {
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    return cpu_supports(Isa::avx512) && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 1));
  }();
  return has;
}

}  // namespace detail

void depthwise_s8u8_s32(const ConvParams& p, const uint8_t* x, uint8_t x_zero_point, const int8_t* w,
                        int32_t* y, bool single_thread) {
  p.validate();
  CN_CHECK(p.groups == p.C && p.K % p.C == 0, "depthwise_s8u8_s32: needs groups == C and K a multiple of C, got ",
           p.to_string());
  CN_CHECK(p.R * p.S <= kMaxK, "depthwise_s8u8_s32: R*S=", p.R * p.S, " exceeds ", kMaxK);
  const int64_t OH = p.output_h(), OW = p.output_w(), mult = p.K / p.C;
  if (p.N == 0 || p.C == 0 || OH <= 0 || OW <= 0) return;
  const int64_t hp = p.H + p.pad_top + p.pad_bottom, ld = p.W + p.pad_left + p.pad_right;
  const size_t plane_bytes = static_cast<size_t>(hp * ld + detail::kDwSlack);
  detail::DwPlaneKernel kernel = detail::dw_plane_scalar;
  if (active_isa() == Isa::avx512)
    kernel = cpu_has_avx512_vnni() && detail::cpu_has_avx512_vbmi() && detail::dw_vnni_supports(p)
                 ? detail::dw_plane_vnni
                 : detail::dw_plane_avx512;
  else if (active_isa() == Isa::avx2)
    kernel = detail::dw_plane_avx2;
  const int64_t planes = p.N * p.C;
  const double work = static_cast<double>(p.output_numel()) * static_cast<double>(p.R * p.S);
  const int threads = (single_thread || work < (1 << 20) || planes < 2) ? 1 : num_threads();
  run_team(threads, [&](int tid, int team) {
    std::vector<uint8_t> buf(plane_bytes, x_zero_point);  // borders stay the zero point
    const auto [nc_begin, nc_end] = team_share(planes, tid, team);
    for (int64_t nc = nc_begin; nc < nc_end; ++nc) {
      const int64_t n = nc / p.C, c = nc % p.C;
      const uint8_t* src = x + nc * p.H * p.W;
      for (int64_t h = 0; h < p.H; ++h)
        std::memcpy(buf.data() + (h + p.pad_top) * ld + p.pad_left, src + h * p.W, static_cast<size_t>(p.W));
      for (int64_t j = 0; j < mult; ++j) {
        const int64_t k = c * mult + j;
        kernel(p, buf.data(), ld, w + k * p.R * p.S, y + (n * p.K + k) * OH * OW);
      }
    }
  });
}

}  // namespace cnnnative::quant
