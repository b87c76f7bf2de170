"""Every loss (function, recorded backward and module) x reduction x options: forward against
float64 references, gradients (input and target) against central differences of those
references, forward and backward against torch.nn.functional when torch is installed,
NaN/inf inputs, and bad arguments refused with errors naming the argument and sizes."""
import math

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from ref_ops import numeric_grad

REDUCTIONS = ("mean", "sum", "none")


# -- float64 references -------------------------------------------------------------------------
def _reduce(per, reduction, denominator=None):
    if reduction == "none":
        return per
    total = per.sum()
    if reduction == "sum":
        return total
    d = per.size if denominator is None else denominator
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(total) / np.float64(d)


def _class_last(x):
    """(rows (M, C), batch shape) with the class axis (1, or 0 when unbatched) last."""
    if x.ndim == 1:
        return x[None], ()
    moved = np.moveaxis(x, 1, -1)
    return moved.reshape(-1, x.shape[1]), moved.shape[:-1]


def _log_softmax(rows):
    m = rows.max(axis=1, keepdims=True)
    return rows - m - np.log(np.exp(rows - m).sum(axis=1, keepdims=True))


def ref_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    rows, batch = _class_last(np.asarray(x, np.float64))
    C = rows.shape[1]
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    lp = _log_softmax(rows)
    t = np.asarray(t)
    if np.issubdtype(t.dtype, np.floating):  # probabilities
        p = _class_last(t.astype(np.float64))[0] * (1 - label_smoothing) + label_smoothing / C
        per = -(p * w * lp).sum(axis=1)
        return _reduce(per.reshape(batch), reduction, rows.shape[0])
    t = t.reshape(-1)
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    nll = -lp[np.arange(len(t)), ts] * w[ts]
    smooth = -(lp * w).sum(axis=1)
    per = np.where(valid, (1 - label_smoothing) * nll + label_smoothing / C * smooth, 0.0)
    return _reduce(per.reshape(batch), reduction, (w[ts] * valid).sum())


def ref_nll_loss(x, t, weight=None, ignore_index=-100, reduction="mean"):
    rows, batch = _class_last(np.asarray(x, np.float64))
    w = np.ones(rows.shape[1]) if weight is None else np.asarray(weight, np.float64)
    t = np.asarray(t).reshape(-1)
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    per = np.where(valid, -rows[np.arange(len(t)), ts] * w[ts], 0.0)
    return _reduce(per.reshape(batch), reduction, (w[ts] * valid).sum())


def _pointwise(f):
    def ref(x, t, reduction="mean", **kw):
        return _reduce(f(np.asarray(x, np.float64), np.asarray(t, np.float64), **kw), reduction)
    return ref


ref_mse_loss = _pointwise(lambda x, t: (x - t) ** 2)
ref_l1_loss = _pointwise(lambda x, t: np.abs(x - t))
ref_smooth_l1_loss = _pointwise(lambda x, t, beta=1.0: np.abs(x - t) if beta == 0 else np.where(
    np.abs(x - t) < beta, 0.5 * (x - t) ** 2 / beta, np.abs(x - t) - 0.5 * beta))
ref_huber_loss = _pointwise(lambda x, t, delta=1.0: np.where(
    np.abs(x - t) < delta, 0.5 * (x - t) ** 2, delta * (np.abs(x - t) - 0.5 * delta)))


def ref_binary_cross_entropy(p, y, weight=None, reduction="mean"):
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    with np.errstate(divide="ignore"):
        per = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100))
    w = 1.0 if weight is None else np.asarray(weight, np.float64)
    return _reduce(per * w, reduction)


def ref_binary_cross_entropy_with_logits(x, y, weight=None, reduction="mean", pos_weight=None):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    w = 1.0 if weight is None else np.asarray(weight, np.float64)
    per = (1 - y) * x + (1 + (pw - 1) * y) * np.logaddexp(0, -x)
    return _reduce(per * w, reduction)


def ref_kl_div(x, t, reduction="mean", log_target=False):
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    per = np.exp(t) * (t - x) if log_target else np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * x
    if reduction == "batchmean":
        return per.sum() / x.shape[0]
    return _reduce(per, reduction)


# -- the cases: (function name, input, target, options, target has a gradient) -----------------
def _cases():
    r = np.random.default_rng(1234)
    logits = r.standard_normal((6, 5)) * 2
    labels = np.array([0, 4, 2, 2, 1, 3])
    with_ignored = np.array([0, 4, 2, -100, 1, 2])
    spatial = r.standard_normal((2, 4, 3, 2))
    spatial_labels = r.integers(0, 4, (2, 3, 2))
    spatial_labels[0, 1, 1] = 1
    probs = np.exp(_log_softmax(r.standard_normal((6, 5))))
    w5 = np.array([0.5, 2.0, 1.0, 1.5, 0.25])
    lp = _log_softmax(logits)
    a, b = r.standard_normal((4, 3)), r.standard_normal((4, 3))
    p01 = r.uniform(0.05, 0.95, (4, 3))
    y01 = r.uniform(0, 1, (4, 3))
    cases = [
        ("cross_entropy", logits, labels, {}, False),
        ("cross_entropy", logits, labels, {"weight": w5}, False),
        ("cross_entropy", logits, with_ignored, {"weight": w5}, False),
        ("cross_entropy", logits, labels, {"ignore_index": 2}, False),
        ("cross_entropy", logits, labels, {"label_smoothing": 0.2}, False),
        ("cross_entropy", logits, with_ignored, {"weight": w5, "label_smoothing": 0.3, "ignore_index": -100}, False),
        ("cross_entropy", spatial, spatial_labels, {"ignore_index": 1, "label_smoothing": 0.1}, False),
        ("cross_entropy", logits[0], np.array(3), {}, False),
        ("cross_entropy", logits, probs, {}, True),
        ("cross_entropy", logits, probs, {"weight": w5, "label_smoothing": 0.25}, True),
        ("cross_entropy", spatial, np.exp(_log_softmax(np.moveaxis(spatial * 0.5, 1, -1).reshape(-1, 4)))
         .reshape(2, 3, 2, 4).transpose(0, 3, 1, 2), {}, True),
        ("nll_loss", lp, labels, {}, False),
        ("nll_loss", lp, with_ignored, {"weight": w5}, False),
        ("nll_loss", spatial, spatial_labels, {"ignore_index": 0}, False),
        ("mse_loss", a, b, {}, True),
        ("l1_loss", a, b, {}, True),
        ("smooth_l1_loss", a, b, {"beta": 0.5}, True),
        ("smooth_l1_loss", a, b, {"beta": 0.0}, True),
        ("huber_loss", a, b, {"delta": 0.7}, True),
        ("binary_cross_entropy", p01, y01, {}, True),
        ("binary_cross_entropy", p01, y01, {"weight": r.uniform(0.5, 2, (3,))}, True),
        ("binary_cross_entropy_with_logits", a * 3, y01, {}, True),
        ("binary_cross_entropy_with_logits", a * 3, y01,
         {"weight": r.uniform(0.5, 2, (4, 1)), "pos_weight": np.array([0.5, 2.0, 3.0])}, True),
        ("kl_div", lp, probs, {}, True),
        ("kl_div", lp, np.log(probs), {"log_target": True}, True),
    ]
    return cases


CASES = _cases()
IDS = [f"{c[0]}-{i}-{'+'.join(c[3]) or 'plain'}" for i, c in enumerate(CASES)]


def _reductions(name):
    return REDUCTIONS + (("batchmean",) if name == "kl_div" else ())


def _f32(a):
    return np.asarray(a, np.float32)


def _target_arg(t):
    t = np.asarray(t)
    return t if np.issubdtype(t.dtype, np.integer) else _f32(t)


def _ours_with_grads(name, x, t, kw, reduction, upstream, target_grad):
    """(value, input grad, target grad or None) through the recorded backward."""
    xt = cn.Tensor(_f32(x), requires_grad=True)
    tt = cn.Tensor(_f32(t), requires_grad=True) if target_grad else _target_arg(t)
    out = getattr(ops, name)(xt, tt, reduction=reduction, **kw)
    out.backward(upstream)
    return out.numpy(), xt.grad, (tt.grad if target_grad else None)


def _upstream(rng, name, x, t, reduction):
    if reduction != "none":
        return np.float32(1.7)
    shape = np.asarray(ref(name)(x, t, reduction="none")).shape
    return rng.standard_normal(shape).astype(np.float32)


def ref(name):
    return globals()[f"ref_{name}"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_float64_reference(case):
    name, x, t, kw, _ = case
    for reduction in _reductions(name):
        got = getattr(ops, name)(_f32(x), _target_arg(t), reduction=reduction, **kw)
        want = ref(name)(_f32(x), _target_arg(t), reduction=reduction, **kw)
        if reduction == "none":
            assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == np.shape(want)
        else:
            assert isinstance(got, float)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6, err_msg=reduction)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_central_differences(case, rng):
    name, x, t, kw, target_grad = case
    for reduction in _reductions(name):
        x32, t32 = _f32(x).astype(np.float64), _target_arg(t)
        g = _upstream(rng, name, x, t, reduction)
        _, gx, gt = _ours_with_grads(name, x32, t32, kw, reduction, g, target_grad)
        f = ref(name)

        def scalar(xv, tv=t32):
            return float(np.sum(np.asarray(f(xv, tv, reduction=reduction, **kw)) * g))

        num = numeric_grad(scalar, np.ascontiguousarray(x32))
        assert np.abs(gx).max() > 1e-3, "the input gradient is zero"
        np.testing.assert_allclose(gx, num, rtol=2e-3, atol=2e-5, err_msg=f"input, {reduction}")
        if target_grad:
            # C-contiguous: numeric_grad perturbs x through x.reshape(-1), a copy for other layouts
            num_t = numeric_grad(lambda tv: scalar(x32, tv), np.ascontiguousarray(t32, np.float64))
            assert np.abs(gt).max() > 1e-3, "the target gradient is zero"
            np.testing.assert_allclose(gt, num_t, rtol=2e-3, atol=2e-5, err_msg=f"target, {reduction}")


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # torch's kl_div note
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    name, x, t, kw, target_grad = case
    for reduction in _reductions(name):
        g = _upstream(rng, name, x, t, reduction)
        value, gx, gt = _ours_with_grads(name, x, t, kw, reduction, g, target_grad)
        xt = torch.tensor(_f32(x), dtype=torch.float64, requires_grad=True)
        tt = (torch.tensor(_f32(t), dtype=torch.float64, requires_grad=True) if target_grad
              else torch.from_numpy(np.asarray(t)) if np.issubdtype(np.asarray(t).dtype, np.integer)
              else torch.tensor(_f32(t), dtype=torch.float64))
        tkw = {k: (torch.tensor(_f32(v), dtype=torch.float64) if isinstance(v, np.ndarray) else v)
               for k, v in kw.items()}
        out = getattr(F, name)(xt, tt, reduction=reduction, **tkw)
        out.backward(torch.tensor(g, dtype=torch.float64))
        np.testing.assert_allclose(value, out.detach().numpy(), rtol=2e-5, atol=2e-6, err_msg=reduction)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=2e-4, atol=2e-6, err_msg=f"input, {reduction}")
        if target_grad:
            np.testing.assert_allclose(gt, tt.grad.numpy(), rtol=2e-4, atol=2e-6, err_msg=f"target, {reduction}")


MODULES = [
    (nn.CrossEntropyLoss, "cross_entropy", {"weight": np.array([1.0, 2.0, 0.5]), "ignore_index": 1,
                                             "label_smoothing": 0.1}),
    (nn.NLLLoss, "nll_loss", {"weight": np.array([1.0, 2.0, 0.5])}),
    (nn.MSELoss, "mse_loss", {}),
    (nn.L1Loss, "l1_loss", {}),
    (nn.SmoothL1Loss, "smooth_l1_loss", {"beta": 0.3}),
    (nn.HuberLoss, "huber_loss", {"delta": 0.4}),
    (nn.BCELoss, "binary_cross_entropy", {"weight": np.array([1.0, 2.0, 0.5])}),
    (nn.BCEWithLogitsLoss, "binary_cross_entropy_with_logits", {"pos_weight": np.array([1.0, 2.0, 0.5])}),
    (nn.KLDivLoss, "kl_div", {"log_target": True}),
]


@pytest.mark.parametrize("cls,name,kw", MODULES, ids=[m[1] for m in MODULES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_modules_call_their_function(cls, name, kw, reduction, rng):
    x = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
    t = rng.integers(0, 3, 4) if name in ("cross_entropy", "nll_loss") else rng.uniform(0, 1, (4, 3))
    t = t if t.dtype.kind == "i" else t.astype(np.float32)
    module = cls(reduction=reduction, **kw)
    want = getattr(ops, name)(x, t, reduction=reduction, **kw)
    np.testing.assert_array_equal(module(x, t), want)
    xt = cn.Tensor(x, requires_grad=True)
    out = module(xt, t)
    out.backward(np.ones(np.shape(want), np.float32))
    assert xt.grad.shape == x.shape and np.abs(xt.grad).max() > 0
    for buffer in ("weight", "pos_weight"):
        if buffer in kw:
            assert buffer in module.state_dict()
            np.testing.assert_array_equal(module.state_dict()[buffer], kw[buffer].astype(np.float32))


def test_module_options_are_checked():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match="beta"):
        nn.SmoothL1Loss(beta=-1)
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"


# -- semantics worth their own test -----------------------------------------------------------------
def test_all_ignored_mean_is_nan_and_grad_zero():
    x = np.zeros((3, 4), np.float32)
    t = np.array([-100, -100, -100])
    assert math.isnan(ops.cross_entropy(x, t))
    assert math.isnan(ops.nll_loss(x, t))
    assert ops.cross_entropy(x, t, reduction="sum") == 0.0
    np.testing.assert_array_equal(ops.cross_entropy_backward(x, t, "sum"), 0)


def test_weighted_mean_divides_by_the_weights_of_counted_targets():
    x = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], np.float32))
    t = np.array([0, 1, -100])
    w = np.array([2.0, 3.0, 7.0], np.float32)
    want = (-2 * math.log(0.5) - 3 * math.log(0.8)) / 5
    assert ops.nll_loss(x, t, w) == pytest.approx(want, rel=1e-6)
    assert ops.cross_entropy(x, t, weight=w) == pytest.approx(want, rel=1e-6)


def test_legacy_positional_reduction_still_works(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 1])
    assert ops.cross_entropy(x, t, "sum") == ops.cross_entropy(x, t, reduction="sum")
    assert ops.nll_loss(x, t, "none").shape == (4,)
    with pytest.raises(TypeError, match="reduction given twice"):
        ops.cross_entropy(x, t, "sum", reduction="none")


def test_float_results_have_item_and_arrays_stay_numpy(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    v = ops.mse_loss(x, x * 0.5)
    assert isinstance(v, float) and v.item() == pytest.approx(float(np.mean((x * 0.5) ** 2)), rel=1e-6)


def test_mean_of_empty_input_is_nan():
    e = np.zeros((0, 3), np.float32)
    for name in ("mse_loss", "l1_loss", "binary_cross_entropy_with_logits", "huber_loss"):
        assert math.isnan(getattr(ops, name)(e, e)), name
        assert getattr(ops, name)(e, e, reduction="sum") == 0.0
    assert math.isnan(ops.cross_entropy(e, e))  # probabilities: mean over no sample


def test_bce_with_logits_is_stable_for_huge_logits():
    x = np.array([1e4, -1e4, 80.0, -80.0, 0.0], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5], np.float32)
    got = ops.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(got, [0, 0, 80, 80, math.log(2)], rtol=1e-6, atol=1e-6)
    xt = cn.Tensor(x, requires_grad=True)
    ops.binary_cross_entropy_with_logits(xt, y, reduction="sum").backward()
    np.testing.assert_allclose(xt.grad, [0, 0, 1, -1, 0], atol=1e-6)


def test_bce_clamps_the_log_at_minus_100():
    p = np.array([0.0, 1.0, 0.0, 1.0], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    np.testing.assert_array_equal(ops.binary_cross_entropy(p, y, reduction="none"), [100, 100, 0, 0])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                                  "binary_cross_entropy_with_logits", "kl_div"])
def test_nan_and_inf_inputs_propagate(name):
    x = np.array([[np.nan, 0.5], [np.inf, -0.25]], np.float32)
    t = np.array([[0.5, 0.5], [0.25, 0.75]], np.float32)
    per = getattr(ops, name)(x, t, reduction="none")
    assert np.isnan(per[0, 0]) and np.isfinite(per[0, 1]) and np.isfinite(per[1, 1])
    assert not np.isfinite(per[1, 0])
    assert math.isnan(getattr(ops, name)(x, t))


def test_nan_logits_give_nan_cross_entropy_only_in_their_row():
    x = np.array([[np.nan, 0.0, 1.0], [0.0, 1.0, 2.0], [np.inf, 0.0, 0.0]], np.float32)
    per = ops.cross_entropy(x, np.array([1, 2, 1]), reduction="none")
    assert np.isnan(per[0]) and np.isfinite(per[1]) and not np.isfinite(per[2])
    assert np.isnan(ops.cross_entropy(x, np.array([1, 2, 1])))


def test_bce_refuses_input_outside_0_1():
    with pytest.raises(ValueError, match=r"input\[0, 1\] = 1.5"):
        ops.binary_cross_entropy(np.array([[0.5, 1.5]], np.float32), np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        ops.binary_cross_entropy(np.array([np.nan], np.float32), np.zeros(1, np.float32))


# -- bad arguments ------------------------------------------------------------------------------------
def test_shape_mismatch_is_refused_naming_both_shapes():
    x = np.zeros((4, 1), np.float32)
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "kl_div"):
        with pytest.raises(ValueError, match=r"target has shape \(4,\) but input has shape \(4, 1\)"):
            getattr(ops, name)(x, np.zeros(4, np.float32))


def test_cross_entropy_argument_errors():
    x = np.zeros((3, 4), np.float32)
    t = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\).*got shape \(3,\)"):
        ops.cross_entropy(x, t, weight=np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        ops.cross_entropy(x, t, label_smoothing=-0.1)
    with pytest.raises(ValueError, match=r"target\[1\] = -100 is not a class index in \[0, 4\)"):
        ops.cross_entropy(x, [0, -100, 1], ignore_index=-1)
    with pytest.raises(ValueError, match=r"target\[2\] = 7 is not a class index in \[0, 4\)"):
        ops.nll_loss(x, [0, 1, 7])
    spatial_labels = np.zeros((2, 3), np.int64)
    spatial_labels[1, 2] = 9
    with pytest.raises(ValueError, match=r"target\[1, 2\] = 9 is not a class index in \[0, 4\)"):
        ops.cross_entropy(np.zeros((2, 4, 3), np.float32), spatial_labels)
    with pytest.raises(ValueError, match=r"target\[1, 2\] = 9 is not a class index in \[0, 4\)"):
        ops.nll_loss(np.zeros((2, 4, 3), np.float32), spatial_labels)
    with pytest.raises(ValueError, match=r"target must have shape \(3, 5\) for input of shape \(3, 4, 5\)"):
        ops.cross_entropy(np.zeros((3, 4, 5), np.float32), t)
    with pytest.raises(ValueError, match="ignore_index is not supported for class-probability"):
        ops.cross_entropy(x, np.full((3, 4), 0.25, np.float32), ignore_index=0)
    with pytest.raises(TypeError, match="integer class indices"):
        ops.cross_entropy(x, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        ops.cross_entropy(x, t, ignore_index=1.5)
    with pytest.raises(ValueError, match="reduction"):
        ops.kl_div(x, x, reduction="batch")
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast to the input's shape"):
        ops.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(3))
    with pytest.raises(TypeError, match="real"):
        ops.mse_loss(x.astype(np.complex64), x)
    with pytest.raises(ValueError, match=r"grad must be a number or have the loss's shape \(3,\)"):
        ops.cross_entropy_backward(x, t, "none", grad=np.ones(4))


def test_weight_requiring_grad_is_refused():
    x = cn.Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="no gradient is defined for weight"):
        ops.cross_entropy(x, np.array([0, 1]), weight=cn.Tensor(np.ones(3), requires_grad=True))


def test_recorded_loss_frees_nothing_it_should_keep(rng):
    # The loss Tensor is a 0-d float32 Tensor; backward twice without retain_graph is refused.
    x = cn.Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    loss = ops.cross_entropy(x, np.array([0, 1, 3]))
    assert loss.shape == () and loss.dtype == np.float32
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_core_kernels_agree_under_every_isa(isa, rng):
    x = (rng.standard_normal((37, 11)) * 3).astype(np.float32)
    t = rng.integers(0, 11, 37)
    t[5] = -100
    w = rng.uniform(0.2, 2.0, 11).astype(np.float32)
    got = ops.cross_entropy(x, t, weight=w, label_smoothing=0.15, reduction="none")
    np.testing.assert_allclose(got, ref_cross_entropy(x, t, w, -100, "none", 0.15), rtol=1e-5, atol=1e-6)
    g = ops.cross_entropy_backward(x, t, "sum", weight=w, label_smoothing=0.15)
    num = numeric_grad(lambda z: float(ref_cross_entropy(z, t, w, -100, "sum", 0.15)), x.astype(np.float64))
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits"])
def test_core_sums_span_many_chunks_and_ignore_the_thread_count(isa, name, rng):
    x = rng.standard_normal(100_003).astype(np.float32)
    t = rng.uniform(0, 1, 100_003).astype(np.float32)
    before = cn.get_num_threads()
    try:
        cn.set_num_threads(1)
        one = getattr(ops, name)(x, t, reduction="sum")
        cn.set_num_threads(2)
        two = getattr(ops, name)(x, t, reduction="sum")
    finally:
        cn.set_num_threads(before)
    assert one == two  # fixed chunks added in order: the same bits
    assert one == pytest.approx(float(ref(name)(x, t, reduction="sum")), rel=1e-6)
    per = getattr(ops, name)(x, t, reduction="none")
    np.testing.assert_allclose(per, ref(name)(x, t, reduction="none"), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits"])
def test_core_elementwise_gradients_under_every_isa(isa, name, rng):
    n = 16384 + 37  # a full chunk and a ragged one
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    t = rng.uniform(0, 1, n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    kw = {"pos_weight": rng.uniform(0.5, 2, n).astype(np.float32)} if name != "mse_loss" else {}
    xt = cn.Tensor(x, requires_grad=True)
    getattr(ops, name)(xt, t, reduction="none", **kw).backward(g)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    if name == "mse_loss":
        want = 2 * (x64 - t64) * g
    else:
        pw = kw["pos_weight"].astype(np.float64)
        want = ((1 + (pw - 1) * t64) / (1 + np.exp(-x64)) - pw * t64) * g
    np.testing.assert_allclose(xt.grad, want, rtol=2e-5, atol=2e-6)


def test_bce_with_logits_softplus_is_accurate_under_every_isa(isa):
    # y = 1: the loss is softplus(-x) = log(1 + exp(-x)) alone, from the core's log1p series
    x = np.linspace(-30, 30, 20001).astype(np.float32)
    got = ops.binary_cross_entropy_with_logits(x, np.ones_like(x), reduction="none").astype(np.float64)
    want = np.logaddexp(0, -x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # y = 0.3: (1 - y) x + softplus(-x), rounding relative to the larger of its terms
    got = ops.binary_cross_entropy_with_logits(x, np.full_like(x, 0.3), reduction="none").astype(np.float64)
    want = 0.7 * x.astype(np.float64) + np.logaddexp(0, -x.astype(np.float64))
    assert np.max(np.abs(got - want) / np.maximum(1, np.abs(x))) < 1e-6
