"""conv_int8 nodes against the integer reference of test_quantize_exact, bit for bit, under
every ISA this CPU has (the `isa` fixture): the output stage's vector width (16-lane AVX-512,
4-lane SSE2) and row tails; convolutions as the implicit GEMM over padded phase planes
(several pixel blocks cutting image rows, odd channel counts, padding, dilation, groups,
strides 1-3) and through im2col; batch 1 and 2, uint8 and float32 residuals and outputs; weights
packed under one ISA and run under another."""
import numpy as np
import pytest

from cnnnative import _core
from int8_settings import SETTINGS, int8_setting, isa_with_int8_kernels  # noqa: F401 (`isa`: every int8 kernel)
from test_quantize_exact import requant_ref

f32 = np.float32


def conv_ref(x, in_q, wq, mult, bias, stride, pad, groups, dil, act, out_q, res=None, res_q=None):
    """test_quantize_exact.conv_ref with dilation: exact int64 sums, then the output stage."""
    n, c, h, w = x.shape
    k, cpg, R, S = wq.shape
    kpg = k // groups
    xp = np.full((n, c, h + 2 * pad, w + 2 * pad), in_q[1], np.int64)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    oh = (h + 2 * pad - dil * (R - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (S - 1) - 1) // stride + 1
    cols = np.empty((n, c, R, S, oh, ow), np.int64)
    for r in range(R):
        for s in range(S):
            cols[:, :, r, s] = xp[:, :, r * dil:r * dil + stride * oh:stride, s * dil:s * dil + stride * ow:stride]
    acc = np.concatenate([np.einsum("mk,nkp->nmp", wq[g * kpg:(g + 1) * kpg].reshape(kpg, -1).astype(np.int64),
                                    cols[:, g * cpg:(g + 1) * cpg].reshape(n, cpg * R * S, oh * ow))
                          for g in range(groups)], axis=1)
    corr = -in_q[1] * wq.reshape(k, -1).astype(np.int64).sum(1)
    ys = [requant_ref(acc[i], corr, mult, bias, act, out_q, None if res is None else res[i].reshape(k, -1), res_q)
          for i in range(n)]
    return np.stack(ys).reshape(n, k, oh, ow)

CASES = [
    # (N, C, K, H, W, R, stride, pad, groups)
    (1, 8, 16, 9, 11, 3, 1, 1, 1),      # rows of 11: a 16-lane tail in every row
    (2, 5, 7, 23, 23, 3, 1, 1, 1),      # 529 pixels: three pixel blocks, odd channels
    (1, 16, 24, 30, 17, 3, 2, 1, 1),    # stride 2
    (2, 8, 12, 13, 40, 3, 1, 0, 1),     # no padding, wide rows
    (1, 12, 20, 19, 19, 3, 1, 2, 2),    # padding 2, groups
    (2, 16, 33, 21, 21, 1, 1, 0, 1),    # plain 1x1 over 441 pixels
    (1, 6, 9, 64, 5, 3, 1, 1, 1),       # narrow rows, several rows per block
    (1, 8, 8, 7, 7, 5, 1, 2, 1),        # 5x5 on 49 pixels: im2col
    (1, 8, 8, 11, 12, 5, 1, 2, 1),      # 5x5
    (2, 7, 10, 15, 14, 3, 1, 2, 1, 2),  # dilation 2
    (1, 4, 6, 6, 30, 3, 1, 0, 1),       # 4 x 28 outputs: few rows
    (2, 10, 12, 13, 15, 1, 2, 0, 1),    # strided 1x1: im2col
    (2, 10, 12, 25, 27, 3, 2, 0, 1),    # stride 2: four phase planes
    (1, 4, 8, 31, 34, 5, 3, 2, 1),      # stride 3, 5x5: nine phase planes
    (1, 6, 8, 20, 3, 3, 1, 2, 1),       # 3 columns, padding 2: too many extra columns, im2col
    (1, 4, 8, 5, 71, 3, 2, 1, 1),       # stride 2, wide odd rows: the vector phase split, padding 1
    (1, 4, 8, 8, 66, 3, 2, 0, 1),       # ... even rows, no padding
    (1, 4, 8, 3, 67, 1, 2, 0, 1),       # strided 1x1 over wide rows: the vector even-column gather
    (1, 4, 8, 9, 10, 3, 3, 1, 1),       # stride 3 on 12 pixels: im2col from padded planes
]


def run_case(N, C, K, H, W, R, stride, pad, groups, dil, act, residual, out_u8, rng, run_setting=None):
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
        plan, xb, in_q, wq, mult, bias, (stride, stride), (pad,) * 4, (dil, dil), groups, a, res, res_q, u8, q)
    res = conv(-1, "none", True, res_q) if residual else -1
    y = conv(res, act, out_u8, out_q if out_u8 else (1.0, 0))
    plan.finalize(_core.plan_add_dequantize(plan, y, *out_q) if out_u8 else y)
    if run_setting:
        with int8_setting(run_setting):
            got = plan.run(xf)
    else:
        got = plan.run(xf)
    args = (x8, in_q, wq, mult, bias, stride, pad, groups, dil)
    r8 = conv_ref(*args, "none", res_q) if residual else None
    want = conv_ref(*args, act, out_q if out_u8 else None, r8, res_q if residual else None)
    if out_u8:
        want = (f32(out_q[0]) * (want.astype(np.int32) - out_q[1])).astype(f32)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", CASES)
def test_conv_int8_paths(isa, rng, case):
    case = (case + (1,))[:10]
    for act, residual, out_u8 in (("relu", False, True), ("relu6", True, True), ("none", False, False)):
        run_case(*case, act, residual, out_u8, rng)


def run_packed_under_every_isa(case, rng):
    """case's weights packed under each int8 setting (ISA, AVX2-class kernel) the CPU has and
    run under each (relu, residual)."""
    for pack_setting in SETTINGS:
        for run_setting in SETTINGS:
            with int8_setting(pack_setting):
                run_case(*case, 1, "relu", True, True, rng, run_setting=run_setting)


@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[2]])
def test_weights_packed_under_another_isa(rng, case):
    run_packed_under_every_isa(case, rng)


def test_output_stage_nan_and_extremes(isa):
    # A NaN bias stays NaN through relu in float output and quantizes to relu's lower clamp,
    # the zero point (the real 0); huge values clamp.
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
        want = requant_ref(acc, np.zeros(K, np.int64), mult, bias, "relu", (0.05, 3) if out_u8 else None)
        if out_u8:
            assert (want[3] == 3).all() and (want[-3:] == 255).all()
            want = (f32(0.05) * (want.astype(np.int32) - 3)).astype(f32)
        else:
            assert np.isnan(want[3]).all()
        np.testing.assert_array_equal(got.reshape(K, 18), want)


@pytest.mark.parametrize("case", [
    (2, 32, 40, 36, 37, 3, 1, 1, 1, 1),   # two images
    (1, 32, 24, 45, 44, 3, 2, 1, 1, 1),   # one image: pixel blocks of whole panels
    (1, 96, 160, 14, 14, 1, 1, 0, 1, 1),  # one pixel block: output channels in two blocks
    (1, 32, 130, 12, 12, 3, 1, 1, 1, 1),  # the same through the taps
    (1, 40, 64, 20, 20, 3, 1, 1, 1, 1),   # 3x3 through taps, blocks of 64 pixels
])
def test_conv_int8_two_threads(rng, case):
    # Enough work (over 2^21 multiply-adds) for the node to split padding and GEMM items.
    before = _core.get_num_threads()
    _core.set_num_threads(2)
    try:
        run_case(*case, "relu", True, True, rng)
    finally:
        _core.set_num_threads(before)


def test_conv_int8_taps_batch_in_chunks(rng):
    # 256 channels of 129 x 129 padded pixels are over 4 MiB: the node pads (and runs) one
    # image at a time, three chunks here. Reference: exact sums tap by tap (float64 matmuls
    # of integers below 2^53).
    N, C, K, H = 3, 256, 5, 127
    x8 = rng.integers(0, 256, (N, C, H, H)).astype(np.uint8)
    in_q = (0.02, 77)
    wq = rng.integers(-127, 128, (K, C, 3, 3)).astype(np.int8)
    mult = (f32(in_q[0]) * rng.uniform(1e-5, 1e-4, K)).astype(f32)
    bias = rng.normal(0, 0.5, K).astype(f32)
    out_q = (0.05, 3)
    plan = _core.EnginePlan([N, C, H, H])
    xb = _core.plan_add_quantize(plan, 0, *in_q)
    y = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (1, 1), (1,) * 4, (1, 1), 1, "relu", -1, (1.0, 0),
                                 True, out_q)
    plan.finalize(_core.plan_add_dequantize(plan, y, *out_q))
    got = plan.run((f32(in_q[0]) * (x8.astype(np.int32) - in_q[1])).astype(f32))
    xp = np.pad(x8, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=in_q[1]).astype(np.float64)
    corr = -in_q[1] * wq.reshape(K, -1).astype(np.int64).sum(1)
    for i in range(N):
        acc = np.zeros((K, H * H))
        for r in range(3):
            for s in range(3):
                acc += wq[:, :, r, s].astype(np.float64) @ xp[i, :, r:r + H, s:s + H].reshape(C, -1)
        want = requant_ref(acc.astype(np.int64), corr, mult, bias, "relu", out_q)
        np.testing.assert_array_equal(got[i].reshape(K, -1), (f32(out_q[0]) * (want.astype(np.int32) - 3)).astype(f32))


@pytest.mark.parametrize("act", ["silu", "hardswish", "sigmoid", "hardsigmoid", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("case", [CASES[1], CASES[5], (2, 12, 12, 9, 11, 3, 2, 1, 12)])  # taps, 1x1, depthwise
def test_conv_int8_float_activations(isa, rng, act, case):
    # The stage up to the residual, then the engine's own float kernel for the activation
    # (_core.<act>, the eager op), then the quantization: bit for bit.
    N, C, K, H, W, R, stride, pad, groups = case
    x8 = rng.integers(0, 256, (N, C, H, W)).astype(np.uint8)
    in_q = (0.02, int(rng.integers(0, 256)))
    wq = rng.integers(-127, 128, (K, C // groups, R, R)).astype(np.int8)
    mult = (f32(in_q[0]) * rng.uniform(1e-4, 3e-3, K)).astype(f32)
    bias = rng.normal(0, 0.5, K).astype(f32)
    out_q, res_q = (0.02, 40), (0.03, 10)
    for residual, out_u8 in ((False, True), (True, True), (False, False)):
        plan = _core.EnginePlan([N, C, H, W])
        xb = _core.plan_add_quantize(plan, 0, *in_q)
        conv = lambda res, a, u8, q: _core.plan_add_conv_int8(  # noqa: E731
            plan, xb, in_q, wq, mult, bias, (stride, stride), (pad,) * 4, (1, 1), groups, a, res, res_q, u8, q)
        res = conv(-1, "none", True, res_q) if residual else -1
        y = conv(res, act, out_u8, out_q if out_u8 else (1.0, 0))
        plan.finalize(_core.plan_add_dequantize(plan, y, *out_q) if out_u8 else y)
        got = plan.run((f32(in_q[0]) * (x8.astype(np.int32) - in_q[1])).astype(f32))
        args = (x8, in_q, wq, mult, bias, stride, pad, groups, 1)
        r8 = conv_ref(*args, "none", res_q) if residual else None
        v = conv_ref(*args, "none", None, r8, res_q if residual else None)
        want = getattr(_core, act)(np.ascontiguousarray(v, f32))
        if out_u8:
            t = (want * (f32(1) / f32(out_q[0]))).astype(f32) + f32(out_q[1])
            q = np.rint(np.clip(t, 0, 255)).astype(np.int32)
            want = (f32(out_q[0]) * (q - out_q[1])).astype(f32)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (0, 2, 2, 0), (1, 0, 0, 1), (2, 1, 1, 2), (0, 0, 1, 0)])
def test_conv_int8_taps_asymmetric_padding(isa, rng, pads):
    # Stride-1 taps over planes whose rows share their padding (W + max(left, right) bytes
    # per row): every (top, bottom, left, right) against the reference on the pre-padded image.
    N, C, K, H, W, R = 1, 8, 12, 11, 13, 3
    top, bottom, left, right = pads
    x8 = rng.integers(0, 256, (N, C, H, W)).astype(np.uint8)
    in_q, out_q = (0.02, int(rng.integers(0, 256))), (0.05, 3)
    wq = rng.integers(-127, 128, (K, C, R, R)).astype(np.int8)
    mult = (f32(in_q[0]) * rng.uniform(1e-4, 3e-3, K)).astype(f32)
    bias = rng.normal(0, 0.5, K).astype(f32)
    plan = _core.EnginePlan([N, C, H, W])
    xb = _core.plan_add_quantize(plan, 0, *in_q)
    y = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (1, 1), pads, (1, 1), 1, "relu", -1, (1.0, 0),
                                 True, out_q)
    plan.finalize(_core.plan_add_dequantize(plan, y, *out_q))
    got = plan.run((f32(in_q[0]) * (x8.astype(np.int32) - in_q[1])).astype(f32))
    xp = np.full((N, C, H + top + bottom, W + left + right), in_q[1], np.uint8)
    xp[:, :, top:top + H, left:left + W] = x8
    want = conv_ref(xp, in_q, wq, mult, bias, 1, 0, 1, 1, "relu", out_q)
    np.testing.assert_array_equal(got, (f32(out_q[0]) * (want.astype(np.int32) - out_q[1])).astype(f32))


def test_an_absurd_stride_builds_at_once_and_computes_the_first_row():
    """A plan file may give any stride up to 2^31 - 1: the taps path keeps one entry per
    stride phase, so such strides take im2col (the plan loader fuzzer's stride of 2^30 had
    it allocate 6 GB). The one output row equals the stride-1 convolution's first."""
    rng = np.random.default_rng(0)
    w = rng.integers(-100, 100, (8, 8, 1, 3)).astype(np.int8)
    mult, bias = np.full(8, 1e-3, np.float32), np.zeros(8, np.float32)
    x = rng.standard_normal((1, 8, 2, 100)).astype(np.float32)
    outs, methods = [], []
    for stride in ((2**30, 1), (1, 1)):
        plan = _core.EnginePlan([1, 8, 2, 100], "auto")
        q = _core.plan_add_quantize(plan, 0, 0.05, 128)
        out = _core.plan_add_conv_int8(plan, q, (0.05, 128), w, mult, bias, stride, (0, 0, 0, 0), (1, 1), 1, "none",
                                       -1, (1.0, 0), False, (1.0, 0))
        plan.finalize(out)
        outs.append(plan.run(x, False, None))
        methods.append(plan.nodes()[-1]["method"])
    assert methods == ["im2col", "taps"]
    assert outs[0].shape == (1, 8, 1, 98)
    np.testing.assert_array_equal(outs[0][:, :, 0], outs[1][:, :, 0])


def test_output_stage_extremes_equal_on_every_isa():
    # Non-finite and huge per-channel multipliers and biases: the uint8 output stage gives
    # the same bytes on every ISA (AVX-512 rows of 16 lanes and a masked tail, SSE2 rows:
    # NaN -> 0, +inf -> 255, -inf -> 0), with and without relu.
    rng = np.random.default_rng(5)
    C, K, H = 8, 16, 12  # 144 pixels: whole vectors and a tail
    x8 = rng.integers(0, 256, (1, C, H, H)).astype(np.uint8)
    in_q, out_q = (0.02, 100), (0.05, 3)
    wq = rng.integers(-127, 128, (K, C, 1, 1)).astype(np.int8)
    mult = (f32(in_q[0]) * rng.uniform(1e-4, 3e-3, K)).astype(f32)
    mult[:3] = np.inf, 1e30, -1e30
    bias = rng.normal(0, 0.5, K).astype(f32)
    bias[3:10] = np.nan, np.inf, -np.inf, 1e20, -1e20, 12.5, -0.02
    xf = (f32(in_q[0]) * (x8.astype(np.int32) - in_q[1])).astype(f32)
    before = _core.get_isa()
    try:
        for act in ("none", "relu", "relu6"):
            plan = _core.EnginePlan([1, C, H, H])
            xb = _core.plan_add_quantize(plan, 0, *in_q)
            y = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (1, 1), (0,) * 4, (1, 1), 1, act, -1,
                                         (1.0, 0), True, out_q)
            plan.finalize(_core.plan_add_dequantize(plan, y, *out_q))
            outs = []
            for isa in ("scalar", "avx2", "avx512"):
                _core.set_isa(isa)
                outs.append(plan.run(xf))
            np.testing.assert_array_equal(outs[0], outs[1])
            np.testing.assert_array_equal(outs[0], outs[2])
            assert np.isfinite(outs[0]).all()
    finally:
        _core.set_isa(before)
