"""The MobileNet-v2 inverted-residual block (Sandler et al. 2018) as a cnnnative.nn module,
with torchvision's layer indices (a building block, not a whole network: no registry entry)."""
from __future__ import annotations

from .. import nn, ops

__all__ = ["InvertedResidual", "inverted_residual"]


class InvertedResidual(nn.Module):
    """MobileNet-v2 block: [1x1 expand -> BN -> ReLU6] -> 3x3 depthwise (stride) -> BN ->
    ReLU6 -> 1x1 project -> BN, plus the input when stride == 1 and inp == oup.

    Layers sit in ``self.conv`` (an nn.Sequential) with torchvision's indices: with
    expansion, conv.0 = (Conv2d, BN, ReLU6), conv.1 = depthwise (Conv2d, BN, ReLU6),
    conv.2 = project Conv2d, conv.3 = BN. Input (N, inp, H, W) -> (N, oup, H/s, W/s).
    """

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        hidden = int(round(inp * expand_ratio))
        if hidden < 1:
            raise ValueError(f"expand_ratio {expand_ratio} leaves no hidden channels for inp={inp}")
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(nn.Sequential(nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                                        nn.ReLU6()))
        layers += [
            nn.Sequential(nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
                          nn.BatchNorm2d(hidden), nn.ReLU6()),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def output_shape(self, input_shape):
        return self.conv.output_shape(input_shape)

    def forward(self, x):
        y = self.conv(x)
        return ops.add(y, x) if self.use_res_connect else y


def inverted_residual(inp, oup, stride=1, expand_ratio=6) -> InvertedResidual:
    """Build one MobileNet-v2 inverted-residual block (see InvertedResidual)."""
    return InvertedResidual(int(inp), int(oup), int(stride), expand_ratio)
