"""Small committed reference outputs for the model zoo tests, made with torchvision (run in
a venv that has it; torchvision is no dependency of cnnnative):

  /work/tvenv/bin/python tools/zoo_small_reference.py

For each case below, torchvision's model gets the deterministic weights of
tests/zoo_mobile_common.seeded_state (numpy only, so the test rebuilds them without
torchvision), runs in eval mode on seeded_input, and its output goes into
tests/data/zoo_small_reference.json (a few hundred numbers: small enough to commit).
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
from zoo_mobile_common import REFERENCE, seeded_input, seeded_state  # noqa: E402

# label -> (torchvision builder, keyword arguments (also cnnnative's), input shape)
CASES = {
    "shufflenet_v2_x0_5": ("shufflenet_v2_x0_5", {"num_classes": 10}, (2, 3, 32, 32)),
    "mobilenet_v2_w0_5": ("mobilenet_v2", {"num_classes": 10, "width_mult": 0.5}, (2, 3, 32, 32)),
    "mobilenet_v3_small": ("mobilenet_v3_small", {"num_classes": 10}, (2, 3, 32, 32)),
    "mobilenet_v3_large_dilated": ("mobilenet_v3_large", {"num_classes": 10, "reduced_tail": True,
                                                          "dilated": True}, (2, 3, 48, 48)),
    "mnasnet0_5": ("mnasnet0_5", {"num_classes": 10}, (2, 3, 32, 32)),
}


def main():
    out = {}
    if os.path.exists(REFERENCE):
        with open(REFERENCE) as f:
            out = json.load(f)
    for label, (builder, kwargs, shape) in CASES.items():
        model = getattr(torchvision.models, builder)(weights=None, **kwargs).eval()
        sd = model.state_dict()  # tensors share the model's storage
        state = seeded_state([(k, tuple(v.shape)) for k, v in sd.items()], seed=0)
        with torch.no_grad():
            for k, v in sd.items():
                v.copy_(torch.from_numpy(state[k]))
            y = model(torch.from_numpy(seeded_input(shape, seed=1))).numpy()
        out[label] = {"builder": builder, "kwargs": kwargs, "seed": 0, "input_shape": list(shape), "input_seed": 1,
                      "torchvision": torchvision.__version__, "output": y.tolist()}
        print(label, tuple(y.shape), float(np.abs(y).max()))
    with open(REFERENCE, "w") as f:
        json.dump(out, f, indent=0)


if __name__ == "__main__":
    main()
