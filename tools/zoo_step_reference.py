"""One SGD step of a representative of each zoo family in torchvision, for
tests/test_zoo_sgd_step.py (see tests/zoo_step.py for what is compared). The reference is
torchvision's step in float64; torchvision's own float32 step's errors against it are
stored beside it, as the yardstick for ours. Run where torchvision is installed (it is no
dependency of cnnnative):

  /work/tvenv/bin/python tools/zoo_step_reference.py
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from zoo_mobile_common import seeded_input, seeded_state  # noqa: E402
from zoo_step import LR, labels, step_errors, update_summary  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "data", "zoo_step_reference.json")
# label -> (builder, keyword arguments (cnnnative's too), input shape). Small inputs and
# widths keep the test fast; VGG (a 100M-parameter classifier at any input) is checked
# offline only (tools/check_zoo_torchvision.py).
CASES = {
    "alexnet": ("alexnet", {"num_classes": 10}, (4, 3, 63, 63)),
    "squeezenet1_1": ("squeezenet1_1", {"num_classes": 10}, (4, 3, 64, 64)),
    "resnet18": ("resnet18", {"num_classes": 10}, (4, 3, 64, 64)),
    "resnext50_32x4d": ("resnext50_32x4d", {"num_classes": 10}, (4, 3, 64, 64)),
    "densenet121": ("densenet121", {"num_classes": 10}, (4, 3, 64, 64)),
    "googlenet": ("googlenet", {"num_classes": 10, "aux_logits": False, "init_weights": False}, (4, 3, 64, 64)),
    "inception_v3": ("inception_v3", {"num_classes": 10, "aux_logits": False, "init_weights": False},
                     (4, 3, 75, 75)),
    "shufflenet_v2_x0_5": ("shufflenet_v2_x0_5", {"num_classes": 10}, (4, 3, 64, 64)),
    "mobilenet_v2": ("mobilenet_v2", {"num_classes": 10, "width_mult": 0.5}, (4, 3, 64, 64)),
    "mobilenet_v3_small": ("mobilenet_v3_small", {"num_classes": 10}, (4, 3, 64, 64)),
    "mnasnet0_5": ("mnasnet0_5", {"num_classes": 10}, (4, 3, 64, 64)),
    "efficientnet_b0": ("efficientnet_b0", {"num_classes": 10}, (4, 3, 64, 64)),
    "regnet_y_400mf": ("regnet_y_400mf", {"num_classes": 10}, (4, 3, 64, 64)),
}


def sgd_step(builder, kwargs, shape, dtype):
    """(loss, {key: [|dw|, <dw, probe>]}) of one step of the seeded model in `dtype`."""
    model = getattr(torchvision.models, builder)(weights=None, **kwargs)
    sd = model.state_dict()
    state = seeded_state([(k, tuple(v.shape)) for k, v in sd.items()], seed=0)
    with torch.no_grad():
        for k, v in sd.items():
            v.copy_(torch.from_numpy(state[k]))
    for m in model.modules():
        if type(m).__name__ in ("Dropout", "StochasticDepth"):
            m.p = 0.0
    model = model.to(dtype).train()
    y = torch.from_numpy(labels(shape[0], kwargs["num_classes"]))
    logits = model(torch.from_numpy(seeded_input(shape, seed=1)).to(dtype))
    loss = torch.nn.functional.cross_entropy(logits, y)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    keys = [k for k, _ in model.named_parameters()]
    return float(loss.detach()), update_summary(state, after, keys)


def main():
    out = {}
    for label, (builder, kwargs, shape) in CASES.items():
        loss64, update64 = sgd_step(builder, kwargs, shape, torch.float64)
        loss32, update32 = sgd_step(builder, kwargs, shape, torch.float32)
        torch32 = step_errors(loss32, update32, loss64, update64)
        out[label] = {"builder": builder, "kwargs": {k: v for k, v in kwargs.items() if k != "init_weights"},
                      "input_shape": list(shape), "torchvision": torchvision.__version__,
                      "loss": loss64, "update": update64, "torch_float32_errors": torch32}
        print(label, loss64, torch32)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=0)


if __name__ == "__main__":
    main()
