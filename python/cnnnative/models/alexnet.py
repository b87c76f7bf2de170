"""AlexNet (Krizhevsky et al. 2012, in torchvision's single-tower form from Krizhevsky 2014,
"One weird trick") and ZFNet (Zeiler & Fergus 2013, "Visualizing and understanding
convolutional networks"), laid out as torchvision's AlexNet: `features` (convolutions and
pooling), `avgpool` (adaptive, 6x6) and `classifier` (dropout + three fully connected layers).
"""
from __future__ import annotations

from .. import nn, ops
from ._weights import load_weights, random_init_unless

__all__ = ["AlexNet", "alexnet", "zfnet"]


class AlexNet(nn.Module):
    """features -> AdaptiveAvgPool2d(6) -> flatten -> classifier (Dropout, FC 4096, ReLU,
    Dropout, FC 4096, ReLU, FC num_classes). Input (N, C, H, W) -> logits (N, num_classes).

    `features` is any module ending in `channels` maps; the adaptive pool makes the
    classifier independent of the input size (torchvision's AlexNet)."""

    def __init__(self, features: nn.Module, channels: int = 256, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(channels * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(ops.flatten(x, 1))


def alexnet(weights=None, num_classes=1000, in_channels=3, dropout=0.5) -> AlexNet:
    """AlexNet as torchvision builds it (61.1M parameters at 1000 classes): CONV11/4-64 (pad
    2), pool3/2, CONV5-192, pool3/2, CONV3-384, CONV3-256, CONV3-256, pool3/2, then the
    classifier. Input (N, in_channels, H, W) with H, W >= 63 (224 in the paper) -> logits
    (N, num_classes). dropout: the classifier's dropout probability. weights: a state_dict
    file or mapping (torchvision's keys), loaded strictly."""
    with random_init_unless(weights):
        model = AlexNet(_alexnet_features(in_channels), 256, num_classes, dropout)
    return load_weights(model, weights)


def _alexnet_features(in_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2))


def zfnet(weights=None, num_classes=1000, in_channels=3, dropout=0.5, local_response_norm=True) -> AlexNet:
    """ZFNet (Zeiler & Fergus 2013, figure 3), 62.4M parameters at 1000 classes: CONV7/2-96
    (pad 1) -> ReLU -> pool3/2 (pad 1) -> [LRN] -> CONV5/2-256 -> ReLU -> pool3/2 (pad 1) ->
    [LRN] -> CONV3-384 -> CONV3-384 -> CONV3-256 (pad 1, each with ReLU) -> pool3/2, then
    AlexNet's classifier. A 224x224 input gives the paper's maps: 110, 55, 26, 13, 13, 6.
    Input (N, in_channels, H, W), H, W >= 53 -> logits (N, num_classes).

    local_response_norm: the paper's contrast normalisation across feature maps after the
    first two pools, as AlexNet's LocalResponseNorm(5, alpha 1e-4, beta 0.75, k 2) (no
    parameters; False leaves it out). dropout: the classifier's dropout probability.
    torchvision has no ZFNet: the layout (features / avgpool / classifier) is its AlexNet's."""
    with random_init_unless(weights):
        model = AlexNet(_zfnet_features(in_channels, local_response_norm), 256, num_classes, dropout)
    return load_weights(model, weights)


def _zfnet_features(in_channels, local_response_norm):
    def lrn():
        return [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)] if local_response_norm else []

    return nn.Sequential(
        nn.Conv2d(in_channels, 96, 7, stride=2, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1), *lrn(),
        nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1), *lrn(),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2))


MODELS = {"alexnet": alexnet, "zfnet": zfnet}
MIN_INPUT_SIZE = {"alexnet": 63, "zfnet": 53}  # smallest H = W each builder takes
