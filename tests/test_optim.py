"""The fused SGD step against a plain float64 implementation of PyTorch's algorithm and
against torch.optim.SGD; sum_of_squares and scale_; in-place argument rules."""
import numpy as np
import pytest

import ref_ops as ref
from cnnnative import ops

CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.02, momentum=0.8, weight_decay=1e-3, nesterov=True),
    dict(lr=0.01, momentum=0.5, dampening=0.5, weight_decay=0.1),
]
CONFIG_IDS = ["-".join(f"{k}={v}" for k, v in c.items()) for c in CONFIGS]


def _run(param, grads, cfg):
    p = param.copy()
    buf = np.full_like(p, np.nan) if cfg.get("momentum", 0) else None  # content ignored on step 1
    for step, g in enumerate(grads):
        ops.sgd_step(p, g, buf, first_step=(step == 0), **cfg)
    return p


@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("n", [1, 15, 16, 17, 101, 70001])
def test_sgd_matches_reference_over_steps(isa, rng, cfg, n):
    param = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(4)]
    got = _run(param, grads, cfg)
    want = ref.sgd_reference(param, grads, **cfg)
    # float32 updates of values ~1 over 4 steps: a few ulp each.
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    assert not np.allclose(got, param)  # it did move


@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_sgd_matches_torch_optim(rng, cfg):
    torch = pytest.importorskip("torch")
    param = rng.standard_normal((7, 13)).astype(np.float32)
    grads = [rng.standard_normal((7, 13)).astype(np.float32) for _ in range(5)]
    tp = torch.nn.Parameter(torch.from_numpy(param.copy()))
    opt = torch.optim.SGD([tp], **cfg)
    for g in grads:
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
    np.testing.assert_allclose(_run(param, grads, cfg), tp.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_sgd_updates_buffer_in_place(rng):
    p = np.ones(5, np.float32)
    buf = np.zeros(5, np.float32)
    g = np.full(5, 2.0, np.float32)
    ops.sgd_step(p, g, buf, lr=0.5, momentum=0.9, dampening=0.5, first_step=True)
    np.testing.assert_array_equal(buf, 2.0)   # first step: copy of grad, no dampening
    np.testing.assert_array_equal(p, 0.0)
    ops.sgd_step(p, g, buf, lr=0.5, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(buf, 0.9 * 2 + 0.5 * 2, rtol=1e-7)


def test_sgd_in_place_argument_rules():
    p = np.zeros(4, np.float32)
    g = np.ones(4)  # float64 grad is fine: it is only read
    ops.sgd_step(p, g, lr=1.0)
    np.testing.assert_array_equal(p, -1.0)
    with pytest.raises(ValueError, match="param must be float32"):
        ops.sgd_step(np.zeros(4), g, lr=1.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.sgd_step(np.zeros(8, np.float32)[::2], g, lr=1.0)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.sgd_step(ro, g, lr=1.0)
    with pytest.raises(ValueError, match="numpy float32 array"):
        ops.sgd_step([0.0, 0.0, 0.0, 0.0], g, lr=1.0)
    with pytest.raises(ValueError, match="needs a momentum_buffer"):
        ops.sgd_step(p, g, lr=1.0, momentum=0.9)
    with pytest.raises(ValueError, match="momentum_buffer must be float32"):
        ops.sgd_step(p, g, np.zeros(4), lr=1.0, momentum=0.9)
    with pytest.raises(ValueError, match="grad has shape"):
        ops.sgd_step(p, np.ones(5), lr=1.0)
    with pytest.raises(ValueError, match="learning rate"):
        ops.sgd_step(p, g, lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        ops.sgd_step(p, g, np.zeros(4, np.float32), lr=1.0, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="must not be param"):
        ops.sgd_step(p, g, p, lr=1.0, momentum=0.9)


@pytest.mark.parametrize("n", [0, 1, 17, 100003])
def test_sum_of_squares_and_scale(isa, rng, n):
    x = rng.standard_normal(n).astype(np.float32)
    want = float(np.sum(x.astype(np.float64) ** 2))
    assert ops.sum_of_squares(x) == pytest.approx(want, rel=1e-12, abs=1e-12)  # float64 accumulation
    y = x.copy()
    ops.scale_(y, 0.25)
    np.testing.assert_array_equal(y, x * np.float32(0.25))
    with pytest.raises(ValueError, match="float32"):
        ops.scale_(x.astype(np.float64), 2.0)
