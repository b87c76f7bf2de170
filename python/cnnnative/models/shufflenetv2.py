"""ShuffleNet V2 (Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design") with torchvision's module structure and state_dict keys:
conv1 / maxpool / stage2..stage4 / conv5 / fc, units with branch1 / branch2.

A stride-1 unit splits its input channels in two halves with x[:, :c] and x[:, c:] (not
chunk): the compiled engine runs a channel range as its channel_slice node, so the whole
net compiles without host nodes. Input (N, in_channels, H, W), any H, W >= 1.
"""
from __future__ import annotations

from .. import nn, ops
from ._weights import load_weights

__all__ = ["ShuffleNetV2", "InvertedResidual", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
           "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


def _depthwise(channels, stride):
    return nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False)


class InvertedResidual(nn.Module):
    """The ShuffleNet V2 unit: (N, inp, H, W) -> (N, oup, H/stride, W/stride).

    stride 1 (needs inp == oup, even): the first half of the channels passes unchanged, the
    second goes through branch2 (1x1 conv-BN-ReLU, 3x3 depthwise-BN, 1x1 conv-BN-ReLU).
    stride > 1: branch1 (3x3 depthwise/stride-BN, 1x1 conv-BN-ReLU) and branch2 both read
    the whole input. The halves are concatenated and shuffled with 2 groups."""

    def __init__(self, inp: int, oup: int, stride: int):
        super().__init__()
        if not 1 <= stride <= 3:
            raise ValueError(f"InvertedResidual stride must be 1, 2 or 3, got {stride}")
        self.stride = stride
        branch = oup // 2
        if stride == 1 and inp != 2 * branch:
            raise ValueError(f"InvertedResidual with stride 1 needs inp == oup and oup even, got inp={inp}, "
                             f"oup={oup}")
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(inp, stride), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, bias=False), nn.BatchNorm2d(branch), nn.ReLU(inplace=True))
        else:
            self.branch1 = nn.Sequential()  # no parameters, as torchvision
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, bias=False), nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            _depthwise(branch, stride), nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, bias=False), nn.BatchNorm2d(branch), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            half = x.shape[1] // 2
            out = ops.cat([x[:, :half], self.branch2(x[:, half:])], 1)
        else:
            out = ops.cat([self.branch1(x), self.branch2(x)], 1)
        return ops.channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """conv1 (3x3/2 conv-BN-ReLU) -> 3x3/2 max pool -> stage2..stage4 (a stride-2 unit, then
    repeats - 1 stride-1 units each) -> conv5 (1x1 conv-BN-ReLU) -> global mean -> fc.

    stages_repeats: 3 ints; stages_out_channels: 5 ints (conv1, stage2..4, conv5).
    Input (N, in_channels, H, W) -> logits (N, num_classes)."""

    def __init__(self, stages_repeats, stages_out_channels, num_classes=1000, in_channels=3):
        super().__init__()
        if len(stages_repeats) != 3:
            raise ValueError(f"stages_repeats must be 3 positive ints, got {stages_repeats!r}")
        if len(stages_out_channels) != 5:
            raise ValueError(f"stages_out_channels must be 5 positive ints, got {stages_out_channels!r}")
        self._stage_out_channels = list(stages_out_channels)
        c = stages_out_channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, c, 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (repeats, out) in enumerate(zip(stages_repeats, stages_out_channels[1:4])):
            units = [InvertedResidual(c, out, 2)] + [InvertedResidual(out, out, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*units))
            c = out
        last = stages_out_channels[-1]
        self.conv5 = nn.Sequential(nn.Conv2d(c, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        # x.mean([2, 3]) as torchvision, written as the engine's global average + flatten
        return self.fc(ops.flatten(ops.global_avg_pool2d(x), 1))


def _shufflenet_v2(widths, weights, num_classes, in_channels):
    return load_weights(ShuffleNetV2([4, 8, 4], widths, num_classes, in_channels), weights)


def shufflenet_v2_x0_5(weights=None, num_classes=1000, in_channels=3) -> ShuffleNetV2:
    """ShuffleNet V2 with 0.5x output channels (Ma et al. 2018; 1.37M parameters at 1000
    classes): stages of 48, 96, 192 channels, conv5 1024. Input (N, in_channels, H, W),
    224 x 224 for ImageNet -> (N, num_classes). weights: a state_dict file or mapping."""
    return _shufflenet_v2([24, 48, 96, 192, 1024], weights, num_classes, in_channels)


def shufflenet_v2_x1_0(weights=None, num_classes=1000, in_channels=3) -> ShuffleNetV2:
    """ShuffleNet V2 with 1.0x output channels (2.28M parameters at 1000 classes): stages of
    116, 232, 464 channels, conv5 1024. Input (N, in_channels, H, W) -> (N, num_classes)."""
    return _shufflenet_v2([24, 116, 232, 464, 1024], weights, num_classes, in_channels)


def shufflenet_v2_x1_5(weights=None, num_classes=1000, in_channels=3) -> ShuffleNetV2:
    """ShuffleNet V2 with 1.5x output channels (3.50M parameters at 1000 classes): stages of
    176, 352, 704 channels, conv5 1024. Input (N, in_channels, H, W) -> (N, num_classes)."""
    return _shufflenet_v2([24, 176, 352, 704, 1024], weights, num_classes, in_channels)


def shufflenet_v2_x2_0(weights=None, num_classes=1000, in_channels=3) -> ShuffleNetV2:
    """ShuffleNet V2 with 2.0x output channels (7.39M parameters at 1000 classes): stages of
    244, 488, 976 channels, conv5 2048. Input (N, in_channels, H, W) -> (N, num_classes)."""
    return _shufflenet_v2([24, 244, 488, 976, 2048], weights, num_classes, in_channels)


MODELS = {
    "shufflenet_v2_x0_5": shufflenet_v2_x0_5,
    "shufflenet_v2_x1_0": shufflenet_v2_x1_0,
    "shufflenet_v2_x1_5": shufflenet_v2_x1_5,
    "shufflenet_v2_x2_0": shufflenet_v2_x2_0,
}
