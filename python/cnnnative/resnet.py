"""Compatibility names: the ResNet module classes now live in cnnnative.models.resnet and the
inverted-residual block in cnnnative.models.inverted_residual. The builders here keep their
old positional order (num_classes, in_channels); new code uses cnnnative.models."""
from __future__ import annotations

from .models import resnet as _zoo
from .models.inverted_residual import InvertedResidual, inverted_residual
from .models.resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet20", "InvertedResidual",
           "inverted_residual"]


def resnet18(num_classes=1000, in_channels=3, **kwargs) -> ResNet:
    """cnnnative.models.resnet18 (torchvision layout): (N, in_channels, H, W) -> (N, num_classes)."""
    return _zoo.resnet18(num_classes=num_classes, in_channels=in_channels, **kwargs)


def resnet34(num_classes=1000, in_channels=3, **kwargs) -> ResNet:
    """cnnnative.models.resnet34 (torchvision layout): (N, in_channels, H, W) -> (N, num_classes)."""
    return _zoo.resnet34(num_classes=num_classes, in_channels=in_channels, **kwargs)


def resnet20(num_classes=10, in_channels=3, **kwargs) -> ResNet:
    """cnnnative.models.resnet20 (CIFAR ResNet-20): (N, in_channels, 32, 32) -> (N, num_classes)."""
    return _zoo.resnet20(num_classes=num_classes, in_channels=in_channels, **kwargs)
