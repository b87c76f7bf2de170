"""Small networks from the literature, each an nn.Sequential (NCHW input): the MNIST seed
net, the 8x8-digits default, LeNet-5, a small VGG and the all-convolutional net. Each takes
in_channels, num_classes and the input size its classifier depends on, and weights= (a
state_dict file or mapping, see _weights.load_weights: with another num_classes than the
weights' the head keeps its fresh initialisation)."""
from __future__ import annotations

from .. import nn
from ._weights import load_weights

__all__ = ["seed_mnist_net", "digits_net", "lenet5", "vgg_small", "all_conv_net"]


def _after_pools(size: int, pools: int, name: str) -> int:
    s = int(size)
    for _ in range(pools):
        s //= 2
    if s < 1:
        raise ValueError(f"{name}: input_size {size} is too small for {pools} 2x2 poolings")
    return s


def seed_mnist_net(in_channels=1, num_classes=10, input_size=28, *, weights=None) -> nn.Sequential:
    """INPUT s x s x in_channels -> CONV3-32 (pad 1) -> ReLU -> POOL2 -> CONV3-32 (pad 1) ->
    ReLU -> POOL2 -> FC 500 -> ReLU -> FC num_classes. Input (N, in_channels, s, s)."""
    s = _after_pools(input_size, 2, "seed_mnist_net")
    return load_weights(nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * s * s, 500), nn.ReLU(inplace=True), nn.Linear(500, num_classes)), weights)


def digits_net(in_channels=1, num_classes=10, input_size=8, *, weights=None) -> nn.Sequential:
    """The default for the 8x8 digits: CONV3-32 (pad 1) -> ReLU -> CONV3-32 (pad 1) -> ReLU
    -> POOL2 -> FC 128 -> ReLU -> FC num_classes. Input (N, in_channels, s, s)."""
    s = _after_pools(input_size, 1, "digits_net")
    return load_weights(nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * s * s, 128), nn.ReLU(inplace=True), nn.Linear(128, num_classes)), weights)


def lenet5(in_channels=1, num_classes=10, input_size=28, *, weights=None) -> nn.Sequential:
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
    return load_weights(nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=pad), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * s * s, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, num_classes)), weights)


def vgg_small(in_channels=3, num_classes=10, input_size=32, width=32, batch_norm=True, *,
              weights=None) -> nn.Sequential:
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
    return load_weights(nn.Sequential(*layers), weights)


def all_conv_net(in_channels=3, num_classes=10, input_size=32, width=32, *, weights=None) -> nn.Sequential:
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
    return load_weights(model, weights)


MODELS = {
    "digits_net": digits_net,
    "seed_mnist_net": seed_mnist_net,
    "lenet5": lenet5,
    "vgg_small": vgg_small,
    "all_conv_net": all_conv_net,
}
