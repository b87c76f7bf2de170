"""ops.conv_transpose1d/2d, nn.ConvTranspose1d/2d: a float64 scatter-loop reference across
ISAs (outputs and scratch start as NaN), forward and the three gradients against torch,
central differences, output_size, errors, state_dicts and compile."""
import re

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops


@pytest.fixture(autouse=True)
def nan_poison(monkeypatch, nan_scratch):
    monkeypatch.setenv("CNNNATIVE_DEBUG_NAN", "1")  # outputs start as NaN: an unwritten one shows


# (N, C_in, C_out, H, W, kernel, stride, padding, output_padding, groups, dilation)
CASES = [
    (1, 3, 5, 4, 5, 3, 1, 0, 0, 1, 1),
    (2, 4, 6, 5, 7, 3, 2, 1, 1, 2, 1),
    (2, 6, 4, 3, 3, 4, 2, 1, 0, 1, 1),                    # DCGAN-style 4x4/2
    (3, 4, 4, 6, 5, 2, 2, 0, 0, 1, 1),                    # U-Net 2x2/2
    (1, 3, 5, 4, 3, (2, 3), (3, 1), (0, 1), (2, 0), 1, (1, 2)),
    (2, 2, 2, 3, 4, 3, 1, 0, 1, 1, 2),                    # output_padding >= stride, < dilation
    (2, 6, 6, 5, 4, 3, 3, 2, (2, 1), 3, 1),               # stride 3, depthwise-like groups
    (2, 8, 16, 9, 7, 1, 1, 0, 0, 2, 1),                   # 1x1
    (1, 16, 8, 10, 9, 3, 1, 1, 0, 1, 1),                  # 3x3 stride 1 (Winograd-eligible)
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _data(rng, n, c_in, c_out, h, w, kernel, groups):
    kh, kw = _pair(kernel)
    x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
    weight = rng.standard_normal((c_in, c_out // groups, kh, kw)).astype(np.float32)
    bias = rng.standard_normal(c_out).astype(np.float32)
    return x, weight, bias


def numpy_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """float64 reference: every input pixel scatters its weighted kernel into the output."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = map(_pair, (stride, padding, output_padding, dilation))
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c_in, h, wd = x.shape
    _, kg, kh, kw = w.shape
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    full = np.zeros((n, kg * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw))
    cg = c_in // groups
    for c in range(c_in):
        g = c // cg
        for i in range(h):
            for j in range(wd):
                for r in range(kh):
                    for s in range(kw):
                        full[:, g * kg:(g + 1) * kg, i * sh + r * dh, j * sw + s * dw] += \
                            x[:, c, i, j][:, None] * w[c, :, r, s][None, :]
    y = full[:, :, ph:ph + oh, pw:pw + ow]
    return y + (0 if b is None else b.astype(np.float64)[None, :, None, None])


@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_matches_float64_scatter_loop(case, rng, isa):
    n, c_in, c_out, h, w, kernel, stride, padding, output_padding, groups, dilation = case
    x, weight, bias = _data(rng, n, c_in, c_out, h, w, kernel, groups)
    want = numpy_conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)
    y = ops.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)
    assert y.shape == want.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    y = ops.conv_transpose2d(x[0], weight, None, stride, padding, output_padding, groups, dilation)  # unbatched
    np.testing.assert_allclose(y, want[0] - bias[:, None, None], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [(2, 4, 6, 9, 3, 2, 1, 1, 2, 1), (1, 3, 2, 7, 4, 3, 2, 2, 1, 2),
                                  (3, 2, 4, 5, 1, 1, 0, 0, 2, 1)], ids=str)
def test_conv_transpose1d_matches_float64_reference(case, rng, isa):
    n, c_in, c_out, length, kernel, stride, padding, output_padding, groups, dilation = case
    x, weight, bias = _data(rng, n, c_in, c_out, 1, length, (1, kernel), groups)
    want = numpy_conv_transpose2d(x, weight, bias, (1, stride), (0, padding), (0, output_padding), groups,
                                  (1, dilation))[:, :, 0]
    y = ops.conv_transpose1d(x[:, :, 0], weight[:, :, 0], bias, stride, padding, output_padding, groups, dilation)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    y = ops.conv_transpose1d(x[0, :, 0], weight[:, :, 0], bias, (stride,), (padding,), (output_padding,), groups,
                             (dilation,))
    np.testing.assert_allclose(y, want[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_and_gradients_match_torch(case, rng):
    torch = pytest.importorskip("torch")
    n, c_in, c_out, h, w, kernel, stride, padding, output_padding, groups, dilation = case
    x, weight, bias = _data(rng, n, c_in, c_out, h, w, kernel, groups)
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, weight, bias))
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, stride, padding, output_padding, groups, dilation)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g, dtype=torch.float64))

    X, W, B = (cn.Tensor(a, requires_grad=True) for a in (x, weight, bias))
    out = ops.conv_transpose2d(X, W, B, stride, padding, output_padding, groups, dilation)
    np.testing.assert_allclose(out.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    out.backward(g)
    for got, want in ((X.grad, xt.grad), (W.grad, wt.grad), (B.grad, bt.grad)):
        assert got.shape == tuple(want.shape) and got.dtype == np.float32
        scale = max(1.0, float(want.abs().max()))
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4 * scale)


def test_dcgan_input_gradient_matches_float64_reference(rng, isa):
    """A 4x4/2 layer wide enough (64 -> 8 channels, 2 x 32x32) that auto runs its input
    gradient (conv2d of grad_out, 64 output channels) on direct_smallc_wino under AVX2."""
    from ref_conv import conv2d_ref
    x, weight, bias = _data(rng, 2, 64, 8, 32, 32, 4, 1)
    g = rng.standard_normal((2, 8, 64, 64)).astype(np.float32)
    X = cn.Tensor(x, requires_grad=True)
    ops.conv_transpose2d(X, weight, bias, 2, 1).backward(g)
    want = conv2d_ref(g.astype(np.float64), weight.astype(np.float64), None, (2, 2), (1, 1, 1, 1))
    assert np.abs(want).max() > 0 and np.isfinite(X.grad).all()
    np.testing.assert_allclose(X.grad, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_conv_transpose1d_gradients_match_torch(rng):
    torch = pytest.importorskip("torch")
    x, weight, bias = _data(rng, 2, 4, 6, 1, 11, (1, 3), 2)
    x, weight = x[:, :, 0], weight[:, :, 0]
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, weight, bias))
    yt = torch.nn.functional.conv_transpose1d(xt, wt, bt, 3, 1, 2, 2, 1)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    X, W, B = (cn.Tensor(a, requires_grad=True) for a in (x, weight, bias))
    out = ops.conv_transpose1d(X, W, B, 3, 1, 2, 2, 1)
    np.testing.assert_allclose(out.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    out.backward(g)
    for got, want in ((X.grad, xt.grad), (W.grad, wt.grad), (B.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4 * max(1.0, float(want.abs().max())))


def test_central_differences_are_nonzero_and_match(rng):
    """The recorded gradients against float64 central differences of the numpy reference."""
    x, weight, bias = _data(rng, 2, 4, 4, 3, 2, 3, 2)
    geometry = ((2, 1), (1, 0), (1, 0), 2, (1, 2))
    g = rng.standard_normal(numpy_conv_transpose2d(x, weight, bias, *geometry).shape)
    X, W, B = (cn.Tensor(a, requires_grad=True) for a in (x, weight, bias))
    ops.conv_transpose2d(X, W, B, *geometry).backward(g.astype(np.float32))
    args = [x.astype(np.float64), weight.astype(np.float64), bias.astype(np.float64)]
    eps = 1e-3
    for k, grad in enumerate((X.grad, W.grad, B.grad)):
        assert np.abs(grad).max() > 0
        numeric = np.zeros(grad.shape)
        for i in np.ndindex(grad.shape):
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[k][i] += eps
            minus[k][i] -= eps
            numeric[i] = ((numpy_conv_transpose2d(*plus, *geometry) - numpy_conv_transpose2d(*minus, *geometry))
                          * g).sum() / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3)


def test_frozen_weight_computes_no_weight_gradient(rng, monkeypatch):
    from cnnnative.ops import conv as conv_area
    calls = []
    real = conv_area.conv2d_weight
    monkeypatch.setattr(conv_area, "conv2d_weight", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, weight, bias = _data(rng, 2, 3, 4, 4, 4, 3, 1)
    X = cn.Tensor(x, requires_grad=True)
    W, B = nn.Parameter(weight, requires_grad=False), nn.Parameter(bias, requires_grad=False)
    ops.conv_transpose2d(X, W, B, 2, 1, 1).sum().backward()
    assert calls == [] and W.grad is None and X.grad.shape == x.shape


def test_nn_layers_load_torch_state_dicts_and_match(rng):
    torch = pytest.importorskip("torch")
    for cls, tcls, shape, kwargs in (
            (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (3, 4, 5, 6), dict(stride=2, padding=1, output_padding=1)),
            (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (2, 4, 3, 3), dict(groups=2, dilation=2, bias=False)),
            (nn.ConvTranspose1d, torch.nn.ConvTranspose1d, (2, 4, 7), dict(stride=3, padding=1, groups=2)),
            (nn.ConvTranspose1d, torch.nn.ConvTranspose1d, (1, 4, 5), dict(dilation=2, output_padding=1))):
        t = tcls(4, 6, 3, **kwargs)
        m = cls(4, 6, 3, **kwargs)
        assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in t.state_dict().items()}
        m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
        x = rng.standard_normal(shape).astype(np.float32)
        want = t(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(m(x), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m(x[0]), want[0], rtol=1e-5, atol=1e-5)
        assert m.output_shape(shape[1:]) == want.shape[1:]
        assert (m.kernel_size, m.stride, m.padding, m.output_padding, m.dilation) == \
            (t.kernel_size, t.stride, t.padding, t.output_padding, t.dilation)


def test_output_size_picks_output_padding_as_torch(rng):
    torch = pytest.importorskip("torch")
    t = torch.nn.ConvTranspose2d(3, 2, 3, stride=(2, 3), padding=1)
    m = nn.ConvTranspose2d(3, 2, 3, stride=(2, 3), padding=1)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for size in ((7, 13), (8, 15), [2, 2, 8, 14]):
        want = t(torch.tensor(x), output_size=size).detach().numpy()
        got = m(x, output_size=size)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    t1, m1 = torch.nn.ConvTranspose1d(3, 2, 4, stride=3), nn.ConvTranspose1d(3, 2, 4, stride=3)
    m1.load_state_dict({k: v.detach().numpy() for k, v in t1.state_dict().items()})
    x1 = x[:, :, 0]
    for size in ((16,), (18,), (2, 2, 17)):
        np.testing.assert_allclose(m1(x1, output_size=size), t1(torch.tensor(x1), output_size=size).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_output_size_trains(rng):
    m = nn.ConvTranspose2d(3, 2, 2, stride=2)
    X = cn.Tensor(rng.standard_normal((2, 3, 3, 4)).astype(np.float32), requires_grad=True)
    y = m(X, output_size=(7, 9))
    assert y.shape == (2, 2, 7, 9)
    y.sum().backward()
    assert m.weight.grad.shape == (3, 2, 2, 2) and m.bias.grad.shape == (2,) and X.grad.shape == (2, 3, 3, 4)
    assert np.abs(m.weight.grad).max() > 0


def test_default_init_uses_torch_fan_in():
    m = nn.ConvTranspose2d(8, 6, 3, groups=2)
    bound = 1 / np.sqrt(3 * 3 * 3)  # fan_in = weight.shape[1] * kH * kW = (out/groups) * 9
    assert m.weight.shape == (8, 3, 3, 3) and m.bias.shape == (6,)
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.bias.data).max() <= bound
    assert np.abs(m.weight.data).max() > 0.8 * bound
    m1 = nn.ConvTranspose1d(4, 10, 5, bias=False)
    assert m1.weight.shape == (4, 10, 5) and m1.bias is None
    assert np.abs(m1.weight.data).max() <= 1 / np.sqrt(50)


def test_functional_names():
    assert nn.functional.conv_transpose2d is ops.conv_transpose2d
    assert nn.functional.conv_transpose1d is ops.conv_transpose1d


@pytest.mark.parametrize("call, error, words", [
    (lambda x, w: ops.conv_transpose2d(x, w, stride=2, output_padding=2), ValueError,
     "output_padding must be smaller than either stride or dilation, got output_padding=(2, 2), stride=(2, 2)"),
    (lambda x, w: ops.conv_transpose2d(x, w, output_padding=1), ValueError, "output_padding"),
    (lambda x, w: ops.conv_transpose1d(x[:, :, 0], w[:, :, 0], stride=3, output_padding=3), ValueError,
     "output_padding=3, stride=3"),
    (lambda x, w: ops.conv_transpose2d(x[0, 0], w), ValueError, "input must be (N, C, H, W)"),
    (lambda x, w: ops.conv_transpose2d(x, w[0]), ValueError, "weight must be (in_channels"),
    (lambda x, w: ops.conv_transpose2d(x[:, :2], w), ValueError, "input has 2 channels"),
    (lambda x, w: ops.conv_transpose2d(x, w, groups=2), ValueError, "groups=2"),
    (lambda x, w: ops.conv_transpose2d(x, w, np.ones(3, np.float32)), ValueError, "bias must have shape (4,)"),
    (lambda x, w: ops.conv_transpose2d(x, w, stride=0), ValueError, "stride"),
    (lambda x, w: ops.conv_transpose2d(x, w, dilation=(1, 0)), ValueError, "dilation"),
    (lambda x, w: ops.conv_transpose2d(x, w, padding=-1), ValueError, "padding"),
    (lambda x, w: ops.conv_transpose2d(x, w, padding=5), ValueError, "output size would be"),
    (lambda x, w: ops.conv_transpose2d(x, w, padding=1.5), ValueError, "padding must be an int or a pair"),
    (lambda x, w: ops.conv_transpose2d(x, w, padding=(1, 1.5)), TypeError, "padding"),
    (lambda x, w: ops.conv_transpose2d(x, w, groups=1.0), TypeError, "groups"),
    (lambda x, w: ops.conv_transpose2d(x.astype(np.complex64), w), TypeError, "input"),
    (lambda x, w: ops.conv_transpose2d(x, w, stride=2 ** 62), OverflowError, "int64"),
    (lambda x, w: ops.conv_transpose2d(x[:, :, :0], w), ValueError, "spatial size"),
    (lambda x, w: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ValueError, "padding_mode"),
    (lambda x, w: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), ValueError, "output_padding"),
    (lambda x, w: nn.ConvTranspose2d(3, 4, 3, groups=2), ValueError, "divisible by groups"),
    (lambda x, w: nn.ConvTranspose2d(3, 4, 0), ValueError, "kernel_size"),
    (lambda x, w: nn.ConvTranspose1d(3, 4, (3, 3)), ValueError, "kernel_size must be an int or a 1-tuple"),
    (lambda x, w: nn.ConvTranspose2d(3, 4, 3)(x[:, :2]), ValueError, "channels"),
    (lambda x, w: nn.ConvTranspose2d(3, 4, 3, stride=2)(x, output_size=(13, 11)), ValueError,
     "requested an output size of [13, 11], but valid sizes range from [11, 11] to [12, 12]"),
    (lambda x, w: nn.ConvTranspose2d(3, 4, 3)(x, output_size=(7,)), ValueError, "output_size must have 2 or 4"),
    (lambda x, w: nn.ConvTranspose1d(3, 4, 3)(x[:, :, 0], output_size=5), ValueError, "output_size"),
])
def test_bad_calls_name_the_argument(call, error, words):
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((3, 4, 3, 3), np.float32)
    with pytest.raises(error, match=re.escape(words)):
        call(x, w)


def test_a_decoder_compiles_to_the_eager_output(rng):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                          nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1), nn.ReLU(),
                          nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
                          nn.Conv2d(4, 2, 1)).eval()
    x = rng.standard_normal((2, 3, 9, 10)).astype(np.float32)
    compiled = cn.compile(model, (2, 3, 9, 10))
    with cn.no_grad():
        expected = np.asarray(model(x))
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-5, atol=1e-5)


def test_a_1d_decoder_and_a_torch_model_compile(rng):
    model = nn.Sequential(nn.ConvTranspose1d(3, 5, 3, stride=2), nn.ReLU(), nn.Conv1d(5, 2, 3)).eval()
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(model(x))
    np.testing.assert_allclose(cn.compile(model, (2, 3, 8))(x), expected, rtol=1e-5, atol=1e-5)
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.ConvTranspose2d(3, 4, 4, 2, 1), torch.nn.ReLU()).eval()
    x2 = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(cn.compile(t, (2, 3, 5, 6))(x2), t(torch.tensor(x2)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
