"""MobileNet V2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks") with torchvision's module structure and state_dict keys: `features` (the stem,
17 inverted-residual blocks with their layers in `conv`, the last 1x1 conv) and
`classifier` (Dropout, Linear). Input (N, in_channels, H, W), any H, W >= 1.

Conv2dNormActivation is torchvision.ops.Conv2dNormActivation (an nn.Sequential: conv, norm,
optional activation; keys 0 / 1); mobilenetv3.py builds on it and on make_divisible too.
"""
from __future__ import annotations

from .. import nn, ops
from ._layers import Conv2dNormActivation, make_divisible
from ._weights import load_weights

__all__ = ["MobileNetV2", "InvertedResidual", "Conv2dNormActivation", "mobilenet_v2"]


class InvertedResidual(nn.Module):
    """The MobileNet V2 block: [1x1 expand-BN-ReLU6] -> 3x3 depthwise (stride)-BN-ReLU6 ->
    1x1 project -> BN, plus the input when stride == 1 and inp == oup.
    (N, inp, H, W) -> (N, oup, H/stride, W/stride). Layers in `conv` with torchvision's
    indices (conv.0 expand, conv.1 depthwise, conv.2 project, conv.3 BN; without expansion
    conv.0 depthwise, conv.1 project, conv.2 BN)."""

    def __init__(self, inp, oup, stride, expand_ratio, norm_layer=nn.BatchNorm2d):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        hidden = int(round(inp * expand_ratio))
        if hidden < 1:
            raise ValueError(f"expand_ratio {expand_ratio} leaves no hidden channels for inp={inp}")
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden, 1, norm_layer=norm_layer, activation_layer=nn.ReLU6))
        layers += [Conv2dNormActivation(hidden, hidden, 3, stride, groups=hidden, norm_layer=norm_layer,
                                    activation_layer=nn.ReLU6),
                   nn.Conv2d(hidden, oup, 1, bias=False),
                   norm_layer(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        y = self.conv(x)
        return ops.add(x, y) if self.use_res_connect else y


# torchvision's setting: expansion t, output channels c, repeats n, first stride s.
_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
            [6, 320, 1, 1]]


def init_mobilenet(model: nn.Module) -> None:
    """torchvision's MobileNet initialisation: convs kaiming normal (fan_out), zero biases;
    norm layers weight 1, bias 0; linears N(0, 0.01^2), zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight.data, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias.data)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.ones_(m.weight.data)
            nn.init.zeros_(m.bias.data)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight.data, 0.0, 0.01)
            nn.init.zeros_(m.bias.data)


class MobileNetV2(nn.Module):
    """features (3x3/2 stem conv-BN-ReLU6, inverted-residual blocks, 1x1 conv-BN-ReLU6 to
    last_channel) -> global average -> classifier (Dropout(dropout), Linear).

    width_mult scales every width (rounded to multiples of round_nearest; last_channel
    1280 only grows); inverted_residual_setting: [[t, c, n, s], ...] rows (expansion,
    channels, repeats, first stride), torchvision's by default.
    Input (N, in_channels, H, W) -> logits (N, num_classes)."""

    def __init__(self, num_classes=1000, width_mult=1.0, inverted_residual_setting=None, round_nearest=8,
                 dropout=0.2, in_channels=3):
        super().__init__()
        setting = _SETTING if inverted_residual_setting is None else inverted_residual_setting
        if len(setting) == 0 or any(len(row) != 4 for row in setting):
            raise ValueError(f"inverted_residual_setting must be non-empty rows of 4 ints [t, c, n, s], "
                             f"got {setting!r}")
        if not width_mult > 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        c = make_divisible(32 * width_mult, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(in_channels, c, 3, 2, activation_layer=nn.ReLU6)]
        for t, channels, n, s in setting:
            out = make_divisible(channels * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(c, out, s if i == 0 else 1, expand_ratio=t))
                c = out
        features.append(Conv2dNormActivation(c, self.last_channel, 1, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        init_mobilenet(self)

    def forward(self, x):
        x = ops.flatten(ops.global_avg_pool2d(self.features(x)), 1)
        return self.classifier(x)


def mobilenet_v2(weights=None, num_classes=1000, in_channels=3, width_mult=1.0, round_nearest=8, dropout=0.2,
                 inverted_residual_setting=None) -> MobileNetV2:
    """MobileNet V2 (Sandler et al. 2018; 3.50M parameters at 1000 classes, width 1.0).
    Input (N, in_channels, H, W), 224 x 224 for ImageNet -> (N, num_classes).
    width_mult: channel multiplier (0.35 .. 1.4 in the paper), widths rounded to multiples
    of round_nearest; dropout: before the classifier's Linear; inverted_residual_setting:
    rows [t, c, n, s] replacing torchvision's. weights: a state_dict file or mapping."""
    model = MobileNetV2(num_classes, width_mult, inverted_residual_setting, round_nearest, dropout, in_channels)
    return load_weights(model, weights)


MODELS = {"mobilenet_v2": mobilenet_v2}
