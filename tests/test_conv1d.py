"""ops.conv1d / nn.Conv1d: forward and the three gradients against torch (CPU) and a
float64 numpy reference, central differences, non-finite values, errors, state_dict."""
import re

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (N, C, L, K, R, stride, padding, dilation, groups)
CASES = [
    (2, 4, 11, 6, 3, 1, 0, 1, 1),
    (1, 3, 9, 5, 3, 2, 1, 1, 1),
    (3, 4, 13, 4, 4, 1, "same", 2, 2),      # even kernel: one more on the right
    (2, 6, 10, 6, 5, 1, "same", 1, 6),      # depthwise
    (2, 3, 8, 2, 2, 1, "valid", 3, 1),
    (1, 2, 7, 3, 3, 3, 2, 1, 1),            # odd length, stride 3
    (2, 4, 12, 8, 3, 1, (4, 0), 2, 2),      # causal: (dilation*(R-1), 0)
    (2, 2, 5, 3, 2, 2, (0, 3), 1, 1),       # asymmetric, more on the right
    (2, 8, 17, 16, 1, 1, 0, 1, 1),          # 1x1
]


def _torch_padding(padding):
    """(torch padding argument, explicit (left, right) to pad first)."""
    if isinstance(padding, tuple):
        return 0, padding
    return padding, (0, 0)


def _torch_conv(x, w, b, stride, padding, dilation, groups, grad=False):
    tp, lr = _torch_padding(padding)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=grad)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=grad)
    bt = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=grad)
    y = F.conv1d(F.pad(xt, lr), wt, bt, stride, tp, dilation, groups)
    return y, (xt, wt, bt)


def _data(rng, n, c, length, k, r, groups):
    x = rng.standard_normal((n, c, length)).astype(np.float32)
    w = rng.standard_normal((k, c // groups, r)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    return x, w, b


def _numpy_conv1d(x, w, b, stride, left, right, dilation, groups):
    """float64 reference: the direct sum."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (left, right)))
    n, c, length = x.shape
    k, cg, r = w.shape
    out = (length - dilation * (r - 1) - 1) // stride + 1
    y = np.zeros((n, k, out))
    kg = k // groups
    for o in range(k):
        g = o // kg
        for j in range(r):
            taps = x[:, g * cg:(g + 1) * cg, j * dilation: j * dilation + stride * (out - 1) + 1: stride]
            y[:, o] += np.einsum("ncl,c->nl", taps, w[o, :, j].astype(np.float64))
    return y + (0 if b is None else b[None, :, None])


@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_and_gradients_match_torch(case, rng, isa):
    n, c, length, k, r, stride, padding, dilation, groups = case
    x, w, b = _data(rng, n, c, length, k, r, groups)
    yt, (xt, wt, bt) = _torch_conv(x, w, b, stride, padding, dilation, groups, grad=True)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g, dtype=torch.float64))

    y = ops.conv1d(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-4)

    X, W, B = cn.Tensor(x, requires_grad=True), cn.Tensor(w, requires_grad=True), cn.Tensor(b, requires_grad=True)
    out = ops.conv1d(X, W, B, stride, padding, dilation, groups)
    np.testing.assert_allclose(out.numpy(), y, rtol=0, atol=0)
    out.backward(g)
    for got, want in ((X.grad, xt.grad), (W.grad, wt.grad), (B.grad, bt.grad)):
        assert got.shape == tuple(want.shape) and got.dtype == np.float32
        scale = max(1.0, float(want.abs().max()))
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("case", CASES[:4] + CASES[6:8], ids=str)
def test_forward_matches_float64_numpy(case, rng):
    n, c, length, k, r, stride, padding, dilation, groups = case
    x, w, b = _data(rng, n, c, length, k, r, groups)
    if padding == "same":
        total = dilation * (r - 1)
        left, right = total // 2, total - total // 2
    elif padding == "valid":
        left = right = 0
    elif isinstance(padding, tuple):
        left, right = padding
    else:
        left = right = padding
    want = _numpy_conv1d(x, w, b, stride, left, right, dilation, groups)
    np.testing.assert_allclose(ops.conv1d(x, w, b, stride, padding, dilation, groups), want,
                               rtol=1e-4, atol=1e-4)


def test_unbatched_and_no_bias(rng):
    x, w, _ = _data(rng, 1, 4, 9, 6, 3, 2)
    y = ops.conv1d(x[0], w, None, 1, "same", 1, 2)
    assert y.shape == (6, 9)
    np.testing.assert_allclose(y, F.conv1d(torch.tensor(x[0]), torch.tensor(w), None, 1, "same", 1, 2).numpy(),
                               rtol=1e-5, atol=1e-5)
    X = cn.Tensor(x[0], requires_grad=True)
    ops.conv1d(X, w, None, 1, "same", 1, 2).sum().backward()
    xt = torch.tensor(x[0], requires_grad=True)
    F.conv1d(xt, torch.tensor(w), None, 1, "same", 1, 2).sum().backward()
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_central_differences_float64(rng):
    """The recorded gradients against float64 central differences of a scalar loss."""
    x, w, b = _data(rng, 2, 4, 7, 4, 3, 2)
    geometry = (2, (2, 1), 2, 2)
    g = rng.standard_normal(ops.conv1d(x, w, b, *geometry).shape)

    def loss(x_, w_, b_):
        y, _ = _torch_conv(x_, w_, b_, *geometry)
        return float((y.numpy() * g).sum())

    X, W, B = (cn.Tensor(a, requires_grad=True) for a in (x, w, b))
    ops.conv1d(X, W, B, *geometry).backward(g.astype(np.float32))
    eps = 1e-3
    args = [x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)]
    for k, grad in enumerate((X.grad, W.grad, B.grad)):
        assert np.abs(grad).max() > 0
        numeric = np.zeros(grad.shape)
        for i in np.ndindex(grad.shape):
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[k][i] += eps
            minus[k][i] -= eps
            numeric[i] = (loss(*plus) - loss(*minus)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3)


def test_frozen_weight_computes_no_weight_gradient(rng, monkeypatch):
    x, w, b = _data(rng, 2, 3, 8, 4, 3, 1)
    from cnnnative.ops import conv as conv_area
    calls = []
    real = conv_area.conv2d_weight
    monkeypatch.setattr(conv_area, "conv2d_weight", lambda *a, **k: calls.append(1) or real(*a, **k))
    X = cn.Tensor(x, requires_grad=True)
    W, B = nn.Parameter(w, requires_grad=False), nn.Parameter(b, requires_grad=False)
    ops.conv1d(X, W, B, padding=1).sum().backward()
    assert calls == [] and W.grad is None and X.grad.shape == x.shape


def test_nonfinite_inputs_propagate_like_torch(rng):
    x, w, b = _data(rng, 2, 3, 9, 4, 3, 1)
    x[0, 1, 4] = np.nan
    x[1, 0, 2] = np.inf
    y = ops.conv1d(x, w, b, 1, 1)
    want = F.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b), 1, 1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    np.testing.assert_allclose(y[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-4, atol=1e-4)


def test_nn_conv1d_loads_torch_state_dict(rng):
    for kwargs in (dict(padding="same", dilation=2, groups=2), dict(stride=2, padding=1), dict(bias=False)):
        t = torch.nn.Conv1d(4, 6, 3, **kwargs)
        m = nn.Conv1d(4, 6, 3, **kwargs)
        assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in t.state_dict().items()}
        m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
        x = rng.standard_normal((3, 4, 10)).astype(np.float32)
        want = t(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(m(x), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m(x[0]), want[0], rtol=1e-5, atol=1e-5)
        assert m.output_shape((4, 10)) == want.shape[1:]


def test_nn_conv1d_init_matches_torch_bounds():
    m = nn.Conv1d(8, 16, 5, groups=2)
    bound = 1 / np.sqrt(4 * 5)  # kaiming_uniform(a=sqrt(5)) and the bias both give 1/sqrt(fan_in)
    assert m.weight.shape == (16, 4, 5) and m.bias.shape == (16,)
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.bias.data).max() <= bound
    assert np.abs(m.weight.data).max() > 0.8 * bound


def test_causal_padding_layer_trains_and_eval_input_gradients(rng):
    m = nn.Conv1d(3, 5, 2, padding=(2, 0), dilation=2)
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    X = cn.Tensor(x, requires_grad=True)
    y = m(X)
    assert y.shape == (2, 5, 8)
    y.sum().backward()
    assert m.weight.grad.shape == (5, 3, 2) and m.bias.grad.shape == (5,)
    # eval mode, frozen parameters: only the input gradient (saliency)
    m.eval()
    for p in m.parameters():
        p.requires_grad = False
    X = cn.Tensor(x, requires_grad=True)
    m(X).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    F.conv1d(F.pad(xt, (2, 0)), torch.tensor(m.weight.data), torch.tensor(m.bias.data), dilation=2).sum().backward()
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    # causal: output t depends on inputs <= t only
    x2 = x.copy()
    x2[:, :, 5:] += 1
    np.testing.assert_array_equal(np.asarray(m(x2))[:, :, :5], np.asarray(m(x))[:, :, :5])


def test_functional_name_and_torch_spellings():
    assert nn.functional.conv1d is ops.conv1d
    m = nn.Conv1d(2, 4, (3,), stride=(2,), padding=(1,), dilation=(1,))
    assert (m.kernel_size, m.stride, m.padding, m.dilation) == ((3,), (2,), (1, 1), (1,))


@pytest.mark.parametrize("call, error, words", [
    (lambda x, w: ops.conv1d(x[0, 0], w), ValueError, "input must be (N, C, L)"),
    (lambda x, w: ops.conv1d(x, w[0]), ValueError, "weight must be"),
    (lambda x, w: ops.conv1d(x, w, groups=2), ValueError, "groups=2"),
    (lambda x, w: ops.conv1d(x, w, stride=2, padding="same"), ValueError, "stride"),
    (lambda x, w: ops.conv1d(x, w, padding="full"), ValueError, "padding"),
    (lambda x, w: ops.conv1d(x, w, padding=(1, 2, 3)), ValueError, "padding"),
    (lambda x, w: ops.conv1d(x, w, padding=-1), ValueError, "padding"),
    (lambda x, w: ops.conv1d(x, w, padding=1.5), TypeError, "padding"),
    (lambda x, w: ops.conv1d(x, w, stride=0), ValueError, "stride"),
    (lambda x, w: ops.conv1d(x, w, dilation=9), ValueError, "does not fit the input length 6"),
    (lambda x, w: ops.conv1d(x.astype(np.complex64), w), TypeError, "input"),
    (lambda x, w: ops.conv1d(None, w), TypeError, "input must be an array, got None"),
    (lambda x, w: ops.conv1d(x, w, padding=2**63), OverflowError, "padding"),
    (lambda x, w: nn.Conv1d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode"),
    (lambda x, w: nn.Conv1d(3, 4, 3, stride=2, padding="same"), ValueError, "stride"),
    (lambda x, w: nn.Conv1d(3, 4, 0), ValueError, "kernel_size"),
    (lambda x, w: nn.Conv1d(3, 4, (3, 3)), ValueError, "kernel_size must be an int or a 1-tuple"),
    (lambda x, w: nn.Conv1d(3, 4, 3)(x[:, :2]), ValueError, "channels"),
    (lambda x, w: nn.Conv1d(3, 4, 3).output_shape((3, 2)), ValueError, "does not fit"),
])
def test_bad_calls_name_the_argument(call, error, words):
    x = np.ones((2, 3, 6), np.float32)
    w = np.ones((4, 3, 3), np.float32)
    with pytest.raises(error, match=re.escape(words)):
        call(x, w)


def test_none_input_or_weight_is_a_type_error():
    # Was an AttributeError ('NoneType' object has no attribute 'ndim'), found by the malformed-call fuzzer.
    with pytest.raises(TypeError, match="input must be an array, got None"):
        ops.conv1d(None, np.ones((2, 3, 3), np.float32))
    with pytest.raises(TypeError, match="weight must be an array, got None"):
        ops.conv1d(np.ones((1, 3, 5), np.float32), None)


def test_a_1d_model_compiles_with_an_n_c_l_input_shape():
    model = nn.Sequential(nn.Conv1d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 4, 3, dilation=2),
                          nn.Flatten(), nn.Linear(4 * 12, 5)).eval()
    x = np.random.default_rng(3).standard_normal((2, 3, 16)).astype(np.float32)
    compiled = cn.compile(model, (2, 3, 16))
    with cn.no_grad():
        expected = np.asarray(model(x))
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-5, atol=1e-5)
