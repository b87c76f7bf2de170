"""Adversarial examples on the default digits model, and adversarial training in Trainer.

Measured with this setup (digits_net, SGD lr 0.1 momentum 0.9 weight decay 5e-4, cosine,
batch 32; 364 test images, inputs in [0, 1]), seeds 0-4:
  plain, 3 epochs:  clean 96.7-98.4%, FGSM eps 0.1 60-69%, eps 0.15 26-39%, PGD-10 eps 0.1 50-63%
  adversarial (PGD 1 step from a random start, alpha 1.25 eps = FGSM-RS, eps 0.1), 5 epochs:
                    clean 98.1-98.6%, FGSM eps 0.1 87-89%, PGD-10 eps 0.1 85-87%
The thresholds below leave room for instruction sets and thread counts."""
import numpy as np
import pytest

import cnnnative
from cnnnative import adversarial as adv
from cnnnative import data, models, nn, optim


def trainer(epochs, seed=0, **kw):
    nn.init.manual_seed(seed)
    model = models.digits_net()
    opt = optim.SGD(model, lr=0.1, momentum=0.9, weight_decay=5e-4)
    return cnnnative.Trainer(model, opt, scheduler=optim.CosineAnnealingLR(opt, T_max=epochs), seed=seed,
                             quiet=True, log=None, **kw)


@pytest.fixture(scope="module")
def digits():
    return data.load_digits("train"), data.load_digits("test")


def test_fgsm_breaks_a_plain_model_and_adversarial_training_resists(digits):
    train, test = digits
    plain = trainer(3)
    plain.fit(train, epochs=3)
    clean = adv.robust_accuracy(plain.model, test, None)
    fgsm = adv.robust_accuracy(plain.model, test, "fgsm", eps=0.1)
    pgd = adv.robust_accuracy(plain.model, test, "pgd", eps=0.1, steps=10, seed=0)
    assert clean >= 0.95
    assert fgsm <= 0.8 and adv.robust_accuracy(plain.model, test, "fgsm", eps=0.15) < 0.5
    assert pgd <= fgsm + 0.01  # the iterative attack is at least as strong

    robust = trainer(5, adversarial=dict(eps=0.1, steps=1, alpha=0.125))
    hist = robust.fit(train, epochs=5)
    assert hist[-1]["accuracy"] > 0.8  # the history's accuracy is on the adversarial batches
    r_clean = adv.robust_accuracy(robust.model, test, None)
    r_fgsm = adv.robust_accuracy(robust.model, test, "fgsm", eps=0.1)
    r_pgd = adv.robust_accuracy(robust.model, test, "pgd", eps=0.1, steps=10, seed=0)
    assert r_clean >= 0.95 and r_fgsm > 0.8 and r_pgd > 0.75, (r_clean, r_fgsm, r_pgd)
    assert r_fgsm > fgsm + 0.1 and r_pgd > pgd + 0.1


def test_adversarial_training_repeats_mixes_and_leaves_evaluation_clean(digits):
    small = digits[0].subset(np.arange(96))
    runs = []
    for _ in range(2):
        tr = trainer(1, adversarial=dict(eps=0.1, steps=2, mix=0.5))
        runs.append(tr.fit(small, epochs=1, batch_size=32)[-1]["loss"])
    assert runs[0] == runs[1]
    assert tr.adversarial.mix == 0.5 and tr.adversarial.steps == 2
    # evaluate() and predict() stay clean (no attack).
    plain = cnnnative.Trainer(tr.model, tr.optimizer, quiet=True)
    assert tr.evaluate(small) == plain.evaluate(small)
    # step() trains on the adversarial batch too, and leaves the model in train mode.
    x, y = next(small.batches(16))
    assert np.isfinite(tr.step(x, y)) and tr.model.training


def test_adversarial_settings_are_checked():
    model = models.digits_net()
    opt = optim.SGD(model, lr=0.1)
    for bad, err in [(dict(eps=0.1, stepz=3), TypeError), (dict(eps=0.0), ValueError),
                     (dict(eps=0.1, mix=1.5), ValueError), (dict(eps=0.1, norm="l1"), ValueError),
                     (dict(eps=0.1, steps=0), ValueError), (0.1, TypeError)]:
        with pytest.raises(err, match="adversarial"):
            cnnnative.Trainer(model, opt, adversarial=bad)
    tr = cnnnative.Trainer(model, opt, adversarial=adv.AdversarialTraining(eps=0.2, norm=2))
    assert tr.adversarial.norm == 2 and tr.adversarial.eps == 0.2
