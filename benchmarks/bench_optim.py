"""One optimizer step over a ResNet-18-sized parameter list (62 tensors, 11.7 M floats):
cnnnative's fused Adam / AdamW / RMSprop / Adagrad / SGD beside torch.optim in the same
process and thread count: torch single-tensor (foreach=False), its default, and fused=True.

    PYTHONPATH=python python benchmarks/bench_optim.py [--repeat 20] [--threads N] [--markdown]

Prints the median time per step and the ratio torch / cnnnative (> 1: cnnnative faster).
The candidates of one optimizer are timed round-robin (one step of each in turn), so a
burst of load on a shared machine hits them alike.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnnative
from cnnnative import models, nn, optim


def medians_ms(fns, repeat):
    """Median ms of each function, timed in turn (round-robin)."""
    for fn in fns:
        for _ in range(3):
            fn()  # warm-up: state allocated, pages touched
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(ts) for ts in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=cnnnative.get_num_threads())
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    import torch

    cnnnative.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    shapes = [tuple(p.data.shape) for p in models.resnet18().parameters()]
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours = [nn.Parameter(d.copy()) for d in data]
    for p, g in zip(ours, grads):
        p.grad = g
    theirs = [torch.nn.Parameter(torch.from_numpy(d.copy())) for d in data]
    for p, g in zip(theirs, grads):
        p.grad = torch.from_numpy(g)
    n = sum(int(np.prod(s)) for s in shapes)

    rows = []
    cases = [
        ("Adam", lambda: optim.Adam(ours, lr=1e-4), lambda **kw: torch.optim.Adam(theirs, lr=1e-4, **kw)),
        ("Adam amsgrad", lambda: optim.Adam(ours, lr=1e-4, amsgrad=True),
         lambda **kw: torch.optim.Adam(theirs, lr=1e-4, amsgrad=True, **kw)),
        ("AdamW", lambda: optim.AdamW(ours, lr=1e-4), lambda **kw: torch.optim.AdamW(theirs, lr=1e-4, **kw)),
        ("RMSprop centered+momentum", lambda: optim.RMSprop(ours, lr=1e-4, centered=True, momentum=0.9),
         lambda **kw: torch.optim.RMSprop(theirs, lr=1e-4, centered=True, momentum=0.9, **kw)),
        ("Adagrad", lambda: optim.Adagrad(ours, lr=1e-4), lambda **kw: torch.optim.Adagrad(theirs, lr=1e-4, **kw)),
        ("SGD momentum", lambda: optim.SGD(ours, lr=1e-4, momentum=0.9),
         lambda **kw: torch.optim.SGD(theirs, lr=1e-4, momentum=0.9, **kw)),
    ]
    for name, make_ours, make_theirs in cases:
        steps = [make_ours().step]
        for kw in ({"foreach": False}, {}, {"fused": True}):
            try:
                opt = make_theirs(**kw)
                opt.step()
                steps.append(opt.step)
            except (RuntimeError, TypeError, ValueError):  # fused=True not offered for this one
                steps.append(None)
        ms = medians_ms([f for f in steps if f is not None], args.repeat)
        it = iter(ms)
        rows.append([name] + [None if f is None else next(it) for f in steps])

    head = f"{len(shapes)} ResNet-18 parameter tensors, {n / 1e6:.1f} M floats, {args.threads} threads"
    fmt = lambda t, ours_ms: "-" if t is None else f"{t:.2f} ({t / ours_ms:.2f}x)"  # noqa: E731
    if args.markdown:
        print(head + "; ms per step (torch / cnnnative)\n")
        print("| optimizer | cnnnative | torch foreach=False | torch default | torch fused=True |")
        print("| --- | --- | --- | --- | --- |")
        for name, ms, *t in rows:
            print(f"| {name} | {ms:.2f} | " + " | ".join(fmt(x, ms) for x in t) + " |")
    else:
        print(head)
        for name, ms, *t in rows:
            print(f"{name:28s} cnnnative {ms:7.2f} ms | torch single {fmt(t[0], ms)}, default {fmt(t[1], ms)}, "
                  f"fused {fmt(t[2], ms)}")


if __name__ == "__main__":
    main()
