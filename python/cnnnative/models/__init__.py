"""The model zoo: network builders from the literature, one module per family.

Each family module defines its builders and a MODELS dict (name -> builder); this package
gathers them into one registry, `MODELS`, and `build(name, **kwargs)`. Builders take
in_channels, num_classes and, where the classifier depends on it, the input size; module
structure and state_dict keys follow torchvision where torchvision has the network, so its
weights (as numpy arrays) load unchanged.

ResNets: `resnet18` ... `wide_resnet50_2` and the CIFAR `resnet20` are module classes with
torchvision's layout (resnet.py). The nn.Graph form of the basic-block ResNet
(resnet_graph.py) has the same parameter names: `graph_resnet(...)` (any depth and width)
and `resnet18_graph`. A state_dict moves between the two unchanged, and cnnnative.compile
traces both into the same plan. `resnet18_module` is the old name of `resnet18`.

The classic ImageNet families: alexnet.py (alexnet, zfnet), vgg.py (vgg11 ... vgg19_bn) and
squeezenet.py (squeezenet1_0, squeezenet1_1). MIN_INPUT_SIZE gives the smallest square input
of the builders that need more than a few pixels (`cnnnative train` refuses smaller images).
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping

from .. import nn
from . import (densenet, efficientnet, inception, mnasnet, mobilenetv2, mobilenetv3, regnet, resnet, resnet_graph,
               shufflenetv2, small)
from . import googlenet as _googlenet_family  # the name googlenet is the builder below (as torchvision)
from ._weights import load_weights, remap_keys
from .densenet import densenet121, densenet161, densenet169, densenet201
from .efficientnet import efficientnet_b0, efficientnet_b1, efficientnet_b2, efficientnet_b3
from .googlenet import googlenet
from .inception import inception_v3
from .inverted_residual import inverted_residual
from .mnasnet import mnasnet0_5, mnasnet0_75, mnasnet1_0, mnasnet1_3
from .mobilenetv2 import mobilenet_v2
from .mobilenetv3 import mobilenet_v3_large, mobilenet_v3_small
from .regnet import regnet_x_400mf, regnet_y_400mf, regnet_y_800mf
from . import alexnet as _alexnet, squeezenet as _squeezenet, vgg as _vgg  # before the same-named builders
from .resnet import (resnet18, resnet20, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d,
                     resnext101_32x8d, wide_resnet50_2)
from .resnet_graph import graph_resnet, resnet18_graph
from .shufflenetv2 import shufflenet_v2_x0_5, shufflenet_v2_x1_0, shufflenet_v2_x1_5, shufflenet_v2_x2_0
from .small import all_conv_net, digits_net, lenet5, seed_mnist_net, vgg_small
from .alexnet import alexnet, zfnet
from .squeezenet import squeezenet1_0, squeezenet1_1
from .vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

resnet18_module = resnet18  # the name from when `resnet18` was the nn.Graph form

# Family modules whose MODELS join the registry (a new family adds itself here).
_FAMILIES = (small, resnet_graph, resnet, densenet, _alexnet, _vgg, _squeezenet, _googlenet_family, inception,
             efficientnet, regnet, shufflenetv2, mobilenetv2, mobilenetv3, mnasnet)

MODELS = {}
# Smallest input height/width (square) of builders that need more than the 8x8 digits give.
MIN_INPUT_SIZE: dict = {}
for _family in _FAMILIES:
    MODELS.update(_family.MODELS)
    MIN_INPUT_SIZE.update(getattr(_family, "MIN_INPUT_SIZE", {}))
    MIN_INPUT_SIZE.update({name: b.min_input_size for name, b in _family.MODELS.items() if hasattr(b, "min_input_size")})

__all__ = ["seed_mnist_net", "digits_net", "lenet5", "vgg_small", "all_conv_net", "resnet18",
           "resnet18_graph", "graph_resnet", "resnet18_module", "resnet34", "resnet50", "resnet101", "resnet152",
           "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "resnet20", "inverted_residual",
           "densenet121", "densenet161", "densenet169", "densenet201",
           "alexnet", "zfnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
           "squeezenet1_0", "squeezenet1_1", "googlenet", "inception_v3",
           "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
           "regnet_y_400mf", "regnet_y_800mf", "regnet_x_400mf",
           "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "mobilenet_v2",
           "mobilenet_v3_small", "mobilenet_v3_large", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
           "build", "MODELS", "MIN_INPUT_SIZE"]


def build(name: str, weights=None, *, remap=None, **kwargs) -> nn.Module:
    """A model by builder name (see MODELS) with the builder's keyword arguments, and
    `weights` (a state_dict file or mapping) loaded into it, its keys renamed by `remap`
    (see load_weights). With weights and another num_classes than theirs, every weight but
    the classifier head's loads and the new head keeps its fresh initialisation (transfer
    learning, see cnnnative.finetune). The result remembers (name, kwargs) as
    `model.spec`, so a checkpoint can rebuild it."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    builder = MODELS[name]
    if weights is not None and remap is not None:
        if not isinstance(weights, Mapping):
            from ..state_dict_file import load_state_dict_file
            weights = load_state_dict_file(weights)
        weights = remap_keys(weights, remap)
    if weights is not None and "weights" in inspect.signature(builder).parameters:
        model = builder(weights=weights, **kwargs)  # a builder may skip random draws the weights replace
    else:
        model = load_weights(builder(**kwargs), weights)
    model.spec = {"builder": name, "kwargs": dict(kwargs)}  # saved in checkpoints
    return model
