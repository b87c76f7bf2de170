"""SGD (momentum, dampening, Nesterov, weight decay, clipping, groups), schedules and
optimizer state, against an independent float64 numpy reference and torch.optim."""
import math

import numpy as np
import pytest

from cnnnative import nn, ops, optim

pytestmark = pytest.mark.skipif(
    not all(callable(getattr(ops, n, None)) for n in ("sgd_step", "sum_of_squares", "scale_")),
    reason="ops.sgd_step / sum_of_squares / scale_ not merged yet")


def reference_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """PyTorch's SGD written out in float64, one step per gradient."""
    p = p.astype(np.float64)
    buf = None
    for g in grads:
        d = g.astype(np.float64) + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def params(rng, *shapes):
    return [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]


@pytest.mark.parametrize("cfg", [dict(), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3),
                                 dict(momentum=0.8, nesterov=True), dict(momentum=0.9, weight_decay=0.01),
                                 dict(weight_decay=0.1)])
def test_sgd_matches_float64_reference(rng, cfg):
    shapes = [(1,), (17,), (3, 5, 2)]  # odd sizes: vector tails
    ps = params(rng, *shapes)
    start = [p.data.copy() for p in ps]
    grads = [[rng.standard_normal(s).astype(np.float32) for _ in range(4)] for s in shapes]
    opt = optim.SGD(ps, lr=0.1, **cfg)
    for t in range(4):
        for p, gs in zip(ps, grads):
            p.grad = gs[t]
        opt.step()
    for p, s0, gs in zip(ps, start, grads):
        # float32 updates of O(1) values over 4 steps: a few ulps each.
        np.testing.assert_allclose(p.data, reference_sgd(s0, gs, 0.1, **cfg), rtol=1e-5, atol=1e-5)
    assert opt.step_count == 4


def test_sgd_matches_torch(rng):
    torch = pytest.importorskip("torch")
    ps = params(rng, (4, 3), (5,))
    tps = [torch.nn.Parameter(torch.tensor(p.data)) for p in ps]
    groups = [{"params": [ps[0]], "lr": 0.05}, {"params": [ps[1]], "momentum": 0.5}]
    opt = optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=False, weight_decay=1e-3)
    topt = torch.optim.SGD([{"params": [tps[0]], "lr": 0.05}, {"params": [tps[1]], "momentum": 0.5}],
                           lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(5):
        for p, tp in zip(ps, tps):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, tp.grad = g, torch.tensor(g)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_frozen_and_gradless_parameters_are_skipped(rng):
    a, b = params(rng, (3,), (3,))
    b.requires_grad = False
    a0, b0 = a.data.copy(), b.data.copy()
    b.grad = np.ones(3, np.float32)
    opt = optim.SGD([a, b], lr=1.0, momentum=0.9)
    opt.step()  # a has no gradient, b is frozen
    np.testing.assert_array_equal(a.data, a0)
    np.testing.assert_array_equal(b.data, b0)


def test_clip_grad_norm(rng):
    ps = params(rng, (4,), (7, 3))
    grads = [rng.standard_normal(p.shape).astype(np.float32) * 10 for p in ps]
    for p, g in zip(ps, grads):
        p.grad = g.copy()
    norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads))
    got = optim.clip_grad_norm_(ps, 1.0)
    assert abs(got - norm) < 1e-4 * norm
    total = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in ps))
    assert abs(total - 1.0) < 1e-4
    np.testing.assert_allclose(ps[0].grad, grads[0] / (norm + 1e-6), rtol=1e-5)
    # Small gradients are left alone.
    optim.clip_grad_norm_(ps, 100.0)
    assert abs(math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in ps)) - 1) < 1e-4
    # Through the optimizer: the step uses the clipped gradient.
    p = params(rng, (5,))[0]
    p0 = p.data.copy()
    g = np.full(5, 10.0, np.float32)
    p.grad = g.copy()
    optim.SGD([p], lr=1.0, max_grad_norm=0.5).step()
    np.testing.assert_allclose(p0 - p.data, g / np.linalg.norm(g) * 0.5, rtol=1e-4)


def test_schedules(rng):
    ps = params(rng, (2,))

    def lrs(make, n):
        opt = optim.SGD(ps, lr=1.0)
        s = make(opt)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(n):
            s.step()
            out.append(s.get_last_lr()[0])
        return out

    np.testing.assert_allclose(lrs(lambda o: optim.StepLR(o, 2, 0.5), 5), [1, 1, .5, .5, .25, .25])
    np.testing.assert_allclose(lrs(lambda o: optim.MultiStepLR(o, [1, 3], 0.1), 4), [1, .1, .1, .01, .01])
    np.testing.assert_allclose(lrs(lambda o: optim.CosineAnnealingLR(o, 4, 0.0), 5),
                               [1, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0, 0],
                               atol=1e-12)
    np.testing.assert_allclose(lrs(lambda o: optim.LinearWarmupLR(o, 4, 0.2), 5), [.2, .4, .6, .8, 1, 1])
    cos_after = lambda o: optim.LinearWarmupLR(o, 2, 0.5, after=optim.CosineAnnealingLR(o, 2))
    np.testing.assert_allclose(lrs(cos_after, 4), [.5, .75, 1, .5, 0], atol=1e-12)


def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    p = nn.Parameter(np.zeros(1, np.float32))
    tp = torch.nn.Parameter(torch.zeros(1))
    for ours, theirs in [(lambda o: optim.StepLR(o, 3, 0.3), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.3)),
                         (lambda o: optim.MultiStepLR(o, [2, 5]),
                          lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2, 5])),
                         (lambda o: optim.CosineAnnealingLR(o, 8, 0.01),  # torch cycles past T_max; we hold
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 8, 0.01))]:
        o, to = optim.SGD([p], lr=0.5), torch.optim.SGD([tp], lr=0.5)
        s, ts = ours(o), theirs(to)
        for _ in range(7):
            to.step()
            s.step()
            ts.step()
            assert abs(s.get_last_lr()[0] - ts.get_last_lr()[0]) < 1e-9


def test_state_dict_round_trip(rng):
    ps = params(rng, (3,), (2, 2))
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    sched = optim.StepLR(opt, 1, 0.5)
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    opt.step()
    sched.step()
    st, sst = opt.state_dict(), sched.state_dict()
    ps2 = [nn.Parameter(p.data.copy()) for p in ps]
    opt2 = optim.SGD(ps2, lr=0.1, momentum=0.9)
    sched2 = optim.StepLR(opt2, 1, 0.5)
    opt2.load_state_dict(st)
    sched2.load_state_dict(sst)
    assert opt2.step_count == 1 and opt2.param_groups[0]["lr"] == 0.05
    for o, p_list in ((opt, ps), (opt2, ps2)):
        for p in p_list:
            p.grad = np.full(p.shape, 0.5, np.float32)
        o.step()
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.data, b.data)
    bad = opt.state_dict()
    bad["momentum_buffers"][0] = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="momentum buffer 0"):
        opt2.load_state_dict(bad)


@pytest.mark.parametrize("kw,match", [(dict(lr=-1), "lr"), (dict(lr=0.1, nesterov=True), "Nesterov"),
                                      (dict(lr=0.1, momentum=-0.5), "momentum")])
def test_bad_arguments(rng, kw, match):
    with pytest.raises(ValueError, match=match):
        optim.SGD(params(rng, (2,)), **kw)


def test_bad_params():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameters"):
        optim.SGD([np.zeros(3)], lr=0.1)
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="unknown options"):
        optim.SGD([{"params": [p], "betas": 1}], lr=0.1)
