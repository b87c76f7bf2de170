"""MobileNet V3 small and large (Howard et al. 2019, "Searching for MobileNetV3") with
torchvision's module structure and state_dict keys: `features` (stem, blocks with their
layers in `block`, last 1x1 conv), `avgpool`, `classifier` (Linear, Hardswish, Dropout,
Linear). BatchNorm has eps 0.001 and momentum 0.01, as torchvision.

The squeeze-and-excitation gate is nn.SqueezeExcitation (fc1 / fc2 1x1 convs, ReLU,
Hardsigmoid): compiled, its convs carry ReLU / Hardsigmoid epilogues and the gate is the
engine's in-place channel_scale node, so the whole net runs in the engine.
Input (N, in_channels, H, W), any H, W >= 1.
"""
from __future__ import annotations

from functools import partial

from .. import nn, ops
from ._weights import load_weights
from ._layers import Conv2dNormActivation, make_divisible
from .mobilenetv2 import init_mobilenet

__all__ = ["MobileNetV3", "InvertedResidual", "InvertedResidualConfig", "mobilenet_v3_small",
           "mobilenet_v3_large"]


class InvertedResidualConfig:
    """One block's setting, widths scaled by width_mult and rounded to multiples of 8:
    input_channels, kernel, expanded_channels, out_channels, use_se, activation ("RE" ReLU
    or "HS" Hardswish), stride, dilation."""

    def __init__(self, input_channels, kernel, expanded_channels, out_channels, use_se, activation, stride,
                 dilation, width_mult):
        if activation not in ("RE", "HS"):
            raise ValueError(f"activation must be 'RE' or 'HS', got {activation!r}")
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.kernel = kernel
        self.expanded_channels = self.adjust_channels(expanded_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.use_se = use_se
        self.use_hs = activation == "HS"
        self.stride = stride
        self.dilation = dilation

    @staticmethod
    def adjust_channels(channels, width_mult):
        return make_divisible(channels * width_mult, 8)


class InvertedResidual(nn.Module):
    """The MobileNet V3 block: [1x1 expand-BN-act] -> kxk depthwise (stride, dilation)-BN-act
    -> [squeeze-excitation] -> 1x1 project-BN, plus the input when stride == 1 and the
    widths agree; act is ReLU or Hardswish. (N, in, H, W) -> (N, out, H/stride, W/stride).
    A dilated block keeps stride 1 (torchvision's dilated tail)."""

    def __init__(self, cnf: InvertedResidualConfig, norm_layer):
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        act = nn.Hardswish if cnf.use_hs else nn.ReLU
        layers = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(Conv2dNormActivation(cnf.input_channels, cnf.expanded_channels, 1, norm_layer=norm_layer,
                                           activation_layer=act))
        stride = 1 if cnf.dilation > 1 else cnf.stride
        layers.append(Conv2dNormActivation(cnf.expanded_channels, cnf.expanded_channels, cnf.kernel, stride,
                                       groups=cnf.expanded_channels, dilation=cnf.dilation, norm_layer=norm_layer,
                                       activation_layer=act))
        if cnf.use_se:
            squeeze = make_divisible(cnf.expanded_channels // 4, 8)
            layers.append(nn.SqueezeExcitation(cnf.expanded_channels, squeeze, scale_activation=nn.Hardsigmoid))
        layers.append(Conv2dNormActivation(cnf.expanded_channels, cnf.out_channels, 1, norm_layer=norm_layer,
                                       activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels

    def forward(self, x):
        y = self.block(x)
        return ops.add(y, x) if self.use_res_connect else y


def _setting(arch, width_mult=1.0, reduced_tail=False, dilated=False):
    """torchvision's block settings and last_channel for "large" / "small"."""
    r = 2 if reduced_tail else 1
    d = 2 if dilated else 1
    b = partial(InvertedResidualConfig, width_mult=width_mult)
    if arch == "large":
        rows = [b(16, 3, 16, 16, False, "RE", 1, 1), b(16, 3, 64, 24, False, "RE", 2, 1),
                b(24, 3, 72, 24, False, "RE", 1, 1), b(24, 5, 72, 40, True, "RE", 2, 1),
                b(40, 5, 120, 40, True, "RE", 1, 1), b(40, 5, 120, 40, True, "RE", 1, 1),
                b(40, 3, 240, 80, False, "HS", 2, 1), b(80, 3, 200, 80, False, "HS", 1, 1),
                b(80, 3, 184, 80, False, "HS", 1, 1), b(80, 3, 184, 80, False, "HS", 1, 1),
                b(80, 3, 480, 112, True, "HS", 1, 1), b(112, 3, 672, 112, True, "HS", 1, 1),
                b(112, 5, 672, 160 // r, True, "HS", 2, d), b(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d),
                b(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d)]
        last = 1280 // r
    else:
        rows = [b(16, 3, 16, 16, True, "RE", 2, 1), b(16, 3, 72, 24, False, "RE", 2, 1),
                b(24, 3, 88, 24, False, "RE", 1, 1), b(24, 5, 96, 40, True, "HS", 2, 1),
                b(40, 5, 240, 40, True, "HS", 1, 1), b(40, 5, 240, 40, True, "HS", 1, 1),
                b(40, 5, 120, 48, True, "HS", 1, 1), b(48, 5, 144, 48, True, "HS", 1, 1),
                b(48, 5, 288, 96 // r, True, "HS", 2, d), b(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d),
                b(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d)]
        last = 1024 // r
    return rows, InvertedResidualConfig.adjust_channels(last, width_mult)


class MobileNetV3(nn.Module):
    """features (3x3/2 stem conv-BN-Hardswish, InvertedResidual blocks, 1x1 conv-BN-Hardswish
    to 6x the last block's width) -> avgpool -> classifier (Linear to last_channel,
    Hardswish, Dropout(dropout), Linear to num_classes).
    Input (N, in_channels, H, W) -> logits (N, num_classes)."""

    def __init__(self, inverted_residual_setting, last_channel, num_classes=1000, dropout=0.2, in_channels=3):
        super().__init__()
        if not inverted_residual_setting:
            raise ValueError("inverted_residual_setting must not be empty")
        if not all(isinstance(s, InvertedResidualConfig) for s in inverted_residual_setting):
            raise TypeError("inverted_residual_setting must be a list of InvertedResidualConfig")
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        first = inverted_residual_setting[0].input_channels
        layers = [Conv2dNormActivation(in_channels, first, 3, 2, norm_layer=norm, activation_layer=nn.Hardswish)]
        layers += [InvertedResidual(cnf, norm) for cnf in inverted_residual_setting]
        last_in = inverted_residual_setting[-1].out_channels
        layers.append(Conv2dNormActivation(last_in, 6 * last_in, 1, norm_layer=norm, activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(6 * last_in, last_channel), nn.Hardswish(inplace=True),
                                        nn.Dropout(p=dropout, inplace=True), nn.Linear(last_channel, num_classes))
        init_mobilenet(self)

    def forward(self, x):
        return self.classifier(ops.flatten(self.avgpool(self.features(x)), 1))


def _mobilenet_v3(arch, weights, num_classes, in_channels, width_mult, reduced_tail, dilated, dropout):
    setting, last = _setting(arch, width_mult, reduced_tail, dilated)
    return load_weights(MobileNetV3(setting, last, num_classes, dropout, in_channels), weights)


def mobilenet_v3_large(weights=None, num_classes=1000, in_channels=3, width_mult=1.0, reduced_tail=False,
                       dilated=False, dropout=0.2) -> MobileNetV3:
    """MobileNet V3 large (Howard et al. 2019; 5.48M parameters at 1000 classes): 15 blocks,
    last conv 960, classifier 1280. Input (N, in_channels, H, W), 224 x 224 for ImageNet ->
    (N, num_classes). width_mult: channel multiplier (widths rounded to multiples of 8);
    reduced_tail halves the last stage's widths; dilated: the last stage with dilation 2
    instead of stride 2 (output stride 16, for segmentation); dropout: in the classifier.
    weights: a state_dict file or mapping."""
    return _mobilenet_v3("large", weights, num_classes, in_channels, width_mult, reduced_tail, dilated, dropout)


def mobilenet_v3_small(weights=None, num_classes=1000, in_channels=3, width_mult=1.0, reduced_tail=False,
                       dilated=False, dropout=0.2) -> MobileNetV3:
    """MobileNet V3 small (Howard et al. 2019; 2.54M parameters at 1000 classes): 11 blocks,
    last conv 576, classifier 1024. Input (N, in_channels, H, W) -> (N, num_classes).
    Options as mobilenet_v3_large."""
    return _mobilenet_v3("small", weights, num_classes, in_channels, width_mult, reduced_tail, dilated, dropout)


MODELS = {"mobilenet_v3_large": mobilenet_v3_large, "mobilenet_v3_small": mobilenet_v3_small}
