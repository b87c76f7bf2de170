"""Adversarial training, as `Trainer(model, opt, adversarial=dict(eps=0.1, steps=7))` runs it.

Each batch is attacked with the current weights (PGD from a random start, Madry et al.
2018), and the model is trained on the adversarial batch; with mix > 0 on a weighted sum
of the clean and adversarial losses, mix * L(x) + (1 - mix) * L(x_adv) (Goodfellow et
al. 2015 used mix = 0.5 with FGSM).

Mode while crafting: eval. BatchNorm then normalises with its running statistics and the
crafting passes do not update them (nor draw Dropout masks); the update itself runs in
train mode on the adversarial batch. This is what MadryLab's robustness library
(the reference PyTorch implementation of Madry et al.) does; the paper's TensorFlow code
crafted with batch statistics, which also lets the attack's forward passes shift the
running statistics. The model in the tests here has no BatchNorm, so both agree there.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .attacks import _number, clip_arg, norm_arg, pgd

__all__ = ["AdversarialTraining"]


class AdversarialTraining:
    """The `adversarial=` settings of Trainer (a dict of these arguments, or this object).

    eps: radius of the attack in the model's input units. steps: PGD steps per batch (1
    with random_start and alpha = 1.25 * eps is the "fast" FGSM training of Wong et al.
    2020). alpha: step size, default 2.5 * eps / steps. norm: "inf" or 2. mix: weight of
    the clean loss in [0, 1] (0: adversarial examples only). random_start: PGD starts at a
    random point of the eps ball. clip: (min, max) valid input range, None for none. With
    mix > 0 the clean and adversarial batches go through the model separately (BatchNorm
    normalises each by its own statistics). The random starts are drawn from (Trainer
    seed, epoch, batch), so a run is repeatable. The history's loss is the trained (mixed)
    loss; its accuracy that on the adversarial batch, i.e. the robust training accuracy."""

    def __init__(self, eps, steps: int = 7, alpha=None, norm="inf", mix: float = 0.0, random_start: bool = True,
                 clip=(0.0, 1.0)):
        where = "Trainer adversarial"
        self.eps = _number(eps, "eps", where, positive=True)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"{where}: steps must be a positive int, got {steps!r}")
        self.steps = int(steps)
        self.alpha = None if alpha is None else _number(alpha, "alpha", where, positive=True)
        self.norm = norm_arg(norm, where)
        self.mix = _number(mix, "mix", where)
        if self.mix > 1:
            raise ValueError(f"{where}: mix (the clean loss's weight) must be in [0, 1], got {mix!r}")
        self.random_start = bool(random_start)
        self.clip = clip_arg(clip, where)
        self._epoch, self._batch = None, 0

    @classmethod
    def of(cls, spec):
        """None, an AdversarialTraining, or a dict of its arguments."""
        if spec is None or isinstance(spec, cls):
            return spec
        if isinstance(spec, dict):
            try:
                return cls(**spec)
            except TypeError as e:
                raise TypeError(f"Trainer adversarial: {e}") from None
        raise TypeError(f"Trainer adversarial must be a dict such as dict(eps=0.1, steps=7), got "
                        f"{type(spec).__name__}")

    def __repr__(self):
        return (f"AdversarialTraining(eps={self.eps:g}, steps={self.steps}, alpha={self.alpha}, norm={self.norm!r}, "
                f"mix={self.mix:g}, random_start={self.random_start}, clip={self.clip})")

    def craft(self, model, x, y, loss=None, seed=None) -> np.ndarray:
        """Adversarial versions of the batch x (host, model units) for labels y."""
        return pgd(model, x, y, self.eps, alpha=self.alpha, steps=self.steps, norm=self.norm,
                   random_start=self.random_start, clip=self.clip, loss=loss, seed=seed)

    def _seed(self, trainer):
        if self._epoch != trainer.epoch:
            self._epoch, self._batch = trainer.epoch, 0
        self._batch += 1
        return np.random.SeedSequence([int(trainer.seed) & 0xFFFFFFFF, trainer.epoch, self._batch, 0xAD7])

    def forward_backward(self, trainer, x, y):
        """Trainer._forward_backward for one batch: craft, forward, (mixed) loss, backward.
        Returns (loss, host output on the adversarial batch)."""
        model = trainer.model
        if type(y).__module__ == "cnnnative._cuda" or type(x).__module__ == "cnnnative._cuda":
            raise TypeError("Trainer adversarial: pass host batches (the trainer uploads them)")
        x = np.ascontiguousarray(x, np.float32)
        rng = np.random.default_rng(self._seed(trainer))
        x_adv = self.craft(model, x, y, loss=trainer._loss_of, seed=rng)  # eval mode, see the docstring
        model.train()
        xa, yd = trainer._to_model_device(x_adv, y)
        out = model(xa)
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise ValueError(f"Trainer adversarial: the output of {type(model).__name__} records no gradient "
                             "(every parameter frozen, or a model with a hand-written backward)")
        loss = trainer._loss_of(out, yd)
        if self.mix > 0:
            xc, _ = trainer._to_model_device(x)
            loss = self.mix * trainer._loss_of(model(xc), yd) + (1.0 - self.mix) * loss
        trainer.optimizer.zero_grad()
        loss.backward()
        return float(loss), trainer._host(out)
