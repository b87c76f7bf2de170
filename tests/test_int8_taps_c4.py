"""The implicit GEMM over taps on images stored 4 channels per pixel (quant::gemm_s8u8_s32_taps_c4,
the AVX512-VNNI path of the taps convolutions; other ISAs take the one-channel planes) against
the integer reference of test_int8_conv_paths, bit for bit, under every ISA this CPU has:
channel counts that are not multiples of 4, 16 or 64 (the last quad's repeated channels meet
zero weights), output channels that are not multiples of the 6-row tile, extended grids whose
last panel has 1 to 15 columns, stride 1 and 2 with and without padding, groups whose channels
per group are not a multiple of 4, batch 1 and 2, and two threads."""
import numpy as np
import pytest

from cnnnative import _core
from int8_settings import isa_with_int8_kernels  # noqa: F401 (the `isa` fixture: every int8 kernel)
from test_int8_conv_paths import run_case, run_packed_under_every_isa
from thread_count import on_threads

CASES = [
    # (N, C, K, H, W, R, stride, pad, groups)
    (1, 3, 7, 10, 10, 3, 1, 1, 1),      # 3 channels: one quad, its 4th channel repeated
    (2, 5, 13, 9, 12, 3, 1, 1, 1),      # 5 channels: two quads, 13 rows: a 1-row tile
    (1, 13, 6, 12, 9, 3, 1, 0, 1),      # no padding: the last tap reads the plane's last pixel
    (1, 17, 11, 16, 16, 3, 1, 1, 1),    # 17 channels (16 + 1)
    (2, 67, 19, 9, 9, 3, 1, 1, 1),      # 67 channels (64 + 3), batch 2
    (1, 130, 65, 9, 9, 3, 1, 1, 1),     # 130 channels, 65 rows (64 + 1)
    (1, 6, 9, 17, 23, 3, 2, 1, 1),      # stride 2, odd sizes: four phase planes
    (2, 9, 8, 20, 18, 3, 2, 0, 1),      # stride 2, no padding
    (1, 10, 12, 13, 13, 3, 1, 1, 2),    # groups: 5 channels per group
    (1, 15, 9, 18, 16, 3, 2, 1, 3),     # groups, stride 2
    (1, 4, 5, 9, 70, 3, 2, 1, 1),       # stride 2 over rows of 70: a 64-pixel step and a tail
    (1, 8, 8, 12, 12, 5, 1, 2, 1),      # 5x5, padding 2
    (2, 7, 10, 15, 14, 3, 1, 2, 1, 2),  # dilation 2
]


@pytest.mark.parametrize("case", CASES)
def test_taps_c4_exact(isa, rng, case):
    case = (case + (1,))[:10]
    for act, residual, out_u8 in (("relu", False, True), ("relu6", True, True), ("none", False, False)):
        run_case(*case, act, residual, out_u8, rng)


@pytest.mark.parametrize("case", [
    (1, 37, 70, 30, 30, 3, 1, 1, 1, 1),  # one image: pixel blocks split between the threads
    (2, 21, 24, 31, 29, 3, 2, 1, 1, 1),  # two images, stride 2
    (1, 66, 140, 14, 14, 3, 1, 1, 1, 1),  # one pixel block: output channels in two blocks
])
def test_taps_c4_two_threads(rng, case):
    on_threads(2, lambda: run_case(*case, "relu", True, True, rng))


def test_taps_c4_extreme_values(isa):
    # All inputs 255 against weights of -128 and 127: the largest sums of the 4-channel
    # products, exact; the zero point 0 makes the padding add nothing.
    N, C, K, H = 1, 70, 12, 9
    f32 = np.float32
    x8 = np.full((N, C, H, H), 255, np.uint8)
    wq = np.where(np.arange(K * C * 9).reshape(K, C, 3, 3) % 2 == 0, -128, 127).astype(np.int8)
    wq[: K // 2] = -128
    in_q, out_q = (1.0, 0), (1.0, 0)
    mult = np.full(K, 1.0, f32)
    bias = np.zeros(K, f32)
    plan = _core.EnginePlan([N, C, H, H])
    xb = _core.plan_add_quantize(plan, 0, *in_q)
    y = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (1, 1), (1,) * 4, (1, 1), 1, "none", -1, (1.0, 0),
                                 False, out_q)
    plan.finalize(y)
    got = plan.run(x8.astype(f32))
    xp = np.pad(x8, ((0, 0), (0, 0), (1, 1), (1, 1))).astype(np.int64)
    want = np.zeros((K, H, H), np.int64)
    for r in range(3):
        for s in range(3):
            want += np.einsum("kc,chw->khw", wq[:, :, r, s].astype(np.int64), xp[0, :, r:r + H, s:s + H])
    np.testing.assert_array_equal(got[0], want.astype(f32))


# Small images whose output channels fill 64-row tiles: the taps run with lanes along M
# (quant::gemm_s8u8_s32_taps_c4t) where the CPU has AVX512-VNNI.
LANES_M_CASES = [
    # (N, C, K, H, W, R, stride, pad, groups)
    (1, 37, 64, 14, 14, 3, 1, 1, 1),    # 196 pixels, 37 channels (the last quad one real)
    (2, 70, 128, 7, 7, 3, 1, 1, 1),     # 49 pixels, batch 2, two row blocks of 64
    (1, 16, 64, 15, 13, 3, 2, 1, 1),    # stride 2, odd sizes: 8 x 7 outputs
    (1, 21, 128, 9, 11, 3, 1, 0, 1),    # no padding
    (2, 10, 128, 12, 12, 3, 1, 1, 2),   # groups: 5 channels and 64 rows per group
    (1, 8, 256, 6, 6, 3, 1, 1, 1),      # 36 pixels: 6 full pixel tiles, 4 row tiles
    (1, 12, 64, 10, 10, 5, 1, 2, 1),    # 5x5
    (1, 9, 120, 7, 7, 3, 1, 1, 1),      # 120 rows: a last row tile of 56
    (1, 8, 64, 3, 3, 3, 1, 1, 1),       # 9 pixels: tiles of 5 and 4
    (2, 8, 64, 2, 1, 3, 1, 1, 1),       # 2 pixels: one tile of 2
]


def lanes_of(case):
    N, C, K, H, W, R, stride, pad, groups = case
    plan = _core.EnginePlan([N, C, H, W])
    xb = _core.plan_add_quantize(plan, 0, 0.02, 3)
    y = _core.plan_add_conv_int8(plan, xb, (0.02, 3), np.ones((K, C // groups, R, R), np.int8),
                                 np.ones(K, np.float32), np.zeros(K, np.float32), (stride, stride), (pad,) * 4,
                                 (1, 1), groups, "none", -1, (1.0, 0), True, (1.0, 0))
    plan.finalize(_core.plan_add_dequantize(plan, y, 1.0, 0))
    node = plan.nodes()[1]
    return node["method"], node.get("lanes")


@pytest.mark.parametrize("case", LANES_M_CASES)
def test_taps_lanes_m_exact(isa, rng, case):
    if isa == "avx512" and _core.int8_isa() == "avx512_vnni":
        assert lanes_of(case) == ("taps", "m")
    for act, residual, out_u8 in (("relu", False, True), ("relu6", True, True), ("none", False, False)):
        run_case(*case, 1, act, residual, out_u8, rng)


@pytest.mark.parametrize("case", [LANES_M_CASES[1], LANES_M_CASES[4]])
def test_taps_lanes_m_weights_run_under_another_isa(rng, case):
    # Weights packed with lanes along M, run by every ISA (the others repack: correct, slower).
    run_packed_under_every_isa(case, rng)


def test_taps_lanes_m_two_threads(rng):
    on_threads(2, lambda: run_case(1, 64, 256, 14, 14, 3, 1, 1, 1, 1, "relu", True, True, rng))
