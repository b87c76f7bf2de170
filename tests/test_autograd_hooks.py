"""Leaf gradient hooks (Tensor.register_post_accumulate_grad_hook) and
autograd.queue_callback: when they fire, what they see, and that they cost nothing unused."""
import gc

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import autograd, nn, ops
from cnnnative.nn import Parameter


def _param(shape=(3,), seed=0):
    return Parameter(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def test_hook_fires_once_with_the_final_gradient_of_a_parameter_used_twice():
    w = _param()
    x = cn.Tensor(np.arange(3, dtype=np.float32))
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    loss = (w * x).sum() + (w * w).sum() + ops.relu(w).sum()
    loss.backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], w.grad)
    np.testing.assert_allclose(w.grad, x.data + 2 * w.data + (w.data > 0), rtol=1e-6)


def test_hook_sees_accumulation_across_backwards_and_fires_each_backward():
    w = _param()
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    assert len(seen) == 2
    np.testing.assert_allclose(seen[0], 2)
    np.testing.assert_allclose(seen[1], 5)


def test_hooks_fire_in_the_order_gradients_become_final():
    # A chain: the last layer's parameters are final first (reverse of registration order).
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    order = []
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, name=name: order.append(name))
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    model(x).sum().backward()
    assert set(order) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert max(order.index("2.weight"), order.index("2.bias")) < min(order.index("0.weight"), order.index("0.bias"))


def test_hook_not_called_without_a_gradient_nor_by_autograd_grad():
    used, unused = _param(seed=1), _param(seed=2)
    calls = []
    for p in (used, unused):
        p.register_post_accumulate_grad_hook(lambda t: calls.append(t))
    x = cn.Tensor(np.ones(3, np.float32), requires_grad=True)
    loss = (used * x).sum()
    autograd.grad(loss, [x], retain_graph=True)
    assert calls == [] and used.grad is None
    loss.backward()
    assert len(calls) == 1 and calls[0] is used and unused.grad is None


def test_frozen_parameter_hook_is_not_called():
    w = _param()
    w.requires_grad_(False)
    v = _param(seed=3)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append("w"))
    (w * v).sum().backward()
    assert calls == []


def test_leaf_that_is_the_output_fires():
    w = _param()
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.copy()))
    w.backward(np.ones(3, np.float32))
    assert len(calls) == 1


def test_handle_remove_and_non_leaf_and_bad_hook():
    w = _param()
    calls = []
    h = w.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    h.remove()
    h.remove()  # twice is fine
    (w * 2).sum().backward()
    assert calls == []
    with pytest.raises(RuntimeError, match="leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="callable"):
        w.register_post_accumulate_grad_hook(3)


def test_hooks_die_with_their_leaf():
    w = _param()
    w.register_post_accumulate_grad_hook(lambda t: None)
    before = len(autograd._leaf_hooks)
    del w
    gc.collect()
    assert len(autograd._leaf_hooks) == before - 1


def test_queue_callback_runs_once_after_every_gradient_is_final():
    a, b = _param(seed=4), _param(seed=5)
    events = []

    def hook(t):
        events.append("hook")
        if len(events) == 1:
            autograd.queue_callback(lambda: events.append(("end", a.grad is not None, b.grad is not None)))

    a.register_post_accumulate_grad_hook(hook)
    ((a * 2).sum() + (b * 3).sum()).backward()
    assert events == ["hook", ("end", True, True)]
    with pytest.raises(RuntimeError, match="no backward"):
        autograd.queue_callback(lambda: None)


def test_gradients_unchanged_by_hooks():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
    x = np.random.default_rng(2).standard_normal((2, 2, 4, 4)).astype(np.float32)
    ops.cross_entropy(model(x), np.array([0, 1])).backward()
    plain = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(lambda t: None)
    ops.cross_entropy(model(x), np.array([0, 1])).backward()
    for g, p in zip(plain, model.parameters()):
        np.testing.assert_array_equal(g, p.grad)
