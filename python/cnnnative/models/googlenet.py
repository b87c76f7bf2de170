"""GoogLeNet (Inception v1; Szegedy et al. 2015, "Going Deeper with Convolutions") as
cnnnative.nn modules, in torchvision's layout.

Module and parameter names, their order and the buffers follow torchvision 0.29
(``conv1.conv.weight``, ``conv1.bn.running_mean``, ``inception3a.branch2.1.conv.weight``,
``aux1.fc1.weight``, ``fc.weight``, ...), so a torchvision state_dict (as numpy arrays)
loads with strict=True. As in torchvision, every convolution is a BasicConv2d (conv
without bias -> BatchNorm with eps 0.001 -> ReLU), the "5x5" branch uses a 3x3 kernel
(torchvision's known deviation from the paper, kept so its weights load) and the max
pools round up (ceil_mode=True).

BasicConv2d and the input transform are shared with Inception-v3 (models/inception.py).
"""
from __future__ import annotations

import contextlib
from collections import namedtuple

import numpy as np

from .. import nn, ops
from ._weights import load_weights

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "GoogLeNetOutputs", "googlenet"]

# What forward returns in training mode with aux_logits (torchvision's namedtuple):
# the main logits, then the auxiliary heads' logits, the deeper one (aux2) first.
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """relu(bn(conv(x))): Conv2d without bias (keyword arguments as nn.Conv2d's), then
    BatchNorm2d with eps 0.001 (torchvision's). (N, in_channels, H, W) -> (N,
    out_channels, H', W'); compiled, the BatchNorm folds into the conv and the ReLU runs
    in its epilogue."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def output_shape(self, input_shape):
        return self.conv.output_shape(input_shape)

    def forward(self, x):
        return ops.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """The Inception module: four branches on the same input, joined along channels.
    branch1: 1x1 conv (ch1x1); branch2: 1x1 (ch3x3red) -> 3x3 (ch3x3); branch3: 1x1
    (ch5x5red) -> 3x3 (ch5x5; the paper's 5x5, torchvision's 3x3); branch4: 3x3/1 max pool
    -> 1x1 (pool_proj). (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def output_shape(self, input_shape):
        _, h, w = self.branch1.output_shape(input_shape)
        return (self.out_channels, h, w)

    def forward(self, x):
        return ops.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier (used in training only): adaptive average pool to
    4x4 -> 1x1 BasicConv2d (128) -> flatten (2048) -> fc1 (1024) -> ReLU -> dropout ->
    fc2. (N, in_channels, H, W) -> (N, num_classes), any H, W."""

    def __init__(self, in_channels, num_classes, dropout=0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def output_shape(self, input_shape):
        return (self.fc2.out_features,)

    def forward(self, x):
        x = self.conv(ops.adaptive_avg_pool2d(x, (4, 4)))
        x = ops.relu(self.fc1(ops.flatten(x, 1)))
        return self.fc2(self.dropout(x))


# transform_input: torchvision's GoogLeNet and Inception-v3 weights came from networks fed
# images scaled to [-1, 1]; this maps an ImageNet-normalised input, (x - mean) / std, to
# that scale per channel: x * (std / 0.5) + (mean - 0.5) / 0.5.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_TRANSFORM_SCALE = np.array([s / 0.5 for s in _IMAGENET_STD], np.float32).reshape(1, 3, 1, 1)
_TRANSFORM_SHIFT = np.array([(m - 0.5) / 0.5 for m in _IMAGENET_MEAN], np.float32).reshape(1, 3, 1, 1)


def transform_imagenet_input(x):
    """ImageNet-normalised (N, 3, H, W) -> the [-1, 1] scaling torchvision's ported weights
    expect (see above). Two per-channel constant ops: the compiled engine runs them."""
    return ops.add(ops.mul(x, _TRANSFORM_SCALE), _TRANSFORM_SHIFT)


def trunc_normal_(array, std, a=-2.0, b=2.0):
    """torch.nn.init.trunc_normal_(mean 0, std, bounds a, b): normal draws, redrawn
    while outside [a, b] (numpy's generator, so values differ from torch's)."""
    rng = nn.init.default_generator()
    values = rng.normal(0.0, std, size=array.shape)
    bad = (values < a) | (values > b)
    while bad.any():
        values[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = (values < a) | (values > b)
    array[...] = values.astype(np.float32)
    return array


def _no_init(skip):
    """nn.init.skip_random_init() when skip (the weights are loaded next), else nothing."""
    return nn.init.skip_random_init() if skip else contextlib.nullcontext()


def check_input(x, name, in_channels, min_size):
    """A clear ValueError unless x is (N, in_channels, H, W) with H, W >= min_size."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 4 or shape[1] != in_channels or min(shape[2:]) < min_size:
        raise ValueError(f"{name}: input must be (N, {in_channels}, H, W) with H, W >= {min_size}, "
                         f"got shape {shape}")


def _pool_ceil(n, k, s):
    """Output length of a ceil_mode max pool without padding (0: the input is too small)."""
    out = -(-(n - k) // s) + 1
    if (out - 1) * s >= n:  # the last window must start inside the input
        out -= 1
    return max(out, 0)


def _googlenet_final_size(n):
    """Spatial size after GoogLeNet's last stage for an input of size n (< 1: too small)."""
    n = (n + 6 - 7) // 2 + 1  # conv1 7x7/2 pad 3
    for k in (3, 3, 3, 2):  # maxpool1..4 (ceil_mode), all stride 2
        if n < 1:
            return n
        n = _pool_ceil(n, k, 2)
    return n


# The smallest input side GoogLeNet accepts (15, as torchvision's meta["min_size"]).
GOOGLENET_MIN_SIZE = next(n for n in range(1, 64) if _googlenet_final_size(n) >= 1)


class GoogLeNet(nn.Module):
    """GoogLeNet: conv1 7x7/2 (64) -> maxpool -> conv2 1x1 (64) -> conv3 3x3 (192) ->
    maxpool -> inception3a, 3b -> maxpool -> inception4a..4e -> maxpool -> inception5a, 5b
    -> global average -> dropout -> fc. Input (N, in_channels, H, W), H, W >= 15 (224 is
    the natural size) -> logits (N, num_classes) in eval mode.

    aux_logits: two auxiliary classifiers (aux1 after inception4a, aux2 after 4d), run in
    training mode only; forward then returns GoogLeNetOutputs(logits, aux_logits2,
    aux_logits1) as torchvision does. transform_input: rescale an ImageNet-normalised
    input for torchvision's ported weights (needs in_channels == 3)."""

    def __init__(self, num_classes=1000, aux_logits=True, transform_input=False, init_weights=True,
                 dropout=0.2, dropout_aux=0.7, in_channels=3):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input needs in_channels == 3, got in_channels={in_channels}")
        self.aux_logits = bool(aux_logits)
        self.transform_input = bool(transform_input)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        if self.aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None  # plain attributes, no parameters (as torchvision)
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            self._init_weights()

    def _init_weights(self):
        # torchvision: truncated normal (std 0.01, bounds +-2) for conv and linear weights
        # (linear biases keep their default); BatchNorm weight 1, bias 0 (the default).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                trunc_normal_(m.weight.data, 0.01)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        if c != self.in_channels or min(h, w) < GOOGLENET_MIN_SIZE:
            raise self._shape_error(input_shape, f"needs ({self.in_channels}, H, W) with H, W >= "
                                                 f"{GOOGLENET_MIN_SIZE}")
        return (self.num_classes,)

    def forward(self, x):
        check_input(x, "GoogLeNet", self.in_channels, GOOGLENET_MIN_SIZE)
        if self.transform_input:
            x = transform_imagenet_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        with_aux = self.training and self.aux_logits
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(ops.flatten(self.avgpool(x), 1)))
        return GoogLeNetOutputs(x, aux2, aux1) if with_aux else x


def googlenet(weights=None, num_classes=1000, in_channels=3, aux_logits=True, transform_input=False,
              dropout=0.2, dropout_aux=0.7, init_weights=True) -> GoogLeNet:
    """GoogLeNet / Inception v1 (Szegedy et al. 2015, "Going Deeper with Convolutions"),
    torchvision's layout (13.0M parameters with the auxiliary heads at 1000 classes, 6.6M
    without). Input (N, in_channels, H, W), H, W >= 15 (224 natural) -> (N, num_classes).

    weights: a state_dict file or mapping (torchvision's keys), loaded strictly.
    aux_logits (default True, torchvision's default without weights): the two auxiliary
    classifiers; in training mode forward returns GoogLeNetOutputs(logits, aux_logits2,
    aux_logits1). torchvision's ImageNet checkpoint has them, so load it with
    aux_logits=True. transform_input: rescale ImageNet-normalised input as torchvision's
    ported weights expect (torchvision turns it on when it loads its own weights; here
    pass transform_input=True with them). dropout / dropout_aux: the drop probabilities
    before the classifier and in the auxiliary heads. init_weights: torchvision's
    truncated-normal initialisation (else the layers' defaults)."""
    # Weights that will be overwritten (strict loading) are not drawn: faster, and the
    # generator's state stays as it was.
    with _no_init(weights is not None):
        model = GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input,
                          init_weights=init_weights and weights is None, dropout=dropout, dropout_aux=dropout_aux,
                          in_channels=in_channels)
    return load_weights(model, weights)


googlenet.min_input_size = GOOGLENET_MIN_SIZE  # the smallest H, W (the CLI checks it)

MODELS = {"googlenet": googlenet}
