"""Traps of the training loop that used to pass silently: an optimizer that owns none of
the model's parameters, an empty batch, a diverging loss; and cn.save into a folder that
does not exist."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import data, models, nn, optim
from cnnnative.train import Trainer, TrainingDiverged


def _digits_net(seed=0):
    nn.init.manual_seed(seed)
    return models.build("digits_net")


def test_optimizer_of_another_model_is_refused():
    model, other = _digits_net(0), _digits_net(1)
    with pytest.raises(ValueError, match="none of them this model's"):
        Trainer(model, optim.SGD(other, lr=0.1))


def test_optimizer_of_part_of_the_model_is_fine():
    model = _digits_net()
    head = list(model)[-1]
    Trainer(model, optim.SGD(head.parameters(), lr=0.1))  # fine-tuning a head: legitimate


def test_optimizer_holding_foreign_parameters_is_refused():
    model, other = _digits_net(0), _digits_net(1)
    mixed = list(model.parameters()) + [next(iter(other.parameters()))]
    with pytest.raises(ValueError, match="1 of the optimizer's .* are not this model's"):
        Trainer(model, optim.SGD(mixed, lr=0.1))


def test_a_learnable_loss_may_hold_parameters():
    class ScaledCE(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.ones(1, np.float32))

        def forward(self, out, y):
            return cn.ops.cross_entropy(out * self.scale, y)

    model, loss = _digits_net(), ScaledCE()
    trainer = Trainer(model, optim.SGD(list(model.parameters()) + [loss.scale], lr=0.1), loss=loss)
    x, y = data.load_digits("train").subset(np.arange(16)).arrays()
    trainer.step(x, y)
    assert loss.scale.grad is not None and loss.scale.grad[0] != 0


def test_model_whose_output_records_nothing_is_a_clear_error():
    model = _digits_net().requires_grad_(False)
    head = list(model)[-1]
    trainer = Trainer(model, optim.SGD(head.parameters(), lr=0.1))
    x, y = data.load_digits("train").subset(np.arange(16)).arrays()
    with pytest.raises(ValueError, match="records no gradient"):
        trainer.step(x, y)


def test_empty_batch_is_refused():
    model = _digits_net()
    trainer = Trainer(model, optim.SGD(model, lr=0.1))
    with pytest.raises(ValueError, match="batch is empty"):
        trainer.step(np.zeros((0, 1, 8, 8), np.float32), np.zeros(0, np.int64))


def test_nan_loss_stops_training():
    model = _digits_net()
    train = data.load_digits("train").subset(np.arange(64))
    trainer = Trainer(model, optim.SGD(model, lr=0.1), quiet=True)
    x, y = train.arrays()
    x[5] = np.nan
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 1: loss nan .*lower the learning rate"):
        trainer.fit((x, y), epochs=1, batch_size=32, shuffle=False)
    assert trainer.history == []


def test_loss_growing_100x_stops_training():
    model = _digits_net()
    train = data.load_digits("train").subset(np.arange(64))
    opt = optim.SGD(model, lr=0.01)
    trainer = Trainer(model, opt, quiet=True)
    trainer.fit(train, epochs=1, batch_size=32)
    first = trainer.history[0]["loss"]
    # Weights blown up by hand: the next epoch's loss is finite but far above the first's.
    for p in model.parameters():
        p.data *= 40.0
    opt.param_groups[0]["lr"] = 0.0
    with pytest.raises(TrainingDiverged, match="over 100x the first epoch's"):
        trainer.fit(train, epochs=1, batch_size=32)
    assert len(trainer.history) == 1 and trainer.history[0]["loss"] == first


def test_save_into_a_missing_folder_names_the_path(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "w.npz"
    with pytest.raises(FileNotFoundError, match=r"cannot save .*w\.npz: directory .*dir does not exist"):
        cn.save(target, _digits_net())
