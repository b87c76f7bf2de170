"""Layers, containers and initialisers (torch.nn names).

Every layer's forward is written with cnnnative.ops calls on its parameters (leaf Tensors:
float32 `data`, `grad`, `requires_grad`), so autograd records it and `loss.backward()`
fills the parameters' gradients; a subclass of Module that only defines forward trains.
Containers: Sequential for chains, ModuleList / ModuleDict to hold submodules, Graph for
DAGs. `nn.functional` has torch.nn.functional's names.
"""
from . import functional, init
from .channel_layout import ChannelShuffle, PixelShuffle, PixelUnshuffle
from .activation import (GELU, Hardsigmoid, Hardswish, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU,
                         Softmax, Tanh)
from .activation_more import CELU, ELU, SELU, Hardtanh, LogSigmoid, Mish, PReLU, Softplus, Softsign, Threshold
from .containers import ModuleDict, ModuleList
from .conv import Conv1d, Conv2d
from .conv3d import Conv3d, ConvTranspose3d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d
from .graph import Graph, Node
from .linear import Linear
from .local_conv import LocallyConnected2d, TiledConv2d
from .module import Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, LocalResponseNorm
from .pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .pool_adaptive import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                            AdaptiveMaxPool2d, AdaptiveMaxPool3d, GlobalMaxPool2d)
from .pool_channels import ChannelAvgPool, Maxout
from .pool_lp import LPPool1d, LPPool2d
from .pool_nd import AvgPool1d, AvgPool3d, MaxPool1d, MaxPool3d
from .pool_unpool import MaxUnpool1d, MaxUnpool2d
from .resample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .dropout_more import AlphaDropout, Dropout2d, Dropout3d
from .sequential import Sequential
from .shape import Dropout, Flatten, Identity, Unflatten
from .squeeze_excitation import SqueezeExcitation
from .stochastic_depth import StochasticDepth, stochastic_depth

__all__ = [
    "init", "functional", "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Graph", "Node",
    "Conv1d", "Conv2d", "Conv3d", "LocallyConnected2d", "TiledConv2d", "ConvTranspose3d", "ConvTranspose1d", "ConvTranspose2d",
    "Linear", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "AdaptiveAvgPool2d",
    "ReLU", "ReLU6", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "GELU", "Hardswish", "Hardsigmoid",
    "Softmax", "LogSoftmax",
    "PReLU", "ELU", "SELU", "CELU", "Hardtanh", "Threshold", "Mish", "Softplus", "Softsign", "LogSigmoid",
    "Flatten", "Identity", "Dropout", "Dropout2d", "Dropout3d", "AlphaDropout",
    "MaxPool1d", "MaxPool3d", "AvgPool1d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "GlobalMaxPool2d", "LPPool1d", "LPPool2d",
    "MaxUnpool1d", "MaxUnpool2d", "Maxout", "ChannelAvgPool", "Unflatten",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d", "LocalResponseNorm",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
    "SqueezeExcitation", "StochasticDepth", "stochastic_depth",
]
from .padding import *  # noqa: E402,F401,F403  (ZeroPad2d, ReflectionPad2d, ...: nn/padding.py)
from .padding import __all__ as _padding_names  # noqa: E402
__all__ += _padding_names
from .loss import *  # noqa: E402,F401,F403  (the loss modules, nn/loss.py)
from .loss import __all__ as _loss_names  # noqa: E402
__all__ += _loss_names


def __getattr__(name):
    # nn.SyncBatchNorm, where a PyTorch user looks for it; it lives in cnnnative.distributed
    # (which imports nn), so it is imported on first use.
    if name == "SyncBatchNorm":
        from ..distributed.sync_batchnorm import SyncBatchNorm
        return SyncBatchNorm
    raise AttributeError(f"module 'cnnnative.nn' has no attribute {name!r}")
