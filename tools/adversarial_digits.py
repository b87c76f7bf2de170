"""Opt-in measurement behind tests/test_adversarial_training.py (too slow for a test):
clean and attacked test accuracy of digits_net trained plainly and adversarially, over
seeds. Accuracies on the 364 test digits, inputs in [0, 1]; the attacks are untargeted
L-inf against the true labels.

  PYTHONPATH=python python tools/adversarial_digits.py --seeds 0 1 2 3 4 [--threads 1] [--markdown]

Measured (seeds 0-2, 1 thread, busy 2-core machine; train s is wall time):
  training                     epochs  train s  clean        FGSM 0.1     FGSM 0.15    PGD-10 0.1   PGD-40 0.1
  plain                        3       1.6-3.3  0.967-0.975  0.604-0.690  0.264-0.387  0.505-0.629  0.497-0.610
  FGSM-RS (1 step, alpha .125) 5       5.6-9.8  0.981-0.986  0.871-0.893  0.736-0.753  0.846-0.865  0.841-0.863
  PGD-7                        10      52-54    0.986-0.992  0.920-0.937  0.791-0.824  0.909-0.920  0.904-0.918
"""
from __future__ import annotations

import argparse
import time

import cnnnative
from cnnnative import adversarial as adv
from cnnnative import data, models, nn, optim

# (name, Trainer adversarial= settings, epochs)
SETUPS = [("plain", None, 3),
          ("FGSM-RS eps 0.1 (PGD 1 step, alpha 0.125)", dict(eps=0.1, steps=1, alpha=0.125), 5),
          ("PGD-7 eps 0.1", dict(eps=0.1, steps=7), 10)]


def train(seed, adversarial, epochs):
    nn.init.manual_seed(seed)
    model = models.digits_net()
    opt = optim.SGD(model, lr=0.1, momentum=0.9, weight_decay=5e-4)
    trainer = cnnnative.Trainer(model, opt, scheduler=optim.CosineAnnealingLR(opt, T_max=epochs), seed=seed,
                                quiet=True, log=None, adversarial=adversarial)
    t0 = time.perf_counter()
    trainer.fit(data.load_digits("train"), epochs=epochs, batch_size=32)
    return model, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    if args.threads:
        cnnnative.set_num_threads(args.threads)
    test = data.load_digits("test")
    head = ["training", "seed", "epochs", "train s", "clean", "FGSM 0.1", "FGSM 0.15", "PGD-10 0.1", "PGD-40 0.1"]
    print(("| " + " | ".join(head) + " |\n|" + " --- |" * len(head)) if args.markdown else "  ".join(head))
    for name, setting, epochs in SETUPS:
        for seed in args.seeds:
            model, seconds = train(seed, setting, epochs)
            row = [adv.robust_accuracy(model, test, None),
                   adv.robust_accuracy(model, test, "fgsm", eps=0.1),
                   adv.robust_accuracy(model, test, "fgsm", eps=0.15),
                   adv.robust_accuracy(model, test, "pgd", eps=0.1, steps=10, seed=0),
                   adv.robust_accuracy(model, test, "pgd", eps=0.1, steps=40, alpha=0.01, seed=0)]
            cells = [name, str(seed), str(epochs), f"{seconds:.1f}"] + [f"{v:.3f}" for v in row]
            print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
