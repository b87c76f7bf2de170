"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters and <0.5MB model size"), versions 1.0 and 1.1, laid out as torchvision's:
`features` (a stem convolution, ceil-mode max-pools and Fire modules) and `classifier`
(dropout, a 1x1 convolution to the classes, ReLU, global average)."""
from __future__ import annotations

from .. import nn, ops
from ..nn.init import skip_random_init
from ._weights import load_weights, random_init_unless

__all__ = ["Fire", "SqueezeNet", "squeezenet1_0", "squeezenet1_1"]


class Fire(nn.Module):
    """squeeze (1x1, squeeze_planes) -> ReLU, then expand1x1 (1x1) and expand3x3 (3x3, pad 1),
    each with ReLU, concatenated along channels. Input (N, inplanes, H, W) ->
    (N, expand1x1_planes + expand3x3_planes, H, W)."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return ops.cat([self.expand1x1_activation(self.expand1x1(x)),
                        self.expand3x3_activation(self.expand3x3(x))], 1)


def _pool():
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)


class SqueezeNet(nn.Module):
    """features -> classifier (Dropout, final_conv 1x1 to num_classes, ReLU,
    AdaptiveAvgPool2d(1)) -> flatten. version "1_0" or "1_1". Input (N, C, H, W) -> logits
    (N, num_classes); H, W >= 21 (version 1.0) or >= 17 (1.1).

    Initialisation as torchvision's: final_conv normal(0, 0.01), the other convolutions
    kaiming uniform (a=0), biases 0."""

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        self.num_classes = num_classes
        with skip_random_init():  # every convolution is initialised below
            self._build(version, num_classes, dropout, in_channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is self.classifier[1]:
                    nn.init.normal_(m.weight.data, 0.0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight.data)
                nn.init.zeros_(m.bias.data)

    def _build(self, version, num_classes, dropout, in_channels):
        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 96, 7, stride=2), nn.ReLU(inplace=True), _pool(),
                Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), _pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                _pool(), Fire(512, 64, 256, 256))
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 64, 3, stride=2), nn.ReLU(inplace=True), _pool(),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), _pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), _pool(),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256))
        else:
            raise ValueError(f"SqueezeNet version must be '1_0' or '1_1', got {version!r}")
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return ops.flatten(self.classifier(self.features(x)), 1)


def squeezenet1_0(weights=None, num_classes=1000, in_channels=3, dropout=0.5) -> SqueezeNet:
    """SqueezeNet 1.0 (the paper's, 1.25M parameters at 1000 classes): CONV7/2-96, then
    eight Fire modules with three ceil-mode 3x3/2 max-pools. Input (N, in_channels, H, W),
    H, W >= 21 (224 in the paper) -> logits (N, num_classes). dropout: before the final
    1x1 convolution. weights: a state_dict file or mapping with torchvision's keys."""
    with random_init_unless(weights):
        model = SqueezeNet("1_0", num_classes, dropout, in_channels)
    return load_weights(model, weights)


def squeezenet1_1(weights=None, num_classes=1000, in_channels=3, dropout=0.5) -> SqueezeNet:
    """SqueezeNet 1.1 (SqueezeNet's repository, 1.24M parameters, 2.4x fewer operations than
    1.0 at the same accuracy): CONV3/2-64, pools earlier. Input (N, in_channels, H, W),
    H, W >= 17 -> logits (N, num_classes). Options as squeezenet1_0."""
    with random_init_unless(weights):
        model = SqueezeNet("1_1", num_classes, dropout, in_channels)
    return load_weights(model, weights)


MODELS = {"squeezenet1_0": squeezenet1_0, "squeezenet1_1": squeezenet1_1}
MIN_INPUT_SIZE = {"squeezenet1_0": 21, "squeezenet1_1": 17}  # smallest H = W
