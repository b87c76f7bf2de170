"""optim.Adam / AdamW / RMSprop / Adagrad (and the machinery they share with SGD): step for
step against torch.optim, parameter groups, frozen parameters, zero_grad, state_dict round
trips, refused states and hyper-parameters, schedules, GPU parameters."""
import math

import numpy as np
import pytest

from cnnnative import nn, optim

SHAPES = [(7, 13), (33,), (1,), (2, 4, 8)]

# (our constructor, torch's constructor): the same options, each torch one single-tensor.
CONFIGS = {
    "adam": (lambda p: optim.Adam(p, lr=0.01), lambda t, p: t.optim.Adam(p, lr=0.01, foreach=False)),
    "adam-amsgrad-l2": (lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.1),
                        lambda t, p: t.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.1,
                                                  foreach=False)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01), lambda t, p: t.optim.AdamW(p, lr=0.01, foreach=False)),
    "adamw-amsgrad": (lambda p: optim.AdamW(p, lr=0.02, weight_decay=0.5, amsgrad=True, eps=1e-6),
                      lambda t, p: t.optim.AdamW(p, lr=0.02, weight_decay=0.5, amsgrad=True, eps=1e-6,
                                                 foreach=False)),
    "adam-maximize": (lambda p: optim.Adam(p, lr=0.01, maximize=True),
                      lambda t, p: t.optim.Adam(p, lr=0.01, maximize=True, foreach=False)),
    "rmsprop": (lambda p: optim.RMSprop(p, lr=0.01), lambda t, p: t.optim.RMSprop(p, lr=0.01, foreach=False)),
    "rmsprop-centered-momentum": (
        lambda p: optim.RMSprop(p, lr=0.005, alpha=0.9, centered=True, momentum=0.9, weight_decay=0.01),
        lambda t, p: t.optim.RMSprop(p, lr=0.005, alpha=0.9, centered=True, momentum=0.9, weight_decay=0.01,
                                     foreach=False)),
    "rmsprop-momentum": (lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5),
                         lambda t, p: t.optim.RMSprop(p, lr=0.01, momentum=0.5, foreach=False)),
    "adagrad": (lambda p: optim.Adagrad(p, lr=0.1), lambda t, p: t.optim.Adagrad(p, lr=0.1, foreach=False)),
    "adagrad-decay": (
        lambda p: optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-6),
        lambda t, p: t.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1,
                                     eps=1e-6, foreach=False)),
}


def params(rng, shapes=SHAPES):
    return [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]


def set_grads(rng, ps, tps=None):
    for i, p in enumerate(ps):
        g = rng.standard_normal(p.shape).astype(np.float32)
        p.grad = g
        if tps is not None:
            import torch
            tps[i].grad = torch.from_numpy(g.copy())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_torch_step_for_step(isa, rng, name):
    torch = pytest.importorskip("torch")
    ours, theirs = CONFIGS[name]
    ps = params(rng)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    opt, topt = ours(ps), theirs(torch, tps)
    for _ in range(20):
        set_grads(rng, ps, tps)
        opt.step()
        topt.step()
        for p, tp in zip(ps, tps):
            # PyTorch's sqrt (MKL) is not always correctly rounded: last-bit differences.
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    for k, tp in enumerate(tps):
        assert opt.state[k]["step"] == int(topt.state[tp]["step"]) == 20
        for buf, value in opt.state[k].items():
            if buf != "step":
                np.testing.assert_allclose(value, topt.state[tp][buf].numpy(), rtol=1e-5, atol=1e-6, err_msg=buf)


@pytest.mark.parametrize("name", ["adam-amsgrad-l2", "rmsprop-centered-momentum", "adagrad-decay"])
def test_groups_with_their_own_options_and_a_frozen_parameter(rng, name):
    """Two groups (different lr and options), a frozen parameter and one without a gradient
    in some steps: like torch, frozen/gradless parameters are untouched and their step
    count does not advance."""
    torch = pytest.importorskip("torch")
    ours, theirs = CONFIGS[name]
    ps = params(rng)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    ps[3].requires_grad = False
    frozen = ps[3].data.copy()
    extra = {"adam-amsgrad-l2": {"amsgrad": False, "weight_decay": 0.0}, "rmsprop-centered-momentum": {"centered": False},
             "adagrad-decay": {"lr_decay": 0.0}}[name]
    opt = type(ours(ps[:1]))([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.003, **extra}],
                             **{k: v for k, v in ours(ps[:1]).defaults.items()})
    ref = theirs(torch, [tps[0]])
    topt = type(ref)([{"params": tps[:2]}, {"params": tps[2:3], "lr": 0.003, **extra}],
                     **{k: v for k, v in ref.defaults.items() if k in ours(ps[:1]).defaults})
    for step in range(20):
        set_grads(rng, ps, tps)
        if step % 3 == 0:
            ps[1].grad, tps[1].grad = None, None
        opt.step()
        topt.step()
    for p, tp in zip(ps[:3], tps[:3]):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ps[3].data, frozen)
    assert 3 not in opt.state
    assert opt.state[1]["step"] == int(topt.state[tps[1]]["step"]) == 13
    assert opt.param_groups[1]["lr"] == 0.003 and opt.param_groups[0]["lr"] == opt.defaults["lr"]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_dict_round_trip_continues_identically(rng, name):
    ours = CONFIGS[name][0]
    ps = params(rng)
    opt = ours(ps)
    for _ in range(3):
        set_grads(rng, ps)
        opt.step()
    saved_params = [p.data.copy() for p in ps]
    state = opt.state_dict()
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in ps] for _ in range(4)]

    def continue_(o, ps):
        for gs in grads:
            for p, g in zip(ps, gs):
                p.grad = g
            o.step()
        return [p.data.copy() for p in ps]

    want = continue_(opt, ps)
    ps2 = [nn.Parameter(a.copy()) for a in saved_params]
    opt2 = ours(ps2)
    opt2.load_state_dict(state)
    assert opt2.step_count == 3
    for a, b in zip(continue_(opt2, ps2), want):
        np.testing.assert_array_equal(a, b)
    # the saved state is a copy: continuing the first optimizer did not change it
    opt3 = ours([nn.Parameter(a.copy()) for a in saved_params])
    opt3.load_state_dict(state)
    assert all(opt3.state[k]["step"] == 3 for k in opt3.state)


def _stepped_adam(rng, **kw):
    ps = params(rng)
    opt = optim.Adam(ps, lr=0.01, **kw)
    set_grads(rng, ps)
    opt.step()
    return ps, opt


@pytest.mark.parametrize("mutate,match", [
    (lambda s: s["state"][0].update(exp_avg=np.zeros((7, 12), np.float32)), r"state\[0\]\.exp_avg: float32\[7, 12\]"),
    (lambda s: s["state"][1].update(exp_avg_sq=np.zeros(33, np.float64)), r"state\[1\]\.exp_avg_sq: float64"),
    (lambda s: s["state"][0].pop("exp_avg_sq"), r"state\[0\] lacks \['exp_avg_sq'\]"),
    (lambda s: s["state"][0].update(square_avg=np.zeros((7, 13), np.float32)), "unknown state"),
    (lambda s: s["state"].update({9: s["state"][0]}), "only 4 parameters"),
    (lambda s: s["state"][2].update(step=-1), "step must be a non-negative integer"),
    (lambda s: s["state"][2].update(step=2 ** 63), r"step must be a non-negative integer below 2\*\*62"),
    (lambda s: s["param_groups"].append(dict(s["param_groups"][0])), "2 parameter groups"),
    (lambda s: s["param_groups"][0].update(num_params=3), "3 parameters"),
    (lambda s: s["param_groups"][0].update(betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\)"),
    (lambda s: s["param_groups"][0].update(amsgrad=True), r"lacks \['max_exp_avg_sq'\]"),
    (lambda s: s.update({"class": "AdamW"}), "optimizer state is AdamW's, this optimizer is Adam"),
    (lambda s: s.pop("class"), "optimizer state is SGD's"),
    (lambda s: s.pop("state"), "no 'state'"),
])
def test_mismatched_state_is_refused_and_nothing_changes(rng, mutate, match):
    ps, opt = _stepped_adam(rng)
    other_ps, other = _stepped_adam(rng)
    state = other.state_dict()
    mutate(state)
    before = opt.state_dict()
    with pytest.raises((ValueError, TypeError), match=match):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["step_count"] == before["step_count"] and after["param_groups"] == before["param_groups"]
    for k in before["state"]:
        for buf, v in before["state"][k].items():
            np.testing.assert_array_equal(after["state"][k][buf], v)


def test_sgd_state_is_not_loaded_into_adam(rng):
    ps = params(rng)
    sgd = optim.SGD(ps, lr=0.1, momentum=0.9)
    set_grads(rng, ps)
    sgd.step()
    with pytest.raises(ValueError, match="optimizer state is SGD's, this optimizer is Adam"):
        optim.Adam(ps).load_state_dict(sgd.state_dict())
    with pytest.raises(ValueError, match="optimizer state is Adam's, this optimizer is SGD"):
        sgd.load_state_dict(optim.Adam(ps).state_dict())


def p1():
    return [nn.Parameter(np.zeros(2, np.float32))]


@pytest.mark.parametrize("make,err,match", [
    (lambda: optim.Adam(p1(), lr=-1e-3), ValueError, "lr must be >= 0"),
    (lambda: optim.Adam(p1(), lr=math.nan), ValueError, "lr must be finite"),
    (lambda: optim.Adam(p1(), betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be in \[0, 1\)"),
    (lambda: optim.Adam(p1(), betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be >= 0"),
    (lambda: optim.Adam(p1(), betas=0.9), TypeError, "betas must be a pair"),
    (lambda: optim.Adam(p1(), eps=-1e-8), ValueError, "eps must be >= 0"),
    (lambda: optim.Adam(p1(), weight_decay=-0.1), ValueError, "weight_decay must be >= 0"),
    (lambda: optim.Adam(p1(), amsgrad=1), TypeError, "amsgrad must be a bool"),
    (lambda: optim.AdamW(p1(), weight_decay=math.inf), ValueError, "weight_decay must be finite"),
    (lambda: optim.AdamW(p1(), lr="0.1"), TypeError, "lr must be a number"),
    (lambda: optim.RMSprop(p1(), alpha=-0.5), ValueError, "alpha must be >= 0"),
    (lambda: optim.RMSprop(p1(), momentum=-0.5), ValueError, "momentum must be >= 0"),
    (lambda: optim.RMSprop(p1(), eps=-1.0), ValueError, "eps must be >= 0"),
    (lambda: optim.RMSprop(p1(), centered="yes"), TypeError, "centered must be a bool"),
    (lambda: optim.Adagrad(p1(), lr_decay=-0.1), ValueError, "lr_decay must be >= 0"),
    (lambda: optim.Adagrad(p1(), initial_accumulator_value=-1), ValueError, "initial_accumulator_value must be >= 0"),
    (lambda: optim.Adagrad(p1(), eps=-1e-10), ValueError, "eps must be >= 0"),
    (lambda: optim.Adam([{"params": p1(), "lr": -1.0}]), ValueError, "Adam group 0: lr must be >= 0"),
    (lambda: optim.Adam([{"params": p1(), "momentum": 0.9}]), ValueError, r"unknown options \['momentum'\]"),
    (lambda: optim.Adam([]), ValueError, "empty parameter list"),
    (lambda: optim.Adam([np.zeros(2, np.float32)]), TypeError, "expected Parameters"),
    (lambda: optim.Adam(3), TypeError, "params must be"),
])
def test_bad_hyper_parameters_are_refused_naming_them(make, err, match):
    with pytest.raises(err, match=match):
        make()


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p),
                                  lambda p: optim.AdamW(p), lambda p: optim.RMSprop(p), lambda p: optim.Adagrad(p)])
def test_zero_grad(rng, make):
    ps = params(rng)
    opt = make(ps)
    set_grads(rng, ps)
    grads = [p.grad for p in ps]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(ps, grads):
        assert p.grad is g and not p.grad.any()  # the same arrays, zeroed in place
    opt.zero_grad()
    assert all(p.grad is None for p in ps)
    opt.zero_grad(set_to_none=False)  # None stays None
    assert all(p.grad is None for p in ps)


@pytest.mark.parametrize("make", [lambda p: optim.Adam(p, lr=0.1), lambda p: optim.AdamW(p, lr=0.1),
                                  lambda p: optim.RMSprop(p, lr=0.1), lambda p: optim.Adagrad(p, lr=0.1)])
def test_schedules_drive_every_optimizer(rng, make):
    torch = pytest.importorskip("torch")
    ps = params(rng, [(5,)])
    opt = make(ps)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    tp = torch.nn.Parameter(torch.from_numpy(ps[0].data.copy()))
    topt = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "RMSprop": torch.optim.RMSprop,
            "Adagrad": torch.optim.Adagrad}[type(opt).__name__]([tp], lr=0.1, foreach=False)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5)
    for _ in range(6):
        set_grads(rng, ps, [tp])
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr())
    np.testing.assert_allclose(ps[0].data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_closure_is_called_and_its_loss_returned(rng):
    ps = params(rng, [(3,)])
    opt = optim.Adam(ps)
    calls = []

    def closure():
        calls.append(1)
        ps[0].grad = np.ones(3, np.float32)
        return 1.5

    assert opt.step(closure) == 1.5 and calls == [1] and opt.state[0]["step"] == 1


def test_gpu_parameters_are_refused_not_moved(rng):
    """No CUDA kernel for these optimizers: a parameter on the GPU is a clear error before
    anything changes (never a silent copy to the host and back)."""
    gpu_tensor = type("Tensor", (), {"__module__": "cnnnative._cuda", "shape": (3,)})
    ps = params(rng, [(4,), (3,)])
    opt = optim.Adam(ps)
    set_grads(rng, ps)
    before = ps[0].data.copy()
    try:
        ps[1].data = gpu_tensor()
    except Exception:  # a Parameter that validates its data: nothing to fake
        pytest.skip("Parameter.data refuses a stand-in GPU tensor")
    with pytest.raises(NotImplementedError, match="Adam: parameter 1 .* is on a GPU and Adam has no CUDA kernel"):
        opt.step()
    np.testing.assert_array_equal(ps[0].data, before)
    assert opt.state == {} and opt.step_count == 0


def test_grad_of_another_shape_is_refused_before_any_update(rng):
    ps = params(rng, [(4,), (3,)])
    opt = optim.RMSprop(ps)
    ps[0].grad = np.ones(4, np.float32)
    ps[1].grad = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=r"RMSprop: parameter 1 has shape \(3,\) but its grad has shape \(5,\)"):
        opt.step()
    assert opt.state == {}


def test_nan_gradient_reaches_the_parameter(rng):
    for make in (optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad):
        ps = params(rng, [(9,)])
        opt = make(ps)
        g = np.ones(9, np.float32)
        g[4] = np.nan
        ps[0].grad = g
        opt.step()
        assert np.isnan(ps[0].data[4]) and np.isfinite(np.delete(ps[0].data, 4)).all(), make.__name__


def test_options_turned_on_later_get_fresh_state(rng):
    """amsgrad / centered / momentum switched on in a group after some steps: the buffer
    they need starts as PyTorch would have started it (zeros)."""
    ps = params(rng, [(6,)])
    opt = optim.RMSprop(ps, lr=0.01)
    set_grads(rng, ps)
    opt.step()
    opt.param_groups[0]["momentum"] = 0.9
    set_grads(rng, ps)
    opt.step()
    assert opt.state[0]["momentum_buffer"].shape == (6,) and opt.state[0]["step"] == 2


def test_pytorch_style_loop_with_backward_and_a_leaf_input_tensor(rng):
    """opt.zero_grad(); out.backward(); opt.step() through autograd, for the parameters of a
    layer and for a leaf Tensor being optimised (an input), against the same loop in torch."""
    torch = pytest.importorskip("torch")
    import cnnnative as cn
    from cnnnative import ops

    lin = nn.Linear(5, 3)
    x = cn.Tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    target = rng.standard_normal((4, 3)).astype(np.float32)
    tw = torch.nn.Parameter(torch.from_numpy(lin.weight.data.copy()))
    tb = torch.nn.Parameter(torch.from_numpy(lin.bias.data.copy()))
    tx = torch.from_numpy(x.data.copy()).requires_grad_()
    opt = optim.Adam([{"params": lin.parameters()}, {"params": [x], "lr": 0.05}], lr=0.01)
    topt = torch.optim.Adam([{"params": [tw, tb]}, {"params": [tx], "lr": 0.05}], lr=0.01, foreach=False)
    for _ in range(5):
        opt.zero_grad()
        out = ops.linear(x, lin.weight, lin.bias)
        out.backward(out.data - target)  # the gradient of 0.5 * ||out - target||^2
        opt.step()
        topt.zero_grad()
        tout = torch.nn.functional.linear(tx, tw, tb)
        tout.backward(tout.detach() - torch.from_numpy(target))
        topt.step()
    np.testing.assert_allclose(lin.weight.data, tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.data, tx.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.Adam([ops.linear(x, lin.weight, lin.bias)])


def test_adam_with_decoupled_weight_decay_is_adamw_and_torch_only_options_are_accepted(rng):
    ps, qs = params(rng, [(6,)]), None
    qs = [nn.Parameter(ps[0].data.copy())]
    a = optim.Adam(ps, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, foreach=False)
    w = optim.AdamW(qs, lr=0.01, weight_decay=0.1, fused=True)
    assert w.param_groups[0]["decoupled_weight_decay"] is True
    for _ in range(3):
        g = rng.standard_normal(6).astype(np.float32)
        ps[0].grad, qs[0].grad = g, g.copy()
        a.step()
        w.step()
    np.testing.assert_array_equal(ps[0].data, qs[0].data)
    optim.RMSprop(ps, foreach=True)
    optim.Adagrad(ps, foreach=None, fused=None)


def test_add_param_group_like_torch(rng):
    torch = pytest.importorskip("torch")
    ps = params(rng, [(5,), (3, 2)])
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    opt = optim.RMSprop(ps[:1], lr=0.01, momentum=0.5)
    topt = torch.optim.RMSprop(tps[:1], lr=0.01, momentum=0.5, foreach=False)
    for step in range(6):
        if step == 2:  # e.g. a layer unfrozen while fine-tuning
            opt.add_param_group({"params": ps[1:], "lr": 0.03, "centered": True})
            topt.add_param_group({"params": tps[1:], "lr": 0.03, "centered": True})
        set_grads(rng, ps, tps)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="param group 2: a parameter appears more than once"):
        opt.add_param_group({"params": ps[:1]})
    with pytest.raises(ValueError, match="RMSprop group 2: alpha must be >= 0"):
        opt.add_param_group({"params": params(rng, [(2,)]), "alpha": -1.0})
    assert len(opt.param_groups) == 2
