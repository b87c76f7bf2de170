"""RegNet (Radosavovic et al. 2020, "Designing Network Design Spaces"): RegNetX-400MF,
RegNetY-400MF and RegNetY-800MF with torchvision's module structure and state_dict keys
(stem, trunk_output.blockN.blockN-M.proj / f.a / f.b / f.se / f.c, fc), so torchvision's
weights load unchanged.

A RegNet is described by a few numbers (depth, w_0, w_a, w_m, group width, SE ratio):
block j's width is quantised from the linear ramp w_0 + w_a * j onto the geometric grid
w_0 * w_m^k (multiples of 8), consecutive blocks of equal width form a stage, and each
stage's width is adjusted so that its bottleneck splits into whole groups. BlockParams
repeats torchvision's computation (in float32, as torch does it) so the stages agree.
"""
from __future__ import annotations

import contextlib
import math
from collections import OrderedDict

import numpy as np

from .. import nn, ops
from ._weights import load_weights
from ._layers import Conv2dNormActivation, make_divisible

__all__ = ["BlockParams", "ResBottleneckBlock", "RegNet", "regnet_y_400mf", "regnet_y_800mf", "regnet_x_400mf"]


class BlockParams:
    """Per-stage depths, widths, group widths, bottleneck multipliers and strides, and the
    SE ratio (None: no squeeze-and-excitation)."""

    def __init__(self, depths, widths, group_widths, bottleneck_multipliers, strides, se_ratio=None):
        self.depths, self.widths, self.group_widths = list(depths), list(widths), list(group_widths)
        self.bottleneck_multipliers, self.strides = list(bottleneck_multipliers), list(strides)
        self.se_ratio = se_ratio

    @classmethod
    def from_init_params(cls, depth, w_0, w_a, w_m, group_width, bottleneck_multiplier=1.0, se_ratio=None):
        """The stages of the RegNet with `depth` blocks whose widths follow w_0 + w_a * j,
        quantised to w_0 * w_m^k rounded to multiples of 8; every stage has stride 2."""
        if w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % 8 != 0:
            raise ValueError(f"RegNet: need w_a >= 0, w_0 > 0 a multiple of 8 and w_m > 1; got w_0={w_0}, "
                             f"w_a={w_a}, w_m={w_m}")
        quant = 8
        f32 = np.float32
        # float32 throughout, as torch computes it, so a width on a rounding edge agrees.
        widths_cont = np.arange(depth, dtype=f32) * f32(w_a) + f32(w_0)
        capacity = np.round(np.log(widths_cont / f32(w_0)) / f32(math.log(w_m)))
        block_widths = (np.round(f32(w_0) * np.power(f32(w_m), capacity) / f32(quant)) * quant).astype(np.int32)
        block_widths = [int(w) for w in block_widths]
        # A stage starts wherever the width changes.
        starts = [j for j in range(depth) if j == 0 or block_widths[j] != block_widths[j - 1]]
        stage_widths = [block_widths[j] for j in starts]
        stage_depths = [b - a for a, b in zip(starts, starts[1:] + [depth])]
        n = len(stage_widths)
        multipliers = [bottleneck_multiplier] * n
        stage_widths, group_widths = cls._adjust_widths_groups(stage_widths, multipliers, [group_width] * n)
        return cls(stage_depths, stage_widths, group_widths, multipliers, [2] * n, se_ratio)

    @staticmethod
    def _adjust_widths_groups(stage_widths, bottleneck_multipliers, group_widths):
        """Bottleneck widths rounded to multiples of their (at most that wide) group width."""
        bottlenecks = [int(w * b) for w, b in zip(stage_widths, bottleneck_multipliers)]
        group_widths = [min(g, w) for g, w in zip(group_widths, bottlenecks)]
        bottlenecks = [make_divisible(w, g) for w, g in zip(bottlenecks, group_widths)]
        return [int(w / b) for w, b in zip(bottlenecks, bottleneck_multipliers)], group_widths


class BottleneckTransform(nn.Sequential):
    """a: 1x1 conv-BN-act -> b: 3x3 grouped conv-BN-act (stride; groups of group_width
    channels) -> [se: squeeze-and-excitation to round(se_ratio * width_in)] -> c: 1x1
    conv-BN. Input (N, width_in, H, W) -> (N, width_out, H/stride, W/stride)."""

    def __init__(self, width_in, width_out, stride, norm_layer, activation_layer, group_width,
                 bottleneck_multiplier, se_ratio):
        w_b = int(round(width_out * bottleneck_multiplier))
        layers = {"a": Conv2dNormActivation(width_in, w_b, 1, norm_layer=norm_layer, activation_layer=activation_layer),
                  "b": Conv2dNormActivation(w_b, w_b, 3, stride=stride, groups=w_b // group_width,
                                            norm_layer=norm_layer, activation_layer=activation_layer)}
        if se_ratio:
            layers["se"] = nn.SqueezeExcitation(w_b, int(round(se_ratio * width_in)), activation=activation_layer)
        layers["c"] = Conv2dNormActivation(w_b, width_out, 1, norm_layer=norm_layer, activation_layer=None)
        super().__init__(OrderedDict(layers))


class ResBottleneckBlock(nn.Module):
    """act(shortcut(x) + f(x)): f a BottleneckTransform; the shortcut is a 1x1 conv-BN
    (`proj`) when the width or the resolution changes, else the identity."""

    def __init__(self, width_in, width_out, stride, norm_layer, activation_layer, group_width=1,
                 bottleneck_multiplier=1.0, se_ratio=None):
        super().__init__()
        self.proj = None
        if width_in != width_out or stride != 1:
            self.proj = Conv2dNormActivation(width_in, width_out, 1, stride=stride, norm_layer=norm_layer,
                                             activation_layer=None)
        self.f = BottleneckTransform(width_in, width_out, stride, norm_layer, activation_layer, group_width,
                                     bottleneck_multiplier, se_ratio)
        self.activation = activation_layer(inplace=True)

    def output_shape(self, input_shape):
        shape = tuple(self.f.output_shape(input_shape))
        short = tuple(input_shape) if self.proj is None else tuple(self.proj.output_shape(input_shape))
        if short != shape:
            raise self._shape_error(input_shape, f"shortcut gives {short}, f gives {shape}")
        return shape

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        # add(c conv, shortcut) then the activation: one fused conv epilogue when compiled.
        return self.activation(ops.add(self.f(x), shortcut))


class AnyStage(nn.Sequential):
    """`depth` blocks named blockS-0, blockS-1, ...; the first changes width and stride."""

    def __init__(self, width_in, width_out, stride, depth, norm_layer, activation_layer, group_width,
                 bottleneck_multiplier, se_ratio=None, stage_index=0):
        super().__init__()
        for i in range(depth):
            self.add_module(f"block{stage_index}-{i}", ResBottleneckBlock(
                width_in if i == 0 else width_out, width_out, stride if i == 0 else 1, norm_layer,
                activation_layer, group_width, bottleneck_multiplier, se_ratio))


class RegNet(nn.Module):
    """stem (3x3/2 conv-BN-ReLU, stem_width) -> trunk_output (block1..blockK stages) ->
    global average (avgpool) -> fc. Input (N, in_channels, H, W), any H, W >= 1 -> logits
    (N, num_classes)."""

    def __init__(self, block_params: BlockParams, num_classes=1000, in_channels=3, stem_width=32,
                 norm_layer=nn.BatchNorm2d, activation=nn.ReLU):
        super().__init__()
        self.stem = Conv2dNormActivation(in_channels, stem_width, 3, stride=2, norm_layer=norm_layer,
                                         activation_layer=activation)
        stages, width = OrderedDict(), stem_width
        p = block_params
        for i, (w, s, d, g, b) in enumerate(zip(p.widths, p.strides, p.depths, p.group_widths,
                                                p.bottleneck_multipliers)):
            stages[f"block{i + 1}"] = AnyStage(width, w, s, d, norm_layer, activation, g, b, p.se_ratio, i + 1)
            width = w
        self.trunk_output = nn.Sequential(stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width, num_classes)
        self._init_weights()

    def _init_weights(self):
        # torchvision: conv N(0, 2 / (k * k * out_channels)), BN 1 / 0, fc N(0, 0.01^2), bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight.data, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight.data, 0.0, 0.01)
                nn.init.zeros_(m.bias.data)

    def output_shape(self, input_shape):
        shape = self.avgpool.output_shape(self.trunk_output.output_shape(self.stem.output_shape(input_shape)))
        return self.fc.output_shape((shape[0],))

    def forward(self, x):
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(ops.flatten(x, 1))


def _regnet(params, weights, num_classes, in_channels):
    # Random initialisation is wasted work when weights overwrite it.
    with nn.init.skip_random_init() if weights is not None else contextlib.nullcontext():
        model = RegNet(params, num_classes, in_channels)
    return load_weights(model, weights)


def regnet_y_400mf(weights=None, num_classes=1000, in_channels=3):
    """RegNetY-400MF (torchvision's regnet_y_400mf, 4.3M parameters): depth 16, w_0 48,
    w_a 27.89, w_m 2.09, group width 8, squeeze-and-excitation ratio 0.25. Input
    (N, in_channels, H, W), trained at 224x224, any size works -> logits (N, num_classes).
    weights: a state_dict file or mapping."""
    params = BlockParams.from_init_params(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25)
    return _regnet(params, weights, num_classes, in_channels)


def regnet_y_800mf(weights=None, num_classes=1000, in_channels=3):
    """RegNetY-800MF (6.4M parameters): depth 14, w_0 56, w_a 38.84, w_m 2.4, group width
    16, SE ratio 0.25. Input (N, in_channels, H, W) -> (N, num_classes); as regnet_y_400mf."""
    params = BlockParams.from_init_params(depth=14, w_0=56, w_a=38.84, w_m=2.4, group_width=16, se_ratio=0.25)
    return _regnet(params, weights, num_classes, in_channels)


def regnet_x_400mf(weights=None, num_classes=1000, in_channels=3):
    """RegNetX-400MF (5.5M parameters; no squeeze-and-excitation): depth 22, w_0 24, w_a
    24.48, w_m 2.54, group width 16. Input (N, in_channels, H, W) -> (N, num_classes)."""
    params = BlockParams.from_init_params(depth=22, w_0=24, w_a=24.48, w_m=2.54, group_width=16)
    return _regnet(params, weights, num_classes, in_channels)


MODELS = {
    "regnet_y_400mf": regnet_y_400mf,
    "regnet_y_800mf": regnet_y_800mf,
    "regnet_x_400mf": regnet_x_400mf,
}
