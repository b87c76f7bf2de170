"""ResNet (He et al. 2016, "Deep residual learning for image recognition"), ResNeXt (Xie et
al. 2017, "Aggregated residual transformations") and Wide ResNet (Zagoruyko & Komodakis 2016,
"Wide residual networks") as cnnnative.nn module classes with torchvision's layout.

Module and parameter names, their order and shapes are torchvision's (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``, ...), so a torchvision state_dict (as
numpy arrays) loads with strict=True. Input (N, in_channels, H, W) float32 -> logits
(N, num_classes); the network ends in global average pooling, so any H, W >= 1 works (the
ImageNet stem divides by 32; ``small_input=True`` swaps it for the 3x3 stride-1 stem without
max pooling that the literature uses on 32x32 images, which divides by 8).
Also here: the CIFAR ResNet-20 of He et al. (section 4.2).
"""
from __future__ import annotations

import numbers

from .. import nn, ops
from ._weights import load_weights

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "resnet20"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1) -> nn.Conv2d:
    """3x3 convolution without bias, padding = dilation (the spatial size kept at stride 1)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=dilation, groups=groups, bias=False,
                     dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


def _shortcut_shape(block, input_shape, body_shape):
    short = tuple(input_shape) if block.downsample is None else tuple(block.downsample.output_shape(input_shape))
    if short != tuple(body_shape):
        raise block._shape_error(input_shape, f"shortcut gives {short}, body gives {tuple(body_shape)}")
    return tuple(body_shape)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), two 3x3 convolutions (ResNet-18/34).

    Input (N, inplanes, H, W) -> (N, planes, H/stride, W/stride). shortcut = `downsample`
    (torchvision: a 1x1 conv + BN in an nn.Sequential) when the shape changes, else the
    identity. groups and base_width exist for the Bottleneck's signature and must stay 1 and
    64, as in torchvision."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock only supports groups=1 and base_width=64, got groups={groups}, "
                             f"base_width={base_width}")
        if dilation > 1:
            raise NotImplementedError("dilation > 1 is not supported in BasicBlock")
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample  # None: a plain attribute, no parameters (as torchvision)
        self.stride = stride

    def output_shape(self, input_shape):
        shape = self.bn2.output_shape(self.conv2.output_shape(self.conv1.output_shape(input_shape)))
        return _shortcut_shape(self, input_shape, shape)

    def forward(self, x):
        out = ops.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return ops.add_relu(out, identity)  # the join and its ReLU in one kernel


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride, groups, dilation) -> 1x1 (expand by 4), each followed by BN,
    ReLU after the first two and after the join with the shortcut (ResNet-50/101/152,
    ResNeXt, Wide ResNet). The stride sits on the 3x3 convolution (torchvision's "ResNet
    v1.5").

    Input (N, inplanes, H, W) -> (N, planes * 4, H/stride, W/stride). The inner width is
    int(planes * base_width / 64) * groups: base_width 64 and groups 1 for ResNet, groups 32
    with base_width 4 or 8 for ResNeXt, base_width 128 for the wide ResNets."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        width = int(planes * (base_width / 64.0)) * groups
        if width < 1:
            raise ValueError(f"Bottleneck: planes={planes} with base_width={base_width} leaves no channels")
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def output_shape(self, input_shape):
        shape = input_shape
        for m in (self.conv1, self.bn1, self.conv2, self.bn2, self.conv3, self.bn3):
            shape = m.output_shape(shape)
        return _shortcut_shape(self, input_shape, shape)

    def forward(self, x):
        out = ops.relu(self.bn1(self.conv1(x)))
        out = ops.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return ops.add_relu(out, identity)


def _positive_int(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class ResNet(nn.Module):
    """conv1 -> bn1 -> relu -> maxpool -> layer1 .. layerK -> avgpool -> flatten -> fc
    (torchvision.models.ResNet's modules, names and arguments).

    block: BasicBlock or Bottleneck; layers: blocks per stage. Stage k has widths[k]
    planes (outputs widths[k] * block.expansion channels) and stride 2 except the first.
    groups / width_per_group: the Bottleneck's grouped 3x3 (ResNeXt) or wider 3x3 (Wide
    ResNet). replace_stride_with_dilation: one bool per stage after the first; True keeps
    that stage's resolution and dilates its 3x3 convolutions instead (for dense prediction).
    zero_init_residual: the last BN of every block starts at weight 0, so each block starts
    as the identity (Goyal et al. 2017). norm_layer: the normalisation module class
    (default nn.BatchNorm2d).

    Beyond torchvision: in_channels (input channels of conv1), small_input=True (conv1 is a
    3x3 stride-1 convolution and maxpool the identity: the stem used on 32x32 images) and
    widths (the stages' planes; conv1 has widths[0] channels; (16, 32, 64) with
    small_input is the CIFAR ResNet of He et al.). Input (N, in_channels, H, W) ->
    (N, num_classes).
    """

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1, width_per_group=64,
                 replace_stride_with_dilation=None, norm_layer=None, *, in_channels=3, small_input=False,
                 widths=(64, 128, 256, 512)):
        super().__init__()
        if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
            raise TypeError(f"block must be BasicBlock or Bottleneck (or a subclass), got {block!r}")
        widths = tuple(_positive_int(w, "widths entries") for w in widths)
        layers = tuple(layers)
        if len(layers) != len(widths):
            raise ValueError(f"layers must give one depth per stage ({len(widths)} stages), got {layers!r}")
        layers = tuple(_positive_int(n, "layers entries") for n in layers)
        num_classes = _positive_int(num_classes, "num_classes")
        in_channels = _positive_int(in_channels, "in_channels")
        self.groups = _positive_int(groups, "groups")
        self.base_width = _positive_int(width_per_group, "width_per_group")
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False] * (len(widths) - 1)
        if len(replace_stride_with_dilation) != len(widths) - 1:
            raise ValueError(f"replace_stride_with_dilation should be None or a {len(widths) - 1}-element tuple, "
                             f"got {replace_stride_with_dilation!r}")
        self._norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.inplanes = widths[0]
        self.dilation = 1

        if small_input:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        # The torch idiom for small images is `model.maxpool = nn.Identity()`: the same here.
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, padding=1)
        self.num_stages = len(widths)
        for i, (planes, depth) in enumerate(zip(widths, layers)):
            dilate = False if i == 0 else bool(replace_stride_with_dilation[i - 1])
            setattr(self, f"layer{i + 1}", self._make_layer(block, planes, depth, 1 if i == 0 else 2, dilate))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False) -> nn.Sequential:
        norm_layer = self._norm_layer
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation,
                        norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation, norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual):
        # torchvision: kaiming_normal_(fan_out, relu) for the convolutions; norm layers start
        # at weight 1, bias 0 (their default); fc keeps nn.Linear's default.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight.data, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and getattr(m.bn3, "weight", None) is not None:
                    nn.init.zeros_(m.bn3.weight.data)
                elif isinstance(m, BasicBlock) and getattr(m.bn2, "weight", None) is not None:
                    nn.init.zeros_(m.bn2.weight.data)

    def _layers(self):
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_stages)]

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for m in [self.conv1, self.bn1, self.maxpool] + self._layers():
            shape = tuple(m.output_shape(shape))
        return (self.fc.out_features,)

    def forward(self, x):
        x = self.maxpool(ops.relu(self.bn1(self.conv1(x))))
        for layer in self._layers():
            x = layer(x)
        x = ops.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _resnet(block, layers, weights, num_classes, in_channels, input_size, small_input, **kwargs) -> ResNet:
    if input_size is not None:
        # Only checked: global average pooling makes the network independent of it (the
        # argument exists for callers that pass every builder its input size).
        sizes = input_size if isinstance(input_size, (tuple, list)) else (input_size,)
        if not 1 <= len(sizes) <= 2:
            raise ValueError(f"input_size must be an int or (H, W), got {input_size!r}")
        for s in sizes:
            _positive_int(s, "input_size")
    model = ResNet(block, layers, num_classes, in_channels=in_channels, small_input=small_input, **kwargs)
    return load_weights(model, weights)


def resnet18(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
             **kwargs) -> ResNet:
    """ResNet-18 (He et al. 2016): BasicBlocks [2, 2, 2, 2], 11.7M parameters at 1000 classes.
    Input (N, in_channels, H, W), 224x224 for ImageNet -> (N, num_classes).

    weights: a state_dict file or mapping (torchvision's names) loaded strictly.
    input_size: accepted and validated only (the net pools globally). small_input=True:
    3x3 stride-1 stem without max pooling (for 32x32 images). Other keyword arguments go
    to ResNet (zero_init_residual, norm_layer, replace_stride_with_dilation)."""
    return _resnet(BasicBlock, [2, 2, 2, 2], weights, num_classes, in_channels, input_size, small_input, **kwargs)


def resnet34(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
             **kwargs) -> ResNet:
    """ResNet-34 (He et al. 2016): BasicBlocks [3, 4, 6, 3], 21.8M parameters. Input
    (N, in_channels, H, W) -> (N, num_classes). Arguments as resnet18."""
    return _resnet(BasicBlock, [3, 4, 6, 3], weights, num_classes, in_channels, input_size, small_input, **kwargs)


def resnet50(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
             **kwargs) -> ResNet:
    """ResNet-50 (He et al. 2016; stride on the 3x3 convolution, torchvision's v1.5):
    Bottlenecks [3, 4, 6, 3], 25.6M parameters. Input (N, in_channels, H, W) ->
    (N, num_classes). Arguments as resnet18."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, num_classes, in_channels, input_size, small_input, **kwargs)


def resnet101(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
              **kwargs) -> ResNet:
    """ResNet-101 (He et al. 2016): Bottlenecks [3, 4, 23, 3], 44.5M parameters. Input
    (N, in_channels, H, W) -> (N, num_classes). Arguments as resnet18."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, num_classes, in_channels, input_size, small_input, **kwargs)


def resnet152(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
              **kwargs) -> ResNet:
    """ResNet-152 (He et al. 2016): Bottlenecks [3, 8, 36, 3], 60.2M parameters. Input
    (N, in_channels, H, W) -> (N, num_classes). Arguments as resnet18."""
    return _resnet(Bottleneck, [3, 8, 36, 3], weights, num_classes, in_channels, input_size, small_input, **kwargs)


def resnext50_32x4d(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
                    **kwargs) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2017): ResNet-50 with 32 groups of width 4 in each
    Bottleneck's 3x3 convolution, 25.0M parameters. Input (N, in_channels, H, W) ->
    (N, num_classes). Arguments as resnet18."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, num_classes, in_channels, input_size, small_input,
                   groups=32, width_per_group=4, **kwargs)


def resnext101_32x8d(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
                     **kwargs) -> ResNet:
    """ResNeXt-101 32x8d (Xie et al. 2017): Bottlenecks [3, 4, 23, 3] with 32 groups of
    width 8, 88.8M parameters. Input (N, in_channels, H, W) -> (N, num_classes). Arguments
    as resnet18."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, num_classes, in_channels, input_size, small_input,
                   groups=32, width_per_group=8, **kwargs)


def wide_resnet50_2(weights=None, num_classes=1000, in_channels=3, input_size=None, small_input=False,
                    **kwargs) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016, torchvision's form): ResNet-50 whose
    Bottleneck 3x3 convolutions are twice as wide (width_per_group 128; the outer 1x1
    widths unchanged), 68.9M parameters. Input (N, in_channels, H, W) -> (N, num_classes).
    Arguments as resnet18."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, num_classes, in_channels, input_size, small_input,
                   width_per_group=128, **kwargs)


def resnet20(weights=None, num_classes=10, in_channels=3, input_size=None, **kwargs) -> ResNet:
    """ResNet-20 for 32x32 inputs (He et al. 2016, section 4.2): 3x3 stem with 16 channels,
    three stages of 3 BasicBlocks (16, 32, 64 channels), global average, fc; 0.27M
    parameters. Input (N, in_channels, 32, 32) -> (N, num_classes). Shortcuts that change
    shape use a 1x1 conv + BN (the paper's option B) rather than zero padding, so every
    block is a BasicBlock. Names as torchvision's ResNets (layer1..layer3)."""
    return _resnet(BasicBlock, [3, 3, 3], weights, num_classes, in_channels, input_size, True,
                   widths=(16, 32, 64), **kwargs)


MODELS = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
    "resnext50_32x4d": resnext50_32x4d,
    "resnext101_32x8d": resnext101_32x8d,
    "wide_resnet50_2": wide_resnet50_2,
    "resnet20": resnet20,
}
