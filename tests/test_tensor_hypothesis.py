"""Hypothesis-generated compositions of the Tensor's ops on mutually broadcastable shapes:
a chain of elementwise steps (operators, numbers on either side, maximum/minimum, unary
ops), then maybe a reduction, run on cn.Tensor and compared, forward and backward, with
PyTorch autograd (skipped without torch) and with float64 central differences of the same
chain on numpy arrays. Derandomized and small, so the file runs in seconds.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import mutually_broadcastable_shapes  # noqa: E402

import cnnnative as cn  # noqa: E402
from cnnnative import ops  # noqa: E402
from ref_ops import numeric_grad  # noqa: E402

# One namespace per backend, so a step is written once: m.exp(v) is ops.exp, torch.exp or
# np.exp; reductions take (v, dim, keepdim).
CN = SimpleNamespace(exp=ops.exp, log=ops.log, sqrt=ops.sqrt, abs=ops.abs, maximum=ops.maximum,
                     minimum=ops.minimum, sum=lambda v, d, k: v.sum(d, keepdim=k),
                     mean=lambda v, d, k: v.mean(d, keepdim=k), amax=lambda v, d, k: ops.amax(v, d, k))
NP = SimpleNamespace(exp=np.exp, log=np.log, sqrt=np.sqrt, abs=np.abs, maximum=np.maximum,
                     minimum=np.minimum, sum=lambda v, d, k: v.sum(d, keepdims=k),
                     mean=lambda v, d, k: v.mean(d, keepdims=k), amax=lambda v, d, k: v.max(d, keepdims=k))


def _torch_namespace(torch):
    return SimpleNamespace(exp=torch.exp, log=torch.log, sqrt=torch.sqrt, abs=torch.abs,
                           maximum=torch.maximum, minimum=torch.minimum,
                           sum=lambda v, d, k: v.sum(d, keepdim=k) if d is not None else v.sum(),
                           mean=lambda v, d, k: v.mean(d, keepdim=k) if d is not None else v.mean(),
                           amax=lambda v, d, k: torch.amax(v, d if d is not None else (), k))


# Steps keep values in a modest range (|v| stays well inside float32 through 4 steps).
BINARY = {
    "add": lambda m, v, o: v + o,
    "sub": lambda m, v, o: v - o,
    "rsub": lambda m, v, o: o - v,
    "mul": lambda m, v, o: v * o,
    "div": lambda m, v, o: v / (o * o + 1),
    "rdiv": lambda m, v, o: o / (v * v + 1),
    "maximum": lambda m, v, o: m.maximum(v, o),
    "minimum": lambda m, v, o: m.minimum(v, o),
}
UNARY = {
    "neg": lambda m, v: -v,
    "number_left": lambda m, v: 1.5 - v * 0.5,
    "number_right": lambda m, v: v / 2 + 1,
    "square": lambda m, v: v ** 2 * 0.25,
    "exp": lambda m, v: m.exp(v * 0.5),
    "abs": lambda m, v: m.abs(v),
    "log": lambda m, v: m.log(v * v + 1),
    "sqrt": lambda m, v: m.sqrt(v * v + 1),
}
NOT_SMOOTH = {"maximum", "minimum", "abs"}  # kinks: central differences may straddle one


@st.composite
def programs(draw, smooth=False):
    shapes, _ = draw(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
    binary = [k for k in BINARY if not (smooth and k in NOT_SMOOTH)]
    unary = [k for k in UNARY if not (smooth and k in NOT_SMOOTH)]
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            steps.append(("binary", draw(st.sampled_from(binary)), draw(st.integers(0, 2))))
        else:
            steps.append(("unary", draw(st.sampled_from(unary)), None))
    reduction = draw(st.sampled_from(["none", "sum", "mean"] + ([] if smooth else ["amax"])))
    keepdim = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return shapes, steps, reduction, keepdim, seed


def _run(program, m, inputs):
    shapes, steps, reduction, keepdim, _ = program
    v = inputs[0]
    for kind, name, operand in steps:
        v = BINARY[name](m, v, inputs[operand]) if kind == "binary" else UNARY[name](m, v)
    if reduction != "none":
        ndim = len(np.shape(v))
        dim = None if ndim == 0 else ndim - 1  # the last dim, or everything for a 0-d value
        v = getattr(m, reduction)(v, dim, keepdim)
    return v


def _data(program):
    shapes, *_, seed = program
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-2, 2, s).astype(np.float32) for s in shapes]
    return xs, rng


def _cn_gradients(program, xs, rng):
    ts = [cn.Tensor(x, requires_grad=True) for x in xs]
    out = _run(program, CN, ts)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    grads = [t.grad if t.grad is not None else np.zeros_like(x) for t, x in zip(ts, xs)]
    return out, g, grads


SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs())
def test_compositions_match_torch(program):
    torch = pytest.importorskip("torch")
    xs, rng = _data(program)
    out, g, grads = _cn_gradients(program, xs, rng)
    tts = [torch.tensor(x, requires_grad=True) for x in xs]
    tout = _run(program, _torch_namespace(torch), tts)
    tout.backward(torch.from_numpy(g))
    expected = tout.detach().numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-5)
    for i, (grad, t) in enumerate(zip(grads, tts)):
        want = t.grad.numpy() if t.grad is not None else np.zeros_like(xs[i])
        scale = max(1.0, float(np.abs(want).max(initial=0)))
        np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-5 * scale, err_msg=f"input {i}")


@settings(SETTINGS, max_examples=30)
@given(programs(smooth=True))
def test_compositions_match_central_differences(program):
    xs, rng = _data(program)
    out, g, grads = _cn_gradients(program, xs, rng)
    x64 = [x.astype(np.float64) for x in xs]
    np.testing.assert_allclose(out.data, _run(program, NP, x64), rtol=1e-4, atol=1e-5)
    for i, grad in enumerate(grads):
        def loss(z, i=i):
            args = list(x64)
            args[i] = z
            return float(np.sum(_run(program, NP, args) * g))
        want = numeric_grad(loss, xs[i])
        scale = max(1.0, float(np.abs(want).max(initial=0)))
        np.testing.assert_allclose(grad, want, rtol=1e-3, atol=1e-4 * scale, err_msg=f"input {i}")
