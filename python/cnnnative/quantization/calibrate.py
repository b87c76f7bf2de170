"""Calibration: the range of every value of a traced (fused) graph over calibration data.

The fp32 graph runs node by node (``cnnnative.ir.execute.run_node``, the eager ops) on each
calibration batch; an observer per value records what int8 needs:

- ``minmax``: the smallest and largest value seen.
- ``percentile``: the range that keeps ``percentile`` % of the values (99.99 by default) on
  each side that has negatives (the low end of a nonnegative value stays 0), read from a
  2048-bin histogram over the min-max range (a second pass over the data).
- ``entropy``: the clipping threshold T that minimises the KL divergence between the
  distribution of |x| (2048-bin histogram) and its quantised version, the method NVIDIA
  described for TensorRT (8-bit Inference with TensorRT, GTC 2017): for each candidate
  T = i bins, the reference P is the first i bins with the clipped tail added to the last,
  Q merges those i bins into `levels` groups (256 for a nonnegative value, 128 for a
  signed one) and spreads each group's mass evenly over its nonzero bins; the range is then
  [max(min, -T), min(max, T)]. Exact zeros are left out of the |x| histogram (0 is exact
  in uint8 whatever the scale; the spike of a ReLU output would otherwise dominate P).

Ranges always include 0 (so 0 is exact in uint8: ReLU outputs and zero padding).
"""
from __future__ import annotations

import numpy as np

__all__ = ["calibrate", "qparams", "kl_threshold"]

_BINS = 2048


class _Observer:
    __slots__ = ("lo", "hi", "hist", "abs_hist", "count")

    def __init__(self):
        self.lo, self.hi = np.inf, -np.inf
        self.hist = self.abs_hist = None
        self.count = 0

    def minmax(self, x):
        if x.size:
            self.lo = min(self.lo, float(x.min()))
            self.hi = max(self.hi, float(x.max()))

    def histogram(self, x):
        x = x.ravel()
        if self.hist is None:
            self.hist = np.zeros(_BINS, np.int64)
            self.abs_hist = np.zeros(_BINS, np.int64)
        self.count += x.size
        span = max(self.hi - self.lo, 1e-30)
        idx = np.clip(((x - self.lo) * (_BINS / span)).astype(np.int64), 0, _BINS - 1)
        self.hist += np.bincount(idx, minlength=_BINS)
        amax = max(abs(self.lo), abs(self.hi), 1e-30)
        idx = np.clip((np.abs(x) * (_BINS / amax)).astype(np.int64), 0, _BINS - 1)
        self.abs_hist += np.bincount(idx, minlength=_BINS)
        # Exact zeros (most of a ReLU output) are exact in uint8 at any scale; left in bin 0
        # they would make every wide first group of Q look bad and pull T down.
        self.abs_hist[0] -= int(np.count_nonzero(x == 0))


def kl_threshold(hist, levels, step=1):
    """Index i (bins kept, levels <= i <= len(hist)) minimising KL(P || Q) as described in
    the module docstring; hist: counts of |x| in equal bins starting at 0."""
    hist = np.asarray(hist, np.float64)
    nbins = len(hist)
    if hist.sum() == 0 or nbins <= levels:
        return nbins
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])  # tail[i] = sum(hist[i:])
    best_i, best_kl = nbins, np.inf
    for i in range(levels, nbins + 1, step):
        p = hist[:i].copy()
        p[i - 1] += tail[i]
        nz = hist[:i] > 0
        edges = (np.arange(levels + 1) * i) // levels
        group = np.repeat(np.arange(levels), np.diff(edges))
        mass = np.add.reduceat(hist[:i], edges[:-1])
        nonzero = np.add.reduceat(nz.astype(np.float64), edges[:-1])
        q = np.where(nz, (mass / np.maximum(nonzero, 1))[group], 0.0)
        ps, qs = p.sum(), q.sum()
        if ps == 0 or qs == 0:
            continue
        p, q = p / ps, q / qs
        m = p > 0
        with np.errstate(divide="ignore"):
            kl = float(np.sum(p[m] * np.log(p[m] / np.where(q[m] > 0, q[m], 1e-12))))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return best_i


def _range(obs, method, percentile):
    lo, hi = obs.lo, obs.hi
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 0.0
    if method == "percentile" and obs.hist is not None and obs.count:
        cdf = np.cumsum(obs.hist) / obs.count
        width = (hi - lo) / _BINS
        q = 1.0 - percentile / 100.0
        new_hi = lo + width * (np.searchsorted(cdf, 1.0 - q) + 1)
        new_lo = lo + width * np.searchsorted(cdf, q) if lo < 0 else lo
        return float(max(lo, new_lo)), float(min(hi, new_hi))
    if method == "entropy" and obs.abs_hist is not None:
        amax = max(abs(lo), abs(hi))
        levels = 256 if lo >= 0 else 128
        t = kl_threshold(obs.abs_hist, levels, step=4) * amax / _BINS
        return float(max(lo, -t)), float(min(hi, t))
    return lo, hi


def qparams(lo, hi):
    """(scale, zero_point) of uint8 for the range [lo, hi] widened to hold 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1e-12 if hi == lo else hi
        hi = max(hi, 1e-6)
    scale = np.float32((hi - lo) / 255.0)
    zero = int(np.clip(np.rint(-lo / float(scale)), 0, 255))
    return float(scale), zero


def _run(graph, batches, visit):
    """Run graph on each batch, calling visit(value, array) for the input and every output."""
    from ..ir.execute import run_node
    last = graph.last_uses()
    keep = {id(v) for v in graph.outputs}
    for x in batches:
        env = {id(graph.inputs[0]): x}
        visit(graph.inputs[0], x)
        for i, node in enumerate(graph.nodes):
            y = run_node(node, env)
            outs = node.outputs
            for v, part in zip(outs, y if len(outs) > 1 else (y,)):
                part = np.asarray(part, np.float32)
                env[id(v)] = part
                visit(v, part)
            for v in node.inputs:
                if last.get(id(v)) == i and id(v) not in keep:
                    env.pop(id(v), None)


def calibrate(graph, batches, method="minmax", percentile=99.99):
    """{id(value): (lo, hi)} for the graph input and every node output, over `batches`
    (a list of float32 arrays). See the module docstring for the methods."""
    obs = {}

    def observe_minmax(v, a):
        obs.setdefault(id(v), _Observer()).minmax(a)

    _run(graph, batches, observe_minmax)
    if method in ("percentile", "entropy"):
        _run(graph, batches, lambda v, a: obs[id(v)].histogram(a))
    return {k: _range(o, method, percentile) for k, o in obs.items()}
