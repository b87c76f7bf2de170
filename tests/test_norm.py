"""Normalization kernels (batch, group, instance, layer, local response norm) against the
float64 references in ref_norm.py under every ISA, against PyTorch, and against central
finite differences; plus bad inputs, empty batches and conversions.

Tolerances. Outputs are O(1) after normalization; the kernels work in float32 with sums
in float lanes over short blocks and double across blocks, so the error stays a few
float32 ulps whatever the reduction length: FWD_TOL = 2e-5 relative to max(1, |ref|).
Gradients subtract means of products (dy - mean(dy) - xhat * mean(dy * xhat)), which
loses a little more: GRAD_TOL = 1e-4 relative to max(1, |ref|). Local response norm
raises to a power (one more rounding): 3e-5.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import cnnnative
from cnnnative import ops

import ref_norm as ref

FWD_TOL = 2e-5
GRAD_TOL = 1e-4
LRN_TOL = 3e-5


def assert_close(actual, expected, tol, what="", scale=1.0):
    """max |actual - expected| <= tol * max(scale, 1, max |expected|)."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values (an element left unwritten?)"
    scale = max(scale, 1.0, float(np.abs(expected).max())) if expected.size else 1.0
    err = float(np.abs(actual - expected).max()) if expected.size else 0.0
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol} * {scale:.3g}"


def grad_scale(dy, weight, invstd):
    """Size of the terms grad_input cancels (weight * invstd * dy): with few values per
    statistic (2 per channel, say) the result is ~0 while the terms are large, so the
    error is relative to them."""
    w = 1.0 if weight is None else float(np.abs(weight).max())
    inv = float(np.abs(invstd).max()) if np.size(invstd) else 0.0
    return w * inv * float(np.abs(dy).max()) if np.size(dy) else 0.0


def poisoned(fn, *shapes):
    """Calls fn() right after freeing NaN arrays of the output shapes, so the allocator
    (numpy's small-block cache, malloc's free lists) is likely to hand the kernel NaN
    memory: an element it forgets to write then fails assert_close."""
    junk = [np.full(s, np.nan, dtype=np.float32) for s in shapes]
    del junk
    return fn()


def affine(rng, channels, with_affine):
    if not with_affine:
        return None, None
    return (rng.uniform(0.5, 1.5, channels).astype(np.float32),
            rng.standard_normal(channels).astype(np.float32))


def numeric_grad(f, arrays, index, h=1e-6):
    """Central differences of the scalar f(*arrays) with respect to arrays[index]."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    target = base[index]
    grad = np.zeros_like(target)
    for i in np.ndindex(target.shape):
        old = target[i]
        target[i] = old + h
        up = f(*base)
        target[i] = old - h
        down = f(*base)
        target[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def check_fd(analytic, numeric, what):
    """Kernel (float32) gradient against float64 central differences; must not be zero."""
    assert np.abs(numeric).max() > 1e-3, f"{what}: finite-difference gradient is ~0, test is vacuous"
    assert np.abs(analytic).max() > 1e-3, f"{what}: gradient is all zero"
    assert_close(analytic, numeric, GRAD_TOL * 10, what)  # FD truncation error ~h^2, rounding ~1e-10/h


# ---- batch norm ---------------------------------------------------------------------

BN_SHAPES = [(2, 3), (7, 17), (300, 5), (1, 5, 1), (3, 17, 5), (2, 16, 3, 3), (1, 33, 4, 5), (2, 15, 1, 1),
             (2, 3, 17, 19), (1, 2, 64, 65)]


@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("with_affine", [True, False])
def test_batch_norm_matches_reference(isa, rng, shape, training, with_affine):
    c = shape[1]
    count = int(np.prod(shape)) // c
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)
    w, b = affine(rng, c, with_affine)
    rm = rng.standard_normal(c).astype(np.float32)
    rv = rng.uniform(0.5, 2, c).astype(np.float32)
    if training and count == 1:
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            ops.batch_norm(x, rm, rv, w, b, training=True)
        return
    exp_y, exp_m, exp_i, exp_rm, exp_rv = ref.batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5)
    rm_k, rv_k = rm.copy(), rv.copy()
    y, m, i = poisoned(lambda: ops.batch_norm_forward(x, rm_k, rv_k, w, b, training, 0.1, 1e-5),
                       shape, (c,), (c,))
    assert_close(y, exp_y, FWD_TOL, "output")
    assert_close(m, exp_m, FWD_TOL, "save_mean")
    assert_close(i, exp_i, FWD_TOL, "save_invstd")
    assert_close(rm_k, exp_rm, FWD_TOL, "running_mean")
    assert_close(rv_k, exp_rv, FWD_TOL, "running_var")

    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db = poisoned(lambda: ops.batch_norm_backward(dy, x, w, m, i, training), shape, (c,), (c,))
    exp_dx, exp_dw, exp_db = ref.batch_norm_backward(dy, x, w, m, i, training)
    assert_close(dx, exp_dx, GRAD_TOL, "grad_input", grad_scale(dy, w, i))
    if with_affine:
        assert_close(dw, exp_dw, GRAD_TOL, "grad_weight")
        assert_close(db, exp_db, GRAD_TOL, "grad_bias")
    else:
        assert dw is None and db is None


def test_eval_running_stats_may_be_any_array_like(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)  # float64
    exp = ref.batch_norm(x, rm.astype(np.float32), rv.astype(np.float32), None, None, False, 0.1, 1e-5)[0]
    readonly = np.broadcast_to(np.float32(1.0), (3,))
    assert_close(ops.batch_norm(x, rm, rv), exp, FWD_TOL)
    assert_close(ops.batch_norm(x, list(rm), rv[::-1][::-1]), exp, FWD_TOL)
    assert ops.batch_norm(x, readonly, readonly).shape == x.shape
    assert_close(ops.instance_norm(x, rm, rv, use_input_stats=False), exp, FWD_TOL)


def test_batch_norm_training_without_running_stats(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    y = ops.batch_norm(x, None, None, training=True)
    assert_close(y, ref.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)[0], FWD_TOL)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_by_finite_differences(isa, rng, training):
    x = rng.standard_normal((3, 2, 2, 3))
    w = rng.uniform(0.5, 1.5, 2)
    b = rng.standard_normal(2)
    rm, rv = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    r = rng.standard_normal(x.shape)  # loss = sum(r * y)
    loss = lambda x_, w_, b_: float((r * ref.batch_norm(x_, rm, rv, w_, b_, training, 0.1, 1e-5)[0]).sum())
    _, m, i = ops.batch_norm_forward(x, rm.astype(np.float32), rv.astype(np.float32), w, b, training)
    dx, dw, db = ops.batch_norm_backward(r, x, w, m, i, training)
    check_fd(dx, numeric_grad(loss, [x, w, b], 0), "grad_input")
    check_fd(dw, numeric_grad(loss, [x, w, b], 1), "grad_weight")
    check_fd(db, numeric_grad(loss, [x, w, b], 2), "grad_bias")
    # The reference backward is itself checked against the same differences.
    ref_dx = ref.batch_norm_backward(r, x, w, m, i, training)[0]
    np.testing.assert_allclose(ref_dx, numeric_grad(loss, [x, w, b], 0), atol=1e-5)


# ---- group norm / instance norm -----------------------------------------------------

GN_CASES = [((2, 6, 5), 1), ((2, 6, 5), 2), ((2, 6, 5), 3), ((2, 6, 5), 6), ((1, 17, 3, 3), 17),
            ((1, 17, 3, 3), 1), ((3, 32, 2, 3), 8), ((2, 4), 2), ((1, 6, 40, 60), 3),
            ((2, 3, 1, 1), 1)]


@pytest.mark.parametrize("shape,groups", GN_CASES, ids=str)
@pytest.mark.parametrize("with_affine", [True, False])
def test_group_norm_matches_reference(isa, rng, shape, groups, with_affine):
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 - 1).astype(np.float32)
    w, b = affine(rng, c, with_affine)
    y, m, r = poisoned(lambda: ops.group_norm_forward(x, groups, w, b, 1e-5),
                       shape, (shape[0], groups), (shape[0], groups))
    exp_y, exp_m, exp_r = ref.group_norm(x, groups, w, b, 1e-5)
    assert_close(y, exp_y, FWD_TOL, "output")
    assert_close(m, exp_m, FWD_TOL, "mean")
    assert_close(r, exp_r, FWD_TOL, "rstd")
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db = poisoned(lambda: ops.group_norm_backward(dy, x, groups, m, r, w), shape, (c,), (c,))
    exp_dx, exp_dw, exp_db = ref.group_norm_backward(dy, x, groups, m, r, w)
    assert_close(dx, exp_dx, GRAD_TOL, "grad_input", grad_scale(dy, w, r))
    if with_affine:
        assert_close(dw, exp_dw, GRAD_TOL, "grad_weight")
        assert_close(db, exp_db, GRAD_TOL, "grad_bias")
    else:
        assert dw is None and db is None


def test_group_norm_gradients_by_finite_differences(isa, rng):
    x = rng.standard_normal((2, 4, 3))
    w, b = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    r = rng.standard_normal(x.shape)
    loss = lambda x_, w_, b_: float((r * ref.group_norm(x_, 2, w_, b_, 1e-5)[0]).sum())
    _, m, rs = ops.group_norm_forward(x, 2, w, b)
    dx, dw, db = ops.group_norm_backward(r, x, 2, m, rs, w)
    check_fd(dx, numeric_grad(loss, [x, w, b], 0), "grad_input")
    check_fd(dw, numeric_grad(loss, [x, w, b], 1), "grad_weight")
    check_fd(db, numeric_grad(loss, [x, w, b], 2), "grad_bias")
    np.testing.assert_allclose(ref.group_norm_backward(r, x, 2, m, rs, w)[0],
                               numeric_grad(loss, [x, w, b], 0), atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 17, 4, 4), (3, 16, 2, 1)], ids=str)
def test_instance_norm_matches_reference(isa, rng, shape):
    c = shape[1]
    x = rng.standard_normal(shape).astype(np.float32) + 2
    w, b = affine(rng, c, True)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    exp_rm, exp_rv = ref.instance_norm_running(x, rm, rv, 0.1)
    y, m, r = ops.instance_norm_forward(x, rm, rv, w, b, use_input_stats=True)
    exp_y, exp_m, exp_r = ref.group_norm(x, c, w, b, 1e-5)
    assert_close(y, exp_y, FWD_TOL, "output")
    assert m.shape == (shape[0], c) and r.shape == (shape[0], c)
    assert_close(rm, exp_rm, FWD_TOL, "running_mean")
    assert_close(rv, exp_rv, FWD_TOL, "running_var")
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db = ops.instance_norm_backward(dy, x, m, r, w)
    exp_dx, exp_dw, exp_db = ref.group_norm_backward(dy, x, c, m, r, w)
    assert_close(dx, exp_dx, GRAD_TOL, "grad_input", grad_scale(dy, w, r))
    assert_close(dw, exp_dw, GRAD_TOL, "grad_weight")
    assert_close(db, exp_db, GRAD_TOL, "grad_bias")
    # With running statistics: a per-channel affine map (batch norm in eval mode).
    y2 = ops.instance_norm(x, rm, rv, w, b, use_input_stats=False)
    assert_close(y2, ref.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5)[0], FWD_TOL, "eval output")


def test_instance_norm_gradients_by_finite_differences(isa, rng):
    x = rng.standard_normal((2, 2, 5))
    w, b = rng.uniform(0.5, 1.5, 2), rng.standard_normal(2)
    r = rng.standard_normal(x.shape)
    loss = lambda x_, w_, b_: float((r * ref.group_norm(x_, 2, w_, b_, 1e-5)[0]).sum())
    _, m, rs = ops.instance_norm_forward(x, weight=w, bias=b)
    dx, dw, db = ops.instance_norm_backward(r, x, m, rs, w)
    check_fd(dx, numeric_grad(loss, [x, w, b], 0), "grad_input")
    check_fd(dw, numeric_grad(loss, [x, w, b], 1), "grad_weight")
    check_fd(db, numeric_grad(loss, [x, w, b], 2), "grad_bias")


# ---- layer norm ---------------------------------------------------------------------

LN_CASES = [((5, 7), (7,)), ((2, 3, 17), (17,)), ((2, 3, 17), (3, 17)), ((1, 33), (33,)),
            ((4, 1), (1,)), ((3, 2100), (2100,)), ((2, 3, 4, 5), (4, 5)), ((600, 16), (16,))]


@pytest.mark.parametrize("shape,normalized", LN_CASES, ids=str)
@pytest.mark.parametrize("with_affine", [True, False])
def test_layer_norm_matches_reference(isa, rng, shape, normalized, with_affine):
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    w = rng.uniform(0.5, 1.5, normalized).astype(np.float32) if with_affine else None
    b = rng.standard_normal(normalized).astype(np.float32) if with_affine else None
    stat_shape = shape[: len(shape) - len(normalized)] + (1,) * len(normalized)
    y, m, r = poisoned(lambda: ops.layer_norm_forward(x, normalized, w, b), shape, stat_shape, stat_shape)
    exp_y, exp_m, exp_r = ref.layer_norm(x, normalized, w, b, 1e-5)
    assert_close(y, exp_y, FWD_TOL, "output")
    assert_close(m, exp_m, FWD_TOL, "mean")
    assert_close(r, exp_r, FWD_TOL * 100 if normalized == (1,) else FWD_TOL, "rstd")  # 1/sqrt(eps) ~ 316
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db = poisoned(lambda: ops.layer_norm_backward(dy, x, normalized, m, r, w),
                          shape, normalized, normalized)
    exp_dx, exp_dw, exp_db = ref.layer_norm_backward(dy, x, normalized, m, r, w)
    assert_close(dx, exp_dx, GRAD_TOL, "grad_input", grad_scale(dy, w, r))
    if with_affine:
        assert_close(dw, exp_dw, GRAD_TOL, "grad_weight")
        assert_close(db, exp_db, GRAD_TOL, "grad_bias")
    else:
        assert dw is None and db is None


def test_layer_norm_gradients_by_finite_differences(isa, rng):
    x = rng.standard_normal((3, 2, 3))
    w, b = rng.uniform(0.5, 1.5, (2, 3)), rng.standard_normal((2, 3))
    r = rng.standard_normal(x.shape)
    loss = lambda x_, w_, b_: float((r * ref.layer_norm(x_, (2, 3), w_, b_, 1e-5)[0]).sum())
    _, m, rs = ops.layer_norm_forward(x, (2, 3), w, b)
    dx, dw, db = ops.layer_norm_backward(r, x, (2, 3), m, rs, w)
    check_fd(dx, numeric_grad(loss, [x, w, b], 0), "grad_input")
    check_fd(dw, numeric_grad(loss, [x, w, b], 1), "grad_weight")
    check_fd(db, numeric_grad(loss, [x, w, b], 2), "grad_bias")
    np.testing.assert_allclose(ref.layer_norm_backward(r, x, (2, 3), m, rs, w)[0],
                               numeric_grad(loss, [x, w, b], 0), atol=1e-5)


# ---- local response norm ------------------------------------------------------------

LRN_CASES = [((2, 7, 3, 5), 1), ((2, 7, 3, 5), 2), ((2, 7, 3, 5), 3), ((2, 7, 3, 5), 5),
             ((2, 7, 3, 5), 8), ((1, 17, 70), 5), ((3, 1, 4), 3), ((1, 20, 9, 9), 4)]


@pytest.mark.parametrize("shape,size", LRN_CASES, ids=str)
@pytest.mark.parametrize("beta", [0.75, 0.5, 0.6])
def test_local_response_norm_matches_reference(isa, rng, shape, size, beta):
    # alpha large enough that the window matters (the default 1e-4 makes d ~ k).
    alpha, k = 0.5, 1.5
    x = rng.standard_normal(shape).astype(np.float32)
    y = poisoned(lambda: ops.local_response_norm(x, size, alpha, beta, k), shape)
    assert_close(y, ref.local_response_norm(x, size, alpha, beta, k), LRN_TOL, "output")
    dy = rng.standard_normal(shape).astype(np.float32)
    dx = poisoned(lambda: ops.local_response_norm_backward(dy, x, size, alpha, beta, k), shape)
    assert_close(dx, ref.local_response_norm_backward(dy, x, size, alpha, beta, k), GRAD_TOL,
                 "grad_input")


@pytest.mark.parametrize("beta", [0.6, 1.3, 2.0, 0.25, 3.7])
def test_local_response_norm_power_is_accurate_over_a_wide_range(isa, rng, beta):
    # Any beta other than 0.75 / 0.5 goes through the vector log2/exp2 polynomials:
    # d = k + alpha/size * sum(x^2) from ~1e-6 to ~1e8 here, relative error ~1e-6.
    x = (rng.standard_normal((2, 11, 7, 9)) * 10.0 ** rng.uniform(-3, 3, (2, 11, 7, 9))).astype(np.float32)
    for k in (1e-6, 1.0, 3e3):
        y = ops.local_response_norm(x, 3, 1.0, beta, k)
        exp = ref.local_response_norm(x, 3, 1.0, beta, k)
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y, exp, rtol=1e-5, atol=0, err_msg=f"k={k}")


def test_local_response_norm_zero_denominator_lanes(isa):
    # k = 0 and an all-zero window: 0 / 0^beta is NaN in PyTorch too; the other lanes of
    # the same vector must still be right (the kernel falls back to powf for that vector).
    x = np.ones((1, 3, 40), np.float32)
    x[:, :, 5] = 0.0
    y = ops.local_response_norm(x, 3, 1.0, 0.6, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = ref.local_response_norm(x, 3, 1.0, 0.6, 0.0)
    assert np.isnan(y[:, :, 5]).all()
    mask = np.ones(40, bool)
    mask[5] = False
    np.testing.assert_allclose(y[:, :, mask], exp[:, :, mask], rtol=1e-5)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_local_response_norm_gradient_by_finite_differences(isa, rng, size):
    x = rng.standard_normal((2, 4, 3))
    r = rng.standard_normal(x.shape)
    loss = lambda x_: float((r * ref.local_response_norm(x_, size, 0.5, 0.75, 1.0)).sum())
    dx = ops.local_response_norm_backward(r, x, size, 0.5, 0.75, 1.0)
    check_fd(dx, numeric_grad(loss, [x], 0), "grad_input")
    np.testing.assert_allclose(ref.local_response_norm_backward(r, x, size, 0.5, 0.75, 1.0),
                               numeric_grad(loss, [x], 0), atol=1e-6)


# ---- accuracy on hard data ----------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 3, 30, 31), (3, 2, 150, 151)], ids=str)
def test_large_mean_offset_keeps_variance_accurate(isa, rng, shape):
    # 1e4 + unit noise: E[x^2] - E[x]^2 in float32 would lose every digit of the variance.
    # The second shape has 67950 values per channel: above stats.h's kTwoPassMaxCount, so
    # batch norm takes the per-block (mean, M2) path.
    x = (1e4 + rng.standard_normal(shape)).astype(np.float32)
    c, hw = shape[1], shape[2:]
    exp_var = np.asarray(x, np.float64).var(axis=(0, 2, 3))
    _, m, i = ops.batch_norm_forward(x, None, None, training=True, eps=0.0)
    np.testing.assert_allclose(1.0 / np.asarray(i, np.float64) ** 2, exp_var, rtol=1e-5)
    assert_close(ops.batch_norm(x, None, None, training=True),
                 ref.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)[0], FWD_TOL * 10, "bn")
    assert_close(ops.group_norm(x, 1), ref.group_norm(x, 1, None, None, 1e-5)[0], FWD_TOL * 10, "gn")
    assert_close(ops.instance_norm(x), ref.group_norm(x, c, None, None, 1e-5)[0], FWD_TOL * 10, "in")
    assert_close(ops.layer_norm(x, hw), ref.layer_norm(x, hw, None, None, 1e-5)[0], FWD_TOL * 10, "ln")
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx = ops.batch_norm_backward(dy, x, None, m, i, True)[0]
    assert_close(dx, ref.batch_norm_backward(dy, x, None, m, i, True)[0], GRAD_TOL, "bn grad")


def test_long_reduction_is_accurate(rng):
    # 1 channel, 2 * 1000 * 500 = 1e6 values per channel: float accumulation over the whole
    # span would drift by ~1e-4 relative; blocked float + double stays near 1e-7.
    x = (5.0 + 0.1 * rng.standard_normal((2, 1, 1000, 500))).astype(np.float32)
    _, m, i = ops.batch_norm_forward(x, None, None, training=True, eps=0.0)
    x64 = np.asarray(x, np.float64)
    np.testing.assert_allclose(m, [x64.mean()], rtol=1e-7)
    np.testing.assert_allclose(1.0 / np.asarray(i, np.float64) ** 2, [x64.var()], rtol=1e-5)


# ---- against PyTorch ----------------------------------------------------------------

def _torch_grads(torch, fn, dy, *arrays):
    ts = [None if a is None else torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(torch.tensor(np.asarray(dy, np.float64)))
    return y.detach().numpy(), [None if t is None else t.grad.numpy() for t in ts]


@pytest.mark.torch
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(rng, training):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((3, 17, 4, 5)).astype(np.float32)
    w, b = affine(rng, 17, True)
    rm, rv = rng.standard_normal(17).astype(np.float32), rng.uniform(0.5, 2, 17).astype(np.float32)
    trm, trv = torch.tensor(rm, dtype=torch.float64), torch.tensor(rv, dtype=torch.float64)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    ty, (tdx, tdw, tdb) = _torch_grads(
        torch, lambda x_, w_, b_: F.batch_norm(x_, trm, trv, w_, b_, training, 0.1, 1e-5), dy, x, w, b)
    y, m, i = ops.batch_norm_forward(x, rm, rv, w, b, training, 0.1, 1e-5)
    dx, dw, db = ops.batch_norm_backward(dy, x, w, m, i, training)
    assert_close(y, ty, FWD_TOL, "output")
    assert_close(rm, trm.numpy(), FWD_TOL, "running_mean")
    assert_close(rv, trv.numpy(), FWD_TOL, "running_var")
    assert_close(dx, tdx, GRAD_TOL, "grad_input")
    assert_close(dw, tdw, GRAD_TOL, "grad_weight")
    assert_close(db, tdb, GRAD_TOL, "grad_bias")


@pytest.mark.torch
def test_group_layer_instance_norm_match_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w, b = affine(rng, 6, True)
    ty, tg = _torch_grads(torch, lambda x_, w_, b_: F.group_norm(x_, 3, w_, b_, 1e-5), dy, x, w, b)
    y, m, r = ops.group_norm_forward(x, 3, w, b)
    assert_close(y, ty, FWD_TOL, "group_norm")
    for got, exp in zip(ops.group_norm_backward(dy, x, 3, m, r, w), tg):
        assert_close(got, exp, GRAD_TOL, "group_norm grads")

    rm, rv = np.zeros(6, np.float32), np.ones(6, np.float32)
    trm, trv = torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    ty, tg = _torch_grads(torch, lambda x_, w_, b_: F.instance_norm(x_, trm, trv, w_, b_, True, 0.1, 1e-5),
                          dy, x, w, b)
    y, m, r = ops.instance_norm_forward(x, rm, rv, w, b)
    assert_close(y, ty, FWD_TOL, "instance_norm")
    assert_close(rm, trm.numpy(), FWD_TOL, "instance_norm running_mean")
    assert_close(rv, trv.numpy(), FWD_TOL, "instance_norm running_var")
    for got, exp in zip(ops.instance_norm_backward(dy, x, m, r, w), tg):
        assert_close(got, exp, GRAD_TOL, "instance_norm grads")

    lw, lb = rng.uniform(0.5, 1.5, (5, 3)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
    ty, tg = _torch_grads(torch, lambda x_, w_, b_: F.layer_norm(x_, (5, 3), w_, b_, 1e-5), dy, x, lw, lb)
    y, m, r = ops.layer_norm_forward(x, (5, 3), lw, lb)
    assert_close(y, ty, FWD_TOL, "layer_norm")
    for got, exp in zip(ops.layer_norm_backward(dy, x, (5, 3), m, r, lw), tg):
        assert_close(got, exp, GRAD_TOL, "layer_norm grads")


@pytest.mark.torch
@pytest.mark.parametrize("size", [1, 2, 5])
def test_local_response_norm_matches_torch(rng, size):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 9, 4, 5)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    ty, (tdx,) = _torch_grads(torch, lambda x_: torch.nn.functional.local_response_norm(x_, size, 0.3, 0.75, 2.0),
                              dy, x)
    assert_close(ops.local_response_norm(x, size, 0.3, 0.75, 2.0), ty, LRN_TOL, "output")
    assert_close(ops.local_response_norm_backward(dy, x, size, 0.3, 0.75, 2.0), tdx, GRAD_TOL, "grad")


# ---- bad input, empty batches, conversions, threads ---------------------------------

def _x(*shape):
    return np.ones(shape, np.float32)


BAD_CALLS = [
    ("1-D input", lambda: ops.batch_norm(_x(3), None, None, training=True), ValueError, "input"),
    ("bn weight size", lambda: ops.batch_norm(_x(2, 3, 4), None, None, _x(4), training=True), ValueError, "weight"),
    ("bn bias size", lambda: ops.batch_norm(_x(2, 3, 4), None, None, None, _x(2), training=True), ValueError, "bias"),
    ("bn running size", lambda: ops.batch_norm(_x(2, 3, 4), _x(4), _x(3)), ValueError, "running_mean"),
    ("bn running dtype", lambda: ops.batch_norm(_x(2, 3, 4), np.zeros(3), _x(3), training=True), ValueError, "running_mean"),
    ("bn running readonly", lambda: ops.batch_norm(_x(2, 3, 4), np.broadcast_to(np.float32(0), (3,)), _x(3),
                                                                 training=True),
     ValueError, "running_mean"),
    ("bn running strided", lambda: ops.batch_norm(_x(2, 3, 4), _x(6)[::2], _x(3), training=True), ValueError, "running_mean"),
    ("bn eval no stats", lambda: ops.batch_norm(_x(2, 3, 4), None, None), ValueError, "running"),
    ("bn one value", lambda: ops.batch_norm(_x(1, 3, 1, 1), None, None, training=True), ValueError,
     "more than 1 value"),
    ("bn eps", lambda: ops.batch_norm(_x(2, 3), None, None, training=True, eps=-1), ValueError, "eps"),
    ("bn momentum", lambda: ops.batch_norm(_x(2, 3), _x(3), _x(3), training=True, momentum=None), TypeError,
     "momentum"),
    ("bn grad shape", lambda: ops.batch_norm_backward(_x(2, 3), _x(2, 4), None, _x(4), _x(4)), ValueError,
     "grad_output"),
    ("bn save size", lambda: ops.batch_norm_backward(_x(2, 3), _x(2, 3), None, _x(4), _x(3)), ValueError,
     "save_mean"),
    ("in running dtype", lambda: ops.instance_norm(_x(2, 3, 4), np.zeros(3), np.ones(3)), ValueError,
     "running_mean"),
    ("gn groups divide", lambda: ops.group_norm(_x(2, 6, 3), 4), ValueError, "num_groups"),
    ("gn groups zero", lambda: ops.group_norm(_x(2, 6, 3), 0), ValueError, "num_groups"),
    ("gn weight", lambda: ops.group_norm(_x(2, 6, 3), 3, _x(5)), ValueError, "weight"),
    ("gn stats", lambda: ops.group_norm_backward(_x(2, 6, 3), _x(2, 6, 3), 3, _x(2, 2), _x(2, 3)), ValueError,
     "mean"),
    ("gn groups float", lambda: ops.group_norm(_x(2, 6, 3), 1.5), TypeError, "num_groups"),
    ("ln shape", lambda: ops.layer_norm(_x(2, 3, 4), (3,)), ValueError, "normalized_shape"),
    ("ln too many dims", lambda: ops.layer_norm(_x(4), (2, 4)), ValueError, "normalized_shape"),
    ("ln weight", lambda: ops.layer_norm(_x(2, 4), 4, _x(3)), ValueError, "weight"),
    ("ln stats", lambda: ops.layer_norm_backward(_x(2, 4), _x(2, 4), 4, _x(3), _x(2)), ValueError, "mean"),
    ("in 2-D", lambda: ops.instance_norm(_x(2, 3)), ValueError, "3 dimensions"),
    ("in spatial 1", lambda: ops.instance_norm(_x(2, 3, 1)), ValueError, "more than 1 spatial"),
    ("in eval no stats", lambda: ops.instance_norm(_x(2, 3, 4), use_input_stats=False), ValueError, "running"),
    ("lrn size", lambda: ops.local_response_norm(_x(1, 3, 4), 0), ValueError, "size"),
    ("lrn 2-D", lambda: ops.local_response_norm(_x(1, 3), 2), ValueError, "input"),
    ("lrn grad shape", lambda: ops.local_response_norm_backward(_x(1, 3, 3), _x(1, 3, 4), 2), ValueError,
     "grad_output"),
    ("not numeric", lambda: ops.layer_norm(np.array(["a", "b"]), 2), TypeError, "input"),
]


@pytest.mark.parametrize("call,exc,fragment", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_clear_error(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()


def test_empty_batch_works():
    x = np.zeros((0, 3, 4, 4), np.float32)
    rm, rv = np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32)
    y, m, i = ops.batch_norm_forward(x, rm, rv, training=True)
    assert y.shape == x.shape and (rm == 0.5).all() and (rv == 2.0).all()  # untouched, as PyTorch
    dx, dw, db = ops.batch_norm_backward(x, x, np.ones(3), m, i)
    assert dx.shape == x.shape and (dw == 0).all() and (db == 0).all()
    assert ops.batch_norm(x, rm, rv).shape == x.shape
    y, m, r = ops.group_norm_forward(x, 3)
    assert y.shape == x.shape and m.shape == (0, 3)
    assert ops.group_norm_backward(x, x, 3, m, r, np.ones(3))[1].tolist() == [0, 0, 0]
    assert ops.instance_norm(x, rm, rv).shape == x.shape
    y, m, r = ops.layer_norm_forward(x, (4, 4))
    assert ops.layer_norm_backward(x, x, (4, 4), m, r)[0].shape == x.shape
    assert ops.local_response_norm(x, 3).shape == x.shape
    assert ops.local_response_norm_backward(x, x, 3).shape == x.shape
    # Huge dims around a zero: no scratch sized by them may be allocated (or crash).
    big = np.empty((0, 2**28, 16, 16), np.float32)
    assert ops.local_response_norm_backward(big, big, 3).shape == big.shape
    assert ops.group_norm(big, 1).shape == big.shape
    z = np.zeros((0, 1, 1, 1), np.float32)
    assert ops.layer_norm_backward(big, big, big.shape[1:], z, z)[0].shape == big.shape


def test_float64_and_noncontiguous_inputs_are_converted(rng):
    x = rng.standard_normal((5, 4, 6))  # float64
    xt = np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1)  # same values, strided
    assert not xt.flags.c_contiguous
    for a in (x, xt):
        assert_close(ops.group_norm(a, 2), ref.group_norm(x.astype(np.float32), 2, None, None, 1e-5)[0], FWD_TOL)
        assert_close(ops.batch_norm(a, None, None, training=True),
                     ref.batch_norm(x.astype(np.float32), None, None, None, None, True, 0.1, 1e-5)[0], FWD_TOL)
        assert_close(ops.local_response_norm(a, 3, 0.5), ref.local_response_norm(x.astype(np.float32), 3, 0.5, 0.75, 1.0),
                     LRN_TOL)
    assert ops.group_norm(x, 2).dtype == np.float32


def test_thread_count_does_not_change_results(rng):
    x = rng.standard_normal((8, 16, 24, 24)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = np.ones((24, 24), np.float32)
    before = cnnnative.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            cnnnative.set_num_threads(n)
            y, m, i = ops.batch_norm_forward(x, None, None, training=True)
            _, lm, lr = ops.layer_norm_forward(x, (24, 24), w)
            x2 = x.reshape(-1, 48)  # (N, C) rows: batch norm's column path
            _, m2, i2 = ops.batch_norm_forward(x2, None, None, training=True)
            results.append((y, ops.batch_norm_backward(dy, x, None, m, i)[0], m2, i2,
                            ops.batch_norm_backward(dy.reshape(x2.shape), x2, np.ones(48), m2, i2)[1],
                            ops.group_norm(x, 4), ops.layer_norm_backward(dy, x, (24, 24), lm, lr, w)[1],
                            ops.local_response_norm_backward(dy, x, 5, 0.5)))
    finally:
        cnnnative.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert_close(a, b, 1e-6)


@pytest.mark.parametrize("threads", [2, 3])
def test_parallel_paths_match_reference(isa, rng, threads):
    # Shapes above the single-thread cutoff (32768 elements), with thread counts that do
    # not divide the rows / channels evenly.
    before = cnnnative.get_num_threads()
    cnnnative.set_num_threads(threads)
    try:
        for shape in [(5, 7, 33, 37), (2001, 17)]:  # batch norm: spans path, columns path
            x = rng.standard_normal(shape).astype(np.float32) + 4
            dy = rng.standard_normal(shape).astype(np.float32)
            w, b = affine(rng, shape[1], True)
            rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
            exp = ref.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5)
            y, m, i = ops.batch_norm_forward(x, rm, rv, w, b, True)
            for got, e, what in zip((y, m, i, rm, rv), exp, ("y", "mean", "invstd", "rm", "rv")):
                assert_close(got, e, FWD_TOL, f"batch_norm {shape} {what}")
            for got, e in zip(ops.batch_norm_backward(dy, x, w, m, i), ref.batch_norm_backward(dy, x, w, m, i, True)):
                assert_close(got, e, GRAD_TOL, f"batch_norm backward {shape}", grad_scale(dy, w, i))
        x = rng.standard_normal((3, 12, 31, 37)).astype(np.float32)
        dy = rng.standard_normal(x.shape).astype(np.float32)
        w, b = affine(rng, 12, True)
        y, m, r = ops.group_norm_forward(x, 4, w, b)
        assert_close(y, ref.group_norm(x, 4, w, b, 1e-5)[0], FWD_TOL, "group_norm")
        for got, e in zip(ops.group_norm_backward(dy, x, 4, m, r, w), ref.group_norm_backward(dy, x, 4, m, r, w)):
            assert_close(got, e, GRAD_TOL, "group_norm backward")
        lw, lb = rng.standard_normal((31, 37)).astype(np.float32), rng.standard_normal((31, 37)).astype(np.float32)
        y, m, r = ops.layer_norm_forward(x, (31, 37), lw, lb)
        assert_close(y, ref.layer_norm(x, (31, 37), lw, lb, 1e-5)[0], FWD_TOL, "layer_norm")
        for got, e in zip(ops.layer_norm_backward(dy, x, (31, 37), m, r, lw),
                          ref.layer_norm_backward(dy, x, (31, 37), m, r, lw)):
            assert_close(got, e, GRAD_TOL, "layer_norm backward", grad_scale(dy, lw, r))
        assert_close(ops.local_response_norm(x, 5, 0.5), ref.local_response_norm(x, 5, 0.5, 0.75, 1.0),
                     LRN_TOL, "local_response_norm")
        assert_close(ops.local_response_norm_backward(dy, x, 5, 0.5),
                     ref.local_response_norm_backward(dy, x, 5, 0.5, 0.75, 1.0), GRAD_TOL,
                     "local_response_norm backward")
    finally:
        cnnnative.set_num_threads(before)


def test_concurrent_python_threads(rng):
    # Kernels release the GIL and keep no global state: calls from several Python threads
    # at once give the single-threaded answers.
    xs = [rng.standard_normal((4, 8, 16, 16)).astype(np.float32) for _ in range(4)]
    expected = [ops.group_norm(x, 2) for x in xs]
    got = [None] * len(xs)

    def work(k):
        for _ in range(5):
            got[k] = ops.group_norm(xs[k], 2)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
