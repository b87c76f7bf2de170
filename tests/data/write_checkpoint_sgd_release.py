"""Writes tests/data/checkpoint_sgd_release.npz and checkpoint_sgd_release_continued.npz.

Run once with the release before the optimizer rework (main at 9339536, cnnnative 0.1.0,
checkpoint format version 1) from the repository root:
    PYTHONPATH=python python tests/data/write_checkpoint_sgd_release.py
It trains a tiny net 2 epochs with SGD momentum + StepLR, saves the checkpoint, then trains
2 more epochs and records the parameters and losses the old code reached: the test
(tests/test_optim_checkpoint.py) loads the checkpoint with today's code, trains the same 2
epochs and must reach them.
"""
import os

import numpy as np

import cnnnative
from cnnnative import nn, optim

HERE = os.path.dirname(os.path.abspath(__file__))


def data():
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 32).astype(np.int64)
    return x, y


def build():
    nn.init.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 10))
    opt = optim.SGD(model, lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    return model, opt, sched, cnnnative.Trainer(model, opt, scheduler=sched, seed=5, quiet=True)


if __name__ == "__main__":
    x, y = data()
    model, opt, sched, trainer = build()
    trainer.fit((x, y), epochs=2, batch_size=8)
    trainer.save(os.path.join(HERE, "checkpoint_sgd_release.npz"))
    history = trainer.fit((x, y), epochs=2, batch_size=8)
    np.savez(os.path.join(HERE, "checkpoint_sgd_release_continued.npz"),
             losses=np.array([h["loss"] for h in history[2:]]),
             **{"model/" + k: v for k, v in model.state_dict().items()})
    print(cnnnative.__version__, [h["loss"] for h in history])
