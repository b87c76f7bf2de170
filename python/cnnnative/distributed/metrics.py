"""Evaluation metrics over all ranks, exactly: the sums are reduced, never the averages.

Each rank evaluates its shard and keeps sums (loss summed over samples, correct
predictions, counts); one all-reduce of those sums (float64, in one buffer) gives every
rank the totals, and the means are taken after: mean of the union, not a mean of means
(which is wrong as soon as shards differ in size). Counts are exact in float64 up to 2**53.
"""
from __future__ import annotations

import numpy as np

__all__ = ["all_reduce_sums", "reduce_metric_sums", "reduce_tally"]


def _comm(communicator):
    if communicator is not None:
        return communicator
    from . import get_communicator
    return get_communicator()


def all_reduce_sums(values: dict, communicator=None) -> dict:
    """{name: number} summed over the ranks (every rank must pass the same names).
    Returns a new dict of floats (float64 arithmetic)."""
    comm = _comm(communicator)
    names = sorted(values)
    buf = np.array([float(values[k]) for k in names], np.float64)
    if comm.size > 1:
        check = comm.all_gather_object(names)  # a mismatch would add unrelated numbers silently
        if any(c != names for c in check):
            raise ValueError(f"all_reduce_sums: ranks reduce different names: {check}")
        comm.all_reduce_(buf, "sum")
    return dict(zip(names, buf.tolist()))


def reduce_metric_sums(loss_sum: float, count: int, sums: dict | None = None, communicator=None):
    """The totals over all ranks of one evaluation: loss_sum (the loss summed over this
    rank's samples), count (its number of samples) and sums {metric: (sum, count)} (e.g.
    {"accuracy": (correct, seen)}). Returns (mean loss, total count, {metric: sum / count})
    computed from the global sums."""
    sums = {} if sums is None else sums
    flat = {"__loss": loss_sum, "__n": count}
    for name, (s, c) in sums.items():
        flat[f"{name}.s"], flat[f"{name}.c"] = s, c
    total = all_reduce_sums(flat, communicator)
    n = total["__n"]
    means = {name: (total[f"{name}.s"] / total[f"{name}.c"] if total[f"{name}.c"] else float("nan"))
             for name in sums}
    return (total["__loss"] / n if n else float("nan")), int(round(n)), means


def reduce_tally(tally, communicator=None):
    """A Trainer tally (train.py's _Tally: `total` loss sum, `n` samples, `sums` {metric:
    [sum, count]}) replaced, in place, by its totals over all ranks; returns it. Its
    `loss` and `values()` are then the global per-sample means."""
    flat = {"__loss": tally.total, "__n": tally.n}
    for name, (s, c) in tally.sums.items():
        flat[f"{name}.s"], flat[f"{name}.c"] = s, c
    total = all_reduce_sums(flat, communicator)
    tally.total, tally.n = total["__loss"], int(round(total["__n"]))
    for name in tally.sums:
        tally.sums[name] = [total[f"{name}.s"], total[f"{name}.c"]]
    return tally
