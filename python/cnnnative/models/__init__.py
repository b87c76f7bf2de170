"""The model zoo: network builders from the literature, one module per family.

Each family module defines its builders and a MODELS dict (name -> builder); this package
gathers them into one registry, `MODELS`, and `build(name, **kwargs)`. Builders take
in_channels, num_classes and, where the classifier depends on it, the input size; module
structure and state_dict keys follow torchvision where torchvision has the network, so its
weights (as numpy arrays) load unchanged.

Two forms of ResNet-18 live here with the same torchvision parameter names: `resnet` /
`resnet18` build it as an nn.Graph (resnet_graph.py), and `resnet18_module`, `resnet34`,
`resnet20` and `inverted_residual` (from cnnnative.resnet) as module classes. A state_dict
moves between the two unchanged, and cnnnative.compile traces both into the same plan.

The classic ImageNet families: alexnet.py (alexnet, zfnet), vgg.py (vgg11 ... vgg19_bn) and
squeezenet.py (squeezenet1_0, squeezenet1_1). MIN_INPUT_SIZE gives the smallest square input
of the builders that need more than a few pixels (`cnnnative train` refuses smaller images).
"""
from __future__ import annotations

from .. import nn
from ..resnet import inverted_residual, resnet20, resnet34
from ..resnet import resnet18 as resnet18_module
from . import alexnet as _alexnet, squeezenet as _squeezenet, vgg as _vgg  # before the same-named builders
from . import resnet_graph, small
from ._weights import load_weights, random_init_unless
from .resnet_graph import resnet, resnet18
from .small import all_conv_net, digits_net, lenet5, seed_mnist_net, vgg_small
from .alexnet import alexnet, zfnet
from .squeezenet import squeezenet1_0, squeezenet1_1
from .vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

# Family modules whose MODELS join the registry (a new family adds itself here).
_FAMILIES = (small, resnet_graph, _alexnet, _vgg, _squeezenet)

MODELS = {"resnet34": resnet34, "resnet20": resnet20}
# Smallest input height/width (square) of builders that need more than the 8x8 digits give.
MIN_INPUT_SIZE: dict = {}
for _family in _FAMILIES:
    MODELS.update(_family.MODELS)
    MIN_INPUT_SIZE.update(getattr(_family, "MIN_INPUT_SIZE", {}))

__all__ = ["seed_mnist_net", "digits_net", "lenet5", "vgg_small", "all_conv_net", "resnet", "resnet18",
           "resnet18_module", "resnet34", "resnet20", "inverted_residual", "build", "MODELS", "MIN_INPUT_SIZE",
           "alexnet", "zfnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
           "squeezenet1_0", "squeezenet1_1"]


def build(name: str, weights=None, **kwargs) -> nn.Module:
    """A model by builder name (see MODELS) with the builder's keyword arguments, and
    `weights` (a state_dict file or mapping, see load_weights) loaded into it. The result
    remembers (name, kwargs) as `model.spec`, so a checkpoint can rebuild it."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    with random_init_unless(weights):  # loaded weights overwrite every parameter
        model = load_weights(MODELS[name](**kwargs), weights)
    model.spec = {"builder": name, "kwargs": dict(kwargs)}  # saved in checkpoints
    return model
