"""Every cnnnative.nn layer and every cnnnative.models builder compiles and matches the
eager model (eval mode). A new layer or builder without a case here fails the coverage
tests, so nothing is left out silently.

Tolerance: the compiled graph folds BatchNorm in float64 and runs other conv algorithms
than eager; both are float32, so 1e-4 relative to the output's scale.
"""
import inspect

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn


def _bn(cls, c):
    def make():
        m = cls(c)
        rng = np.random.default_rng(1)
        m.running_mean[...] = rng.uniform(-0.5, 0.5, c)
        m.running_var[...] = rng.uniform(0.5, 2, c)
        m.weight.data[...] = rng.uniform(0.5, 1.5, c)
        m.bias.data[...] = rng.uniform(-0.5, 0.5, c)
        return m
    return make


class _Sequence(nn.Module):
    """(N, C*L) -> (N, C, L) -> layer -> flattened: a 1-D layer in a model compile takes
    ((N, F) inputs; compile accepts (N, C, H, W), (N, C, L) and (N, F))."""

    def __init__(self, layer, channels):
        super().__init__()
        self.layer, self.channels = layer, channels

    def forward(self, x):
        return cn.ops.flatten(self.layer(cn.ops.reshape(x, (x.shape[0], self.channels, -1))), 1)


class _Volume(nn.Module):
    """(N, C*D, H, W) -> (N, C, D, H, W) -> layer -> flattened: a 3-D layer in a model
    compile takes."""

    def __init__(self, layer, channels):
        super().__init__()
        self.layer, self.channels = layer, channels

    def forward(self, x):
        n, cd, h, w = x.shape
        return cn.ops.flatten(self.layer(cn.ops.reshape(x, (n, self.channels, cd // self.channels, h, w))), 1)


class _PoolUnpool(nn.Module):
    """MaxPool (return_indices) then MaxUnpool: the unpooling layer needs the indices."""

    def __init__(self, dims):
        super().__init__()
        self.pool = (nn.MaxPool1d if dims == 1 else nn.MaxPool2d)(2, return_indices=True)
        self.unpool = (nn.MaxUnpool1d if dims == 1 else nn.MaxUnpool2d)(2)

    def forward(self, x):
        return self.unpool(*self.pool(x))


def _padding_cases():
    """The 15 padding layers: 1d on (N, C, L), 2d on (N, C, H, W), 3d on (N, C, D, H, W)."""
    cases = {}
    for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular"):
        extra = (0.5,) if kind == "Constant" else ()
        cls = {d: getattr(nn, f"{kind}Pad{d}d") for d in (1, 2, 3)}
        cases[f"{kind}Pad1d"] = (lambda c=cls[1], e=extra: _Sequence(c((2, 1), *e), 3), (2, 27))
        cases[f"{kind}Pad2d"] = (lambda c=cls[2], e=extra: c((1, 2, 2, 1), *e), (2, 3, 5, 4))
        cases[f"{kind}Pad3d"] = (lambda c=cls[3], e=extra: _Volume(c((1, 0, 2, 1, 1, 2), *e), 2), (2, 6, 4, 5))
    return cases


# layer name -> (constructor, input shape)
LAYERS = {
    "MaxPool1d": (lambda: nn.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 3, 11)),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 11)),
    "MaxPool3d": (lambda: _Volume(nn.MaxPool3d(2, ceil_mode=True), 2), (2, 6, 5, 4)),
    "AvgPool3d": (lambda: _Volume(nn.AvgPool3d(3, 2, 1), 2), (2, 6, 5, 4)),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    "AdaptiveAvgPool3d": (lambda: _Volume(nn.AdaptiveAvgPool3d((2, 2, 3)), 2), (2, 6, 5, 4)),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), (2, 3, 10)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((2, 3)), (2, 3, 5, 7)),
    "AdaptiveMaxPool3d": (lambda: _Volume(nn.AdaptiveMaxPool3d(2), 2), (2, 6, 5, 4)),
    "GlobalMaxPool2d": (lambda: nn.GlobalMaxPool2d(), (2, 3, 5, 4)),
    "LPPool1d": (lambda: nn.LPPool1d(2, 3, 2), (2, 3, 11)),
    "LPPool2d": (lambda: nn.LPPool2d(2, 2, ceil_mode=True), (2, 3, 5, 7)),
    "MaxUnpool1d": (lambda: _PoolUnpool(1), (2, 3, 10)),
    "MaxUnpool2d": (lambda: _PoolUnpool(2), (2, 3, 6, 8)),
    "Maxout": (lambda: nn.Maxout(2), (2, 4, 3, 3)),
    "ChannelAvgPool": (lambda: nn.ChannelAvgPool(3), (2, 6, 3, 3)),
    "Unflatten": (lambda: nn.Sequential(nn.Unflatten(1, (3, 2)), nn.Flatten()), (2, 6)),
    **_padding_cases(),
    "Conv2d": (lambda: nn.Conv2d(3, 5, 3, stride=2, padding=1), (2, 3, 9, 8)),
    "Conv1d": (lambda: _Sequence(nn.Conv1d(3, 5, 3, padding=(4, 0), dilation=2), 3), (2, 27)),
    "Conv3d": (lambda: nn.Conv3d(3, 4, 3, stride=(1, 2, 1), padding=1), (2, 3, 4, 5, 6)),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 3, 4, 2)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 5, 4)),
    "ConvTranspose1d": (lambda: _Sequence(nn.ConvTranspose1d(3, 4, 4, stride=2, padding=1), 3), (2, 21)),
    "Linear": (lambda: nn.Linear(7, 4), (3, 7)),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 9, 8)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 3, 9, 8)),
    "GlobalAvgPool2d": (lambda: nn.GlobalAvgPool2d(), (2, 3, 5, 4)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4)),
    "ReLU": (lambda: nn.ReLU(), (2, 3, 4, 4)),
    "ReLU6": (lambda: nn.ReLU6(), (2, 3, 4, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (2, 3, 4, 4)),
    "Tanh": (lambda: nn.Tanh(), (2, 3, 4, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), (2, 6)),
    "SiLU": (lambda: nn.SiLU(), (2, 3, 4, 4)),
    "GELU": (lambda: nn.GELU(approximate="tanh"), (2, 6)),
    "Hardswish": (lambda: nn.Hardswish(), (2, 3, 4, 4)),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), (2, 6)),
    "Softmax": (lambda: nn.Softmax(dim=1), (2, 6)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), (2, 6)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4, 4)),
    "Identity": (lambda: nn.Sequential(nn.Identity(), nn.ReLU()), (2, 3, 4, 4)),
    "Dropout": (lambda: nn.Sequential(nn.Dropout(0.5), nn.ReLU()), (2, 6)),
    "BatchNorm1d": (_bn(nn.BatchNorm1d, 6), (3, 6)),
    "BatchNorm2d": (_bn(nn.BatchNorm2d, 3), (2, 3, 4, 5)),
    "LayerNorm": (lambda: nn.LayerNorm((4, 5)), (2, 3, 4, 5)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 5)),
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3), (2, 5, 4, 4)),
    "LocallyConnected2d": (lambda: nn.LocallyConnected2d(3, 4, (7, 6), 3, stride=2, padding=1), (2, 3, 7, 6)),
    "TiledConv2d": (lambda: nn.TiledConv2d(3, 4, 3, tile_size=(2, 3), padding=1), (2, 3, 7, 6)),
    "Upsample": (lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"), (2, 3, 5, 4)),
    "UpsamplingNearest2d": (lambda: nn.UpsamplingNearest2d(scale_factor=2), (2, 3, 5, 4)),
    "UpsamplingBilinear2d": (lambda: nn.UpsamplingBilinear2d(size=(7, 6)), (2, 3, 5, 4)),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), (2, 8, 3, 4)),
    "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), (2, 3, 4, 6)),
    "ChannelShuffle": (lambda: nn.ChannelShuffle(2), (2, 6, 3, 3)),
    "SqueezeExcitation": (lambda: nn.SqueezeExcitation(6, 2), (2, 6, 4, 4)),
    "PReLU": (lambda: nn.PReLU(3, init=-0.3), (2, 3, 4, 4)),
    "ELU": (lambda: nn.ELU(0.5), (2, 3, 4, 4)),
    "SELU": (lambda: nn.SELU(), (2, 6)),
    "CELU": (lambda: nn.CELU(1.5), (2, 6)),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 0.5), (2, 3, 4, 4)),
    "Threshold": (lambda: nn.Threshold(0.1, -1.0), (2, 6)),
    "Mish": (lambda: nn.Mish(), (2, 3, 4, 4)),
    "Softplus": (lambda: nn.Softplus(2.0, 1.0), (2, 6)),
    "Softsign": (lambda: nn.Softsign(), (2, 6)),
    "LogSigmoid": (lambda: nn.LogSigmoid(), (2, 6)),
    "Dropout2d": (lambda: nn.Sequential(nn.Dropout2d(0.5), nn.ReLU()), (2, 3, 4, 4)),
    "Dropout3d": (lambda: nn.Sequential(nn.Dropout3d(0.5), nn.ReLU()), (2, 3, 4, 4)),
    "AlphaDropout": (lambda: nn.Sequential(nn.AlphaDropout(0.5), nn.ReLU()), (2, 6)),
    "StochasticDepth": (lambda: nn.Sequential(nn.StochasticDepth(0.5, "row"), nn.ReLU()), (2, 3, 4, 4)),
}

# builder name -> keyword arguments (small inputs keep the test fast); every other
# builder (the zoo's ImageNet families) runs with 5 classes and without auxiliary heads.
SMALL_BUILDERS = {
    "resnet18": dict(num_classes=7, input_size=32),
    "digits_net": dict(),
    "seed_mnist_net": dict(),
    "lenet5": dict(),
    "vgg_small": dict(input_size=16, width=8),
    "all_conv_net": dict(input_size=16, width=8),
    "resnet34": dict(num_classes=5),
    "resnet20": dict(num_classes=5),
}
_SMALL_SIZES = {"digits_net": 8, "seed_mnist_net": 28, "lenet5": 28}
# Builders with a layer the engine leaves to the host (LeNet-5's tanh).
HOSTED_BUILDERS = {"lenet5"}


def _builder_kwargs(name):
    if name in SMALL_BUILDERS:
        return SMALL_BUILDERS[name]
    takes = inspect.signature(models.MODELS[name]).parameters
    return dict(num_classes=5, **({"aux_logits": False} if "aux_logits" in takes else {}))

_NOT_LAYERS = {"Module", "Parameter", "Sequential", "Graph", "Node", "ModuleList", "ModuleDict"}  # containers


def _input_shape(name, kwargs):
    size = kwargs.get("input_size", _SMALL_SIZES.get(name))
    if size is None:  # a zoo builder: ImageNet-style, at 32 x 32 or the least it takes
        size = max(32, getattr(models.MODELS[name], "min_input_size", 32))
    channels = 1 if name in ("digits_net", "seed_mnist_net", "lenet5") else 3
    return (2, channels, size, size)


def test_every_layer_and_builder_has_a_case():
    layers = {n for n in nn.__all__ if inspect.isclass(getattr(nn, n)) and n not in _NOT_LAYERS
              and issubclass(getattr(nn, n), nn.Module)
              and getattr(nn, n).__module__ != "cnnnative.nn.loss"}  # losses take (input, target)
    assert layers == set(LAYERS), f"add a case for {layers ^ set(LAYERS)}"
    assert set(SMALL_BUILDERS) <= set(models.MODELS), set(SMALL_BUILDERS) - set(models.MODELS)


def _check(model, shape, rng):
    model.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(model(x))
    compiled = cn.compile(model, shape, poison=True)
    y = compiled(x)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-4, atol=1e-4 * scale)
    return compiled


# Layers the C++ engine runs itself (the others run as host nodes between engine segments).
ENGINE_LAYERS = {"Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "AdaptiveAvgPool2d", "ReLU",
                 "ReLU6", "Softmax", "Flatten", "Identity", "Dropout", "BatchNorm1d", "BatchNorm2d",
                 "SiLU", "Hardswish", "GELU", "Sigmoid", "Hardsigmoid",
                 "Dropout2d", "Dropout3d", "AlphaDropout", "StochasticDepth",  # the identity in eval mode
                 "ConvTranspose2d",  # the engine's conv_transpose node
                 "SqueezeExcitation",  # pooling, 1x1 convs with ReLU and Sigmoid epilogues, the in-place channel scale
                 "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",  # the interpolate node
                 "PixelShuffle", "PixelUnshuffle", "ChannelShuffle"}  # the channel-layout nodes
# (Conv1d and ConvTranspose1d run in the engine too, but their cases here reshape (N, F) to
# (N, C, L) on the host.)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_compiles_and_matches_eager(name, rng):
    nn.init.manual_seed(0)
    make, shape = LAYERS[name]
    compiled = _check(make(), shape, rng)
    hosted = [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]
    assert (not hosted) == (name in ENGINE_LAYERS), hosted


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_builder_compiles_and_matches_eager(name, rng):
    nn.init.manual_seed(0)
    kwargs = _builder_kwargs(name)
    shape = _input_shape(name, kwargs)
    compiled = _check(models.build(name, **kwargs), shape, rng)
    if name not in HOSTED_BUILDERS:
        # The engine runs these whole: no host node.
        assert not any(n["op"].startswith("host:") for n in compiled.nodes)
