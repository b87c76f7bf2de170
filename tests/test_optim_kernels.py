"""The fused Adam/AdamW, RMSprop and Adagrad steps (ops.*_step) on every ISA against plain
float64 implementations of torch.optim's single-tensor rules; NaN propagation; in-place
argument rules. The optimizer classes are tested in test_optim_adaptive.py."""
import numpy as np
import pytest

from cnnnative import ops

SIZES = [1, 7, 8, 9, 17, 70001]  # vector tails, and more than one thread's share (grain 32768)


def adam_reference(p, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                   decoupled_weight_decay=False, maximize=False):
    p = p.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = -g.astype(np.float64) if maximize else g.astype(np.float64)
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - beta2 ** t) + eps
        p = p - lr / (1 - beta1 ** t) * m / denom
    return p


def rmsprop_reference(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                      maximize=False):
    p = p.astype(np.float64)
    s, a, b = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = -g.astype(np.float64) if maximize else g.astype(np.float64)
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        if centered:
            a = a + (1 - alpha) * (g - a)
            avg = np.sqrt(s - a * a) + eps
        else:
            avg = np.sqrt(s) + eps
        if momentum > 0:
            b = momentum * b + g / avg
            p = p - lr * b
        else:
            p = p - lr * g / avg
    return p


def adagrad_reference(p, grads, lr, lr_decay=0.0, eps=1e-10, weight_decay=0.0, initial_accumulator_value=0.0,
                      maximize=False):
    p = p.astype(np.float64)
    s = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, 1):
        g = -g.astype(np.float64) if maximize else g.astype(np.float64)
        g = g + weight_decay * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
    return p


def run_adam(p, grads, amsgrad=False, **cfg):
    p = p.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    vmax = np.zeros_like(p) if amsgrad else None
    for t, g in enumerate(grads, 1):
        ops.adam_step(p, g, m, v, vmax, step=t, amsgrad=amsgrad, **cfg)
    return p


def run_rmsprop(p, grads, centered=False, momentum=0.0, **cfg):
    p = p.copy()
    s = np.zeros_like(p)
    a = np.zeros_like(p) if centered else None
    b = np.zeros_like(p) if momentum > 0 else None
    for g in grads:
        ops.rmsprop_step(p, g, s, a, b, centered=centered, momentum=momentum, **cfg)
    return p


def run_adagrad(p, grads, initial_accumulator_value=0.0, **cfg):
    p = p.copy()
    s = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, 1):
        ops.adagrad_step(p, g, s, step=t, **cfg)
    return p


ADAM = [dict(lr=0.01), dict(lr=0.01, amsgrad=True), dict(lr=0.02, weight_decay=0.1),
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True),
        dict(lr=0.05, beta1=0.3, beta2=0.6, eps=1e-3),  # lerp weight 0.7: PyTorch's other lerp form
        dict(lr=0.01, maximize=True)]
RMSPROP = [dict(lr=0.01), dict(lr=0.01, centered=True), dict(lr=0.01, momentum=0.9),
           dict(lr=0.005, centered=True, momentum=0.8, weight_decay=0.05),
           dict(lr=0.01, alpha=0.3, centered=True),  # lerp weight 0.7
           dict(lr=0.01, maximize=True, momentum=0.5)]
ADAGRAD = [dict(lr=0.1), dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.3),
           dict(lr=0.1, eps=1e-3, maximize=True)]
CASES = ([("adam", c) for c in ADAM] + [("rmsprop", c) for c in RMSPROP] + [("adagrad", c) for c in ADAGRAD])
RUN = {"adam": (run_adam, adam_reference), "rmsprop": (run_rmsprop, rmsprop_reference),
       "adagrad": (run_adagrad, adagrad_reference)}


@pytest.mark.parametrize("kind,cfg", CASES, ids=[f"{k}-" + "-".join(f"{a}={b}" for a, b in c.items()) for k, c in CASES])
@pytest.mark.parametrize("n", SIZES)
def test_step_matches_float64_reference(isa, rng, kind, cfg, n):
    param = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(5)]
    run, reference = RUN[kind]
    got = run(param, grads, **cfg)
    # Each step moves a parameter by about lr (normalised gradients); float32 rounding of
    # the O(1) parameter and of the few operations of a step: a few ulps per step.
    np.testing.assert_allclose(got, reference(param, grads, **cfg), rtol=0, atol=4e-6)
    assert np.mean(got != param) > 0.99  # it moved (a few may come back to where they started)


@pytest.mark.parametrize("kind,cfg", CASES[::2], ids=[k for k, _ in CASES[::2]])
def test_nan_gradient_gives_nan_where_it_was(isa, rng, kind, cfg):
    n = 37
    param = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    grads[1][[0, 20, 36]] = np.nan
    got = RUN[kind][0](param, grads, **cfg)
    nan = np.isnan(got)
    assert nan[[0, 20, 36]].all(), "a NaN gradient must not be skipped"
    assert nan.sum() == 3


def test_amsgrad_maximum_keeps_nan(rng):
    """torch.maximum propagates NaN from either side; so must the running maximum."""
    p = np.zeros(9, np.float32)
    m, v, vmax = np.zeros(9, np.float32), np.zeros(9, np.float32), np.zeros(9, np.float32)
    vmax[3] = np.nan
    ops.adam_step(p, np.ones(9, np.float32), m, v, vmax, step=1, lr=0.1, amsgrad=True)
    assert np.isnan(vmax[3]) and np.isnan(p[3]) and np.isfinite(np.delete(p, 3)).all()


def test_matches_torch_functional_rules(rng):
    """The same steps through torch.optim's own single-tensor functions."""
    torch = pytest.importorskip("torch")
    n = 101
    param = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(6)]
    for ours, theirs in [
        (lambda p: run_adam(p, grads, lr=0.01, amsgrad=True, weight_decay=0.01),
         lambda tp: torch.optim.Adam([tp], lr=0.01, amsgrad=True, weight_decay=0.01, foreach=False)),
        (lambda p: run_rmsprop(p, grads, lr=0.01, centered=True, momentum=0.9),
         lambda tp: torch.optim.RMSprop([tp], lr=0.01, centered=True, momentum=0.9, foreach=False)),
        (lambda p: run_adagrad(p, grads, lr=0.1, lr_decay=0.01),
         lambda tp: torch.optim.Adagrad([tp], lr=0.1, lr_decay=0.01, foreach=False))]:
        tp = torch.nn.Parameter(torch.from_numpy(param.copy()))
        opt = theirs(tp)
        for g in grads:
            tp.grad = torch.from_numpy(g.copy())
            opt.step()
        # PyTorch's sqrt (MKL) is not always correctly rounded: last-bit differences.
        np.testing.assert_allclose(ours(param), tp.detach().numpy(), rtol=0, atol=1e-6)


def test_in_place_argument_rules():
    p, g = np.zeros(4, np.float32), np.ones(4)  # a float64 grad is fine: it is only read
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    ops.adam_step(p, g, m, v, step=1, lr=0.1)
    assert np.all(p < 0)
    z = lambda n=4: np.zeros(n, np.float32)  # noqa: E731
    ro = z()
    ro.flags.writeable = False
    bad = [
        (lambda: ops.adam_step(np.zeros(4), g, z(), z(), step=1, lr=0.1), "adam_step: param must be float32"),
        (lambda: ops.adam_step(z(), g, z().astype(np.float64), z(), step=1, lr=0.1), "exp_avg must be float32"),
        (lambda: ops.adam_step(z(), g, z(), z(8)[::2], step=1, lr=0.1), "exp_avg_sq must be C-contiguous"),
        (lambda: ops.adam_step(z(), g, ro, z(), step=1, lr=0.1), "exp_avg is read-only"),
        (lambda: ops.adam_step(z(), g, z(), z(5), step=1, lr=0.1), r"exp_avg_sq has shape \(5,\)"),
        (lambda: ops.adam_step(z(), np.ones(3), z(), z(), step=1, lr=0.1), r"grad has shape \(3,\)"),
        (lambda: ops.adam_step(z(), g, z(), z(), step=1, lr=0.1, amsgrad=True), "amsgrad=True needs max_exp_avg_sq"),
        (lambda: ops.adam_step(z(), g, z(), z(), step=0, lr=0.1), "invalid step 0"),
        (lambda: ops.adam_step(z(), g, z(), z(), step=1, lr=-0.1), "invalid learning rate lr -0.1"),
        (lambda: ops.adam_step(z(), g, z(), z(), step=1, lr=0.1, beta1=1.0), "invalid beta1 1"),
        (lambda: ops.adam_step(z(), g, z(), z(), step=1, lr=0.1, beta2=-0.5), "invalid beta2 -0.5"),
        (lambda: ops.adam_step(z(), g, z(), z(), step=1, lr=0.1, eps=float("nan")), "invalid eps nan"),
        (lambda: ops.adam_step(z(), g, z(), z(), step=1, lr=0.1, weight_decay=-1), "invalid weight_decay"),
        (lambda: ops.rmsprop_step(z(), g, z(), lr=0.1, centered=True), "centered=True needs grad_avg"),
        (lambda: ops.rmsprop_step(z(), g, z(), lr=0.1, momentum=0.5), "momentum > 0 needs momentum_buffer"),
        (lambda: ops.rmsprop_step(z(), g, z(), lr=0.1, alpha=-0.1), "invalid alpha -0.1"),
        (lambda: ops.rmsprop_step(z(), g, z(), lr=0.1, momentum=-0.1), "invalid momentum -0.1"),
        (lambda: ops.rmsprop_step(z(), g, [0.0] * 4, lr=0.1), "square_avg must be a numpy float32 array"),
        (lambda: ops.adagrad_step(z(), g, z(), step=1, lr=0.1, lr_decay=-1), "invalid lr_decay -1"),
        (lambda: ops.adagrad_step(z(), g, z(3), step=1, lr=0.1), r"state_sum has shape \(3,\)"),
    ]
    for call, match in bad:
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(TypeError):
        ops.adam_step(z(), g, z(), z(), step=1.5, lr=0.1)  # a step count is an int


def test_state_must_not_alias_the_parameter_or_each_other():
    p, g = np.zeros(8, np.float32), np.ones(8, np.float32)
    with pytest.raises(ValueError, match="exp_avg must not share memory with param"):
        ops.adam_step(p, g, p, np.zeros(8, np.float32), step=1, lr=0.1)
    buf = np.zeros(16, np.float32)
    with pytest.raises(ValueError, match="exp_avg_sq must not share memory with exp_avg"):
        ops.adam_step(p, g, buf[:8], buf[4:12], step=1, lr=0.1)
    with pytest.raises(ValueError, match="state_sum must not share memory with param"):
        ops.adagrad_step(p, g, p, step=1, lr=0.1)
    np.testing.assert_array_equal(p, 0)  # refused before anything was written
