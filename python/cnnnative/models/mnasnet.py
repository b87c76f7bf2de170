"""MNASNet B1 (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture Search for
Mobile") with torchvision's module structure and state_dict keys: `layers` (stem, six
stacks of inverted residuals with their layers in `layers`, 1x1 conv to 1280) and
`classifier` (Dropout, Linear). Input (N, in_channels, H, W), any H, W >= 1.

Every BatchNorm has momentum 1 - 0.9997 (torchvision's _BN_MOMENTUM: the TensorFlow
reference's decay 0.9997), so one training step moves the running statistics as
torchvision's does.
"""
from __future__ import annotations

from .. import nn, ops
from ._weights import load_weights

__all__ = ["MNASNet", "InvertedResidual", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"]

BN_MOMENTUM = 1 - 0.9997


class InvertedResidual(nn.Module):
    """MNASNet's block (torchvision's _InvertedResidual): 1x1 expand-BN-ReLU -> kxk
    depthwise (stride)-BN-ReLU -> 1x1 project-BN, plus the input when stride == 1 and
    in_ch == out_ch. Layers in `layers` (indices 0..7). (N, in_ch, H, W) ->
    (N, out_ch, H/stride, W/stride); kernel_size 3 or 5."""

    def __init__(self, in_ch, out_ch, kernel_size, stride, expansion_factor, bn_momentum=0.1):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        if kernel_size not in (3, 5):
            raise ValueError(f"InvertedResidual kernel_size must be 3 or 5, got {kernel_size}")
        mid = in_ch * expansion_factor
        self.apply_residual = in_ch == out_ch and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(in_ch, mid, 1, bias=False), nn.BatchNorm2d(mid, momentum=bn_momentum), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, kernel_size, stride=stride, padding=kernel_size // 2, groups=mid, bias=False),
            nn.BatchNorm2d(mid, momentum=bn_momentum), nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch, momentum=bn_momentum))

    def forward(self, x):
        y = self.layers(x)
        return ops.add(y, x) if self.apply_residual else y


def _stack(in_ch, out_ch, kernel_size, stride, expansion, repeats, bn_momentum):
    """repeats blocks in an nn.Sequential; the first changes width and stride."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    blocks = [InvertedResidual(in_ch, out_ch, kernel_size, stride, expansion, bn_momentum)]
    blocks += [InvertedResidual(out_ch, out_ch, kernel_size, 1, expansion, bn_momentum) for _ in range(1, repeats)]
    return nn.Sequential(*blocks)


def _round_to_multiple_of(val, divisor, round_up_bias=0.9):
    """val rounded to the nearest multiple of divisor, one multiple more when that would
    lose more than 10% (83 -> 80, 84 -> 88 for divisor 8)."""
    new_val = max(divisor, int(val + divisor / 2) // divisor * divisor)
    return new_val if new_val >= round_up_bias * val else new_val + divisor


def _depths(alpha):
    return [_round_to_multiple_of(d * alpha, 8) for d in (32, 16, 24, 40, 80, 96, 192, 320)]


class MNASNet(nn.Module):
    """layers: 3x3/2 stem conv-BN-ReLU, 3x3 depthwise-BN-ReLU, 1x1 conv-BN, six stacks
    (kernel, stride, expansion, repeats: 3/2/3/3, 5/2/3/3, 5/2/6/3, 3/1/6/2, 5/2/6/4,
    3/1/6/1), 1x1 conv-BN-ReLU to 1280 -> global mean -> classifier (Dropout, Linear).
    alpha scales the widths (not the final 1280). Input (N, in_channels, H, W) ->
    logits (N, num_classes)."""

    def __init__(self, alpha, num_classes=1000, dropout=0.2, in_channels=3):
        super().__init__()
        if not alpha > 0.0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        self.alpha = alpha
        self.num_classes = num_classes
        d = _depths(alpha)
        m = BN_MOMENTUM
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, d[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(d[0], momentum=m),
            nn.ReLU(inplace=True),
            nn.Conv2d(d[0], d[0], 3, padding=1, groups=d[0], bias=False), nn.BatchNorm2d(d[0], momentum=m),
            nn.ReLU(inplace=True),
            nn.Conv2d(d[0], d[1], 1, bias=False), nn.BatchNorm2d(d[1], momentum=m),
            _stack(d[1], d[2], 3, 2, 3, 3, m),
            _stack(d[2], d[3], 5, 2, 3, 3, m),
            _stack(d[3], d[4], 5, 2, 6, 3, m),
            _stack(d[4], d[5], 3, 1, 6, 2, m),
            _stack(d[5], d[6], 5, 2, 6, 4, m),
            _stack(d[6], d[7], 3, 1, 6, 1, m),
            nn.Conv2d(d[7], 1280, 1, bias=False), nn.BatchNorm2d(1280, momentum=m), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(1280, num_classes))
        self._init_weights()

    def _init_weights(self):
        # torchvision: convs kaiming normal (fan_out, relu); BN 1 / 0; linear kaiming
        # uniform (fan_out, gain 1), zero bias.
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight.data, mode="fan_out", nonlinearity="relu")
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias.data)
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight.data)
                nn.init.zeros_(mod.bias.data)
            elif isinstance(mod, nn.Linear):
                nn.init.kaiming_uniform_(mod.weight.data, mode="fan_out", nonlinearity="sigmoid")
                nn.init.zeros_(mod.bias.data)

    def forward(self, x):
        # x.mean([2, 3]) as torchvision, written as the engine's global average + flatten
        return self.classifier(ops.flatten(ops.global_avg_pool2d(self.layers(x)), 1))


def _mnasnet(alpha, weights, num_classes, in_channels, dropout):
    return load_weights(MNASNet(alpha, num_classes, dropout, in_channels), weights)


def mnasnet0_5(weights=None, num_classes=1000, in_channels=3, dropout=0.2) -> MNASNet:
    """MNASNet B1 with width multiplier 0.5 (Tan et al. 2019; 2.22M parameters at 1000
    classes). Input (N, in_channels, H, W), 224 x 224 for ImageNet -> (N, num_classes).
    dropout: before the classifier's Linear. weights: a state_dict file or mapping."""
    return _mnasnet(0.5, weights, num_classes, in_channels, dropout)


def mnasnet0_75(weights=None, num_classes=1000, in_channels=3, dropout=0.2) -> MNASNet:
    """MNASNet B1 with width multiplier 0.75 (3.17M parameters at 1000 classes).
    Input (N, in_channels, H, W) -> (N, num_classes)."""
    return _mnasnet(0.75, weights, num_classes, in_channels, dropout)


def mnasnet1_0(weights=None, num_classes=1000, in_channels=3, dropout=0.2) -> MNASNet:
    """MNASNet B1 with width multiplier 1.0 (4.38M parameters at 1000 classes).
    Input (N, in_channels, H, W) -> (N, num_classes)."""
    return _mnasnet(1.0, weights, num_classes, in_channels, dropout)


def mnasnet1_3(weights=None, num_classes=1000, in_channels=3, dropout=0.2) -> MNASNet:
    """MNASNet B1 with width multiplier 1.3 (6.28M parameters at 1000 classes).
    Input (N, in_channels, H, W) -> (N, num_classes)."""
    return _mnasnet(1.3, weights, num_classes, in_channels, dropout)


MODELS = {"mnasnet0_5": mnasnet0_5, "mnasnet0_75": mnasnet0_75, "mnasnet1_0": mnasnet1_0,
          "mnasnet1_3": mnasnet1_3}
