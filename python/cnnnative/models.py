"""Network builders from the literature. Each takes in_channels, num_classes and, where the
classifier depends on it, the input size; chains return an nn.Sequential, ResNets an
nn.Graph (NCHW input).

Two forms of ResNet live here with the same torchvision parameter names: `resnet` /
`resnet18` build it as an nn.Graph (any depth and width, the Graph API at work), and
`resnet18_module`, `resnet34`, `resnet20` and `inverted_residual` (from cnnnative.resnet)
as module classes (BasicBlock, InvertedResidual). A state_dict moves between the two
unchanged, and cnnnative.compile traces both into the same engine plan."""
from __future__ import annotations

from . import nn
from .resnet import inverted_residual, resnet20, resnet34
from .resnet import resnet18 as resnet18_module

__all__ = ["seed_mnist_net", "digits_net", "lenet5", "vgg_small", "all_conv_net", "resnet", "resnet18",
           "resnet18_module", "resnet34", "resnet20", "inverted_residual", "build", "MODELS"]


def _after_pools(size: int, pools: int, name: str) -> int:
    s = int(size)
    for _ in range(pools):
        s //= 2
    if s < 1:
        raise ValueError(f"{name}: input_size {size} is too small for {pools} 2x2 poolings")
    return s


def seed_mnist_net(in_channels=1, num_classes=10, input_size=28) -> nn.Sequential:
    """INPUT s x s x in_channels -> CONV3-32 (pad 1) -> ReLU -> POOL2 -> CONV3-32 (pad 1) ->
    ReLU -> POOL2 -> FC 500 -> ReLU -> FC num_classes. Input (N, in_channels, s, s)."""
    s = _after_pools(input_size, 2, "seed_mnist_net")
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * s * s, 500), nn.ReLU(inplace=True), nn.Linear(500, num_classes))


def digits_net(in_channels=1, num_classes=10, input_size=8) -> nn.Sequential:
    """The default for the 8x8 digits: CONV3-32 (pad 1) -> ReLU -> CONV3-32 (pad 1) -> ReLU
    -> POOL2 -> FC 128 -> ReLU -> FC num_classes. Input (N, in_channels, s, s)."""
    s = _after_pools(input_size, 1, "digits_net")
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * s * s, 128), nn.ReLU(inplace=True), nn.Linear(128, num_classes))


def lenet5(in_channels=1, num_classes=10, input_size=28) -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) with tanh and average pooling. The paper feeds 32x32;
    a 28x28 input is padded by 2 in the first convolution, which is the same thing.
    C1 conv5-6 -> tanh -> S2 avgpool2 -> C3 conv5-16 -> tanh -> S4 avgpool2 -> C5 FC 120
    -> tanh -> F6 FC 84 -> tanh -> FC num_classes. (C3's partial connection table is
    replaced by full connection, as in most modern re-implementations.)"""
    pad = max(0, (32 - int(input_size)) // 2)
    s = (int(input_size) + 2 * pad - 4) // 2
    s = (s - 4) // 2
    if s < 1:
        raise ValueError(f"lenet5: input_size {input_size} is too small")
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=pad), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * s * s, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, num_classes))


def vgg_small(in_channels=3, num_classes=10, input_size=32, width=32, batch_norm=True) -> nn.Sequential:
    """A small VGG-style net (Simonyan & Zisserman 2014): three stages of two CONV3 (pad 1)
    [+ BatchNorm] + ReLU and a 2x2 max-pool, widths width, 2*width, 4*width; then global
    average pooling and FC num_classes."""
    layers = []
    c = in_channels
    _after_pools(input_size, 3, "vgg_small")
    for w in (width, 2 * width, 4 * width):
        for _ in range(2):
            layers.append(nn.Conv2d(c, w, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU(inplace=True))
            c = w
        layers.append(nn.MaxPool2d(2))
    layers += [nn.GlobalAvgPool2d(), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


def all_conv_net(in_channels=3, num_classes=10, input_size=32, width=32) -> nn.Sequential:
    """All-convolutional net (Springenberg et al. 2014, "Striving for simplicity"), scaled
    down: pooling replaced by stride-2 CONV3; CONV3-w, CONV3-w, CONV3-w/2 -> CONV3-2w,
    CONV3-2w, CONV3-2w/2 -> CONV3-2w, CONV1-2w, CONV1-num_classes -> global average.

    Weights use He initialisation (kaiming normal for ReLU) and zero biases, as the paper
    does: with the layers' default (PyTorch's kaiming uniform, a=sqrt(5)) the signal
    shrinks through nine plain ReLU layers and the net stayed at chance."""
    _after_pools(input_size, 2, "all_conv_net")
    w, w2 = width, 2 * width
    model = nn.Sequential(
        nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w, w, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w, w2, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w2, w2, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w2, w2, 1), nn.ReLU(inplace=True),
        nn.Conv2d(w2, num_classes, 1),
        nn.GlobalAvgPool2d(), nn.Flatten())
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight.data, nonlinearity="relu")
            nn.init.zeros_(layer.bias.data)
    return model


def _basic_block(g, x, cin, cout, stride, prefix):
    """ResNet basic block: conv3-bn-relu-conv3-bn + shortcut (1x1 conv + bn when the shape
    changes), then ReLU. Node names follow torchvision (conv1, bn1, ..., downsample.0/1)."""
    a = g.add_node(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), x, name=f"{prefix}.conv1")
    a = g.add_node(nn.BatchNorm2d(cout), a, name=f"{prefix}.bn1")
    a = g.add_node(nn.ReLU(), a, name=f"{prefix}.relu1")
    a = g.add_node(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), a, name=f"{prefix}.conv2")
    a = g.add_node(nn.BatchNorm2d(cout), a, name=f"{prefix}.bn2")
    shortcut = x
    if stride != 1 or cin != cout:
        shortcut = g.add_node(nn.Conv2d(cin, cout, 1, stride, bias=False), x, name=f"{prefix}.downsample.0")
        shortcut = g.add_node(nn.BatchNorm2d(cout), shortcut, name=f"{prefix}.downsample.1")
    return g.add(a, shortcut, relu=True, name=f"{prefix}.add")


def resnet(in_channels=3, num_classes=1000, input_size=224, layers=(2, 2, 2, 2), width=64,
           small_input=False) -> nn.Graph:
    """ResNet with basic blocks (He et al. 2015) as an nn.Graph whose parameter names are
    torchvision's (conv1, bn1, layer1.0.conv1, ..., fc), so its state_dict loads unchanged.
    small_input=True uses a 3x3 stride-1 stem without max-pooling (CIFAR-style)."""
    g = nn.Graph()
    x = g.input((in_channels, input_size, input_size), name="input")
    if small_input:
        h = g.add_node(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), x, name="conv1")
    else:
        h = g.add_node(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), x, name="conv1")
    h = g.add_node(nn.BatchNorm2d(width), h, name="bn1")
    h = g.add_node(nn.ReLU(), h, name="relu")
    if not small_input:
        h = g.add_node(nn.MaxPool2d(3, 2, 1), h, name="maxpool")
    cin = width
    for stage, blocks in enumerate(layers):
        cout = width * 2 ** stage
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            h = _basic_block(g, h, cin, cout, stride, f"layer{stage + 1}.{b}")
            cin = cout
    h = g.add_node(nn.GlobalAvgPool2d(), h, name="avgpool")
    h = g.add_node(nn.Flatten(), h, name="flatten")
    g.output(g.add_node(nn.Linear(cin, num_classes), h, name="fc"))
    return g


def resnet18(in_channels=3, num_classes=1000, input_size=224, small_input=False) -> nn.Graph:
    """ResNet-18 (torchvision layout and names)."""
    return resnet(in_channels, num_classes, input_size, (2, 2, 2, 2), 64, small_input)


MODELS = {
    "resnet18": resnet18,
    "digits_net": digits_net,
    "seed_mnist_net": seed_mnist_net,
    "lenet5": lenet5,
    "vgg_small": vgg_small,
    "all_conv_net": all_conv_net,
    "resnet34": resnet34,
    "resnet20": resnet20,
}


def build(name: str, **kwargs) -> nn.Module:
    """A model by builder name (see MODELS) with the builder's keyword arguments. The
    result remembers (name, kwargs) as `model.spec`, so a checkpoint can rebuild it."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    model = MODELS[name](**kwargs)
    model.spec = {"builder": name, "kwargs": dict(kwargs)}  # saved in checkpoints
    return model
