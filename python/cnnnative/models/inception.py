"""Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
Vision") as cnnnative.nn modules, in torchvision's layout.

Module and parameter names, their order and the buffers follow torchvision 0.29
(``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch5x5_1.bn.running_var``,
``AuxLogits.conv1.conv.weight``, ``fc.bias``, ...), so a torchvision state_dict (as numpy
arrays) loads with strict=True. Every convolution is a BasicConv2d (conv without bias ->
BatchNorm eps 0.001 -> ReLU, shared with GoogLeNet); the blocks' pooling branches use
functional pools (no modules), as torchvision's do.
"""
from __future__ import annotations

from collections import namedtuple

from .. import nn, ops
from ._weights import load_weights
from .googlenet import BasicConv2d, _no_init, check_input, transform_imagenet_input, trunc_normal_

__all__ = ["InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE", "InceptionAux",
           "Inception3", "InceptionOutputs", "inception_v3"]

# What forward returns in training mode with aux_logits (torchvision's namedtuple).
InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])


def _cat_shape(parts, input_shape):
    """(sum of the parts' channels, H, W) of branch outputs joined along channels."""
    shapes = [p.output_shape(input_shape) for p in parts]
    return (sum(s[0] for s in shapes),) + tuple(shapes[0][1:])


class InceptionA(nn.Module):
    """35x35 block (paper fig. 5): 1x1 (64) | 1x1 (48) -> 5x5 (64) | 1x1 (64) -> 3x3 (96)
    -> 3x3 (96) | 3x3/1 average pool -> 1x1 (pool_features), joined along channels.
    (N, in_channels, H, W) -> (N, 224 + pool_features, H, W)."""

    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def output_shape(self, input_shape):
        _, h, w = input_shape
        return (224 + self.branch_pool.conv.out_channels, h, w)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(ops.avg_pool2d(x, 3, stride=1, padding=1))
        return ops.cat([self.branch1x1(x), b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (paper fig. 10): 3x3/2 (384) | 1x1 (64) -> 3x3 (96) ->
    3x3/2 (96) | 3x3/2 max pool. (N, C, H, W) -> (N, 480 + C, (H-3)//2+1, (W-3)//2+1)."""

    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def output_shape(self, input_shape):
        _, h, w = self.branch3x3.output_shape(input_shape)
        return (480 + input_shape[0], h, w)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return ops.cat([b3, bd, ops.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (paper fig. 6): 1x1 (192) | 1x1 (c7)
    -> 1x7 (c7) -> 7x1 (192) | 1x1 (c7) -> 7x1 -> 1x7 -> 7x1 (c7) -> 1x7 (192) | 3x3/1
    average pool -> 1x1 (192). (N, in_channels, H, W) -> (N, 768, H, W)."""

    def __init__(self, in_channels, channels_7x7):
        super().__init__()
        c7 = channels_7x7
        row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def output_shape(self, input_shape):
        return (768,) + tuple(input_shape[1:])

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            bd = conv(bd)
        bp = self.branch_pool(ops.avg_pool2d(x, 3, stride=1, padding=1))
        return ops.cat([self.branch1x1(x), b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1 (192) -> 3x3/2 (320) | 1x1 (192) -> 1x7 -> 7x1 ->
    3x3/2 (192) | 3x3/2 max pool. (N, C, H, W) -> (N, 512 + C, (H-3)//2+1, (W-3)//2+1)."""

    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def output_shape(self, input_shape):
        _, h, w = self.branch3x3_2.output_shape((192,) + tuple(input_shape[1:]))
        return (512 + input_shape[0], h, w)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return ops.cat([b3, b7, ops.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with expanded filter banks (paper fig. 7): 1x1 (320) | 1x1 (384) -> [1x3,
    3x1] (384 each) | 1x1 (448) -> 3x3 (384) -> [1x3, 3x1] (384 each) | 3x3/1 average
    pool -> 1x1 (192). (N, in_channels, H, W) -> (N, 2048, H, W)."""

    def __init__(self, in_channels):
        super().__init__()
        row, col = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1), padding=(1, 0))
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, **row)
        self.branch3x3_2b = BasicConv2d(384, 384, **col)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, **row)
        self.branch3x3dbl_3b = BasicConv2d(384, 384, **col)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def output_shape(self, input_shape):
        return (2048,) + tuple(input_shape[1:])

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = ops.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = ops.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(ops.avg_pool2d(x, 3, stride=1, padding=1))
        return ops.cat([self.branch1x1(x), b3, bd, bp], 1)


class InceptionAux(nn.Module):
    """Inception-v3's auxiliary classifier (training only): 5x5/3 average pool -> 1x1 (128)
    -> 5x5 (768) -> global average -> fc. (N, in_channels, H, W) -> (N, num_classes);
    needs H, W >= 17 (the 17x17 grid of a 299x299 input)."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def output_shape(self, input_shape):
        return (self.fc.out_features,)

    def forward(self, x):
        x = self.conv1(self.conv0(ops.avg_pool2d(x, 5, stride=3)))
        return self.fc(ops.flatten(ops.adaptive_avg_pool2d(x, (1, 1)), 1))


def _inception_sizes(n):
    """Spatial sizes (Mixed_6e's grid, the final grid) for an input side n (< 1: too small)."""
    def conv(n, k, s=1, p=0):
        return (n + 2 * p - k) // s + 1 if n + 2 * p >= k else 0
    n = conv(conv(conv(n, 3, 2), 3), 3, p=1)  # Conv2d_1a (3x3/2), 2a (3x3), 2b (3x3 pad 1)
    n = conv(conv(conv(n, 3, 2), 1), 3)  # maxpool1, Conv2d_3b (1x1), 4a (3x3)
    n = conv(conv(n, 3, 2), 3, 2)  # maxpool2, Mixed_6a (3x3/2)
    return n, conv(n, 3, 2)  # Mixed_6e's grid; Mixed_7a (3x3/2)


# The smallest input side (75, as torchvision's meta["min_size"]), and the smallest with the
# auxiliary head in training mode (299: its 5x5/3 pool and 5x5 conv need a 17x17 grid).
INCEPTION_V3_MIN_SIZE = next(n for n in range(1, 400) if _inception_sizes(n)[1] >= 1)
INCEPTION_V3_AUX_MIN_SIZE = next(n for n in range(1, 400) if _inception_sizes(n)[0] >= 17)


class Inception3(nn.Module):
    """Inception-v3: a stem of BasicConv2d (Conv2d_1a_3x3 .. Conv2d_4a_3x3) and two 3x3/2
    max pools, Mixed_5b..5d (InceptionA), Mixed_6a (InceptionB), Mixed_6b..6e (InceptionC),
    Mixed_7a (InceptionD), Mixed_7b, 7c (InceptionE), global average, dropout, fc. Input
    (N, in_channels, H, W), H, W >= 75 (299 natural) -> logits (N, num_classes) in eval
    mode.

    aux_logits: the auxiliary classifier (AuxLogits, after Mixed_6e), run in training mode
    only, where forward returns InceptionOutputs(logits, aux_logits) as torchvision does;
    it needs H, W >= 299 (a smaller input in training mode raises a ValueError: build with
    aux_logits=False to train on it). transform_input: rescale an ImageNet-normalised
    input for torchvision's ported weights (needs in_channels == 3)."""

    def __init__(self, num_classes=1000, aux_logits=True, transform_input=False, init_weights=True,
                 dropout=0.5, in_channels=3):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input needs in_channels == 3, got in_channels={in_channels}")
        self.aux_logits = bool(aux_logits)
        self.transform_input = bool(transform_input)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.AuxLogits = InceptionAux(768, num_classes) if self.aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        if init_weights:
            self._init_weights()

    def _init_weights(self):
        # torchvision: truncated normal (bounds +-2) with std 0.1 for conv and linear
        # weights, 0.001 for AuxLogits.fc (torchvision's `stddev` attribute; the one it sets
        # on AuxLogits.conv1 sits on the BasicConv2d, not on its Conv2d, so has no effect).
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                trunc_normal_(m.weight.data, 0.001 if name == "AuxLogits.fc" else 0.1)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        if c != self.in_channels or min(h, w) < INCEPTION_V3_MIN_SIZE:
            raise self._shape_error(input_shape, f"needs ({self.in_channels}, H, W) with H, W >= "
                                                 f"{INCEPTION_V3_MIN_SIZE}")
        return (self.num_classes,)

    def forward(self, x):
        with_aux = self.training and self.aux_logits
        check_input(x, "Inception3", self.in_channels, INCEPTION_V3_MIN_SIZE)
        if with_aux and min(x.shape[2:]) < INCEPTION_V3_AUX_MIN_SIZE:
            raise ValueError(f"Inception3: the auxiliary classifier (training mode, aux_logits=True) needs "
                             f"H, W >= {INCEPTION_V3_AUX_MIN_SIZE}, got input shape {tuple(x.shape)}; "
                             f"build with aux_logits=False to train on smaller inputs")
        if self.transform_input:
            x = transform_imagenet_input(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x)))
        x = self.maxpool2(x)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e):
            x = block(x)
        aux = self.AuxLogits(x) if with_aux else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = self.fc(ops.flatten(self.dropout(self.avgpool(x)), 1))
        return InceptionOutputs(x, aux) if with_aux else x


def inception_v3(weights=None, num_classes=1000, in_channels=3, aux_logits=True, transform_input=False,
                 dropout=0.5, init_weights=True) -> Inception3:
    """Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for
    Computer Vision"), torchvision's layout (27.2M parameters with the auxiliary head at
    1000 classes). Input (N, in_channels, H, W): 299x299 natural, H, W >= 75 smallest ->
    (N, num_classes).

    weights: a state_dict file or mapping (torchvision's keys), loaded strictly.
    aux_logits (default True, as torchvision): the auxiliary classifier; in training mode
    forward returns InceptionOutputs(logits, aux_logits), and the input must then be at
    least 299x299 (use aux_logits=False to train smaller). torchvision's ImageNet
    checkpoint has the head, so load it with aux_logits=True. transform_input: rescale
    ImageNet-normalised input as torchvision's ported weights expect (torchvision turns it
    on when it loads its own weights; here pass transform_input=True with them). dropout:
    the drop probability before fc. init_weights: torchvision's truncated-normal
    initialisation (else the layers' defaults)."""
    # Weights that will be overwritten (strict loading) are not drawn: faster, and the
    # generator's state stays as it was.
    with _no_init(weights is not None):
        model = Inception3(num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input,
                           init_weights=init_weights and weights is None, dropout=dropout, in_channels=in_channels)
    return load_weights(model, weights)


inception_v3.min_input_size = INCEPTION_V3_MIN_SIZE  # the smallest H, W (the CLI checks it)

MODELS = {"inception_v3": inception_v3}
