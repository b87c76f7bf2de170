"""Reference data for the model zoo, made with torchvision (run in a venv that has it:
torchvision is no dependency of cnnnative).

For each named torchvision builder this writes
  tests/data/zoo_layouts/<name>.json  the state_dict layout (key -> shape, in order) and the
                                      parameter count, committed: the layout tests read it
  <out>/<name>.npz                    seeded random weights ("sd/<key>"), an input,
                                      torchvision's eval output ("output"), and one SGD step
                                      in train mode (lr 0.01, cross-entropy on "labels",
                                      dropout and stochastic depth off): "step_loss" and the
                                      state after it ("step/<key>"), for the offline checks
                                      (tools/check_zoo_torchvision.py; too large to commit)

  /work/tvenv/bin/python tools/torchvision_reference.py vgg16 resnet50 --out /work/scratch/tvref
  /work/tvenv/bin/python tools/torchvision_reference.py --layout-only mobilenet_v2
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import torchvision

LAYOUT_DIR = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "zoo_layouts")
# Builders whose natural input is not 224 x 224.
INPUT_SIZE = {"inception_v3": 299}


def layout(model) -> dict:
    sd = model.state_dict()
    return {"params": sum(p.numel() for p in model.parameters()),
            "state_dict": [[k, list(v.shape)] for k, v in sd.items()]}


def sgd_step(model, x, labels, lr=0.01) -> float:
    """One plain SGD step in train mode on the main logits, randomness switched off."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if type(m).__name__ == "StochasticDepth":
            m.p = 0.0
    model.train()
    out = model(x)
    if not isinstance(out, torch.Tensor):  # GoogLeNet / Inception-v3 (logits, aux...)
        out = out[0]
    loss = torch.nn.functional.cross_entropy(out, labels)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", help="torchvision.models builder names")
    ap.add_argument("--out", default="/work/scratch/tvref")
    ap.add_argument("--layout-only", action="store_true")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--kwargs", default="{}", help="JSON keyword arguments for every builder")
    args = ap.parse_args()
    os.makedirs(LAYOUT_DIR, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    for name in args.names:
        torch.manual_seed(0)
        kwargs = json.loads(args.kwargs)
        if name in ("googlenet", "inception_v3"):
            kwargs.setdefault("init_weights", True)
        model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
        with open(os.path.join(LAYOUT_DIR, f"{name}.json"), "w") as f:
            json.dump(layout(model), f, indent=0)
        if args.layout_only:
            continue
        # Running statistics away from (0, 1), so a wrong BN folding or order shows.
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        size = INPUT_SIZE.get(name, 224)
        x = torch.randn(args.batch, 3, size, size)
        with torch.no_grad():
            y = model(x)
        arrays = {f"sd/{k}": v.numpy().copy() for k, v in model.state_dict().items()}
        labels = torch.arange(args.batch) % y.shape[1]
        step_loss = sgd_step(model, x, labels)
        arrays.update({f"step/{k}": v.numpy() for k, v in model.state_dict().items()})
        np.savez(os.path.join(args.out, f"{name}.npz"), input=x.numpy(), output=y.numpy(),
                 labels=labels.numpy(), step_loss=np.float64(step_loss), **arrays)
        print(f"{name}: {layout(model)['params']} parameters, output {tuple(y.shape)}")


if __name__ == "__main__":
    main()
