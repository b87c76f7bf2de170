"""Optimizer state in checkpoints. tests/data/checkpoint_sgd_release.npz was written by the
release before the optimizer rework (format version 1, SGD momentum + StepLR; see
tests/data/write_checkpoint_sgd_release.py): it must still load and continue training to the
parameters and losses that release reached."""
import os
import sys

import numpy as np
import pytest

from cnnnative import optim

DATA = os.path.join(os.path.dirname(__file__), "data")
sys.path.insert(0, DATA)
import write_checkpoint_sgd_release as release  # noqa: E402

sys.path.remove(DATA)


def test_checkpoint_of_the_sgd_release_loads_and_continues_identically():
    x, y = release.data()
    model, opt, sched, trainer = release.build()
    trainer.load(os.path.join(DATA, "checkpoint_sgd_release.npz"))
    assert (trainer.epoch, opt.step_count, sched.last_epoch) == (2, 8, 2)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)
    history = trainer.fit((x, y), epochs=2, batch_size=8)
    with np.load(os.path.join(DATA, "checkpoint_sgd_release_continued.npz")) as want:
        # Same arithmetic as the release; only the summation order of an ISA path may differ.
        np.testing.assert_allclose([h["loss"] for h in history[2:]], want["losses"], rtol=1e-5)
        for k, v in model.state_dict().items():
            np.testing.assert_allclose(v, want["model/" + k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_the_continuation_depends_on_the_restored_momentum():
    """The comparison above can tell: without the momentum buffers the run ends elsewhere."""
    x, y = release.data()
    model, opt, sched, trainer = release.build()
    trainer.load(os.path.join(DATA, "checkpoint_sgd_release.npz"))
    opt.momentum_buffers.clear()
    trainer.fit((x, y), epochs=2, batch_size=8)
    with np.load(os.path.join(DATA, "checkpoint_sgd_release_continued.npz")) as want:
        assert max(float(np.max(np.abs(v - want["model/" + k]))) for k, v in model.state_dict().items()) > 1e-3
