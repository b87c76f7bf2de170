"""torch.nn module -> the equivalent cnnnative.nn layers (for `cnnnative.compile`).

`cnnnative.compile` traces a model by running its forward on cnnnative's recording
Tensor, which a torch module's forward cannot take. So a torch module is first translated,
by class name and torch's attribute names, into cnnnative layers holding copies of its
weights; the result is then traced like any cnnnative model. This file is the only place
that knows torch class names. Translated:

Conv2d (any padding_mode, padding 'same'/'valid'), Conv3d, ConvTranspose1d/2d/3d, the padding layers
(Zero/Constant/Reflection/Replication/CircularPad1d/2d/3d), Linear, BatchNorm1d/2d, LayerNorm, GroupNorm,
InstanceNorm2d, LocalResponseNorm, ReLU, ReLU6, LeakyReLU, Tanh, Sigmoid, Softmax,
LogSoftmax, MaxPool1d/2d/3d, AvgPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d,
LPPool1d/2d, Flatten, Unflatten, Identity, Dropout,
Dropout2d (both the identity in eval), Sequential, and the torchvision-style ResNet,
BasicBlock and Bottleneck (by their attribute names: conv1, bn1, ..., downsample, fc).
Anything else is a TypeError naming the module's path and class.
"""
from __future__ import annotations

from . import nn, ops

__all__ = ["from_torch"]


def _numpy_state(m):
    return {k: v.detach().cpu().numpy() for k, v in m.state_dict().items()}


def _with_weights(layer, m, path):
    """`layer` with torch module `m`'s parameters and buffers (the same names)."""
    state = _numpy_state(m)
    own = layer.state_dict()
    state = {k: v for k, v in state.items() if k in own}  # e.g. BatchNorm's num_batches_tracked
    missing, _ = layer.load_state_dict(state, strict=False)
    if missing:
        raise TypeError(f"compile(): torch module {path!r} ({type(m).__name__}) has no {missing}")
    return layer


def _conv(m, path):
    layer = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                      bias=m.bias is not None, padding_mode=m.padding_mode)
    return _with_weights(layer, m, path)


def _conv3d(m, path):
    layer = nn.Conv3d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                      bias=m.bias is not None, padding_mode=m.padding_mode)
    return _with_weights(layer, m, path)


def _conv_transpose3d(m, path):
    layer = nn.ConvTranspose3d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                               m.output_padding, m.groups, bias=m.bias is not None, dilation=m.dilation,
                               padding_mode=m.padding_mode)
    return _with_weights(layer, m, path)


def _conv_transpose(cls):
    def make(m, path):
        if m.padding_mode != "zeros":
            raise ValueError(f"compile(): {path!r}: {cls.__name__} padding_mode={m.padding_mode!r} is not supported")
        layer = cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding, m.groups,
                    bias=m.bias is not None, dilation=m.dilation)
        return _with_weights(layer, m, path)
    return make


def _pad_layer(m, path):
    """torch's padding layers: the cnnnative layer of the same name and padding."""
    cls = getattr(nn, type(m).__name__)
    if type(m).__name__.startswith("ConstantPad"):
        return cls(m.padding, m.value)
    return cls(m.padding)


def _batch_norm(cls):
    def make(m, path):
        if m.running_mean is None:
            raise ValueError(f"compile(): {path!r}: a BatchNorm without running statistics "
                             "(track_running_stats=False) cannot be compiled for inference")
        layer = cls(m.num_features, m.eps, 0.1 if m.momentum is None else m.momentum, m.affine)
        return _with_weights(layer, m, path)
    return make


def _pool_stride(m):
    return None if m.stride is None or m.stride == () else m.stride


def _max_pool(cls):
    def make(m, path):
        if m.return_indices:
            raise ValueError(f"compile(): {path!r}: {cls.__name__}(return_indices=True) is not supported")
        return cls(m.kernel_size, _pool_stride(m), m.padding, m.dilation, ceil_mode=m.ceil_mode)
    return make


def _avg_pool(cls):
    def make(m, path):
        if getattr(m, "divisor_override", None) is not None:
            raise ValueError(f"compile(): {path!r}: {cls.__name__}(divisor_override=...) is not supported")
        return cls(m.kernel_size, _pool_stride(m), m.padding, m.ceil_mode, m.count_include_pad)
    return make


def _adaptive_max(cls):
    def make(m, path):
        if m.return_indices:
            raise ValueError(f"compile(): {path!r}: {cls.__name__}(return_indices=True) is not supported")
        return cls(m.output_size)
    return make


def _upsample(m, path):
    # torch.nn.Upsample and its UpsamplingNearest2d / UpsamplingBilinear2d subclasses.
    return nn.Upsample(m.size, m.scale_factor, m.mode, m.align_corners, getattr(m, "recompute_scale_factor", None))


def _squeeze_excitation(children, m, path):
    # torchvision.ops.SqueezeExcitation: same submodule names, so the translated children drop in.
    fc1 = children["fc1"]
    block = nn.SqueezeExcitation(fc1.in_channels, fc1.out_channels)
    for name, child in children.items():
        setattr(block, name, child)
    return block


class Bottleneck(nn.Module):
    """torchvision's Bottleneck: relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut)."""

    def __init__(self, children):
        super().__init__()
        for name, child in children.items():
            setattr(self, name, child)
        if "downsample" not in children:
            self.downsample = None

    def forward(self, x):
        y = ops.relu(self.bn1(self.conv1(x)))
        y = ops.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return ops.add_relu(y, x if self.downsample is None else self.downsample(x))


class ResNetStages(nn.Module):
    """torchvision's ResNet.forward: the children in order, flattened before the classifier."""

    def __init__(self, children):
        super().__init__()
        for name, child in children.items():
            setattr(self, name, child)

    def forward(self, x):
        for child in self.children():
            if isinstance(child, nn.Linear) and x.ndim > 2:
                x = ops.flatten(x, 1)
            x = child(x)
        return x


def _basic_block(children, m, path):
    from .models.resnet import BasicBlock
    block = BasicBlock(m.conv1.in_channels, m.conv1.out_channels, m.conv1.stride[0], children.get("downsample"))
    for name in ("conv1", "bn1", "conv2", "bn2"):
        setattr(block, name, children[name])
    return block


_LEAVES = {
    "Conv2d": _conv,
    "Conv3d": _conv3d,
    "ConvTranspose3d": _conv_transpose3d,
    "ConvTranspose1d": _conv_transpose(nn.ConvTranspose1d),
    "ConvTranspose2d": _conv_transpose(nn.ConvTranspose2d),
    "Linear": lambda m, p: _with_weights(nn.Linear(m.in_features, m.out_features, bias=m.bias is not None), m, p),
    "BatchNorm2d": _batch_norm(nn.BatchNorm2d),
    "BatchNorm1d": _batch_norm(nn.BatchNorm1d),
    "LayerNorm": lambda m, p: _with_weights(nn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine), m, p),
    "GroupNorm": lambda m, p: _with_weights(nn.GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine), m, p),
    "InstanceNorm2d": lambda m, p: _with_weights(
        nn.InstanceNorm2d(m.num_features, m.eps, 0.1 if m.momentum is None else m.momentum, m.affine,
                          m.track_running_stats), m, p),
    "LocalResponseNorm": lambda m, p: nn.LocalResponseNorm(m.size, m.alpha, m.beta, m.k),
    "ReLU": lambda m, p: nn.ReLU(),
    "ReLU6": lambda m, p: nn.ReLU6(),
    "LeakyReLU": lambda m, p: nn.LeakyReLU(m.negative_slope),
    "Tanh": lambda m, p: nn.Tanh(),
    "Sigmoid": lambda m, p: nn.Sigmoid(),
    "Softmax": lambda m, p: nn.Softmax(1 if m.dim is None else m.dim),
    "LogSoftmax": lambda m, p: nn.LogSoftmax(1 if m.dim is None else m.dim),
    "MaxPool1d": _max_pool(nn.MaxPool1d),
    "MaxPool2d": _max_pool(nn.MaxPool2d),
    "MaxPool3d": _max_pool(nn.MaxPool3d),
    "AvgPool1d": _avg_pool(nn.AvgPool1d),
    "AvgPool2d": _avg_pool(nn.AvgPool2d),
    "AvgPool3d": _avg_pool(nn.AvgPool3d),
    "AdaptiveAvgPool1d": lambda m, p: nn.AdaptiveAvgPool1d(m.output_size),
    "AdaptiveAvgPool2d": lambda m, p: nn.AdaptiveAvgPool2d(m.output_size),
    "AdaptiveAvgPool3d": lambda m, p: nn.AdaptiveAvgPool3d(m.output_size),
    "AdaptiveMaxPool1d": _adaptive_max(nn.AdaptiveMaxPool1d),
    "AdaptiveMaxPool2d": _adaptive_max(nn.AdaptiveMaxPool2d),
    "AdaptiveMaxPool3d": _adaptive_max(nn.AdaptiveMaxPool3d),
    "LPPool1d": lambda m, p: nn.LPPool1d(m.norm_type, m.kernel_size, m.stride, m.ceil_mode),
    "LPPool2d": lambda m, p: nn.LPPool2d(m.norm_type, m.kernel_size, m.stride, m.ceil_mode),
    "Unflatten": lambda m, p: nn.Unflatten(m.dim, tuple(m.unflattened_size)),
    "Flatten": lambda m, p: nn.Flatten(m.start_dim, m.end_dim),
    "Identity": lambda m, p: nn.Identity(),
    "Dropout": lambda m, p: nn.Identity(),  # compile() is eval mode
    "Dropout2d": lambda m, p: nn.Identity(),
    "Upsample": _upsample,
    "UpsamplingNearest2d": _upsample,
    "UpsamplingBilinear2d": _upsample,
    "PixelShuffle": lambda m, p: nn.PixelShuffle(m.upscale_factor),
    "PixelUnshuffle": lambda m, p: nn.PixelUnshuffle(m.downscale_factor),
    "ChannelShuffle": lambda m, p: nn.ChannelShuffle(m.groups),
    **{f"{kind}Pad{d}d": _pad_layer for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
       for d in (1, 2, 3)},
    "Dropout3d": lambda m, p: nn.Identity(),
    "AlphaDropout": lambda m, p: nn.Identity(),
    "PReLU": lambda m, p: _with_weights(nn.PReLU(m.num_parameters), m, p),
    "ELU": lambda m, p: nn.ELU(m.alpha),
    "SELU": lambda m, p: nn.SELU(),
    "CELU": lambda m, p: nn.CELU(m.alpha),
    "Hardtanh": lambda m, p: nn.Hardtanh(m.min_val, m.max_val),
    "Threshold": lambda m, p: nn.Threshold(m.threshold, m.value),
    "Mish": lambda m, p: nn.Mish(),
    "Softplus": lambda m, p: nn.Softplus(m.beta, m.threshold),
    "Softsign": lambda m, p: nn.Softsign(),
    "LogSigmoid": lambda m, p: nn.LogSigmoid(),
}

_CONTAINERS = {
    "Sequential": lambda children, m, p: nn.Sequential(*children.values()),
    "BasicBlock": _basic_block,
    "Bottleneck": lambda children, m, p: Bottleneck(children),
    "ResNet": lambda children, m, p: ResNetStages(children),
    "SqueezeExcitation": _squeeze_excitation,
}


def from_torch(module, path: str = ""):
    """The cnnnative.nn equivalent of torch module `module` (weights copied)."""
    name = type(module).__name__
    where = path or "(the model)"
    if name in _LEAVES:
        return _LEAVES[name](module, where)
    if name in _CONTAINERS:
        children = {k: from_torch(c, f"{path}.{k}" if path else k)
                    for k, c in module.named_children() if c is not None}
        return _CONTAINERS[name](children, module, where)
    raise TypeError(f"compile(): cannot trace torch module {where!r} ({name}); cnnnative.torch_adapter "
                    f"translates {', '.join(sorted(_LEAVES) + sorted(_CONTAINERS))}. Rebuild it with "
                    "cnnnative.nn layers (same parameter names) and load its state_dict")
