"""The Tensor's operators and the shape / reduction / indexing ops (ops/elementwise.py,
matmul.py, reduce.py, index.py, shape.py): every op and shape once in CASES, checked

- against float64 central differences of a numpy reference (gradients non-zero), and
- against PyTorch autograd, forward and backward (skipped without torch),

then numpy interop, no_grad, the dunder methods, reuse of a tensor in one graph, multiple
outputs and the errors.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import ops
from ref_ops import numeric_grad


@dataclass
class Case:
    """fn(m, *inputs) runs with m = cnnnative.ops on Tensors and m = torch on torch
    tensors; ref(*inputs) is the float64 numpy reference (default: fn with m = numpy)."""
    name: str
    fn: Callable
    shapes: tuple
    ref: Callable | None = None
    low: float = -2.0           # inputs are uniform in [low, high] ...
    high: float = 2.0
    positive: tuple = ()        # ... except these inputs, in [0.5, 2]
    numeric: bool = True        # False: not differentiable there (ties): torch only
    torch: bool = True          # False: torch lacks it (negative slice steps)
    tol: float = 1e-5

    def inputs(self, rng):
        xs = []
        for i, shape in enumerate(self.shapes):
            lo, hi = (0.5, 2.0) if i in self.positive else (self.low, self.high)
            xs.append(rng.uniform(lo, hi, shape).astype(np.float32))
        return xs

    def reference(self, *xs):
        return self.ref(*xs) if self.ref is not None else self.fn(np, *xs)


def _np_split(a, sizes, axis):
    return tuple(np.split(a, np.cumsum(sizes)[:-1], axis=axis))


MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
TIES = lambda rng, shape: rng.integers(0, 3, shape).astype(np.float32)  # noqa: E731

CASES = [
    # elementwise, with broadcasting and numbers on either side
    Case("add", lambda m, a, b: a + b, ((3, 4), (3, 4))),
    Case("add_row", lambda m, a, b: a + b, ((2, 3), (3,))),
    Case("add_both_broadcast", lambda m, a, b: m.add(a, b), ((2, 1, 4), (3, 1))),
    Case("add_number_left", lambda m, a: 2.5 + a, ((2, 3),)),
    Case("add_number_right", lambda m, a: a + 1, ((4,),)),
    Case("add_0d", lambda m, a, b: a + b, ((), (2, 3))),
    Case("sub", lambda m, a, b: a - b, ((2, 3), (2, 1))),
    Case("sub_number_left", lambda m, a: 3 - a, ((2, 3),)),
    Case("sub_op", lambda m, a, b: m.sub(a, b), ((1, 3), (4, 1)), ref=np.subtract),
    Case("mul", lambda m, a, b: a * b, ((2, 3, 4), (4,))),
    Case("mul_number", lambda m, a: 0.5 * a * 3, ((3, 2),)),
    Case("mul_op", lambda m, a, b: m.mul(a, b), ((3, 1), (1, 2)), ref=np.multiply),
    Case("div", lambda m, a, b: a / b, ((2, 3), (2, 3)), positive=(1,)),
    Case("div_broadcast", lambda m, a, b: m.div(a, b), ((2, 3), (3,)), ref=np.divide, positive=(1,)),
    Case("div_number_left", lambda m, a: 1.5 / a, ((5,),), positive=(0,)),
    Case("div_number_right", lambda m, a: a / 4, ((5,),)),
    Case("pow_2", lambda m, a: a ** 2, ((3, 4),)),
    Case("pow_3_negative_base", lambda m, a: a ** 3, ((3, 4),)),
    Case("pow_half", lambda m, a: a ** 0.5, ((3, 4),), positive=(0,)),
    Case("pow_tensor_exponent", lambda m, a, b: a ** b, ((2, 3), (2, 3)), positive=(0,)),
    Case("pow_broadcast_exponent", lambda m, a, b: m.pow(a, b), ((2, 3), (3,)), positive=(0,)),
    Case("rpow", lambda m, a: 2 ** a, ((2, 3),)),
    Case("neg", lambda m, a: -a, ((2, 3),)),
    Case("exp", lambda m, a: m.exp(a), ((2, 3),)),
    Case("log", lambda m, a: m.log(a), ((2, 3),), positive=(0,)),
    Case("sqrt", lambda m, a: m.sqrt(a), ((2, 3),), positive=(0,)),
    Case("abs", lambda m, a: m.abs(a), ((2, 3),)),
    Case("methods_exp_log", lambda m, a: (-a).exp().log().abs().sqrt(), ((4,),), positive=(0,),
         ref=lambda a: np.sqrt(np.abs(np.log(np.exp(-a))))),
    Case("clamp", lambda m, a: m.clamp(a, -0.5, 0.7), ((3, 5),), ref=lambda a: np.clip(a, -0.5, 0.7)),
    Case("clamp_min", lambda m, a: m.clamp(a, min=0.1), ((3, 5),), ref=lambda a: np.maximum(a, 0.1)),
    Case("clamp_max", lambda m, a: m.clamp(a, max=0.1), ((3, 5),), ref=lambda a: np.minimum(a, 0.1)),
    Case("maximum", lambda m, a, b: m.maximum(a, b), ((4, 3), (3,))),
    Case("minimum", lambda m, a, b: m.minimum(a, b), ((2, 1), (1, 3))),
    # matmul: numpy's rules for 1-D, 2-D and batched operands
    Case("matmul_2d", lambda m, a, b: a @ b, ((3, 4), (4, 5))),
    Case("matmul_dot", lambda m, a, b: a @ b, ((4,), (4,))),
    Case("matmul_vec_mat", lambda m, a, b: a @ b, ((4,), (4, 5))),
    Case("matmul_mat_vec", lambda m, a, b: m.matmul(a, b), ((3, 4), (4,))),
    Case("matmul_batched", lambda m, a, b: a @ b, ((2, 3, 4), (2, 4, 5))),
    Case("matmul_batch_times_mat", lambda m, a, b: a @ b, ((2, 3, 4), (4, 5))),
    Case("matmul_mat_times_batch", lambda m, a, b: a @ b, ((3, 4), (2, 4, 5))),
    Case("matmul_broadcast_batch", lambda m, a, b: a @ b, ((2, 1, 3, 4), (5, 4, 2))),
    Case("matmul_vec_batch", lambda m, a, b: a @ b, ((4,), (2, 4, 5))),
    Case("matmul_batch_vec", lambda m, a, b: a @ b, ((2, 3, 4), (4,))),
    # reductions
    Case("sum_all", lambda m, a: a.sum(), ((3, 4),), ref=lambda a: a.sum()),
    Case("sum_dim", lambda m, a: a.sum(1), ((3, 4),), ref=lambda a: a.sum(1)),
    Case("sum_keepdim", lambda m, a: a.sum(-1, keepdim=True), ((2, 3, 4),), ref=lambda a: a.sum(-1, keepdims=True)),
    Case("sum_dims", lambda m, a: m.sum(a, (0, 2)), ((2, 3, 4),), ref=lambda a: a.sum((0, 2))),
    Case("sum_0d", lambda m, a: a.sum(), ((),), ref=lambda a: a.sum()),
    Case("mean_all", lambda m, a: a.mean(), ((3, 4),), ref=lambda a: a.mean()),
    Case("mean_dims_keepdim", lambda m, a: a.mean((0, -1), keepdim=True), ((2, 3, 4),),
         ref=lambda a: a.mean((0, -1), keepdims=True)),
    Case("amax_dim", lambda m, a: m.amax(a, 1), ((3, 5),), ref=lambda a: a.max(1)),
    Case("amax_all", lambda m, a: m.amax(a), ((3, 5),), ref=lambda a: a.max()),
    Case("amin_dims_keepdim", lambda m, a: m.amin(a, (0, 2), keepdim=True), ((2, 3, 4),),
         ref=lambda a: a.min((0, 2), keepdims=True)),
    Case("max_method", lambda m, a: a.max(), ((4, 2),), ref=lambda a: a.max()),
    # shape ops
    Case("reshape", lambda m, a: a.reshape(4, 3), ((3, 4),), ref=lambda a: a.reshape(4, 3)),
    Case("reshape_minus_one", lambda m, a: a.reshape((2, -1)), ((3, 4),), ref=lambda a: a.reshape(2, -1)),
    Case("view", lambda m, a: a.view(12), ((3, 4),), ref=lambda a: a.reshape(12)),
    Case("flatten", lambda m, a: a.flatten(1), ((2, 3, 4),), ref=lambda a: a.reshape(2, 12)),
    Case("transpose", lambda m, a: a.transpose(0, 2), ((2, 3, 4),), ref=lambda a: a.swapaxes(0, 2)),
    Case("transpose_negative", lambda m, a: m.transpose(a, -1, 0), ((2, 3),), ref=lambda a: a.T),
    Case("T", lambda m, a: a.T * 1, ((2, 3),), ref=lambda a: a.T),
    Case("permute", lambda m, a: a.permute(2, 0, 1), ((2, 3, 4),), ref=lambda a: a.transpose(2, 0, 1)),
    Case("squeeze_all", lambda m, a: a.squeeze(), ((2, 1, 3, 1),), ref=lambda a: a.squeeze()),
    Case("squeeze_dim", lambda m, a: a.squeeze(1), ((2, 1, 3),), ref=lambda a: a.squeeze(1)),
    Case("squeeze_dim_not_one", lambda m, a: a.squeeze(0), ((2, 1, 3),), ref=lambda a: a),
    Case("unsqueeze", lambda m, a: a.unsqueeze(0), ((2, 3),), ref=lambda a: a[None]),
    Case("unsqueeze_last", lambda m, a: a.unsqueeze(-1), ((2, 3),), ref=lambda a: a[..., None]),
    # indexing
    Case("index_int", lambda m, a: a[1], ((3, 4),)),
    Case("index_slices", lambda m, a: a[:, 1:3], ((3, 4),)),
    Case("index_steps", lambda m, a: a[::2, 1::2], ((5, 4),)),
    Case("index_negative_step", lambda m, a: a[::-1, ::-2], ((3, 4),), torch=False),
    Case("index_none_ellipsis", lambda m, a: a[None, ..., 2], ((2, 3, 4),)),
    Case("index_negative_int", lambda m, a: a[-1, -2], ((3, 4),)),
    Case("index_int_array_repeats", lambda m, a: a[[0, 2, 0, 0]], ((3, 4),)),
    Case("index_two_arrays", lambda m, a: a[[0, 2, 2], [1, 1, 3]], ((3, 4),)),
    Case("index_array_and_slice", lambda m, a: a[:, [3, 0, 3]], ((3, 4),)),
    Case("index_bool_mask", lambda m, a: a[MASK], ((3, 4),)),
    Case("index_bool_rows", lambda m, a: a[np.array([True, False, True])], ((3, 4),)),
    # joining and cutting
    Case("cat", lambda m, a, b: m.cat([a, b], 1), ((2, 3), (2, 2)), ref=lambda a, b: np.concatenate([a, b], 1)),
    Case("cat_three_negative_dim", lambda m, a, b, c: m.cat((a, b, c), -1), ((2, 1), (2, 3), (2, 2)),
         ref=lambda a, b, c: np.concatenate([a, b, c], -1)),
    Case("stack", lambda m, a, b: m.stack([a, b]), ((2, 3), (2, 3)), ref=lambda a, b: np.stack([a, b])),
    Case("stack_last", lambda m, a, b: m.stack([a, b], -1), ((2, 3), (2, 3)), ref=lambda a, b: np.stack([a, b], -1)),
    Case("split_size", lambda m, a: m.split(a, 2, 1), ((3, 5),), ref=lambda a: _np_split(a, [2, 2, 1], 1)),
    Case("split_sections", lambda m, a: a.split([1, 3], 0), ((4, 2),), ref=lambda a: _np_split(a, [1, 3], 0)),
    Case("split_one_piece_used", lambda m, a: m.split(a, 2, 1)[1], ((3, 5),), ref=lambda a: a[:, 2:4]),
    Case("chunk", lambda m, a: m.chunk(a, 4, 0), ((5, 2),), ref=lambda a: _np_split(a, [2, 2, 1], 0)),
    Case("chunk_method", lambda m, a: a.chunk(2, -1), ((2, 4),), ref=lambda a: _np_split(a, [2, 2], -1)),
    # compositions
    Case("composition", lambda m, a, b, c: ((a @ b + c).exp().sum(1) / 3 - a[:, 0] ** 2).mean(),
         ((3, 4), (4, 2), (2,)), ref=lambda a, b, c: (np.exp(a @ b + c).sum(1) / 3 - a[:, 0] ** 2).mean()),
    Case("reuse", lambda m, a: a * a + a - a[0], ((3, 2),)),
]

# Ties: the gradient is split evenly among equal maxima (torch's amax rule); central
# differences do not apply there, so these go against torch only.
TIE_CASES = [
    Case("amax_ties", lambda m, a: m.amax(a, 1), ((4, 6),), numeric=False),
    Case("amin_ties_all", lambda m, a: m.amin(a), ((3, 3),), numeric=False),
    Case("max_method_ties_keepdim", lambda m, a: a.amax((0, 1), keepdim=True) if m is not ops else
         ops.amax(a, (0, 1), keepdim=True), ((2, 3, 2),), numeric=False),
    Case("maximum_ties", lambda m, a, b: m.maximum(a, b), ((3, 4), (4,)), numeric=False),
    Case("minimum_ties", lambda m, a, b: m.minimum(a, b), ((3, 4), (3, 4)), numeric=False),
    Case("clamp_at_bounds", lambda m, a: m.clamp(a, 0.0, 1.0), ((3, 4),), numeric=False),
]


def _seeded(case):
    return np.random.default_rng(zlib.crc32(case.name.encode()))


def _outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _cn_run(case, xs, rng):
    """Forward on Tensors, backward with random output gradients: (outputs, grads, out grads)."""
    ts = [cn.Tensor(x, requires_grad=True) for x in xs]
    outs = _outputs(case.fn(ops, *ts))
    assert all(isinstance(o, cn.Tensor) and o.requires_grad for o in outs)
    gs = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    cn.autograd.backward(outs, gs)
    return outs, [t.grad for t in ts], gs


@pytest.mark.parametrize("case", [c for c in CASES if c.numeric], ids=lambda c: c.name)
def test_gradient_by_central_differences(case):
    rng = _seeded(case)
    xs = case.inputs(rng)
    outs, grads, gs = _cn_run(case, xs, rng)
    for o, r in zip(outs, _outputs(case.reference(*[x.astype(np.float64) for x in xs]))):
        assert o.data.dtype == np.float32
        np.testing.assert_allclose(o.data, r, rtol=1e-5, atol=1e-5)
    for i, (x, grad) in enumerate(zip(xs, grads)):
        def loss(z, i=i):
            args = [x.astype(np.float64) for x in xs]
            args[i] = z
            return sum(float(np.sum(np.asarray(r, np.float64) * g))
                       for r, g in zip(_outputs(case.reference(*args)), gs))
        expected = numeric_grad(loss, x)
        assert grad is not None and grad.shape == x.shape and grad.dtype == np.float32
        assert np.abs(grad).sum() > 0, f"input {i}: zero gradient"
        np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-4, err_msg=f"input {i}")


@pytest.mark.parametrize("case", [c for c in CASES + TIE_CASES if c.torch], ids=lambda c: c.name)
def test_against_torch_autograd(case):
    torch = pytest.importorskip("torch")
    rng = _seeded(case)
    xs = [TIES(rng, s) for s in case.shapes] if not case.numeric else case.inputs(rng)
    outs, grads, gs = _cn_run(case, xs, rng)
    tts = [torch.tensor(x, requires_grad=True) for x in xs]
    touts = _outputs(case.fn(torch, *tts))
    torch.autograd.backward(touts, [torch.from_numpy(g) for g in gs])
    assert len(outs) == len(touts)
    for o, t in zip(outs, touts):
        assert o.shape == tuple(t.shape)
        np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=case.tol, atol=case.tol)
    for i, (grad, t) in enumerate(zip(grads, tts)):
        expected = t.grad.numpy() if t.grad is not None else np.zeros_like(xs[i])
        np.testing.assert_allclose(grad, expected, rtol=case.tol, atol=case.tol, err_msg=f"input {i}")


# --- numpy interop, no_grad, dunders, reuse -------------------------------------------------

def test_numpy_array_on_the_left_records():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = cn.Tensor(np.ones((2, 3)), requires_grad=True)
    for y in (x + t, x - t, x * t, x / t, np.float32(2) * t, 2.0 ** t):
        assert isinstance(y, cn.Tensor) and y.grad_fn is not None
    y = x.T @ t  # (3, 2) @ (2, 3)
    assert isinstance(y, cn.Tensor) and y.shape == (3, 3)
    y.sum().backward()
    np.testing.assert_allclose(t.grad, np.broadcast_to(x.sum(1, keepdims=True), (2, 3)))
    a = np.asarray(t)
    assert a is t.data and a.dtype == np.float32


def test_plain_arrays_give_plain_float32_arrays():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    for out in (ops.add(x, 1), ops.mul(x, x[0]), ops.sub(2, x), ops.div(x, 2), ops.pow(x, 2),
                ops.sum(x, 1), ops.amax(x), ops.matmul(x, x.T), ops.getitem(x, 0), ops.transpose(x, 0, 1),
                ops.cat([x, x]), ops.exp(x), ops.clamp(x, 0, 1)):
        assert type(out) is np.ndarray and out.dtype == np.float32
    assert ops.add(2.0, 3.0).shape == () and ops.sum(x).shape == ()
    assert all(type(p) is np.ndarray for p in ops.split(x, 1, 1))


def test_add_of_one_shape_is_the_core_kernel_result():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 5, 7)), rng.standard_normal((2, 3, 5, 7))
    out = ops.add(a, b)  # float64 in: converted, one float32 rounding as numpy's float32 add
    np.testing.assert_array_equal(out, a.astype(np.float32) + b.astype(np.float32))
    t = cn.Tensor(a, requires_grad=True)
    np.testing.assert_array_equal((t + b).data, out)


def test_tensors_without_grad_and_no_grad_record_nothing():
    a = cn.Tensor(np.ones((2, 3)))
    y = a * 2 + a[0] - a.sum(0)
    assert isinstance(y, cn.Tensor) and not y.requires_grad and y.grad_fn is None
    p = cn.Tensor(np.ones((2, 3)), requires_grad=True)
    with cn.no_grad():
        for y in (p + 1, p @ p.T, p.sum(), p[0], ops.cat([p, p]), p.split(1)[0], p.max(1).values):
            assert isinstance(y, cn.Tensor) and not y.requires_grad
    assert (p + 1).requires_grad


def test_dunder_methods():
    a_np = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    a = cn.Tensor(a_np, requires_grad=True)
    checks = [(a + 1, a_np + 1), (1 + a, 1 + a_np), (a - 1, a_np - 1), (1 - a, 1 - a_np),
              (a * 3, a_np * 3), (3 * a, 3 * a_np), (a / 2, a_np / 2), (2 / a, 2 / a_np),
              (a @ a, a_np @ a_np), (a_np @ a, a_np @ a_np), (a ** 2, a_np ** 2), (2 ** a, 2 ** a_np),
              (-a, -a_np), (+a, a_np), (a[1], a_np[1]), (a.T, a_np.T)]
    for got, want in checks:
        assert isinstance(got, cn.Tensor)
        np.testing.assert_allclose(got.data, want, rtol=1e-6)
    assert (+a) is a
    np.testing.assert_array_equal(a > 2, a_np > 2)


def test_reuse_in_one_graph_accumulates():
    a = cn.Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    b = cn.Tensor(np.array([[2.0], [0.5]]), requires_grad=True)
    y = (a * a + a).sum() + (a * b).sum() + (a + b).mean()
    y.backward()
    np.testing.assert_allclose(a.grad, 2 * a.data + 1 + b.data.sum() + 2 / 6, rtol=1e-6)
    np.testing.assert_allclose(b.grad, np.full((2, 1), a.data.sum() + 3 / 6), rtol=1e-6)


def test_split_outputs_without_gradient_get_zeros():
    a = cn.Tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
    first, second, third = a.split(2)
    (second * 3).sum().backward()
    np.testing.assert_array_equal(a.grad, [[0, 0], [0, 0], [3, 3], [3, 3], [0, 0]])


def test_iterating_a_tensor_stops_at_its_length():
    rows = list(cn.Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True))
    assert len(rows) == 3 and all(r.grad_fn is not None for r in rows)


def test_torch_semantics_of_chunk_split_squeeze():
    x = np.zeros((5, 2), np.float32)
    assert [p.shape[0] for p in ops.chunk(x, 4)] == [2, 2, 1]  # fewer pieces than asked, as torch
    assert len(ops.chunk(np.zeros((0, 3)), 3)) == 3
    assert [p.shape for p in ops.split(np.zeros(0), 0)] == [(0,)]
    assert ops.squeeze(np.zeros((2, 1)), 0).shape == (2, 1)
    assert ops.squeeze(np.zeros((2, 1, 1)), (1, 2)).shape == (2,)
    assert ops.sum(np.ones((2, 3)), ()).shape == ()  # dim=() reduces everything, as torch
    assert ops.sum(np.ones(()), 0).shape == ()
    assert ops.unsqueeze(np.ones(()), -1).shape == (1,)


def test_mean_of_nothing_is_nan_quietly():
    with np.errstate(all="raise"):
        assert np.isnan(ops.mean(np.zeros((0, 3)))) and ops.mean(np.zeros((0, 3)), 0).shape == (3,)


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.add(np.ones((2, 3)), np.ones(4)), ValueError,
     r"add: a has shape \(2, 3\) but b has shape \(4,\), which do not broadcast"),
    (lambda: ops.mul(np.ones((2, 3)), np.ones((3, 2))), ValueError, r"mul: .*\(2, 3\).*\(3, 2\)"),
    (lambda: ops.pow(np.ones(2), np.ones(3)), ValueError, r"pow: input has shape \(2,\) but exponent"),
    (lambda: ops.add(np.ones(2), None), TypeError, "add: b must be an array or a number"),
    (lambda: ops.add(np.ones(2), "1"), TypeError, "add: b must be"),
    (lambda: ops.mul(np.ones(2, np.complex64), 2), TypeError, "mul: a must be real"),
    (lambda: ops.matmul(np.ones((2, 3)), np.ones((4, 2))), ValueError,
     r"matmul: a has shape \(2, 3\) and b has shape \(4, 2\).*\(3\).*\(4\)"),
    (lambda: ops.matmul(np.ones(3), np.ones(())), ValueError, "at least 1 dimension"),
    (lambda: ops.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 5))), ValueError, "batch dimensions"),
    (lambda: ops.sum(np.ones((2, 3)), 2), IndexError, r"sum: dim 2 is out of range for a 2-D input"),
    (lambda: ops.mean(np.ones((2, 3)), (0, -2)), ValueError, "names a dimension twice"),
    (lambda: ops.amax(np.ones((2, 3)), 1.0), TypeError, "dim must be an int"),
    (lambda: ops.sum(np.ones(3), 0, keepdim="yes"), TypeError, "keepdim must be a bool"),
    (lambda: ops.amax(np.ones((2, 0)), 1), ValueError, r"amax: cannot reduce an empty dimension"),
    (lambda: ops.getitem(np.ones((2, 3)), (0, 5)), IndexError, r"getitem: .*\(input shape \(2, 3\)\)"),
    (lambda: ops.getitem(np.ones((2, 3)), 1.5), IndexError, "getitem"),
    (lambda: ops.getitem(np.ones((2, 3)), np.ones(3, bool)), IndexError, "getitem"),
    (lambda: ops.transpose(np.ones((2, 3)), 0, 2), IndexError, "transpose: dim1 2 is out of range"),
    (lambda: ops.permute(np.ones((2, 3)), (0, 0)), ValueError, "permute: dims .* names a dimension twice"),
    (lambda: ops.permute(np.ones((2, 3)), (0,)), ValueError, "has 1 entries for a 2-D input"),
    (lambda: ops.squeeze(np.ones((2, 3)), 3), IndexError, "squeeze: dim 3"),
    (lambda: ops.unsqueeze(np.ones((2, 3)), 4), IndexError, "unsqueeze: dim 4"),
    (lambda: ops.flatten(np.ones((2, 3)), 0, 5), ValueError, "flatten: end_dim 5 is out of range"),
    (lambda: ops.cat([np.ones((2, 3)), np.ones((3, 3))], 1), ValueError,
     r"cat: tensors\[1\] has shape \(3, 3\) but tensors\[0\] has shape \(2, 3\)"),
    (lambda: ops.cat([]), ValueError, "cat: tensors is empty"),
    (lambda: ops.cat(np.ones((2, 3))), TypeError, "cat: tensors must be a list or tuple"),
    (lambda: ops.cat([np.ones(()), np.ones(())]), ValueError, "zero-dimensional"),
    (lambda: ops.stack([np.ones(2), np.ones(3)]), ValueError, r"stack: tensors\[1\] has shape \(3,\)"),
    (lambda: ops.split(np.ones(5), [2, 2]), ValueError, r"split: sections \(2, 2\) must .* size 5"),
    (lambda: ops.split(np.ones(5), 0), ValueError, "split: split_size must be >= 1"),
    (lambda: ops.chunk(np.ones(5), 0), ValueError, "chunk: chunks must be >= 1"),
    (lambda: ops.clamp(np.ones(2)), ValueError, "clamp: at least one of min and max"),
    (lambda: ops.clamp(np.ones(2), np.ones(2)), TypeError, "clamp: min must be a number"),
    (lambda: ops.reshape(np.ones((2, 3)), (4, 2)), ValueError, r"reshape: cannot view .* \(2, 3\)"),
])
def test_bad_arguments_name_the_op_and_the_sizes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_out_of_range_dims_are_value_errors_too():
    """Regression: flatten's dim check raised a bare IndexError, which the ops' contract
    (ValueError / TypeError / OverflowError for bad input) does not allow."""
    for call in (lambda: ops.flatten(np.ones((2, 3)), -7), lambda: ops.sum(np.ones(2), 3),
                 lambda: ops.getitem(np.ones(2), 9)):
        with pytest.raises(ValueError):
            call()


def test_errors_also_come_from_the_recording_versions():
    p = cn.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"add: a has shape \(2, 3\) but b has shape \(2,\)"):
        p + np.ones(2)
    with pytest.raises(ValueError, match="matmul"):
        p @ p
    with pytest.raises(IndexError, match="out of range"):
        p.sum(5)
    with pytest.raises(ValueError, match="cat"):
        ops.cat([p, np.ones((2, 3, 1))])


def test_unbroadcast_to_a_0d_shape_stays_0d():
    """Regression: autograd.unbroadcast returned shape (1,) for a 0-d operand (np.ascontiguousarray
    makes 0-d arrays 1-D), so `scalar_tensor + matrix` gave its scalar a (1,) gradient."""
    from cnnnative.autograd import unbroadcast
    assert unbroadcast(np.ones((2, 3), np.float32), ()).shape == ()
    s = cn.Tensor(np.float32(2.0), requires_grad=True)
    (s * np.ones((2, 3))).sum().backward()
    assert s.grad.shape == () and s.grad == 6


@pytest.mark.parametrize("shapes", [((2, 0), (0, 3)), ((0, 4), (4, 3)), ((2, 0, 4), (4,)), ((3,), (2, 3, 0))])
def test_matmul_with_empty_dimensions(shapes):
    a = cn.Tensor(np.ones(shapes[0]), requires_grad=True)
    b = cn.Tensor(np.ones(shapes[1]), requires_grad=True)
    y = a @ b
    assert y.shape == np.matmul(np.ones(shapes[0]), np.ones(shapes[1])).shape
    y.backward(np.ones(y.shape, np.float32))
    assert a.grad.shape == shapes[0] and b.grad.shape == shapes[1]
    assert not a.grad.any() and not b.grad.any()


def test_parameters_frozen_operands_and_autograd_grad():
    from cnnnative.nn import Parameter
    rng = np.random.default_rng(3)
    w, b = Parameter(rng.standard_normal((4, 3))), Parameter(np.zeros(3))
    frozen = cn.Tensor(rng.standard_normal(3))  # requires_grad=False: gets no gradient
    x = cn.Tensor(rng.standard_normal((5, 4)), requires_grad=True)
    loss = ((x @ w + b) * frozen).sum()
    (gx,) = cn.autograd.grad(loss, x, retain_graph=True)
    assert w.grad is None and b.grad is None and frozen.grad is None
    np.testing.assert_allclose(gx, np.broadcast_to(w.data @ frozen.data, (5, 4)), rtol=1e-5)
    loss.backward()
    np.testing.assert_allclose(b.grad, 5 * frozen.data, rtol=1e-6)
    np.testing.assert_allclose(w.grad, np.outer(x.data.sum(0), frozen.data), rtol=1e-5)
    assert frozen.grad is None


def test_graph_of_these_ops_is_freed_by_reference_counting():
    """No reference cycle: the graph goes as soon as its output does, without the cyclic
    garbage collector."""
    import gc
    import weakref
    p = cn.Tensor(np.ones((3, 4)), requires_grad=True)
    y = ops.cat([p * 2 + 1, p[1:]]).transpose(0, 1).sum(1).max()
    first, second = p.split(2)
    z = (first @ second.T).mean() + y
    nodes = [weakref.ref(z.grad_fn), weakref.ref(y.grad_fn), weakref.ref(first.grad_fn)]
    z.backward(retain_graph=True)  # the closures stay: a cycle through one would show
    gc.disable()
    try:
        del y, z, first, second
        assert all(n() is None for n in nodes)
    finally:
        gc.enable()


def test_gpu_arrays_are_refused_not_copied_to_the_host():
    class FakeGpuArray:  # stands in for cnnnative.cuda.Tensor (no GPU on CI)
        shape = (2,)
    FakeGpuArray.__module__ = "cnnnative._cuda"
    from cnnnative.ops._tensor_args import float32
    with pytest.raises(TypeError, match="add: b is a GPU array"):
        float32(FakeGpuArray(), "add", "b")


@pytest.mark.parametrize("base, exponent", [
    ([0.0, 0.0, 0.0, 2.0, -2.0, 0.0], [0.0, 2.0, 0.5, 0.0, 3.0, -1.0]),   # zeros: torch's masks
    ([-1.5, 4.0, 0.0], [0.5, -0.5, 1.0]),                                   # NaN / inf where the math says
])
def test_pow_edge_values_match_torch(base, exponent):
    torch = pytest.importorskip("torch")
    x = cn.Tensor(np.array(base), requires_grad=True)
    e = cn.Tensor(np.array(exponent), requires_grad=True)
    (x ** e).sum().backward()
    tx = torch.tensor(base, dtype=torch.float32, requires_grad=True)
    te = torch.tensor(exponent, dtype=torch.float32, requires_grad=True)
    (tx ** te).sum().backward()
    np.testing.assert_allclose((x ** e).data, (tx ** te).detach().numpy(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(e.grad, te.grad.numpy(), rtol=1e-6, equal_nan=True)


def test_unary_edge_values_match_torch():
    torch = pytest.importorskip("torch")
    values = [0.0, -1.0, 2.0, np.inf, -np.inf, np.nan]
    for name in ("sqrt", "log", "abs", "exp", "neg"):
        t = cn.Tensor(np.array(values), requires_grad=True)
        getattr(ops, name)(t).sum().backward()
        tt = torch.tensor(values, dtype=torch.float32, requires_grad=True)
        getattr(torch, name)(tt).sum().backward()
        np.testing.assert_allclose(getattr(ops, name)(np.array(values)), getattr(torch, name)(tt).detach().numpy(),
                                   rtol=1e-6, equal_nan=True, err_msg=name)
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-6, equal_nan=True, err_msg=name)
