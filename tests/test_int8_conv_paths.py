"""conv_int8 nodes against the integer reference of test_quantize_exact, bit for bit, under
every ISA this CPU has (the `isa` fixture): the output stage's vector width (16-lane AVX-512,
4-lane SSE2) and row tails, the unfolding of 3x3 convolutions over several pixel blocks and
image rows (odd sizes, padding, stride 2, batch 1 and 2), uint8 and float32 residuals and
outputs."""
import numpy as np
import pytest

from cnnnative import _core
from test_quantize_exact import conv_ref, requant_ref

f32 = np.float32

CASES = [
    # (N, C, K, H, W, R, stride, pad, groups)
    (1, 8, 16, 9, 11, 3, 1, 1, 1),      # rows of 11: a 16-lane tail in every row
    (2, 5, 7, 23, 23, 3, 1, 1, 1),      # 529 pixels: three pixel blocks, odd channels
    (1, 16, 24, 30, 17, 3, 2, 1, 1),    # stride 2
    (2, 8, 12, 13, 40, 3, 1, 0, 1),     # no padding, wide rows
    (1, 12, 20, 19, 19, 3, 1, 2, 2),    # padding 2, groups
    (2, 16, 33, 21, 21, 1, 1, 0, 1),    # plain 1x1 over 441 pixels
    (1, 6, 9, 64, 5, 3, 1, 1, 1),       # narrow rows, several rows per block
    (1, 8, 8, 7, 7, 5, 1, 2, 1),        # 5x5
]


def run_case(N, C, K, H, W, R, stride, pad, groups, act, residual, out_u8, rng):
    x8 = rng.integers(0, 256, (N, C, H, W)).astype(np.uint8)
    in_q = (0.02, int(rng.integers(0, 256)))
    wq = rng.integers(-127, 128, (K, C // groups, R, R)).astype(np.int8)
    mult = (f32(in_q[0]) * rng.uniform(1e-4, 3e-3, K)).astype(f32)
    bias = rng.normal(0, 0.5, K).astype(f32)
    out_q = (0.05, 3)
    res_q = (0.03, 10)
    xf = (f32(in_q[0]) * (x8.astype(np.int32) - in_q[1])).astype(f32)
    plan = _core.EnginePlan([N, C, H, W])
    xb = _core.plan_add_quantize(plan, 0, in_q[0], in_q[1])
    conv = lambda res, a, u8, q: _core.plan_add_conv_int8(  # noqa: E731
        plan, xb, in_q, wq, mult, bias, (stride, stride), (pad,) * 4, (1, 1), groups, a, res, res_q, u8, q)
    res = conv(-1, "none", True, res_q) if residual else -1
    y = conv(res, act, out_u8, out_q if out_u8 else (1.0, 0))
    plan.finalize(_core.plan_add_dequantize(plan, y, *out_q) if out_u8 else y)
    got = plan.run(xf)
    args = (x8, in_q, wq, mult, bias, stride, pad, groups)
    r8 = conv_ref(*args, "none", res_q) if residual else None
    want = conv_ref(*args, act, out_q if out_u8 else None, r8, res_q if residual else None)
    if out_u8:
        want = (f32(out_q[0]) * (want.astype(np.int32) - out_q[1])).astype(f32)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", CASES)
def test_conv_int8_paths(isa, rng, case):
    for act, residual, out_u8 in (("relu", False, True), ("relu6", True, True), ("none", False, False)):
        run_case(*case, act, residual, out_u8, rng)


def test_output_stage_nan_and_extremes(isa):
    # A NaN bias stays NaN through relu in float output and quantizes to 0; huge values clamp.
    K = 19
    x8 = np.full((1, 4, 3, 6), 200, np.uint8)
    in_q = (0.5, 0)
    wq = np.full((K, 4, 1, 1), 127, np.int8)
    mult = np.full(K, 10.0, f32)
    bias = np.linspace(-1e6, 1e6, K).astype(f32)
    bias[3] = np.nan
    for out_u8 in (True, False):
        plan = _core.EnginePlan([1, 4, 3, 6])
        xb = _core.plan_add_quantize(plan, 0, *in_q)
        y = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (1, 1), (0,) * 4, (1, 1), 1, "relu", -1,
                                     (1.0, 0), out_u8, (0.05, 3) if out_u8 else (1.0, 0))
        plan.finalize(_core.plan_add_dequantize(plan, y, 0.05, 3) if out_u8 else y)
        xf = (f32(in_q[0]) * x8.astype(f32)).astype(f32)
        got = plan.run(xf)
        acc = np.full((K, 18), 4 * 200 * 127, np.int64)
        want = requant_ref(acc, np.zeros(K, np.int64), mult, bias, "relu", None)
        assert np.isnan(want[3]).all()
        if out_u8:  # the documented rounding, NaN -> 0
            t = (want * (f32(1) / f32(0.05))).astype(f32) + f32(3)
            q = np.rint(np.clip(np.where(np.isnan(t), f32(0), t), 0, 255)).astype(np.int32)
            want = (f32(0.05) * (q - 3)).astype(f32)
        np.testing.assert_array_equal(got.reshape(K, 18), want)
