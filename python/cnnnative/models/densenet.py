"""DenseNet (Huang et al. 2017, "Densely connected convolutional networks"), DenseNet-BC
form, as cnnnative.nn module classes with torchvision's layout.

Each layer of a dense block sees the concatenation of the block's input and every earlier
layer's output, and adds growth_rate channels (BN -> ReLU -> 1x1 conv to bn_size *
growth_rate -> BN -> ReLU -> 3x3 conv). Transitions between blocks halve the channels (1x1
conv) and the resolution (2x2 average pool). Names are torchvision's
(``features.conv0``, ``features.denseblock1.denselayer1.norm1``, ``features.transition1.conv``,
``features.norm5``, ``classifier``), so a torchvision state_dict loads with strict=True.
Input (N, in_channels, H, W) -> (N, num_classes); with the ImageNet stem (/4) and three
transitions (/8) the input must be at least 29x29 (224x224 for ImageNet).
"""
from __future__ import annotations

import numbers
from collections import OrderedDict

from .. import nn, ops
from ._weights import load_weights

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"]


class _DenseLayer(nn.Module):
    """norm1 -> relu1 -> conv1 (1x1, bn_size * growth_rate) -> norm2 -> relu2 -> conv2 (3x3,
    growth_rate) [-> dropout]. Input: a list of (N, C_i, H, W) arrays (concatenated along
    the channels, sum C_i = num_input_features) or one array -> (N, growth_rate, H, W)."""

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate, memory_efficient=False):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient  # accepted; activations are always kept

    def output_shape(self, input_shape):
        return self.conv2.output_shape(self.conv1.output_shape(input_shape))

    def forward(self, inputs):
        x = ops.cat(list(inputs), 1) if isinstance(inputs, (list, tuple)) else inputs
        bottleneck = self.conv1(ops.relu(self.norm1(x)))
        new_features = self.conv2(ops.relu(self.norm2(bottleneck)))
        if self.drop_rate > 0:
            new_features = ops.dropout(new_features, self.drop_rate, self.training)
        return new_features


class _DenseBlock(nn.ModuleDict):
    """denselayer1 .. denselayerN; layer i gets num_input_features + (i - 1) * growth_rate
    channels. Input (N, C, H, W) -> (N, C + N_layers * growth_rate, H, W)."""

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate, memory_efficient=False):
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size,
                                                     drop_rate, memory_efficient)

    def output_shape(self, input_shape):
        c, *spatial = input_shape
        for layer in self.values():
            c += layer.output_shape((c, *spatial))[0]
        return (c, *spatial)

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return ops.cat(features, 1)


class _Transition(nn.Sequential):
    """norm -> relu -> conv (1x1, num_output_features) -> pool (2x2 average, stride 2):
    (N, C_in, H, W) -> (N, C_out, H/2, W/2)."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(num_input_features)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(num_input_features, num_output_features, 1, stride=1, bias=False)),
            ("pool", nn.AvgPool2d(2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """features (conv0 7x7/2, norm0, relu0, pool0 3x3/2 max, denseblock1, transition1, ...,
    denseblockK, norm5) -> relu -> global average -> classifier (Linear), torchvision's
    DenseNet.

    growth_rate: channels each dense layer adds (k in the paper); block_config: layers per
    block; num_init_features: conv0's channels; bn_size: the bottleneck width in multiples
    of growth_rate; drop_rate: dropout after each dense layer (training only);
    memory_efficient: accepted for torchvision's signature, has no effect (no
    checkpointing). in_channels: conv0's input channels. Input (N, in_channels, H, W),
    H, W >= 29 -> (N, num_classes).
    """

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 drop_rate=0.0, num_classes=1000, memory_efficient=False, *, in_channels=3):
        super().__init__()
        for name, value in (("growth_rate", growth_rate), ("num_init_features", num_init_features),
                            ("bn_size", bn_size), ("num_classes", num_classes), ("in_channels", in_channels)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"DenseNet: {name} must be a positive integer, got {value!r}")
        block_config = tuple(block_config)
        if not block_config or any(not isinstance(n, numbers.Integral) or n < 1 for n in block_config):
            raise ValueError(f"DenseNet: block_config must be positive layer counts, got {block_config!r}")
        block_config = tuple(int(n) for n in block_config)
        if not 0.0 <= float(drop_rate) < 1.0:
            raise ValueError(f"DenseNet: drop_rate must be in [0, 1), got {drop_rate!r}")
        growth_rate, num_init_features, bn_size = int(growth_rate), int(num_init_features), int(bn_size)
        features = OrderedDict([
            ("conv0", nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(3, stride=2, padding=1)),
        ])
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            features[f"denseblock{i + 1}"] = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate,
                                                         memory_efficient)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                features[f"transition{i + 1}"] = _Transition(num_features, num_features // 2)
                num_features //= 2
        features["norm5"] = nn.BatchNorm2d(num_features)
        self.features = nn.Sequential(features)
        self.classifier = nn.Linear(num_features, num_classes)
        # torchvision: kaiming_normal_ (fan_in) for the convolutions, BN 1 / 0, Linear bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight.data)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias.data)

    def output_shape(self, input_shape):
        shape = self.features.output_shape(input_shape)
        if min(shape[1:]) < 1:
            raise self._shape_error(input_shape, "too small for the stem and the transitions' poolings")
        return (self.classifier.out_features,)

    def forward(self, x):
        out = ops.relu(self.features(x))
        out = ops.flatten(ops.global_avg_pool2d(out), 1)  # adaptive_avg_pool2d to (1, 1)
        return self.classifier(out)


def _densenet(growth_rate, block_config, num_init_features, weights, num_classes, in_channels, **kwargs):
    model = DenseNet(growth_rate, block_config, num_init_features, num_classes=num_classes, in_channels=in_channels,
                     **kwargs)
    return load_weights(model, weights)


def densenet121(weights=None, num_classes=1000, in_channels=3, **kwargs) -> DenseNet:
    """DenseNet-121 (Huang et al. 2017): growth 32, blocks (6, 12, 24, 16), 64 initial
    features, 8.0M parameters. Input (N, in_channels, H, W), 224x224 for ImageNet ->
    (N, num_classes). weights: a state_dict file or mapping (torchvision's names);
    other keyword arguments (bn_size, drop_rate, memory_efficient) go to DenseNet."""
    return _densenet(32, (6, 12, 24, 16), 64, weights, num_classes, in_channels, **kwargs)


def densenet161(weights=None, num_classes=1000, in_channels=3, **kwargs) -> DenseNet:
    """DenseNet-161 (Huang et al. 2017): growth 48, blocks (6, 12, 36, 24), 96 initial
    features, 28.7M parameters. Arguments and shapes as densenet121."""
    return _densenet(48, (6, 12, 36, 24), 96, weights, num_classes, in_channels, **kwargs)


def densenet169(weights=None, num_classes=1000, in_channels=3, **kwargs) -> DenseNet:
    """DenseNet-169 (Huang et al. 2017): growth 32, blocks (6, 12, 32, 32), 64 initial
    features, 14.1M parameters. Arguments and shapes as densenet121."""
    return _densenet(32, (6, 12, 32, 32), 64, weights, num_classes, in_channels, **kwargs)


def densenet201(weights=None, num_classes=1000, in_channels=3, **kwargs) -> DenseNet:
    """DenseNet-201 (Huang et al. 2017): growth 32, blocks (6, 12, 48, 32), 64 initial
    features, 20.0M parameters. Arguments and shapes as densenet121."""
    return _densenet(32, (6, 12, 48, 32), 64, weights, num_classes, in_channels, **kwargs)


# The smallest H, W: conv0 and pool0 divide by 4, three transitions by 8 (the CLI checks it).
DENSENET_MIN_SIZE = 29
for _builder in (densenet121, densenet161, densenet169, densenet201):
    _builder.min_input_size = DENSENET_MIN_SIZE

MODELS = {
    "densenet121": densenet121,
    "densenet161": densenet161,
    "densenet169": densenet169,
    "densenet201": densenet201,
}
