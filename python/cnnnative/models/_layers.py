"""Building blocks several zoo families share, as torchvision names them: the channel
rounding of the MobileNet / EfficientNet / RegNet width multipliers and the conv -> norm ->
activation unit (torchvision.ops.Conv2dNormActivation)."""
from __future__ import annotations

from .. import nn

__all__ = ["make_divisible", "Conv2dNormActivation"]


def make_divisible(v: float, divisor: int = 8, min_value=None) -> int:
    """v rounded to the nearest multiple of divisor (at least min_value, default divisor),
    one divisor more when rounding down would lose over 10% (torchvision's rule for the
    MobileNet / EfficientNet channel counts)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class Conv2dNormActivation(nn.Sequential):
    """torchvision.ops.Conv2dNormActivation: Conv2d ('same'-style padding (k - 1) // 2 *
    dilation, no bias when there is a norm layer) -> norm_layer -> activation_layer, as the
    children "0", "1", "2" (a None layer is left out). Input (N, in_channels, H, W) ->
    (N, out_channels, ceil(H / stride), ceil(W / stride)) for odd kernels."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, groups=1,
                 norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, dilation=1, inplace=True, bias=None):
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        if bias is None:
            bias = norm_layer is None
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                            dilation=dilation, groups=groups, bias=bias)]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer() if inplace is None else activation_layer(inplace=inplace))
        super().__init__(*layers)
        self.out_channels = out_channels
