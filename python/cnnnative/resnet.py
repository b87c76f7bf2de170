"""ResNets (He et al. 2016) and the MobileNet-v2 inverted-residual block (Sandler et al.
2018), as cnnnative.nn modules.

Module and parameter names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ``fc``, ...), so a torchvision-style ``state_dict`` (as numpy
arrays) loads with ``load_state_dict``. All models take NCHW float32 input; their forward
is written with layers and cnnnative.ops calls (autograd derives the backward), and they
compile for inference with ``cnnnative.compile(model, input_shape)``.
"""
from __future__ import annotations

from . import nn, ops

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet34", "resnet20", "InvertedResidual",
           "inverted_residual"]


def _conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); input (N, inplanes, H, W) ->
    (N, planes, H/stride, W/stride). shortcut = downsample (1x1 conv + BN) when the shape
    changes, else the identity."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        if downsample is not None:
            self.downsample = downsample
        else:
            self.downsample = None  # plain attribute: no parameters, as torchvision

    def output_shape(self, input_shape):
        shape = self.bn2.output_shape(self.conv2.output_shape(self.conv1.output_shape(input_shape)))
        short = input_shape if self.downsample is None else self.downsample.output_shape(input_shape)
        if tuple(short) != tuple(shape):
            raise self._shape_error(input_shape, f"shortcut gives {tuple(short)}, body gives {tuple(shape)}")
        return shape

    def forward(self, x):
        h = ops.relu(self.bn1(self.conv1(x)))
        body = self.bn2(self.conv2(h))
        short = x if self.downsample is None else self.downsample(x)
        return ops.add_relu(body, short)  # the join and its ReLU in one kernel


class ResNet(nn.Module):
    """conv1 -> bn1 -> relu -> [maxpool] -> layer1..layerK -> global average -> fc.

    ImageNet layout (``stem="imagenet"``): 7x7/2 conv with 64 channels and a 3x3/2 max
    pool, stages of 64, 128, 256, 512 channels. CIFAR layout (``stem="cifar"``): 3x3 conv
    with 16 channels, no pool, stages of 16, 32, 64. Input (N, in_channels, H, W) ->
    logits (N, num_classes).
    """

    def __init__(self, layers, num_classes=1000, in_channels=3, stem="imagenet"):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        widths = (64, 128, 256, 512) if stem == "imagenet" else (16, 32, 64)
        if len(layers) != len(widths):
            raise ValueError(f"{stem} ResNet needs {len(widths)} stage depths, got {layers!r}")
        self.inplanes = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = _conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        if stem == "imagenet":
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (width, depth) in enumerate(zip(widths, layers)):
            setattr(self, f"layer{i + 1}", self._make_layer(width, depth, 1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[-1], num_classes)
        self._init_weights()

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, int(blocks))]
        return nn.Sequential(*layers)

    def _init_weights(self):
        # torchvision: kaiming_normal_(fan_out, relu) for convs; BN weight 1, bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight.data, mode="fan_out", nonlinearity="relu")

    def _stages(self):
        return [m for _, m in self.named_children()]

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for m in self._stages():
            shape = tuple(m.output_shape(shape))
        return shape

    def forward(self, x):
        for m in self._stages():
            x = m(x)
        return x


def resnet18(num_classes=1000, in_channels=3) -> ResNet:
    """ResNet-18 (ImageNet layout, 11.7M parameters at 1000 classes): input (N, 3, 224, 224)
    -> (N, num_classes). torchvision parameter names."""
    return ResNet([2, 2, 2, 2], num_classes, in_channels, "imagenet")


def resnet34(num_classes=1000, in_channels=3) -> ResNet:
    """ResNet-34 (ImageNet layout): input (N, 3, 224, 224) -> (N, num_classes)."""
    return ResNet([3, 4, 6, 3], num_classes, in_channels, "imagenet")


def resnet20(num_classes=10, in_channels=3) -> ResNet:
    """ResNet-20 for 32x32 inputs (He et al. 2016, section 4.2): 3x3 stem with 16 channels,
    three stages of 3 blocks (16, 32, 64 channels), global average, fc. Input
    (N, 3, 32, 32) -> (N, num_classes). Shortcuts that change shape use a 1x1 conv + BN
    (the paper's option B) rather than zero padding, so every block is a BasicBlock."""
    return ResNet([3, 3, 3], num_classes, in_channels, "cifar")


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
