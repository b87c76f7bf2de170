"""EfficientNet B0-B3 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks") with torchvision's module structure and state_dict keys
(features.N.M.block.K..., avgpool, classifier), so torchvision's weights load unchanged.

The network is MBConv blocks (inverted residuals with a squeeze-and-excitation gate and
SiLU), scaled from B0 by a width multiplier (channels rounded to multiples of 8 as
torchvision does) and a depth multiplier (layers per stage rounded up). Residual branches
use stochastic depth whose drop probability grows linearly with the block index, from 0
to stochastic_depth_prob (torchvision: 0.2 * i / number of blocks).
"""
from __future__ import annotations

import contextlib
import math

from .. import nn, ops
from ._layers import Conv2dNormActivation, make_divisible
from ._weights import load_weights

__all__ = ["Conv2dNormActivation", "MBConv", "EfficientNet", "efficientnet_b0", "efficientnet_b1",
           "efficientnet_b2", "efficientnet_b3"]


class _StageConfig:
    """One row of the B0 table, scaled: expand_ratio, kernel, stride, input/output channels
    (times width_mult, rounded to multiples of 8) and num_layers (times depth_mult, up)."""

    def __init__(self, expand_ratio, kernel, stride, input_channels, out_channels, num_layers,
                 width_mult=1.0, depth_mult=1.0):
        self.expand_ratio, self.kernel, self.stride = expand_ratio, kernel, stride
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.num_layers = int(math.ceil(num_layers * depth_mult))

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        return make_divisible(channels * width_mult, 8)


# EfficientNet-B0 (the paper's table 1): expand ratio, kernel, stride, in, out, layers.
_B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
              (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))


class MBConv(nn.Module):
    """Mobile inverted bottleneck: [1x1 expand conv-BN-SiLU] -> kxk depthwise conv-BN-SiLU
    (stride) -> squeeze-and-excitation (squeeze to in_channels // 4, SiLU, sigmoid gate) ->
    1x1 project conv-BN, as `block`; plus the input (through stochastic depth) when the
    stride is 1 and the channels are kept. Input (N, in, H, W) -> (N, out, H/stride, W/stride)."""

    def __init__(self, in_channels, out_channels, expand_ratio, kernel_size, stride, stochastic_depth_prob,
                 norm_layer=nn.BatchNorm2d):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MBConv: stride must be 1 or 2, got {stride!r}")
        self.use_res_connect = stride == 1 and in_channels == out_channels
        expanded = _StageConfig.adjust_channels(in_channels, expand_ratio)
        layers = []
        if expanded != in_channels:
            layers.append(Conv2dNormActivation(in_channels, expanded, 1, norm_layer=norm_layer,
                                               activation_layer=nn.SiLU))
        layers.append(Conv2dNormActivation(expanded, expanded, kernel_size, stride=stride, groups=expanded,
                                           norm_layer=norm_layer, activation_layer=nn.SiLU))
        layers.append(nn.SqueezeExcitation(expanded, max(1, in_channels // 4), activation=nn.SiLU))
        layers.append(Conv2dNormActivation(expanded, out_channels, 1, norm_layer=norm_layer, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = nn.StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = out_channels

    def output_shape(self, input_shape):
        return self.block.output_shape(input_shape)

    def forward(self, input):
        result = self.block(input)
        if self.use_res_connect:
            # add(project conv, input): the compiled engine fuses the join into the conv.
            result = ops.add(self.stochastic_depth(result), input)
        return result


class EfficientNet(nn.Module):
    """stem (3x3/2 conv-BN-SiLU) -> MBConv stages -> 1x1 conv-BN-SiLU to 4x the last width
    (features) -> global average (avgpool) -> Dropout + Linear (classifier).
    Input (N, in_channels, H, W), any H, W >= 1 -> logits (N, num_classes)."""

    def __init__(self, stages, dropout, stochastic_depth_prob=0.2, num_classes=1000, in_channels=3,
                 norm_layer=nn.BatchNorm2d):
        super().__init__()
        if not stages:
            raise ValueError("EfficientNet: stages must not be empty")
        width = stages[0].input_channels
        layers = [Conv2dNormActivation(in_channels, width, 3, stride=2, norm_layer=norm_layer,
                                       activation_layer=nn.SiLU)]
        total = sum(s.num_layers for s in stages)
        block_id = 0
        for s in stages:
            stage = []
            for i in range(s.num_layers):
                # Drop probability grows linearly with the block's index over the network.
                p = stochastic_depth_prob * float(block_id) / total
                stage.append(MBConv(s.input_channels if i == 0 else s.out_channels, s.out_channels, s.expand_ratio,
                                    s.kernel, s.stride if i == 0 else 1, p, norm_layer))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = stages[-1].out_channels
        last_out = 4 * last_in
        layers.append(Conv2dNormActivation(last_in, last_out, 1, norm_layer=norm_layer, activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(last_out, num_classes))
        self._init_weights()

    def _init_weights(self):
        # torchvision: convs kaiming normal (fan_out), BN 1 / 0, linear U(+-1/sqrt(out)), biases 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight.data, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias.data)
            elif isinstance(m, nn.Linear):
                r = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight.data, -r, r)
                nn.init.zeros_(m.bias.data)

    def output_shape(self, input_shape):
        channels = self.avgpool.output_shape(self.features.output_shape(input_shape))[0]
        return self.classifier.output_shape((channels,))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(ops.flatten(x, 1))


def _efficientnet(width_mult, depth_mult, dropout, weights, num_classes, in_channels, stochastic_depth_prob):
    stages = [_StageConfig(*row, width_mult=width_mult, depth_mult=depth_mult) for row in _B0_STAGES]
    # Random initialisation is wasted work when weights overwrite it.
    with nn.init.skip_random_init() if weights is not None else contextlib.nullcontext():
        model = EfficientNet(stages, dropout, stochastic_depth_prob, num_classes, in_channels)
    return load_weights(model, weights)


def efficientnet_b0(weights=None, num_classes=1000, in_channels=3, dropout=0.2, stochastic_depth_prob=0.2):
    """EfficientNet-B0 (Tan & Le 2019; torchvision's efficientnet_b0, 5.3M parameters):
    input (N, in_channels, H, W), trained at 224x224, any size works (adaptive pooling)
    -> logits (N, num_classes). dropout: before the classifier; stochastic_depth_prob: the
    last block's drop probability (training only). weights: a state_dict file or mapping."""
    return _efficientnet(1.0, 1.0, dropout, weights, num_classes, in_channels, stochastic_depth_prob)


def efficientnet_b1(weights=None, num_classes=1000, in_channels=3, dropout=0.2, stochastic_depth_prob=0.2):
    """EfficientNet-B1: B0 with 1.1x the depth (7.8M parameters; trained at 240x240).
    Input (N, in_channels, H, W) -> (N, num_classes); options as efficientnet_b0."""
    return _efficientnet(1.0, 1.1, dropout, weights, num_classes, in_channels, stochastic_depth_prob)


def efficientnet_b2(weights=None, num_classes=1000, in_channels=3, dropout=0.3, stochastic_depth_prob=0.2):
    """EfficientNet-B2: 1.1x the width, 1.2x the depth of B0 (9.1M parameters; trained at
    260x260). Input (N, in_channels, H, W) -> (N, num_classes); options as efficientnet_b0."""
    return _efficientnet(1.1, 1.2, dropout, weights, num_classes, in_channels, stochastic_depth_prob)


def efficientnet_b3(weights=None, num_classes=1000, in_channels=3, dropout=0.3, stochastic_depth_prob=0.2):
    """EfficientNet-B3: 1.2x the width, 1.4x the depth of B0 (12.2M parameters; trained at
    300x300). Input (N, in_channels, H, W) -> (N, num_classes); options as efficientnet_b0."""
    return _efficientnet(1.2, 1.4, dropout, weights, num_classes, in_channels, stochastic_depth_prob)


MODELS = {
    "efficientnet_b0": efficientnet_b0,
    "efficientnet_b1": efficientnet_b1,
    "efficientnet_b2": efficientnet_b2,
    "efficientnet_b3": efficientnet_b3,
}
