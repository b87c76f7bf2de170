"""ops.pad / F.pad, the padding layers, and Conv1d/Conv2d padding_mode and padding='same'|'valid':
a float64 numpy reference (np.pad), torch's forward and backward, central differences,
torch's rules for negative pads, bad arguments, compile."""
import re

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from cnnnative.nn import functional as cF

from ref_ops import nan_fill  # noqa: F401  (NaN-prefilled outputs)

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")

NUMPY_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
MODES = tuple(NUMPY_MODE)

# (input shape, pad): 1, 2 and 3 padded dims, batched and unbatched, odd sizes, asymmetric pads.
CASES = [
    ((2, 3, 7), (2, 1)),
    ((1, 5, 9), (3, 0)),
    ((4, 6), (1, 3)),                               # unbatched (C, L)
    ((2, 3, 5, 7), (1, 2, 3, 0)),
    ((1, 2, 6, 5), (4, 4, 1, 1)),
    ((3, 4, 5), (2, 2, 1, 3)),                      # unbatched (C, H, W)
    ((2, 2, 4, 5, 3), (1, 2, 0, 1, 3, 2)),
    ((1, 3, 3, 4, 6), (2, 0, 1, 1, 1, 0)),
    ((2, 3, 4, 5), (3, 3, 1, 1, 2, 2)),             # unbatched 3-D (C, D, H, W)
    ((3, 2, 1, 40), (17, 5, 0, 0)),                 # a long row: the middle is one copy
]


def _numpy_pad(x, pad, mode, value=0.0):
    """float64 reference: np.pad for the positive pads after cropping the negative ones
    (reflect's negative case is checked against torch below)."""
    x = x.astype(np.float64)
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        before, after = pad[2 * i], pad[2 * i + 1]
        dim = x.ndim - 1 - i
        x = x[(slice(None),) * dim + (slice(max(-before, 0), x.shape[dim] - max(-after, 0)),)]
        widths[dim] = (max(before, 0), max(after, 0))
    kw = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, widths, mode=NUMPY_MODE[mode], **kw)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, pad", CASES, ids=str)
def test_forward_matches_numpy_and_backward_sums_the_copies(shape, pad, mode, rng, isa):
    if mode == "circular" and any(p > s for p, s in zip(pad[::2], shape[::-1])):
        pytest.skip("wraps around more than once")
    x = rng.standard_normal(shape).astype(np.float32)
    y = ops.pad(x, pad, mode, **({"value": 0.5} if mode == "constant" else {}))
    want = _numpy_pad(x, pad, mode, 0.5)
    assert y.dtype == np.float32 and y.shape == want.shape
    np.testing.assert_array_equal(y, want.astype(np.float32))  # copies: exact

    # backward = the adjoint: <pad(x), g> == <x, pad_backward(g)> for every x, checked on
    # the float64 scatter of g through the same index map.
    g = rng.standard_normal(y.shape).astype(np.float32)
    index = _numpy_pad(np.arange(x.size, dtype=np.float64).reshape(shape), pad, mode, -1.0)
    want_gx = np.zeros(x.size)
    np.add.at(want_gx, index[index >= 0].astype(np.int64), g[index >= 0].astype(np.float64))
    np.testing.assert_allclose(ops.pad_backward(g, shape, pad, mode), want_gx.reshape(shape), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_negative_pads_crop_as_torch(mode, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    pads = [(-1, 2, 0, 0), (-4, 2, 1, -2), (3, -2, -1, -1), (-2, -2, 2, 1), (2, -5, 0, -4)]
    if mode != "circular":  # every input column cropped: the output is all border
        pads += [(-7, 3, 0, 0), (2, -7, -6, 2)]
    for pad in pads:
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.nn.functional.pad(xt, pad, mode)
        g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.tensor(g))
        X = cn.Tensor(x, requires_grad=True)
        y = cF.pad(X, pad, mode)
        y.backward(g)
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy(), err_msg=f"{mode} {pad}")
        np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-6, atol=1e-6, err_msg=f"{mode} {pad}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, pad", CASES[:9], ids=str)
def test_forward_and_backward_equal_torch(shape, pad, mode, rng):
    torch = pytest.importorskip("torch")
    if mode == "circular" and any(p > s for p, s in zip(pad[::2], shape[::-1])):
        pytest.skip("wraps around more than once")
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.pad(xt, pad, mode)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    X = cn.Tensor(x, requires_grad=True)
    y = ops.pad(X, pad, mode)
    y.backward(g)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_constant_pads_any_number_of_dims_and_the_channel_dim(rng):
    x = rng.standard_normal((2, 3, 4, 5, 2)).astype(np.float32)
    pad = (1, 0, 0, 2, 1, 1, -1, 2, 1, 0)  # five dims: the numpy path
    np.testing.assert_array_equal(ops.pad(x, pad, value=-2.0), _numpy_pad(x, pad, "constant", -2.0))
    X = cn.Tensor(x, requires_grad=True)
    ops.pad(X, pad).sum().backward()
    want = np.ones_like(x)
    want[:, :1] = 0  # the cropped channel gets no gradient
    np.testing.assert_array_equal(X.grad, want)
    np.testing.assert_array_equal(ops.pad(x[0, 0, 0, 0], (2, 3)), np.pad(x[0, 0, 0, 0], (2, 3)))  # 1-D input


@pytest.mark.parametrize("mode", MODES)
def test_central_differences_nonzero(mode, rng):
    x = rng.standard_normal((2, 2, 4, 5))
    pad = (2, 1, 2, -1)  # (np.pad reflects the cropped array: torch reflects the whole one)
    w = rng.standard_normal(_numpy_pad(x, pad, mode).shape)
    X = cn.Tensor(x.astype(np.float32), requires_grad=True)
    (ops.pad(X, pad, mode) * w.astype(np.float32)).sum().backward()
    assert np.abs(X.grad).max() > 0
    eps, numeric = 1e-3, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = ((_numpy_pad(plus, pad, mode) - _numpy_pad(minus, pad, mode)) * w).sum() / (2 * eps)
    np.testing.assert_allclose(X.grad, numeric, rtol=1e-4, atol=1e-4)


def test_large_planes_split_across_threads(rng):
    x = rng.standard_normal((3, 70, 33, 31)).astype(np.float32)
    for mode in MODES:
        np.testing.assert_array_equal(ops.pad(x, (3, 2, 1, 4), mode), _numpy_pad(x, (3, 2, 1, 4), mode))


@pytest.mark.parametrize("call, error, words", [
    (lambda x: ops.pad(x, (1, 2, 3)), ValueError, "odd length 3"),
    (lambda x: ops.pad(x, (1,) * 10), ValueError, "pads 5 dimensions but the input has shape (2, 3, 4, 5)"),
    (lambda x: ops.pad(x, (5, 0, 0, 0), "reflect"), ValueError, "reflect padding (5, 0) must be less than the size 5"),
    (lambda x: ops.pad(x, (0, 0, 1, 4), "reflect"), ValueError, "must be less than the size 4 of dimension 2"),
    (lambda x: ops.pad(x, (6, 0, 0, 0), "circular"), ValueError, "wrap around more than once"),
    (lambda x: ops.pad(x, (1, 1), "mirror"), ValueError, "mode must be one of"),
    (lambda x: ops.pad(x, (1, 1, 1, 1), "reflect", value=2.0), ValueError, "takes no value"),
    (lambda x: ops.pad(x, (-3, -2, 0, 0), "replicate"), ValueError, "gives output size 0"),
    (lambda x: ops.pad(x, (-3, -3)), ValueError, "gives output size -1"),
    (lambda x: ops.pad(x[0, 0, 0], (1, 1), "reflect"), ValueError, "batched (N, C, *spatial) or unbatched"),
    (lambda x: ops.pad(x, (1, 1, 1, 1, 1, 1, 1, 1), "replicate"), ValueError, "the last 1, 2 or 3 dimensions"),
    (lambda x: ops.pad(x, (1.5, 1)), TypeError, "pad"),
    (lambda x: ops.pad(x, 1), ValueError, "pad must be"),
    (lambda x: ops.pad(x.astype(np.complex64), (1, 1)), TypeError, "input"),
    (lambda x: ops.pad(x, (2 ** 62, 2 ** 62)), OverflowError, "padded size"),
    (lambda x: ops.pad_backward(np.zeros((2, 3, 4, 6)), x.shape, (1, 1)), ValueError, "expected (2, 3, 4, 7)"),
    (lambda x: nn.ReflectionPad2d((1, 2, 3)), ValueError, "4-tuple"),
    (lambda x: nn.ConstantPad1d(1, "a"), TypeError, "value"),
    (lambda x: nn.ReflectionPad2d(1)(x[0, 0]), ValueError, "expected a (3, 4)-D input"),
])
def test_bad_arguments_raise_clear_errors(call, error, words):
    x = np.ones((2, 3, 4, 5), np.float32)
    with pytest.raises(error, match=re.escape(words)):
        call(x)


def test_core_checks_its_own_geometry():
    """The kernel validates what it is given (a direct _core call skips the Python checks)."""
    from cnnnative import _core
    x = np.ones((1, 1, 1, 4), np.float32)
    with pytest.raises(ValueError, match="reflect padding"):
        _core.pad(x, (4, 0, 0, 0, 0, 0), "reflect", 0.0)
    with pytest.raises(ValueError, match="mode must be"):
        _core.pad(x, (1, 0, 0, 0, 0, 0), "wrap", 0.0)
    with pytest.raises(ValueError, match="grad_output has shape"):
        _core.pad_backward(np.ones((1, 1, 1, 4), np.float32), (1, 1, 1, 4), (1, 0, 0, 0, 0, 0), "constant")
    with pytest.raises(OverflowError, match="padded size"):
        _core.pad(x, (2 ** 62, 2 ** 62, 0, 0, 0, 0), "constant", 0.0)
    with pytest.raises(ValueError, match="negative size"):
        _core.pad_backward(np.ones((1, 1, 1, 0), np.float32), (1, 1, 1, -1), (1, 0, 0, 0, 0, 0), "constant")


# --- layers ----------------------------------------------------------------------------------

LAYERS = [(f"{kind}Pad{d}d", d) for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
          for d in (1, 2, 3)]


@pytest.mark.parametrize("name, dims", LAYERS)
def test_layers_equal_torch(name, dims, rng):
    torch = pytest.importorskip("torch")
    padding = (2, 1, 1, 0, 1, 2)[:2 * dims]
    args = (padding, 1.5) if name.startswith("Constant") else (padding,)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert ours.padding == theirs.padding and repr(ours) == repr(theirs)
    for shape in [(2, 3) + (4, 5, 3)[:dims], (3,) + (4, 5, 3)[:dims]]:  # batched and unbatched
        x = rng.standard_normal(shape).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.tensor(g))
        X = cn.Tensor(x, requires_grad=True)
        y = ours(X)
        y.backward(g)
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
        np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-6, atol=1e-6)
        assert ours.output_shape(shape[-dims - 1:]) == tuple(yt.shape[-dims - 1:])
    assert getattr(nn, name)(3, *args[1:]).padding == (3,) * (2 * dims)


# --- convolutions with padding modes and 'same' ------------------------------------------------

# (layer, in_ch, out_ch, kernel, stride, padding, dilation, groups, input spatial)
CONV_CASES = [
    ("Conv2d", 3, 4, 3, 1, 1, 1, 1, (7, 6)),
    ("Conv2d", 4, 4, (2, 3), 1, "same", 1, 2, (6, 7)),   # even kernel height: one more at the bottom
    ("Conv2d", 2, 3, 4, 1, "same", 2, 1, (9, 8)),        # even kernel, dilation 2 (total 6)
    ("Conv2d", 2, 3, 3, 1, "valid", 1, 1, (5, 6)),
    ("Conv2d", 3, 2, 3, 2, (1, 2), 1, 1, (8, 9)),        # strided, different pads per dim
    ("Conv1d", 3, 4, 3, 1, 2, 1, 1, (11,)),
    ("Conv1d", 2, 4, 4, 1, "same", 1, 2, (10,)),
    ("Conv1d", 3, 3, 3, 1, "same", 3, 3, (13,)),
    ("Conv1d", 2, 2, 3, 2, "valid", 1, 1, (9,)),
]


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_padding_modes_equal_torch(case, padding_mode, rng):
    torch = pytest.importorskip("torch")
    layer, cin, cout, k, stride, padding, dilation, groups, spatial = case
    torch.manual_seed(0)
    theirs = getattr(torch.nn, layer)(cin, cout, k, stride, padding, dilation, groups, padding_mode=padding_mode)
    ours = getattr(nn, layer)(cin, cout, k, stride, padding, dilation, groups, padding_mode=padding_mode)
    state = {k_: v.detach().numpy() for k_, v in theirs.state_dict().items()}
    assert {k_: v.shape for k_, v in ours.state_dict().items()} == {k_: v.shape for k_, v in state.items()}
    ours.load_state_dict(state)
    x = rng.standard_normal((2, cin) + spatial).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    X = cn.Tensor(x, requires_grad=True)
    y = ours(X)
    y.backward(g)
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-3)
    assert ours.output_shape(x.shape[1:]) == tuple(yt.shape[1:])
    if padding_mode != "zeros":
        assert f"padding_mode={padding_mode!r}" in repr(ours)


def test_conv2d_same_used_to_fail_and_functional_same_valid(rng):
    """nn.Conv2d(padding='same') raised "invalid literal for int()" before issue 13."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 2, 4)).astype(np.float32)
    for padding, dilation in (("same", 1), ("same", (2, 1)), ("valid", 1)):
        want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, 1, padding, dilation).numpy()
        np.testing.assert_allclose(ops.conv2d(x, w, None, 1, padding, dilation), want, rtol=1e-4, atol=1e-4)
        X = cn.Tensor(x, requires_grad=True)
        ops.conv2d(X, w, None, 1, padding, dilation).sum().backward()
        xt = torch.tensor(x, requires_grad=True)
        torch.nn.functional.conv2d(xt, torch.tensor(w), None, 1, padding, dilation).sum().backward()
        np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert nn.Conv2d(3, 4, 3, padding="same")(x).shape == (2, 4, 7, 8)


@pytest.mark.parametrize("call, words", [
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), "not supported for strided convolutions"),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), "'same' or 'valid', got 'full'"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: nn.Conv1d(3, 4, 3, padding_mode="zero"), "padding_mode must be one of"),
    (lambda: ops.conv2d(np.ones((1, 3, 5, 5)), np.ones((4, 3, 3, 3)), None, 2, "same"), "strided"),
    (lambda: nn.Conv2d(3, 4, 3, padding=3, padding_mode="reflect")(np.ones((1, 3, 3, 3))),
     "reflect padding (3, 3) must be less than the size 3"),
])
def test_conv_bad_padding_arguments(call, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        call()


def test_compile_reflection_pad_and_reflect_conv_gives_eager_output(rng):
    model = nn.Sequential(nn.ReflectionPad2d((1, 2, 2, 1)), nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"),
                          nn.ReLU(), nn.ReplicationPad2d(1), nn.Conv2d(8, 4, 2, padding="same"),
                          nn.CircularPad2d((0, 1, 1, 0)), nn.ZeroPad2d(1)).eval()
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(model(x))
    compiled = cn.compile(model, x.shape)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-5, atol=1e-5)


def test_functional_name():
    assert cF.pad is ops.pad and "pad" in cF.__all__
    assert {name for name, _ in LAYERS} <= set(nn.__all__)
