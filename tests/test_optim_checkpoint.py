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


OPTIMIZERS = {
    "SGD": lambda m: optim.SGD(m, lr=0.05, momentum=0.9, nesterov=True),
    "Adam": lambda m: optim.Adam(m, lr=0.01, amsgrad=True, weight_decay=1e-3),
    "AdamW": lambda m: optim.AdamW(m, lr=0.01),
    "RMSprop": lambda m: optim.RMSprop(m, lr=0.005, centered=True, momentum=0.9),
    "Adagrad": lambda m: optim.Adagrad(m, lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1),
}


def _trainer(make_opt):
    import cnnnative
    from cnnnative import nn
    nn.init.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 10))
    opt = make_opt(model)
    sched = optim.CosineAnnealingLR(opt, T_max=4)
    return model, opt, cnnnative.Trainer(model, opt, scheduler=sched, seed=2, quiet=True)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_trainer_checkpoint_round_trip_continues_identically(tmp_path, name):
    x, y = release.data()
    model, opt, trainer = _trainer(OPTIMIZERS[name])
    trainer.fit((x, y), epochs=1, batch_size=8)
    trainer.save(tmp_path / "ck.npz")
    trainer.fit((x, y), epochs=2, batch_size=8)
    want = {k: v.copy() for k, v in model.state_dict().items()}

    model2, opt2, trainer2 = _trainer(OPTIMIZERS[name])
    trainer2.load(tmp_path / "ck.npz")
    assert opt2.step_count == 4 and opt2.param_groups[0]["lr"] == opt.param_groups[0]["initial_lr"] * (
        1 + np.cos(np.pi / 4)) / 2
    trainer2.fit((x, y), epochs=2, batch_size=8)
    for k, v in model2.state_dict().items():
        np.testing.assert_array_equal(v, want[k], err_msg=k)
    assert [h["loss"] for h in trainer2.history] == [h["loss"] for h in trainer.history]


def test_checkpoint_of_one_optimizer_is_refused_by_another_and_nothing_changes(tmp_path):
    x, y = release.data()
    _, _, trainer = _trainer(OPTIMIZERS["Adam"])
    trainer.fit((x, y), epochs=1, batch_size=8)
    trainer.save(tmp_path / "adam.npz")
    model, opt, other = _trainer(OPTIMIZERS["AdamW"])
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"adam.npz: meta.optimizer: optimizer state is Adam's, this optimizer is AdamW"):
        other.load(tmp_path / "adam.npz")
    assert opt.state == {} and other.epoch == 0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    model, sgd, sgd_trainer = _trainer(OPTIMIZERS["SGD"])
    with pytest.raises(ValueError, match="optimizer state is Adam's, this optimizer is SGD"):
        sgd_trainer.load(tmp_path / "adam.npz")
    assert sgd.momentum_buffers == {}


def test_damaged_optimizer_state_in_a_checkpoint_is_refused(tmp_path):
    import json
    import zipfile
    x, y = release.data()
    _, _, trainer = _trainer(OPTIMIZERS["RMSprop"])
    trainer.fit((x, y), epochs=1, batch_size=8)
    path = tmp_path / "ck.npz"
    trainer.save(path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert "optim/square_avg/0.npy" in names and "optim/grad_avg/3.npy" in names
    assert "optim/momentum_buffer/1.npy" in names

    def rewrite(edit):
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        edit(arrays)
        bad = tmp_path / "bad.npz"
        np.savez(bad, **arrays)
        return bad

    def drop_step(a):
        meta = json.loads(str(a["meta"]))
        del meta["optimizer"]["state"]["2"]["step"]
        a["meta"] = np.array(json.dumps(meta))

    cases = [
        (lambda a: a.pop("optim/grad_avg/1"), r"state\[1\] lacks \['grad_avg'\]"),
        (lambda a: a.update({"optim/grad_avg/1": np.zeros(3, np.float32)}), r"optim/grad_avg/1: float32\[3\] does not match"),
        (lambda a: a.update({"optim/exp_avg/0": a["optim/square_avg/0"]}), "unknown state"),
        (drop_step, r"state\[2\] has no 'step'"),
    ]
    for edit, match in cases:
        model, opt, fresh = _trainer(OPTIMIZERS["RMSprop"])
        with pytest.raises(ValueError, match=match):
            fresh.load(rewrite(edit))
        assert opt.state == {} and fresh.epoch == 0
