"""robust_accuracy: the accuracy a classifier keeps when every test input is attacked."""
from __future__ import annotations

import numpy as np

from .attacks import fgsm, iterative_fgsm, pgd, predict_logits

__all__ = ["robust_accuracy"]

_BY_NAME = {"fgsm": fgsm, "iterative_fgsm": iterative_fgsm, "pgd": pgd}


def robust_accuracy(model, data, attack="fgsm", batch_size: int = 256, **attack_kwargs) -> float:
    """Fraction of `data` the model classifies correctly after each input is replaced by
    attack(model, x, y, **attack_kwargs), in eval mode (untargeted, against the true
    labels).

    data: a cnnnative.data.Dataset or an (inputs (N, C, H, W), labels (N,)) pair, inputs in
    the model's units. attack: "fgsm", "iterative_fgsm", "pgd", any callable(model, x, y,
    **kwargs) -> x_adv, or None for the clean accuracy. batch_size: images attacked at
    once. E.g. robust_accuracy(model, test_set, "pgd", eps=0.1, steps=10, seed=0).
    """
    from ..train import _as_dataset, _check_batch_size

    _check_batch_size(batch_size, "robust_accuracy")
    if isinstance(attack, str):
        if attack not in _BY_NAME:
            raise ValueError(f"robust_accuracy: unknown attack {attack!r}; choose one of {sorted(_BY_NAME)} "
                             "or pass a callable(model, x, y, **kwargs)")
        attack = _BY_NAME[attack]
    elif attack is not None and not callable(attack):
        raise TypeError(f"robust_accuracy: attack must be a name, a callable or None, got {type(attack).__name__}")
    if attack is None and attack_kwargs:
        raise ValueError(f"robust_accuracy: {sorted(attack_kwargs)} given without an attack")
    data = _as_dataset(data, "robust_accuracy: data")
    if len(data) == 0:
        raise ValueError("robust_accuracy: data is empty")
    correct = total = 0
    for x, y in data.batches(batch_size):
        y = np.asarray(y, np.int64)
        x_adv = x if attack is None else attack(model, x, y, **attack_kwargs)
        correct += int((predict_logits(model, x_adv, batch_size).argmax(axis=1) == y).sum())
        total += len(y)
    return correct / total
