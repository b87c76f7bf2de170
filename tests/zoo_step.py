"""One SGD step of a zoo model, the same on both sides: cnnnative here, torchvision in
tools/zoo_step_reference.py (which writes tests/data/zoo_step_reference.json). The weights
are tests/zoo_mobile_common.seeded_state (numpy only), the batch seeded_input with labels
0, 1, 2, ...; train mode with Dropout and StochasticDepth off; cross-entropy on the main
logits; plain SGD at lr 0.1. What is compared, compactly enough to commit: the loss, and per
parameter tensor the size of its update |dw| and its projection <dw, r> on a fixed random
probe r (seeded by the key's CRC-32), so a wrong gradient anywhere shows in its tensor."""
from __future__ import annotations

import zlib

import numpy as np

LR = 0.1


def probe(key: str, shape) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(key.encode())).standard_normal(shape)


def update_summary(before: dict, after: dict, keys) -> dict:
    """{key: [|dw|, <dw, probe>]} for the parameter keys, in float64."""
    out = {}
    for k in keys:
        dw = np.asarray(after[k], np.float64) - np.asarray(before[k], np.float64)
        out[k] = [float(np.sqrt(np.sum(dw * dw))), float(np.sum(dw * probe(k, dw.shape)))]
    return out


def labels(batch: int, num_classes: int) -> np.ndarray:
    return np.arange(batch) % num_classes


def update_errors(ours: dict, ref: dict) -> np.ndarray:
    """Per parameter tensor: max(| |dw| - |dw_ref| |, |<dw, r> - <dw_ref, r>|) / |dw_ref|,
    leaving out tensors whose reference update is below 1e-6 of the largest (rounding noise:
    e.g. a BN shift right before another BN, whose true gradient is zero)."""
    largest = max(size for size, _ in ref.values())
    return np.array([max(abs(ours[k][0] - size), abs(ours[k][1] - proj)) / size
                     for k, (size, proj) in ref.items() if size >= 1e-6 * largest])


def step_errors(loss: float, ours: dict, ref_loss: float, ref: dict) -> dict:
    """The loss's relative error and the update errors' median and 90th percentile."""
    e = update_errors(ours, ref)
    return {"loss": abs(loss - ref_loss) / abs(ref_loss), "median": float(np.median(e)),
            "q90": float(np.quantile(e, 0.9))}
