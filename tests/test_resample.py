"""interpolate (nearest, nearest-exact, linear / bilinear / trilinear), pixel_shuffle /
pixel_unshuffle, channel_shuffle, channel_scale and nn.SqueezeExcitation: forward and
backward against float64 numpy references under every ISA, against PyTorch when it is
installed, by central differences, the nn layers, bad arguments, and compile.

The interpolation reference is written independently of the kernels: each spatial axis is
a dense (out x in) matrix built from PyTorch's source-index rules in numpy float32 index
arithmetic, the forward is that matrix applied along each axis in float64 and the backward
its transpose."""
import math
import warnings

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from ref_ops import nan_fill, numeric_grad  # noqa: F401  (nan_fill is autouse: NaN-filled outputs)

F32 = np.float32
MODE_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5}


# --- the float64 reference -------------------------------------------------------------------

def axis_matrix(n_in, n_out, mode, align_corners, scale_factor):
    """(n_out, n_in) float64: row o holds the weights output o gives each input index."""
    o = np.arange(n_out)
    if align_corners:
        scale = F32(n_in - 1) / F32(n_out - 1) if n_out > 1 else F32(0)
    elif scale_factor:
        scale = F32(1.0 / scale_factor)
    else:
        scale = F32(n_in) / F32(n_out)
    m = np.zeros((n_out, n_in))
    of = o.astype(F32)
    if mode == "nearest":
        if n_out == n_in:
            idx = o
        elif n_out == 2 * n_in:
            idx = o // 2
        else:
            idx = np.minimum(np.floor(scale * of).astype(np.int64), n_in - 1)
        m[o, idx] = 1
        return m
    # scale * (o + 0.5) - 0.5 with one rounding (a fused multiply-add, as PyTorch's vector
    # kernels): the double product is exact, the double difference too at these sizes.
    fused = (np.float64(scale) * (of + F32(0.5)).astype(np.float64) - 0.5).astype(F32)
    half = np.maximum(fused, F32(0))
    if mode == "nearest-exact":
        idx = np.minimum(np.floor((half.astype(np.float64) + 0.5).astype(F32)).astype(np.int64), n_in - 1)
        m[o, idx] = 1
        return m
    if n_in == n_out:
        return np.eye(n_in)
    real = scale * of if align_corners else half
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    l1 = np.clip(real - i0.astype(F32), F32(0), F32(1)).astype(np.float64)
    i1 = i0 + (i0 < n_in - 1)
    np.add.at(m, (o, i0), 1 - l1)
    np.add.at(m, (o, i1), l1)
    return m


def reference(x_shape, size=None, scale_factor=None, mode="nearest", align_corners=None,
              recompute_scale_factor=None):
    """The per-axis matrices of interpolate on an input of x_shape."""
    dims = len(x_shape) - 2
    kernel_mode = "linear" if mode in MODE_RANK else mode
    mats = []
    for d in range(dims):
        n_in = x_shape[2 + d]
        if size is not None:
            n_out, s = (size[d] if isinstance(size, (tuple, list)) else size), None
        else:
            s = scale_factor[d] if isinstance(scale_factor, (tuple, list)) else scale_factor
            n_out = math.floor(n_in * float(s))
            if recompute_scale_factor:
                s = None
        mats.append(axis_matrix(n_in, n_out, kernel_mode, bool(align_corners), s))
    return mats


def apply(mats, x, transpose=False):
    y = np.asarray(x, np.float64)
    for d, m in enumerate(mats):
        y = np.moveaxis(np.tensordot(m.T if transpose else m, np.moveaxis(y, 2 + d, 0), axes=(1, 0)), 0, 2 + d)
    return y


# Shapes of every rank with odd and prime sizes, batch 1 and > 1, up- and down-sampling,
# integer and non-integer factors, sizes and scales per axis.
CASES = [
    ((2, 3, 7), dict(size=16)),
    ((1, 2, 9), dict(scale_factor=1.7)),
    ((2, 1, 13), dict(scale_factor=0.45)),
    ((3, 2, 5, 7), dict(scale_factor=2)),
    ((1, 3, 5, 7), dict(size=(11, 4))),
    ((2, 2, 9, 6), dict(scale_factor=(0.6, 2.5))),
    ((1, 1, 17, 3), dict(scale_factor=1.3, recompute_scale_factor=True)),
    ((2, 2, 3, 4, 5), dict(scale_factor=(1.5, 2, 0.8))),
    ((1, 3, 2, 5, 3), dict(size=(3, 7, 3))),
]
MODES = [("nearest", None), ("nearest-exact", None), ("linear", False), ("linear", True)]


def _mode_for(shape, mode):
    return {3: "linear", 4: "bilinear", 5: "trilinear"}[len(shape)] if mode == "linear" else mode


@pytest.mark.parametrize("shape,kw", CASES)
@pytest.mark.parametrize("mode,align", MODES)
def test_interpolate_matches_float64_reference(isa, rng, shape, kw, mode, align):
    mode = _mode_for(shape, mode)
    x = rng.standard_normal(shape).astype(F32)
    mats = reference(shape, mode=mode, align_corners=align, **kw)
    y = ops.interpolate(x, mode=mode, align_corners=align, **kw)
    want = apply(mats, x)
    assert y.dtype == F32 and y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(y.shape).astype(F32)
    gx = ops.interpolate_backward(g, shape, mode=mode, align_corners=align, **kw)
    np.testing.assert_allclose(gx, apply(mats, g, transpose=True), rtol=1e-5, atol=1e-5)


def test_large_planes_on_several_threads_and_deterministic_backward(isa, rng):
    x = rng.standard_normal((2, 9, 37, 41)).astype(F32)
    for mode, align in (("nearest", None), ("bilinear", False), ("bilinear", True)):
        mats = reference(x.shape, size=(70, 23), mode=mode, align_corners=align)
        y = ops.interpolate(x, (70, 23), mode=mode, align_corners=align)
        np.testing.assert_allclose(y, apply(mats, x), rtol=1e-5, atol=1e-6)
        g = rng.standard_normal(y.shape).astype(F32)
        first = ops.interpolate_backward(g, x.shape, (70, 23), mode=mode, align_corners=align)
        again = ops.interpolate_backward(g, x.shape, (70, 23), mode=mode, align_corners=align)
        assert first.tobytes() == again.tobytes()  # no atomics: the same bits every time
        np.testing.assert_allclose(first, apply(mats, g, transpose=True), rtol=1e-5, atol=1e-5)


def test_nan_and_inf_propagate_like_the_weighted_sum():
    x = np.zeros((1, 1, 4), F32)
    x[0, 0, 1] = np.nan
    y = ops.interpolate(x, scale_factor=2, mode="nearest")
    assert np.isnan(y[0, 0, 2:4]).all() and not np.isnan(y[0, 0, [0, 1, 4, 5, 6, 7]]).any()
    y = ops.interpolate(x, size=8, mode="linear")
    assert np.isnan(y).any() and not np.isnan(y[0, 0, -1])


# --- PyTorch ------------------------------------------------------------------------------------

def _torch_cases():
    for shape in ((2, 3, 6), (2, 3, 5, 7), (1, 2, 3, 4, 5)):
        dims = len(shape) - 2
        for mode, align in MODES + [("nearest-exact", None)]:
            mode = _mode_for(shape, mode)
            for kw in (dict(size=tuple(s * 2 + 1 for s in shape[2:])), dict(size=tuple(max(1, s // 2) for s in shape[2:])),
                       dict(scale_factor=2.0), dict(scale_factor=1.7), dict(scale_factor=0.55),
                       dict(scale_factor=3), dict(scale_factor=1.7, recompute_scale_factor=True),
                       dict(scale_factor=tuple([1.5] * dims))):
                yield shape, mode, align, kw


@pytest.mark.parametrize("shape,mode,align,kw", list(_torch_cases()),
                         ids=lambda v: str(v).replace(" ", ""))
def test_interpolate_forward_and_backward_equal_torch(rng, shape, mode, align, kw):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(F32)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.nn.functional.interpolate(xt, mode=mode, align_corners=align, **kw)
    g = rng.standard_normal(tuple(yt.shape)).astype(F32)
    (gt,) = torch.autograd.grad(yt, xt, torch.from_numpy(g))
    t = cn.Tensor(x, requires_grad=True)
    y = nn.functional.interpolate(t, mode=mode, align_corners=align, **kw)
    y.backward(g)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.grad, gt.numpy(), rtol=1e-5, atol=1e-5)


def test_nearest_with_an_identity_or_doubling_size_is_one_map_forward_and_backward(rng):
    """A 5-long axis with scale_factor=1.1 stays 5 long, 30 with 2.01 becomes 60. PyTorch's
    2-D nearest then copies (o -> o, o -> o // 2) forward and backward; its 1-D and 3-D
    forwards use floor(o / scale) instead while their backwards copy. Here every rank uses
    the copy both ways (PyTorch's 2-D behaviour), so the gradient is the forward's."""
    for shape, s in (((1, 2, 5), 1.1), ((1, 1, 30), 2.01), ((1, 1, 2, 5, 30), 2.01)):
        x = rng.standard_normal(shape).astype(F32)
        y = ops.interpolate(x, scale_factor=s)
        mats = reference(shape, scale_factor=s)
        np.testing.assert_array_equal(y, apply(mats, x).astype(F32))
        g = rng.standard_normal(y.shape).astype(F32)
        np.testing.assert_allclose(ops.interpolate_backward(g, shape, scale_factor=s),
                                   apply(mats, g, transpose=True), rtol=1e-6, atol=1e-6)
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((1, 2, 5, 30)).astype(F32)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=(1.1, 2.01)).numpy()
    np.testing.assert_array_equal(ops.interpolate(x, scale_factor=(1.1, 2.01)), want)


def test_central_differences_of_the_recorded_op(rng):
    x = rng.standard_normal((1, 2, 4, 3)).astype(F32)
    w = rng.standard_normal((1, 2, 7, 5))
    for mode, align in (("bilinear", False), ("bilinear", True), ("nearest", None), ("nearest-exact", None)):
        t = cn.Tensor(x, requires_grad=True)
        y = ops.interpolate(t, size=(7, 5), mode=mode, align_corners=align)
        (y * cn.Tensor(w.astype(F32))).sum().backward()

        def f(v):
            return float((ops.interpolate(v.astype(F32), size=(7, 5), mode=mode, align_corners=align) * w).sum())

        numeric = numeric_grad(f, x, eps=0.25)  # linear in x: a large step loses nothing
        assert np.abs(t.grad).max() > 0
        np.testing.assert_allclose(t.grad, numeric, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("call,match", [
    (lambda x: ops.interpolate(x, size=4, scale_factor=2), "only one of size or scale_factor"),
    (lambda x: ops.interpolate(x), "either size or scale_factor"),
    (lambda x: ops.interpolate(x, scale_factor=2, align_corners=True), "align_corners"),
    (lambda x: ops.interpolate(x, scale_factor=2, mode="nearest-exact", align_corners=False), "align_corners"),
    (lambda x: ops.interpolate(x, scale_factor=2, mode="linear"), r"needs a 3-D input, got shape \(2, 3, 5, 6\)"),
    (lambda x: ops.interpolate(x, scale_factor=2, mode="trilinear"), "needs a 5-D input"),
    (lambda x: ops.interpolate(x, scale_factor=2, mode="bicubic"), "not implemented"),
    (lambda x: ops.interpolate(x, scale_factor=2, mode="cubic"), "mode must be one of"),
    (lambda x: ops.interpolate(x[0, 0], scale_factor=2), r"3-D, 4-D or 5-D .* got shape \(5, 6\)"),
    (lambda x: ops.interpolate(x, size=(4, 4, 4)), "2 spatial dimensions but size has 3"),
    (lambda x: ops.interpolate(x, scale_factor=(2, 2, 2)), "2 spatial dimensions but scale_factor has 3"),
    (lambda x: ops.interpolate(x, size=0), "size must be positive"),
    (lambda x: ops.interpolate(x, scale_factor=-2), "scale_factor must be positive"),
    (lambda x: ops.interpolate(x, scale_factor=float("nan")), "scale_factor must be positive"),
    (lambda x: ops.interpolate(x, scale_factor=0.1), r"output size \(0, 0\)"),
    (lambda x: ops.interpolate(x, size=4, recompute_scale_factor=True), "recompute_scale_factor"),
    (lambda x: ops.interpolate(x, size=4, antialias=True), "antialias"),
    (lambda x: ops.interpolate_backward(np.zeros((2, 3, 4, 4), F32), x.shape, size=5), r"grad_output has shape"),
])
def test_bad_arguments_raise_value_errors_naming_them(call, match):
    x = np.zeros((2, 3, 5, 6), F32)
    with pytest.raises(ValueError, match=match):
        call(x)


def test_bad_types_raise_type_errors():
    x = np.zeros((1, 1, 4, 4), F32)
    with pytest.raises(TypeError, match="scale_factor"):
        ops.interpolate(x, scale_factor="2")
    with pytest.raises(TypeError):
        ops.interpolate(x, size=2.5)


# --- nn layers ----------------------------------------------------------------------------------

def test_upsample_layers_equal_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 5, 7)).astype(F32)
    pairs = [
        (nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
        (nn.Upsample(size=(9, 4), mode="bilinear"), torch.nn.Upsample(size=(9, 4), mode="bilinear")),
        (nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
         torch.nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True)),
        (nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
        (nn.UpsamplingBilinear2d(size=(8, 11)), torch.nn.UpsamplingBilinear2d(size=(8, 11))),
    ]
    for ours, theirs in pairs:
        want = theirs(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours(x), want, rtol=1e-5, atol=1e-6)
        assert ours.output_shape(x.shape[1:]) == want.shape[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: upsample_bilinear is deprecated
        want = torch.nn.functional.upsample_bilinear(torch.from_numpy(x), scale_factor=2).numpy()
    np.testing.assert_allclose(nn.functional.upsample_bilinear(x, scale_factor=2), want, rtol=1e-5, atol=1e-6)


def test_upsample_layer_checks_its_arguments_when_built():
    with pytest.raises(ValueError, match="align_corners"):
        nn.Upsample(scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="mode must be one of"):
        nn.Upsample(scale_factor=2, mode="bicubicc")
    with pytest.raises(ValueError, match="needs a 4-D input"):
        nn.Upsample(scale_factor=2, mode="bilinear")(np.zeros((1, 1, 4), F32))


# --- pixel shuffle / unshuffle / channel shuffle ------------------------------------------------

def ref_pixel_shuffle(x, r):
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    y = y.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def ref_pixel_unshuffle(x, r):
    *lead, c, h, w = x.shape
    n = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r).transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def ref_channel_shuffle(x, g):
    n, c = x.shape[:2]
    return x.reshape(n, g, c // g, -1).transpose(0, 2, 1, 3).reshape(x.shape)


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 5), 2), ((1, 9, 4, 3), 3), ((4, 3, 2, 7), 1),
                                     ((2, 3, 16, 5, 4), 2), ((12, 1, 1), 2), ((1, 64, 9, 33), 4)])
def test_pixel_shuffle_and_unshuffle(isa, rng, shape, r):
    x = rng.standard_normal(shape).astype(F32)
    y = ops.pixel_shuffle(x, r)
    np.testing.assert_array_equal(y, ref_pixel_shuffle(x, r))
    np.testing.assert_array_equal(ops.pixel_unshuffle(y, r), x)
    np.testing.assert_array_equal(ops.pixel_unshuffle(y, r), ref_pixel_unshuffle(y, r))
    t = cn.Tensor(x, requires_grad=True)
    g = rng.standard_normal(y.shape).astype(F32)
    nn.PixelShuffle(r)(t).backward(g)
    np.testing.assert_array_equal(t.grad, ref_pixel_unshuffle(g, r))
    u = cn.Tensor(y, requires_grad=True)
    nn.PixelUnshuffle(r)(u).backward(x)
    np.testing.assert_array_equal(u.grad, ref_pixel_shuffle(x, r))
    if len(shape) >= 4:  # batched
        assert nn.PixelShuffle(r).output_shape(shape[1:]) == y.shape[1:]


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 5), 2), ((1, 6, 3, 5), 3), ((3, 12, 7), 4), ((2, 5, 2, 2), 1),
                                          ((2, 4, 1, 3, 3), 4), ((1, 64, 40, 40), 8)])
def test_channel_shuffle(isa, rng, shape, groups):
    x = rng.standard_normal(shape).astype(F32)
    y = ops.channel_shuffle(x, groups)
    np.testing.assert_array_equal(y, ref_channel_shuffle(x, groups))
    t = cn.Tensor(x, requires_grad=True)
    g = rng.standard_normal(shape).astype(F32)
    nn.ChannelShuffle(groups)(t).backward(g)
    np.testing.assert_array_equal(t.grad, ref_channel_shuffle(g, shape[1] // groups))  # the inverse
    np.testing.assert_array_equal(ops.channel_shuffle(y, shape[1] // groups), x)


def test_layout_ops_equal_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 18, 4, 6)).astype(F32)
    xt = torch.from_numpy(x)
    np.testing.assert_array_equal(ops.pixel_shuffle(x, 3), F.pixel_shuffle(xt, 3).numpy())
    np.testing.assert_array_equal(ops.pixel_unshuffle(x, 2), F.pixel_unshuffle(xt, 2).numpy())
    np.testing.assert_array_equal(ops.channel_shuffle(x, 3), F.channel_shuffle(xt, 3).numpy())
    np.testing.assert_array_equal(nn.ChannelShuffle(6)(x), torch.nn.ChannelShuffle(6)(xt).numpy())


@pytest.mark.parametrize("call,error,match", [
    (lambda x: ops.pixel_shuffle(x, 2), ValueError, r"the 6 input channels are not divisible by upscale_factor\*\*2 = 4"),
    (lambda x: ops.pixel_unshuffle(x, 2), ValueError, "height 5 and width 7 must both be divisible by downscale_factor=2"),
    (lambda x: ops.pixel_shuffle(x, 0), ValueError, "upscale_factor must be between 1 and 64, got 0"),
    (lambda x: ops.pixel_shuffle(x[0, 0], 1), ValueError, "at least 3 dimensions"),
    (lambda x: ops.channel_shuffle(x, 4), ValueError, "the 6 channels are not divisible by groups=4"),
    (lambda x: ops.channel_shuffle(x, 0), ValueError, "groups must be positive, got 0"),
    (lambda x: ops.channel_shuffle(x[0, 0], 1), ValueError, "at least 3 dimensions"),
    (lambda x: ops.pixel_shuffle(x, 1.5), TypeError, "upscale_factor"),
    (lambda x: nn.ChannelShuffle(0), ValueError, "groups must be positive"),
])
def test_layout_bad_arguments(call, error, match):
    x = np.zeros((2, 6, 5, 7), F32)
    with pytest.raises(error, match=match):
        call(x)


# --- channel scale and SqueezeExcitation --------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 7), (3, 17, 9), (2, 64, 30, 30)])
def test_channel_scale_forward_and_gradients(isa, rng, shape):
    x = rng.standard_normal(shape).astype(F32)
    s = rng.standard_normal(shape[:2] + (1,) * (len(shape) - 2)).astype(F32)
    g = rng.standard_normal(shape).astype(F32)
    x64, s64, g64 = x.astype(np.float64), s.astype(np.float64), g.astype(np.float64)
    np.testing.assert_allclose(ops.channel_scale(x, s), x64 * s64, rtol=1e-6)
    np.testing.assert_allclose(ops.channel_scale(x, s.reshape(shape[:2])), x64 * s64, rtol=1e-6)
    gx, gs = ops.channel_scale_backward(g, x, s)
    np.testing.assert_allclose(gx, g64 * s64, rtol=1e-6)
    assert gs.shape == s.shape
    reduced = (g64 * x64).sum(axis=tuple(range(2, len(shape))), keepdims=True)
    np.testing.assert_allclose(gs, reduced, rtol=1e-4, atol=1e-4 * math.sqrt(x[0, 0].size))


def test_channel_scale_in_place_and_recorded(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(F32)
    s = rng.standard_normal((2, 3)).astype(F32)
    want = x * s[:, :, None, None]
    y = x.copy()
    assert ops.channel_scale(y, s, out=y) is y
    np.testing.assert_array_equal(y, want)
    t, u = cn.Tensor(x, requires_grad=True), cn.Tensor(s, requires_grad=True)
    w = rng.standard_normal(x.shape)
    (ops.channel_scale(t, u) * cn.Tensor(w.astype(F32))).sum().backward()
    nx = numeric_grad(lambda v: float((ops.channel_scale(v.astype(F32), s) * w).sum()), x, eps=0.25)
    ns = numeric_grad(lambda v: float((ops.channel_scale(x, v.astype(F32)) * w).sum()), s, eps=0.25)
    assert np.abs(t.grad).max() > 0 and np.abs(u.grad).max() > 0
    np.testing.assert_allclose(t.grad, nx, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(u.grad, ns, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="out="):
        ops.channel_scale(t, u, out=x)
    with pytest.raises(ValueError, match=r"scale must be \(N, C\) .* got shape \(3, 2\)"):
        ops.channel_scale(x, s.T)
    with pytest.raises(ValueError, match="scale must be"):
        ops.channel_scale(x, np.zeros((2, 3, 2, 1), F32))


def _torch_se(torch, c, squeeze):
    """torchvision.ops.SqueezeExcitation's structure, written out (torchvision may be absent)."""

    class SqueezeExcitation(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
            self.fc1 = torch.nn.Conv2d(c, squeeze, 1)
            self.fc2 = torch.nn.Conv2d(squeeze, c, 1)
            self.activation = torch.nn.ReLU()
            self.scale_activation = torch.nn.Sigmoid()

        def forward(self, x):
            s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
            return s * x

    return SqueezeExcitation()


def test_squeeze_excitation_loads_torch_state_and_matches(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_se(torch, 16, 4)
    ours = nn.SqueezeExcitation(16, 4)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    x = rng.standard_normal((2, 16, 5, 7)).astype(F32)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = theirs(xt)
    g = rng.standard_normal(x.shape).astype(F32)
    yt.backward(torch.from_numpy(g))
    t = cn.Tensor(x, requires_grad=True)
    y = ours(t)
    y.backward(g)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.fc1.weight.grad, theirs.fc1.weight.grad.numpy().reshape(ours.fc1.weight.shape),
                               rtol=1e-4, atol=1e-5)
    tv = pytest.importorskip("torchvision")
    assert list(tv.ops.SqueezeExcitation(16, 4).state_dict()) == list(state)


def test_squeeze_excitation_with_other_activations(rng):
    se = nn.SqueezeExcitation(6, 3, activation=nn.SiLU, scale_activation=nn.Hardsigmoid)
    x = rng.standard_normal((1, 6, 3, 3)).astype(F32)
    s = ops.hardsigmoid(se.fc2(ops.silu(se.fc1(x.mean(axis=(2, 3), keepdims=True)))))
    np.testing.assert_allclose(se(x), x * s, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected \(6, H, W\)"):
        se.output_shape((5, 3, 3))


# --- compile and the torch adapter --------------------------------------------------------------

class _Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.se = nn.SqueezeExcitation(16, 4)
        self.shuffle = nn.ChannelShuffle(4)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.near = nn.Upsample(size=(13, 9), mode="nearest-exact")
        self.ps = nn.PixelShuffle(2)
        self.pu = nn.PixelUnshuffle(2)

    def forward(self, x):
        y = self.up(self.shuffle(self.se(ops.relu(self.conv(x)))))
        return self.near(self.pu(self.ps(y)))


def test_compile_runs_every_layer_and_gives_the_eager_output(rng):
    model = _Decoder().eval()
    x = rng.standard_normal((2, 3, 5, 6)).astype(F32)
    want = model(x)
    compiled = cn.compile(model, (2, 3, 5, 6))
    np.testing.assert_allclose(compiled(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled(x[:1]), want[:1], rtol=1e-5, atol=1e-6)


def test_torch_modules_translate_and_compile(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), _torch_se(torch, 8, 2), torch.nn.ChannelShuffle(2),
        torch.nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True), torch.nn.UpsamplingNearest2d(size=(10, 10)),
        torch.nn.PixelUnshuffle(2), torch.nn.PixelShuffle(2), torch.nn.UpsamplingBilinear2d(scale_factor=2)).eval()
    model[1].__class__.__name__ = "SqueezeExcitation"  # torchvision's class name
    x = rng.standard_normal((2, 3, 5, 6)).astype(F32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    compiled = cn.compile(model, (2, 3, 5, 6))
    np.testing.assert_allclose(compiled(x), want, rtol=1e-4, atol=1e-5)


def test_engine_channel_scale_runs_in_place_over_its_input(rng):
    from cnnnative import _core
    x = rng.standard_normal((2, 4, 5, 6)).astype(F32)
    plan = _core.EnginePlan([2, 4, 5, 6], "auto")
    a = plan.add_activation(0, "relu")
    s = plan.add_global_avg_pool(a)
    y = plan.add_channel_scale(a, s)  # the last reader of a: written over a's bytes
    plan.finalize(plan.add_activation(y, "relu6"))
    r = np.maximum(x, 0)
    want = np.clip(r * r.mean(axis=(2, 3), keepdims=True), 0, 6)
    np.testing.assert_allclose(plan.run(x, poison=True), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(plan.run(x[:1], poison=True), want[:1], rtol=1e-6, atol=1e-7)
    assert plan.arena_bytes < 2 * x.nbytes  # a and y share bytes (s is 32 bytes)
    with pytest.raises(ValueError, match="channel_scale: scale"):
        bad = _core.EnginePlan([2, 4, 5, 6], "auto")
        bad.add_channel_scale(0, bad.add_activation(0, "relu"))


class _GatedBlock(nn.Module):
    """An SE-like gate the engine runs whole: conv, global pool, 1x1 conv with ReLU6, scale."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = ops.relu(self.conv(x))
        return ops.channel_scale(y, ops.relu6(self.fc(ops.global_avg_pool2d(y))))


def test_compiled_channel_scale_is_an_engine_node(rng):
    model = _GatedBlock().eval()
    x = rng.standard_normal((2, 3, 7, 6)).astype(F32)
    compiled = cn.compile(model, (2, 3, 7, 6))
    assert "channel_scale" in [n["op"] for n in compiled.nodes]
    np.testing.assert_allclose(compiled(x), model(x), rtol=1e-5, atol=1e-6)


def test_half_pixel_ties_round_as_pytorch_forward(rng):
    """2 -> 41 samples with nearest-exact: output 20's centre maps to exactly 0.5, which rounds
    to input 1. A product rounded before the - 0.5 gives 0.49999994 (input 0); PyTorch's
    vector kernels use one fused multiply-add, and so do the tables here."""
    x = np.array([[[0.0, 1.0]]], F32)
    for n_out in (41, 47, 55):
        y = ops.interpolate(x, size=n_out, mode="nearest-exact")
        assert y[0, 0, n_out // 2] == 1.0
        g = np.ones((1, 1, n_out), F32)
        np.testing.assert_array_equal(ops.interpolate_backward(g, x.shape, size=n_out, mode="nearest-exact")[0, 0],
                                      [n_out // 2, n_out - n_out // 2])  # the forward's map, transposed
    torch = pytest.importorskip("torch")
    for n_in in (2, 3, 5, 7):
        x = rng.standard_normal((1, 1, n_in)).astype(F32)
        for n_out in range(1, 60):
            for mode, align in (("nearest", None), ("nearest-exact", None), ("linear", False), ("linear", True)):
                want = torch.nn.functional.interpolate(torch.from_numpy(x), size=n_out, mode=mode,
                                                       align_corners=align).numpy()
                np.testing.assert_allclose(ops.interpolate(x, size=n_out, mode=mode, align_corners=align), want,
                                           rtol=1e-6, atol=1e-6, err_msg=f"{n_in} -> {n_out} {mode} {align}")
