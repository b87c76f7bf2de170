// Per-ISA plane kernels behind depthwise_s8u8_s32 (depthwise_s8.cc drives them).
#pragma once
#include <cstdint>

#include "cnnnative/conv_params.h"

namespace cnnnative::quant::detail {

// One output plane y (OH x OW, dense) from one zero-point-padded input plane xp: row 0 of
// xp is ih = -pad_top and column 0 is iw = -pad_left, row stride `ld`, so every tap is in
// bounds; at least kDwSlack readable bytes follow the last row (vector over-reads).
// w: the channel's R x S int8 taps.
using DwPlaneKernel = void (*)(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y);

constexpr int64_t kDwSlack = 128;

void dw_plane_scalar(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y);
void dw_plane_avx2(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y);
void dw_plane_avx512(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y);
// AVX512-VNNI + VBMI (vpdpbusd on vpermb-gathered taps), where dw_vnni_supports(p).
void dw_plane_vnni(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y);
bool dw_vnni_supports(const ConvParams& p);
bool cpu_has_avx512_vbmi();

}  // namespace cnnnative::quant::detail
