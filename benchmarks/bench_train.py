"""Training-step throughput: cnnnative Trainer.step vs PyTorch eager on seed_mnist_net.

    PYTHONPATH=python python benchmarks/bench_train.py [--batch 64] [--steps 20] [--threads N]

One step = forward, cross-entropy, backward, SGD (momentum 0.9) update, on a fixed random
batch of 28x28 images. Both frameworks use the same thread count and the same weights,
alternate in rounds (so machine noise hits both alike), and report the median step time.
Also reports the Python overhead per layer call: a layer's forward minus the bare op it
wraps, on a tiny input where the kernel itself costs almost nothing.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnnative
from cnnnative import models, nn, ops, optim


def median_time(fn, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _faults_per_step(step, n=10):
    """Minor page faults per call of step (memory the step got fresh from the kernel), or
    None where getrusage has no such count."""
    try:
        import resource
    except ImportError:
        return None
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / n


def overhead_us(layer, op, x, n=2000, record=False):
    """Microseconds a layer call adds to its bare op: inference (no_grad, numpy in and
    out), or with record=True a training-mode call that records for autograd, against
    the op recording on the same Parameters."""
    layer.train(record)
    with cnnnative.set_grad_enabled(record):
        layer(x), op(x)
        return (median_time(lambda: layer(x), n) - median_time(lambda: op(x), n)) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per framework per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        cnnnative.set_num_threads(args.threads)
    threads = cnnnative.get_num_threads()
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)

    nn.init.manual_seed(0)
    model = models.seed_mnist_net()
    trainer = cnnnative.Trainer(model, optim.SGD(model, lr=0.01, momentum=0.9), quiet=True)

    torch = None
    try:
        import torch
        torch.set_num_threads(threads)
        tn = torch.nn
        tmodel = tn.Sequential(tn.Conv2d(1, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                               tn.Conv2d(32, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                               tn.Flatten(), tn.Linear(1568, 500), tn.ReLU(), tn.Linear(500, 10))
        tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def torch_step():
            topt.zero_grad(set_to_none=True)
            loss = tn.functional.cross_entropy(tmodel(tx), ty)
            loss.backward()
            topt.step()
            return loss.item()
    except ImportError:
        pass

    ours, theirs = [], []
    for _ in range(3):  # warm-up
        trainer.step(x, y)
        if torch:
            torch_step()
    for _ in range(args.rounds):
        ours.append(median_time(lambda: trainer.step(x, y), args.steps))
        if torch:
            theirs.append(median_time(torch_step, args.steps))
    t_ours = statistics.median(ours)
    faults = _faults_per_step(lambda: trainer.step(x, y))
    print(f"seed_mnist_net train step, batch {args.batch}, 28x28, {threads} threads, isa {cnnnative.get_isa()}")
    print(f"  cnnnative Trainer.step : {t_ours * 1e3:8.2f} ms  {args.batch / t_ours:8.0f} img/s"
          + (f"  ({faults:.0f} page faults per step)" if faults is not None else ""))
    if torch:
        t_torch = statistics.median(theirs)
        print(f"  PyTorch {torch.__version__} eager: {t_torch * 1e3:8.2f} ms  {args.batch / t_torch:8.0f} img/s")
        print(f"  ratio (cnnnative img/s / PyTorch img/s): {t_torch / t_ours:.2f}x")

    small = rng.standard_normal((1, 4, 4, 4), dtype=np.float32)
    conv = nn.Conv2d(4, 4, 1)
    flat = small.reshape(1, -1)
    lin = nn.Linear(64, 8)
    print("Python overhead per layer call (layer call minus the bare op, tiny input):")
    print("  inference (no_grad, arrays):")
    print(f"    ReLU   {overhead_us(nn.ReLU(), ops.relu, small):6.2f} us")
    print(f"    Conv2d {overhead_us(conv, lambda a: ops.conv2d(a, conv.weight.data, conv.bias.data), small):6.2f} us")
    print(f"    Linear {overhead_us(lin, lambda a: ops.linear(a, lin.weight.data, lin.bias.data), flat):6.2f} us")
    print("  training (recording, against the op recording on the same Parameters):")
    print(f"    Conv2d {overhead_us(conv, lambda a: ops.conv2d(a, conv.weight, conv.bias), small, record=True):6.2f} us")
    print(f"    Linear {overhead_us(lin, lambda a: ops.linear(a, lin.weight, lin.bias), flat, record=True):6.2f} us")


if __name__ == "__main__":
    main()
