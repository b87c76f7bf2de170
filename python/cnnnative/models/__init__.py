"""The model zoo: network builders from the literature, one module per family.

Each family module defines its builders and a MODELS dict (name -> builder); this package
gathers them into one registry, `MODELS`, and `build(name, **kwargs)`. Builders take
in_channels, num_classes and, where the classifier depends on it, the input size; module
structure and state_dict keys follow torchvision where torchvision has the network, so its
weights (as numpy arrays) load unchanged.

ResNets: `resnet18` ... `wide_resnet50_2` and the CIFAR `resnet20` are module classes with
torchvision's layout (resnet.py). The nn.Graph form of the basic-block ResNet
(resnet_graph.py) has the same parameter names: `resnet(...)` (any depth and width; the
module `models.resnet` is callable for it) and `resnet18_graph`. A state_dict moves between
the two unchanged, and cnnnative.compile traces both into the same plan. `resnet18_module`
is the old name of `resnet18`.
"""
from __future__ import annotations

from .. import nn
from . import densenet, resnet, resnet_graph, small
from ._weights import load_weights
from .densenet import densenet121, densenet161, densenet169, densenet201
from .inverted_residual import inverted_residual
from .resnet import (resnet18, resnet20, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d,
                     resnext101_32x8d, wide_resnet50_2)
from .resnet_graph import resnet18_graph
from .small import all_conv_net, digits_net, lenet5, seed_mnist_net, vgg_small

resnet18_module = resnet18  # the name from when `resnet18` was the nn.Graph form

# Family modules whose MODELS join the registry (a new family adds itself here).
_FAMILIES = (small, resnet_graph, resnet, densenet)

MODELS = {}
for _family in _FAMILIES:
    MODELS.update(_family.MODELS)

__all__ = ["seed_mnist_net", "digits_net", "lenet5", "vgg_small", "all_conv_net", "resnet", "resnet18",
           "resnet18_graph", "resnet18_module", "resnet34", "resnet50", "resnet101", "resnet152",
           "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "resnet20", "inverted_residual",
           "densenet121", "densenet161", "densenet169", "densenet201", "build", "MODELS"]


def build(name: str, weights=None, **kwargs) -> nn.Module:
    """A model by builder name (see MODELS) with the builder's keyword arguments, and
    `weights` (a state_dict file or mapping, see load_weights) loaded into it. The result
    remembers (name, kwargs) as `model.spec`, so a checkpoint can rebuild it."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    model = load_weights(MODELS[name](**kwargs), weights)
    model.spec = {"builder": name, "kwargs": dict(kwargs)}  # saved in checkpoints
    return model
