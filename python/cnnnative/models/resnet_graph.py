"""ResNet with basic blocks built as an nn.Graph (any depth and width: the Graph API at
work), with torchvision's parameter names, so a state_dict moves unchanged between it and
the module form (cnnnative.models.resnet) and cnnnative.compile traces both into the same
plan. Reached as cnnnative.models.graph_resnet (any depth) and cnnnative.models.resnet18_graph;
the registry's "resnet18" is the module form."""
from __future__ import annotations

from .. import nn

__all__ = ["graph_resnet", "resnet18_graph"]


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


def graph_resnet(in_channels=3, num_classes=1000, input_size=224, layers=(2, 2, 2, 2), width=64,
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


def resnet18_graph(in_channels=3, num_classes=1000, input_size=224, small_input=False) -> nn.Graph:
    """ResNet-18 as an nn.Graph (torchvision layout and names; the same state_dict as
    cnnnative.models.resnet18). Input (N, in_channels, input_size, input_size)."""
    return graph_resnet(in_channels, num_classes, input_size, (2, 2, 2, 2), 64, small_input)


# Not in the registry: "resnet18" there is the module form with the same state_dict.
MODELS = {}
