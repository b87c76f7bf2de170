"""int8 engine nodes against an integer numpy reference, bit for bit: a conv_int8 node
(uint8 image, int8 weights, exact int32 sums, then the requantizing output stage of
cpp/src/engine/int8_nodes.h: + correction, * mult + bias, + residual, ReLU, rint, clamp)
with padding, stride, groups and depthwise; linear_int8; quantize / dequantize; the
uint8 pools and concat."""
import numpy as np
import pytest

from cnnnative import _core
from int8_settings import isa_with_int8_kernels  # noqa: F401 (the `isa` fixture: every int8 kernel)

f32 = np.float32


def unfold(x, R, S, stride, pad, zero):
    """(N, C, H, W) uint8 -> (N, C*R*S, OH*OW) int64 with `zero` in the padding."""
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * pad, w + 2 * pad), zero, np.int64)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    oh, ow = (h + 2 * pad - R) // stride + 1, (w + 2 * pad - S) // stride + 1
    cols = np.empty((n, c, R, S, oh, ow), np.int64)
    for r in range(R):
        for s in range(S):
            cols[:, :, r, s] = xp[:, :, r:r + stride * oh:stride, s:s + stride * ow:stride]
    return cols.reshape(n, c * R * S, oh * ow), oh, ow


def requant_ref(acc, corr, mult, bias, act, out_q, res=None, res_q=None):
    """The documented output stage (cpp/src/engine/int8_nodes.h): the node's parameters
    folded per channel in float64 and rounded to float32, then one float32 rounding at a time."""
    f64 = np.float64  # the engine holds scales as float32
    inv, zero = (f64(1) / f64(f32(out_q[0])), f64(out_q[1])) if out_q is not None else (f64(1), f64(0))
    r_s = f64(f32(res_q[0])) if res is not None and res.dtype == np.uint8 else f64(1)
    a = (mult.astype(f64) * inv).astype(f32)
    b = bias.astype(f64) * inv + zero
    if res is not None and res.dtype == np.uint8:
        b = b - f64(res_q[1]) * r_s * inv
    b = b.astype(f32)
    t = ((acc + corr[:, None]).astype(np.int32).astype(f32) * a[:, None]).astype(f32)
    t = (t + b[:, None]).astype(f32)
    if res is not None:
        t = (t + (res.astype(f32) * f32(r_s * inv)).astype(f32)).astype(f32)
    if out_q is None:
        if act == "relu":
            t = np.maximum(t, f32(0))
        elif act == "relu6":
            t = np.minimum(np.maximum(t, f32(0)), f32(6))
        return t
    lo = f32(out_q[1]) if act in ("relu", "relu6") else f32(0)
    hi = f32(min(255.0, 6.0 * inv + zero)) if act == "relu6" else f32(255)
    return np.rint(np.clip(np.nan_to_num(t, nan=lo), lo, hi)).astype(np.uint8)


def conv_ref(x, in_q, wq, mult, bias, stride, pad, groups, act, out_q, res=None, res_q=None):
    n, c = x.shape[:2]
    k = wq.shape[0]
    kpg, cpg = k // groups, c // groups
    outs = []
    for g in range(groups):
        cols, oh, ow = unfold(x[:, g * cpg:(g + 1) * cpg], wq.shape[2], wq.shape[3], stride, pad, in_q[1])
        w = wq[g * kpg:(g + 1) * kpg].reshape(kpg, -1).astype(np.int64)
        outs.append(np.einsum("mk,nkp->nmp", w, cols))
    acc = np.concatenate(outs, axis=1)  # (N, K, P) exact int64
    assert np.abs(acc).max() < 2**31
    corr = -in_q[1] * wq.reshape(k, -1).astype(np.int64).sum(1)
    ys = [requant_ref(acc[i], corr, mult, bias, act, out_q,
                      None if res is None else res[i].reshape(k, -1), res_q) for i in range(n)]
    return np.stack(ys).reshape(n, k, oh, ow)


def build(shape, fn):
    plan = _core.EnginePlan(list(shape))
    out = fn(plan)
    return plan, out


@pytest.mark.parametrize("case", [
    dict(C=8, K=16, R=3, stride=1, pad=1, groups=1, act="relu", zero=0),
    dict(C=8, K=12, R=3, stride=2, pad=1, groups=1, act="none", zero=37),
    dict(C=16, K=70, R=1, stride=1, pad=0, groups=1, act="relu6", zero=128),  # plain 1x1, 2 channel blocks
    dict(C=8, K=8, R=3, stride=1, pad=1, groups=4, act="relu", zero=5),
    dict(C=12, K=12, R=3, stride=2, pad=1, groups=12, act="relu6", zero=90),  # depthwise
])
@pytest.mark.parametrize("residual", [False, True])
def test_conv_int8_matches_integer_reference(case, residual):
    rng = np.random.default_rng(1)
    C, K, R = case["C"], case["K"], case["R"]
    N, H, W = 2, 9, 11
    x8 = rng.integers(0, 256, (N, C, H, W)).astype(np.uint8)
    in_q = (0.02, case["zero"])
    wq = rng.integers(-127, 128, (K, C // case["groups"], R, R)).astype(np.int8)
    mult = (f32(in_q[0]) * rng.uniform(1e-4, 3e-3, K)).astype(f32)
    bias = rng.normal(0, 0.5, K).astype(f32)
    out_q = (0.05, 3)
    xf = (f32(in_q[0]) * (x8.astype(np.int32) - in_q[1])).astype(f32)

    def fn(plan):
        xb = _core.plan_add_quantize(plan, 0, in_q[0], in_q[1])  # exact: xf is on the grid
        res, res_q, r8 = -1, (1.0, 0), None
        oh = (H + 2 * case["pad"] - R) // case["stride"] + 1
        ow = (W + 2 * case["pad"] - R) // case["stride"] + 1
        if residual:
            res_q = (0.03, 10)
            r_other = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (case["stride"],) * 2,
                                               (case["pad"],) * 4, (1, 1), case["groups"], "none", -1, (1.0, 0),
                                               True, res_q)
            res = r_other
        y = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (case["stride"],) * 2, (case["pad"],) * 4,
                                     (1, 1), case["groups"], case["act"], res, res_q, True, out_q)
        deq = _core.plan_add_dequantize(plan, y, out_q[0], out_q[1])
        plan.finalize(deq)
        return res_q, (oh, ow)

    plan, (res_q, _) = build((N, C, H, W), fn)
    assert np.array_equal(((xf / f32(in_q[0])).astype(f32) + in_q[1]).round(), x8)
    got = plan.run(xf)
    args = (x8, in_q, wq, mult, bias, case["stride"], case["pad"], case["groups"])
    r8 = conv_ref(*args, "none", res_q) if residual else None
    want8 = conv_ref(*args, case["act"], out_q, r8, res_q if residual else None)
    want = (f32(out_q[0]) * (want8.astype(np.int32) - out_q[1])).astype(f32)
    np.testing.assert_array_equal(got, want)


def test_conv_int8_float_output_and_linear():
    rng = np.random.default_rng(2)
    x8 = rng.integers(0, 256, (3, 20)).astype(np.uint8)
    in_q = (0.1, 17)
    wq = rng.integers(-127, 128, (70, 20)).astype(np.int8)
    mult = np.full(70, 0.1 * 0.01, f32)
    bias = rng.normal(0, 1, 70).astype(f32)
    plan = _core.EnginePlan([3, 20])
    xb = _core.plan_add_quantize(plan, 0, *in_q)
    y = _core.plan_add_linear_int8(plan, xb, in_q, wq, mult, bias, "relu", False, (1.0, 0))
    plan.finalize(y)
    xf = (f32(in_q[0]) * (x8.astype(np.int32) - in_q[1])).astype(f32)
    got = plan.run(xf)
    acc = x8.astype(np.int64) @ wq.T.astype(np.int64)  # (3, 70)
    corr = -in_q[1] * wq.astype(np.int64).sum(1)
    want = np.stack([requant_ref(acc[i][:, None], corr, mult, bias, "relu", None)[:, 0] for i in range(3)])
    np.testing.assert_array_equal(got, want)


def test_quantize_dequantize_rounding():
    # NaN quantizes to 0 (the lowest code), as the node documents.
    x = np.array([[-1.0, -0.051, 0.0, 0.025, 0.075, 0.125, 12.7, 100.0, np.nan]], f32)
    plan = _core.EnginePlan([1, 9])
    q = _core.plan_add_quantize(plan, 0, 0.05, 20)
    plan.finalize(_core.plan_add_dequantize(plan, q, 0.05, 20))
    got = plan.run(x)
    t = np.rint(np.clip(np.nan_to_num(x * (f32(1) / f32(0.05)), nan=-1e9) + 20, 0, 255))
    np.testing.assert_array_equal(got, (f32(0.05) * (t - 20)).astype(f32))


def test_uint8_pools_and_concat():
    rng = np.random.default_rng(3)
    x8 = rng.integers(0, 256, (2, 4, 7, 7)).astype(np.uint8)
    q = (0.1, 30)
    xf = (f32(q[0]) * (x8.astype(np.int32) - q[1])).astype(f32)
    plan = _core.EnginePlan([2, 4, 7, 7])
    xb = _core.plan_add_quantize(plan, 0, *q)
    mp = _core.plan_add_max_pool_u8(plan, xb, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False, q, True)
    ap = _core.plan_add_avg_pool_u8(plan, xb, (3, 3), (2, 2), (1, 1, 1, 1), False, True, q, True)
    cat = _core.plan_add_concat_u8(plan, [mp, ap], [q, q], (0.2, 15))
    plan.finalize(_core.plan_add_dequantize(plan, cat, 0.2, 15))
    got = plan.run(xf)
    xp = np.pad(x8.astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1)
    win = np.stack([xp[:, :, r:r + 8:2, s:s + 8:2] for r in range(3) for s in range(3)])
    mx = win.max(0)
    xz = np.pad(x8.astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=q[1])
    avg = np.stack([xz[:, :, r:r + 8:2, s:s + 8:2] for r in range(3) for s in range(3)]).sum(0)
    avg = np.rint((avg.astype(f32) / f32(9))).astype(np.int64)
    both = np.concatenate([mx, avg], 1)
    table = np.clip(np.rint((f32(q[0]) * (np.arange(256) - q[1]).astype(f32)) / f32(0.2)) + 15, 0, 255)
    want8 = table[both]
    np.testing.assert_array_equal(got, (f32(0.2) * (want8 - 15)).astype(f32))


def test_global_pool_u8_to_float_and_type_errors():
    x8 = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5) % 256
    q = (0.5, 7)
    xf = (f32(q[0]) * (x8 - q[1])).astype(f32)
    plan = _core.EnginePlan([2, 3, 5, 5])
    xb = _core.plan_add_quantize(plan, 0, *q)
    plan.finalize(_core.plan_add_global_avg_pool_u8(plan, xb, q, False))
    got = plan.run(xf)
    want = f32(q[0]) * (x8.reshape(2, 3, 25).sum(-1).astype(f32) / f32(25) - f32(q[1]))
    np.testing.assert_allclose(got.reshape(2, 3), want, rtol=1e-6)
    bad = _core.EnginePlan([1, 3, 4, 4])
    u = _core.plan_add_quantize(bad, 0, 0.1, 0)
    with pytest.raises(ValueError, match="uint8"):
        bad.finalize(bad.add_activation(u, "relu"))
    with pytest.raises(ValueError, match="scale must be positive"):
        _core.plan_add_quantize(_core.EnginePlan([1, 3, 4, 4]), 0, 0.0, 0)
    with pytest.raises(ValueError, match="must be a uint8 buffer"):
        _core.plan_add_dequantize(_core.EnginePlan([1, 3, 4, 4]), 0, 0.1, 0)
