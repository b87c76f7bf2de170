"""The autograd walk itself (autograd.py, tensor.py, the ops dispatcher): recording,
accumulation, grad mode, autograd.grad, freeing, frozen parameters."""
import gc
import weakref

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import ops
from cnnnative.nn import Parameter


def _rng():
    return np.random.default_rng(7)


def test_plain_arrays_record_nothing_and_stay_numpy():
    x = _rng().standard_normal((2, 3)).astype(np.float32)
    assert type(ops.relu(x)) is np.ndarray


def test_tensors_without_grad_give_tensors_without_history():
    t = cn.Tensor(_rng().standard_normal((2, 3)))
    y = ops.relu(t)
    assert isinstance(y, cn.Tensor) and not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(np.asarray(y), np.maximum(t.data, 0))


def test_fan_out_accumulates_and_backward_accumulates_across_calls():
    x = _rng().standard_normal((3, 4)).astype(np.float32)
    p = Parameter(x)
    g1 = _rng().standard_normal((3, 4)).astype(np.float32)
    # relu(p) used twice through add_relu: d/dp = 2 * relu'(...) paths
    y = ops.add_relu(ops.relu(p), ops.relu(p))
    y.backward(g1)
    mask = (x > 0).astype(np.float32)
    np.testing.assert_allclose(p.grad, 2 * g1 * mask, rtol=1e-6)
    first = p.grad.copy()
    ops.relu(p).backward(g1)
    np.testing.assert_allclose(p.grad, first + g1 * mask, rtol=1e-6)
    assert np.abs(p.grad).sum() > 0


def test_grad_array_is_owned_by_each_leaf():
    a, b = Parameter(np.ones((2, 2))), Parameter(np.ones((2, 2)))
    ops.add_relu(a, b).backward(np.ones((2, 2), np.float32))
    assert a.grad is not b.grad
    a.grad *= 3  # an optimizer scaling one in place must not touch the other
    np.testing.assert_array_equal(b.grad, np.ones((2, 2)))


def test_user_gradient_is_copied():
    p = Parameter(np.ones((2, 2)))
    g = np.ones((2, 2), np.float32)
    ops.dropout(p, 0.0).backward(g)  # identity: the gradient reaches the leaf unchanged
    p.grad *= 5
    np.testing.assert_array_equal(g, np.ones((2, 2)))


def test_no_grad_and_enable_grad():
    p = Parameter(np.ones((2, 2)))
    with cn.no_grad():
        assert not cn.is_grad_enabled()
        y = ops.relu(p)
        assert not y.requires_grad
        with cn.enable_grad():
            assert ops.relu(p).requires_grad
    assert cn.is_grad_enabled() and ops.relu(p).requires_grad

    @cn.no_grad()
    def f():
        return ops.relu(p)
    assert cn.is_grad_enabled()
    assert not f().requires_grad


def test_frozen_parameter_gets_no_gradient_and_no_work(monkeypatch):
    rng = _rng()
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = Parameter(rng.standard_normal((4, 3, 3, 3)), requires_grad=False)
    b = Parameter(np.zeros(4))
    calls = []
    import cnnnative.ops.conv as conv_area
    real = conv_area.conv2d_weight
    monkeypatch.setattr(conv_area, "conv2d_weight", lambda *a, **k: calls.append(1) or real(*a, **k))
    ops.conv2d(x, w, b, padding=1).backward(np.ones((2, 4, 5, 5), np.float32))
    assert w.grad is None and calls == []
    np.testing.assert_allclose(b.grad, np.full(4, 50.0))


def test_autograd_grad_leaves_parameter_gradients_alone():
    rng = _rng()
    x = cn.Tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
    w = Parameter(rng.standard_normal((4, 3, 3, 3)))
    y = ops.relu(ops.conv2d(x, w, padding=1))
    g = rng.standard_normal(y.shape).astype(np.float32)
    (gx,) = cn.autograd.grad(y, x, grad_outputs=g)
    assert w.grad is None and x.grad is None
    # the same as a full backward's input gradient
    x2 = cn.Tensor(x.data, requires_grad=True)
    ops.relu(ops.conv2d(x2, w, padding=1)).backward(g)
    np.testing.assert_allclose(gx, x2.grad, rtol=1e-6, atol=1e-6)
    assert np.abs(gx).sum() > 0


def test_autograd_grad_of_an_intermediate_tensor():
    p = Parameter(_rng().standard_normal((3, 4)))
    h = ops.relu(p)
    y = ops.tanh(h)
    (gh,) = cn.autograd.grad(y, h, grad_outputs=np.ones((3, 4), np.float32))
    np.testing.assert_allclose(gh, 1 - np.tanh(h.data) ** 2, rtol=1e-6)
    assert p.grad is None


def test_unused_input_is_an_error_unless_allowed():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(3))
    y = ops.relu(a)
    with pytest.raises(RuntimeError, match="not used"):
        cn.autograd.grad(y, [a, b], grad_outputs=np.ones(3, np.float32), retain_graph=True)
    ga, gb = cn.autograd.grad(y, [a, b], grad_outputs=np.ones(3, np.float32), allow_unused=True)
    assert gb is None and ga.shape == (3,)


def test_second_backward_needs_retain_graph():
    p = Parameter(np.ones((2, 2)))
    y = ops.tanh(p)
    g = np.ones((2, 2), np.float32)
    y.backward(g, retain_graph=True)
    y.backward(g)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(g)


def test_non_scalar_backward_needs_a_gradient():
    y = ops.relu(Parameter(np.ones((2, 2))))
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))


def test_output_without_history_cannot_go_backward():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ops.relu(cn.Tensor(np.ones(3))).backward(np.ones(3))


def test_graph_is_freed_with_its_output():
    p = Parameter(np.ones((4, 4)))
    y = ops.tanh(ops.relu(p))
    node = weakref.ref(y.grad_fn)
    y.backward(np.ones((4, 4), np.float32))
    del y
    gc.collect()
    assert node() is None


def test_recording_with_out_is_refused():
    p = Parameter(np.ones(3))
    with pytest.raises(ValueError, match="out="):
        ops.relu(p, out=np.empty(3, np.float32))


def test_multi_output_record_routes_each_gradient():
    from cnnnative.autograd import record
    p = Parameter(np.arange(4.0))
    a, b = record((p.data * 2, p.data * 3), (p,),
                  lambda gs: (2 * (gs[0] if gs[0] is not None else 0) + 3 * (gs[1] if gs[1] is not None else 0),))
    ops.relu(b).backward(np.ones(4, np.float32))
    np.testing.assert_allclose(p.grad, [0, 3, 3, 3])  # relu'(0) = 0 at the first element


def test_numpy_interop():
    t = cn.Tensor(np.arange(6.0).reshape(2, 3))
    assert np.asarray(t).dtype == np.float32 and t.shape == (2, 3) and t.size() == (2, 3)
    assert t.size(1) == 3 and t.ndim == 2 and len(t) == 2
    assert t.numpy() is t.data
    d = cn.Tensor(t, requires_grad=True).detach()
    assert not d.requires_grad and d.is_leaf


def test_max_and_min_along_a_dim_give_values_and_indices_as_torch():
    x = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]], np.float32)
    t = cn.Tensor(x, requires_grad=True)
    values, indices = t.max(1)
    np.testing.assert_array_equal(np.asarray(values), [5, 7])
    np.testing.assert_array_equal(indices, [1, 0])
    v, i = t.min(0, keepdim=True)
    assert v.shape == (1, 3) and i.shape == (1, 3)
    np.testing.assert_array_equal(i, [[0, 1, 0]])
    assert float(t.max()) == 7.0
    values.sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 1, 0], [0.5, 0, 0.5]])  # ties share, as torch.amax
