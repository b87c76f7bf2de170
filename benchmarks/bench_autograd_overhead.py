"""What recording costs per op: add / mul / relu / reshape on tiny arrays, where the op's
own work is negligible and the time is the bookkeeping.

For each op, in one process and interleaved (medians of rounds):
  numpy      the plain numpy expression (np.add, np.multiply, np.maximum(x, 0), x.reshape)
  ops        cnnnative.ops on plain arrays (the dispatcher's fast path, nothing recorded)
  recorded   the same op on a cn.Tensor with requires_grad=True (forward, recording)
  torch      torch eager on a tensor with requires_grad=True (forward, recording)
  overhead   recorded - numpy: the target is <= 3 us (issue 12)
and the forward + backward of a chain of such ops, per op, for cnnnative and torch.

    PYTHONPATH=python python benchmarks/bench_autograd_overhead.py [--shape 4 4] [--rounds 15]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnnative as cn
from cnnnative import ops

try:
    import torch
except ImportError:  # the torch column is left out
    torch = None


def per_call_us(f, calls: int) -> float:
    """CPU time of this thread per call: on a shared machine, wall time also counts the
    time other processes held the core."""
    start = time.thread_time()
    for _ in range(calls):
        f()
    return (time.thread_time() - start) / calls * 1e6


def median_rounds(candidates: dict, calls: int, rounds: int) -> dict:
    """{name: median us per call}, the candidates run in turn in every round."""
    times = {k: [] for k in candidates}
    for f in candidates.values():
        per_call_us(f, calls // 10)  # warm up
    for _ in range(rounds):
        for k, f in candidates.items():
            times[k].append(per_call_us(f, calls))
    return {k: statistics.median(v) for k, v in times.items()}


def forward_candidates(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = x + 1
    tx, ty = cn.Tensor(x, requires_grad=True), cn.Tensor(y, requires_grad=True)
    flat = (x.size,)
    table = {
        "add": {"numpy": lambda: np.add(x, y), "ops": lambda: ops.add(x, y), "recorded": lambda: tx + ty},
        "mul": {"numpy": lambda: np.multiply(x, y), "ops": lambda: ops.mul(x, y), "recorded": lambda: tx * ty},
        "relu": {"numpy": lambda: np.maximum(x, 0), "ops": lambda: ops.relu(x), "recorded": lambda: ops.relu(tx)},
        "reshape": {"numpy": lambda: x.reshape(flat), "ops": lambda: ops.reshape(x, flat),
                    "recorded": lambda: tx.reshape(flat)},
    }
    if torch is not None:
        px, py = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        table["add"]["torch"] = lambda: px + py
        table["mul"]["torch"] = lambda: px * py
        table["relu"]["torch"] = lambda: torch.relu(px)
        table["reshape"]["torch"] = lambda: px.reshape(flat)
    return table


def breakdown(shape, calls, rounds):
    """Where the recorded `tx * ty` spends its time: each layer timed with and without the
    next one down (the Tensor operator, the dispatcher, the op's rule, record itself)."""
    from cnnnative import autograd
    from cnnnative.ops import _registry
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    y = x + 1
    tx, ty = cn.Tensor(x, requires_grad=True), cn.Tensor(y, requires_grad=True)
    rule = _registry.RULES["mul"]
    backward = lambda g: (g, g)  # noqa: E731
    t = median_rounds({"operator": lambda: tx * ty, "dispatch": lambda: ops.mul(tx, ty),
                       "rule": lambda: rule(tx, ty), "record": lambda: autograd.record(x, (tx, ty), backward),
                       "numpy": lambda: np.multiply(x, y)}, calls, rounds)
    parts = [("Tensor.__mul__ -> cnnnative.ops.mul", t["operator"] - t["dispatch"]),
             ("dispatcher (ops/__init__.py)", t["dispatch"] - t["rule"]),
             ("rule: operand checks, closure (ops/elementwise.py)", t["rule"] - t["record"] - t["numpy"]),
             ("autograd.record (Node + output Tensor)", t["record"]),
             ("np.multiply itself", t["numpy"])]
    print(f"\nwhere a recorded `tx * ty` ({t['operator']:.2f} µs) goes:\n")
    print("| layer | µs |\n| --- | --- |")
    for name, us in parts:
        print(f"| {name} | {us:.2f} |")


def chain_candidates(shape, length):
    """Forward + backward of `length` ops (add, mul, relu, reshape, reshape in turn)."""
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    flat, back = (x.size,), shape

    def cn_chain():
        t = cn.Tensor(x, requires_grad=True)
        v = t
        for _ in range(length // 5):
            v = ops.relu((v + t) * t).reshape(flat).reshape(back)
        v.sum().backward()

    out = {"cnnnative": cn_chain}
    if torch is not None:
        def torch_chain():
            t = torch.tensor(x, requires_grad=True)
            v = t
            for _ in range(length // 5):
                v = torch.relu((v + t) * t).reshape(flat).reshape(back)
            v.sum().backward()
        out["torch"] = torch_chain
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs="+", default=[4, 4])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--chain", type=int, default=64, help="ops in the forward+backward chain")
    args = ap.parse_args()
    shape = tuple(args.shape)
    if torch is not None:
        torch.set_num_threads(1)
    print(f"cnnnative {cn.info()['version']} numpy {np.__version__}"
          f"{' torch ' + torch.__version__ if torch is not None else ''}; shape {shape}; "
          f"thread CPU time, medians of {args.rounds} interleaved rounds of {args.calls} calls\n")
    print("| op | numpy µs | ops on arrays µs | recorded µs | torch eager µs | overhead (recorded − numpy) µs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, candidates in forward_candidates(shape).items():
        t = median_rounds(candidates, args.calls, args.rounds)
        torch_t = f"{t['torch']:.2f}" if "torch" in t else "-"
        print(f"| {name} | {t['numpy']:.2f} | {t['ops']:.2f} | {t['recorded']:.2f} | {torch_t} | "
              f"{t['recorded'] - t['numpy']:.2f} |")
    n = args.chain // 5 * 5 + 1  # the chain's ops, plus the final sum
    t = median_rounds(chain_candidates(shape, args.chain), max(args.calls // args.chain, 20), args.rounds)
    print(f"\nforward + backward of a chain of {n} recorded ops, per op: "
          + ", ".join(f"{k} {v / n:.2f} µs" for k, v in t.items()))
    breakdown(shape, args.calls, args.rounds)


if __name__ == "__main__":
    main()
