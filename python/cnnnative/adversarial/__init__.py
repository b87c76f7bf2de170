"""Adversarial examples: attacks (FGSM, iterative FGSM, PGD in the L-inf and L2 norms,
untargeted or targeted), robust accuracy, and the adversarial training that
`Trainer(..., adversarial=dict(eps=...))` runs. Inputs and outputs are numpy arrays;
input gradients come from the library's autograd.

    from cnnnative import adversarial
    x_adv = adversarial.fgsm(model, x, y, eps=0.1)            # x in [0, 1]
    acc = adversarial.robust_accuracy(model, test_set, adversarial.pgd, eps=0.1, steps=10)
"""
from .attacks import fgsm, iterative_fgsm, pgd, input_gradient, project, predict_logits
from .evaluate import robust_accuracy
from .training import AdversarialTraining

__all__ = ["fgsm", "iterative_fgsm", "pgd", "input_gradient", "project", "predict_logits", "robust_accuracy",
           "AdversarialTraining", "ATTACKS"]

ATTACKS = {"fgsm": fgsm, "iterative_fgsm": iterative_fgsm, "pgd": pgd}
