"""VGG (Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale image
recognition"), configurations A, B, D, E (VGG-11, -13, -16, -19), with and without
BatchNorm, laid out as torchvision's: `features` (CONV3 [+ BN] + ReLU, 2x2 max-pools),
`avgpool` (adaptive, 7x7) and `classifier` (three fully connected layers with dropout)."""
from __future__ import annotations

from .. import nn, ops
from ..nn.init import skip_random_init
from ._weights import load_weights, random_init_unless

__all__ = ["VGG", "make_layers", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
           "vgg19_bn"]

# Output channels of each 3x3 convolution; "M" is a 2x2 max-pool (the paper's table 1).
CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(config, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The feature extractor for a configuration (a list of widths and "M"): each width is
    Conv2d(3x3, pad 1, with bias) [+ BatchNorm2d] + ReLU, each "M" MaxPool2d(2, 2).
    Input (N, in_channels, H, W) -> (N, last width, H / 2^pools, W / 2^pools)."""
    layers = []
    c = in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers.append(nn.Conv2d(c, v, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """features -> AdaptiveAvgPool2d(7) -> flatten -> classifier (FC 4096, ReLU, Dropout,
    FC 4096, ReLU, Dropout, FC num_classes). Input (N, C, H, W) with H, W >= 32 (five 2x2
    pools) -> logits (N, num_classes).

    init_weights: torchvision's initialisation (convolutions kaiming normal, fan_out, ReLU;
    BatchNorm weight 1, bias 0; linear normal(0, 0.01); biases 0)."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        # _init_weights redraws every linear weight: skip the default draws (120M numbers).
        with skip_random_init() if init_weights else random_init_unless(None):
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
                nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes))
        if init_weights:
            self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight.data, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias.data)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight.data)
                nn.init.zeros_(m.bias.data)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight.data, 0.0, 0.01)
                nn.init.zeros_(m.bias.data)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(ops.flatten(x, 1))


def _vgg(config, batch_norm, weights, num_classes, in_channels, dropout, init_weights):
    # Every parameter is drawn again by VGG's initialisation or loaded from weights: the
    # layers' own default draws would be wasted time.
    with skip_random_init() if init_weights else random_init_unless(weights):
        features = make_layers(CONFIGS[config], batch_norm, in_channels)
    with random_init_unless(weights):
        model = VGG(features, num_classes, init_weights and weights is None, dropout)
    return load_weights(model, weights)


_DOC = """VGG-{depth}{bn} (configuration {config}{bn_doc}), {params} parameters at 1000 classes, as
    torchvision builds it. Input (N, in_channels, H, W), H, W >= 32 (224 in the paper) ->
    logits (N, num_classes). dropout: the classifier's dropout probability (torchvision's
    option); init_weights: torchvision's initialisation (see VGG). weights: a state_dict
    file or mapping with torchvision's keys, loaded strictly."""


def _builder(name, config, batch_norm, depth, params):
    def build(weights=None, num_classes=1000, in_channels=3, dropout=0.5, init_weights=True) -> VGG:
        return _vgg(config, batch_norm, weights, num_classes, in_channels, dropout, init_weights)
    build.__name__ = build.__qualname__ = name
    build.__doc__ = _DOC.format(depth=depth, bn=" BN" if batch_norm else "", config=config,
                                bn_doc=", BatchNorm after every convolution" if batch_norm else "",
                                params=params)
    return build


vgg11 = _builder("vgg11", "A", False, 11, "132.9M")
vgg13 = _builder("vgg13", "B", False, 13, "133.0M")
vgg16 = _builder("vgg16", "D", False, 16, "138.4M")
vgg19 = _builder("vgg19", "E", False, 19, "143.7M")
vgg11_bn = _builder("vgg11_bn", "A", True, 11, "132.9M")
vgg13_bn = _builder("vgg13_bn", "B", True, 13, "133.1M")
vgg16_bn = _builder("vgg16_bn", "D", True, 16, "138.4M")
vgg19_bn = _builder("vgg19_bn", "E", True, 19, "143.7M")

MODELS = {f.__name__: f for f in (vgg11, vgg13, vgg16, vgg19, vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn)}
MIN_INPUT_SIZE = {name: 32 for name in MODELS}  # five 2x2 pools
