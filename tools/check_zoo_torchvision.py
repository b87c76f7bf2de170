"""Offline check of the model zoo against torchvision, from the files that
tools/torchvision_reference.py wrote (torchvision itself is not needed here):

  - eval output of the builder with torchvision's weights: eager and compiled, as the
    relative error max|ours - theirs| / max|theirs|
  - one SGD step in train mode (lr 0.01, cross-entropy, dropout and stochastic depth off):
    the loss, and the largest relative change error over every state_dict entry after it

  PYTHONPATH=python python tools/check_zoo_torchvision.py vgg16 resnet50 --dir /work/scratch/tvref
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import cnnnative
from cnnnative import models, nn, ops


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def main_logits(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def check(name, path, skip_step=False):
    z = np.load(path)
    sd = {k[3:]: z[k] for k in z.files if k.startswith("sd/")}
    model = models.build(name, weights=sd).eval()
    x = z["input"]
    with cnnnative.no_grad():
        eager = main_logits(model(x))
    report = {"eager": rel(eager, z["output"])}
    compiled = cnnnative.compile(model, x.shape)
    report["compiled"] = rel(compiled(x), z["output"])
    if not skip_step:
        for m in model.modules():
            if type(m).__name__ in ("Dropout", "StochasticDepth"):  # torchvision's names
                m.p = 0.0
        model.train()
        opt = cnnnative.optim.SGD(model.parameters(), lr=0.01)
        opt.zero_grad()
        loss = ops.cross_entropy(main_logits(model(cnnnative.tensor(x))), z["labels"])
        loss.backward()
        opt.step()
        report["loss"] = abs(float(np.asarray(loss.data if hasattr(loss, "data") else loss)) - float(z["step_loss"]))
        worst, worst_key, errors = 0.0, None, []
        for k, v in model.state_dict().items():
            before, after = z[f"sd/{k}"].astype(np.float64), z[f"step/{k}"].astype(np.float64)
            change = np.max(np.abs(after - before))
            if change == 0:
                continue
            e = float(np.max(np.abs((np.asarray(v, np.float64) - before) - (after - before))) / change)
            errors.append(e)
            if e > worst:
                worst, worst_key = e, k
        report["step_update"] = worst
        report["step_worst"] = worst_key
        report["step_median"] = float(np.median(errors)) if errors else 0.0
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+")
    ap.add_argument("--dir", default="/work/scratch/tvref")
    ap.add_argument("--no-step", action="store_true")
    args = ap.parse_args()
    for name in args.names:
        r = check(name, os.path.join(args.dir, f"{name}.npz"), args.no_step)
        print(name, " ".join(f"{k}={v:.2e}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
