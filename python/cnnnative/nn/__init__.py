"""Layers, containers and initialisers (torch.nn names).

Every layer's forward is written with cnnnative.ops calls on its parameters (leaf Tensors:
float32 `data`, `grad`, `requires_grad`), so autograd records it and `loss.backward()`
fills the parameters' gradients; a subclass of Module that only defines forward trains.
Containers: Sequential for chains, ModuleList / ModuleDict to hold submodules, Graph for
DAGs. `nn.functional` has torch.nn.functional's names.
"""
from . import functional, init
from .activation import (GELU, Hardsigmoid, Hardswish, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU,
                         Softmax, Tanh)
from .activation_more import CELU, ELU, SELU, Hardtanh, LogSigmoid, Mish, PReLU, Softplus, Softsign, Threshold
from .containers import ModuleDict, ModuleList
from .conv import Conv1d, Conv2d
from .graph import Graph, Node
from .linear import Linear
from .module import Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, LocalResponseNorm
from .pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .dropout_more import AlphaDropout, Dropout2d, Dropout3d
from .sequential import Sequential
from .shape import Dropout, Flatten, Identity

__all__ = [
    "init", "functional", "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Graph", "Node",
    "Conv1d", "Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "AdaptiveAvgPool2d",
    "ReLU", "ReLU6", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "GELU", "Hardswish", "Hardsigmoid",
    "Softmax", "LogSoftmax",
    "PReLU", "ELU", "SELU", "CELU", "Hardtanh", "Threshold", "Mish", "Softplus", "Softsign", "LogSigmoid",
    "Flatten", "Identity", "Dropout", "Dropout2d", "Dropout3d", "AlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d", "LocalResponseNorm",
]
from .loss import *  # noqa: E402,F401,F403  (the loss modules, nn/loss.py)
from .loss import __all__ as _loss_names  # noqa: E402
__all__ += _loss_names
