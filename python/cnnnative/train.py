"""Trainer: the training loop (forward, loss, backward, SGD update), evaluation, progress
display and checkpoints. The arithmetic is in the core; this file only sequences it."""
from __future__ import annotations

import sys
import time

import numpy as np

from . import ops
from .ops._args import index
from .data.dataset import Dataset
from .autograd import no_grad
from .nn.module import Module
from .tensor import Tensor

__all__ = ["Trainer", "TrainingDiverged"]

_LOSSES = ("cross_entropy",)

# An epoch whose mean loss exceeds the first epoch's by this factor has diverged.
DIVERGENCE_FACTOR = 100.0


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or grew far beyond the first epoch's: training
    stopped rather than continue on meaningless weights (lower the learning rate)."""


def _check_batch_size(batch_size, where):
    """batch_size is a positive int (a float such as 32.5 is a TypeError, never truncated)."""
    if index(batch_size, f"{where}: batch_size") < 1:
        raise ValueError(f"{where}: batch_size must be >= 1, got {batch_size}")


def _as_dataset(data, what):
    if data is None or isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        x = np.asarray(x)
        return Dataset(x if x.dtype == np.uint8 else np.ascontiguousarray(x, np.float32), np.asarray(y),
                       num_classes=None, max_value=255.0, name=what)
    raise TypeError(f"{what} must be a cnnnative.data.Dataset or an (images, labels) pair, got "
                    f"{type(data).__name__}")


def _epoch_seed(seed, epoch):
    # Shuffling order of epoch e depends only on (seed, e): a resumed run reshuffles the
    # same way as one that never stopped.
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)])


class _Progress:
    """tqdm when installed; otherwise a plain one-line counter rewritten in place. Either
    only on a terminal and never in quiet mode (fit prints one line per epoch anyway)."""

    def __init__(self, total, desc, quiet):
        self.bar = None
        self.plain = False
        self.total, self.desc, self.seen, self.last = total, desc, 0, 0.0
        if quiet or not sys.stderr.isatty():
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.plain = True
            return
        self.bar = tqdm(total=total, desc=desc, unit="img", leave=False, file=sys.stderr)

    def update(self, n, **postfix):
        self.seen += n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in postfix.items()},
                                 refresh=False)
        elif self.plain and (time.perf_counter() - self.last > 0.5 or self.seen == self.total):
            self.last = time.perf_counter()
            items = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in postfix.items())
            sys.stderr.write(f"\r{self.desc}: {self.seen}/{self.total} {items}   ")
            sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.plain:
            sys.stderr.write("\r" + " " * 78 + "\r")
            sys.stderr.flush()


class Trainer:
    """Train a classifier: model maps (N, C, H, W) float32 to (N, classes) logits.

    loss="cross_entropy" (softmax + negative log-likelihood, mean over the batch).
    scheduler (optional) is stepped once per epoch. seed fixes the shuffling order.
    """

    def __init__(self, model: Module, optimizer, loss: str = "cross_entropy", *, scheduler=None,
                 seed: int = 0, quiet: bool = False, log=print):
        if loss not in _LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {_LOSSES}")
        self.model, self.optimizer, self.loss, self.scheduler = model, optimizer, loss, scheduler
        self.seed, self.quiet, self.log = index(seed, "Trainer seed"), bool(quiet), log
        self._check_owns_parameters()
        self.epoch = 0          # completed epochs (continues across fit calls and checkpoints)
        self.history: list[dict] = []

    def _check_owns_parameters(self):
        """An optimizer built for another model (or a copy of this one) would update
        parameters the model never uses: every step would change nothing, silently."""
        groups = getattr(self.optimizer, "param_groups", None)
        if groups is None:
            return  # a duck-typed optimizer: nothing to check against
        trainable = {id(p) for p in self.model.parameters() if p.requires_grad}
        updated = {id(p) for g in groups for p in g["params"]}
        if trainable and not (trainable & updated):
            raise ValueError(f"Trainer: the optimizer updates {len(updated)} parameters, none of them this "
                             f"model's {len(trainable)} trainable ones (built for another model?); "
                             "training would change nothing")

    # -- one batch ------------------------------------------------------------------------
    def _to_model_device(self, x, y=None):
        """Upload a host batch when the model lives on the GPU (see Module.to)."""
        if self.model.device == "cpu":
            return x, y
        from . import cuda
        index = self.model.device_index  # the model's GPU, not always the first one
        x = cuda.from_numpy(np.ascontiguousarray(x, np.float32), device=index)
        return x, (None if y is None else cuda.from_numpy(np.ascontiguousarray(y, np.int64), device=index))

    @staticmethod
    def _host(a):
        return a.numpy() if type(a).__module__ == "cnnnative._cuda" else a

    def _forward_backward(self, x, y):
        self.model.train()
        x, y = self._to_model_device(x, y)
        logits = self.model(x)  # records the graph (the images need no gradient)
        out = logits.data if isinstance(logits, Tensor) else logits
        loss = ops.cross_entropy(out, y)
        self.optimizer.zero_grad()
        if isinstance(logits, Tensor) and logits.requires_grad:
            logits.backward(ops.cross_entropy_backward(out, y))
        return float(loss), self._host(out)

    def step(self, x, y) -> float:
        """One forward, backward and SGD update on a batch x (N, C, H, W), labels y (N,)
        int. Returns the batch's mean loss."""
        x = np.ascontiguousarray(x, np.float32)
        y = np.ascontiguousarray(y, np.int64)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"step: the batch is empty (x has shape {x.shape}); the mean loss of no "
                             "samples is undefined")
        loss, _ = self._forward_backward(x, y)
        self.optimizer.step()
        return loss

    # -- epochs ---------------------------------------------------------------------------
    def fit(self, train, val=None, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
            seed=None) -> list:
        """Train for `epochs` more epochs. train / val: Dataset or (images, labels).
        Returns the history: one dict per epoch {epoch, loss, accuracy, val_loss,
        val_accuracy, seconds, images_per_second, lr}."""
        train = _as_dataset(train, "train")
        val = _as_dataset(val, "val")
        if len(train) == 0:
            raise ValueError("fit: the training set is empty")
        epochs = index(epochs, "fit: epochs")
        if epochs < 0:
            raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
        _check_batch_size(batch_size, "fit")
        if seed is not None:
            self.seed = index(seed, "fit: seed")
        for _ in range(epochs):
            e = self.epoch
            rng = np.random.default_rng(_epoch_seed(self.seed, e))
            progress = _Progress(len(train), f"epoch {e + 1}", self.quiet)
            t0 = time.perf_counter()
            total_loss = 0.0
            correct = 0
            seen = 0
            for batch, (x, y) in enumerate(train.batches(batch_size, shuffle=shuffle, seed=rng)):
                loss, logits = self._forward_backward(x, y)
                if not np.isfinite(loss):
                    raise TrainingDiverged(self._diverged(f"epoch {e + 1}, batch {batch + 1}: loss {loss}"))
                self.optimizer.step()
                n = len(y)
                total_loss += loss * n
                correct += int((logits.argmax(axis=1) == y).sum())
                seen += n
                dt = time.perf_counter() - t0
                progress.update(n, loss=total_loss / seen, acc=correct / seen,
                                img_s=f"{seen / dt:.0f}" if dt > 0 else "-")
            progress.close()
            seconds = time.perf_counter() - t0
            record = {"epoch": e + 1, "loss": total_loss / seen, "accuracy": correct / seen,
                      "seconds": seconds, "images_per_second": seen / seconds if seconds > 0 else float("inf"),
                      "lr": self.optimizer.param_groups[0]["lr"]}
            first = self.history[0]["loss"] if self.history else record["loss"]
            if record["loss"] > DIVERGENCE_FACTOR * first:
                raise TrainingDiverged(self._diverged(
                    f"epoch {e + 1}: mean loss {record['loss']:.4g} is over {DIVERGENCE_FACTOR:g}x the first "
                    f"epoch's {first:.4g}"))
            if val is not None and len(val):
                v = self.evaluate(val, batch_size=max(batch_size, 256))
                record["val_loss"], record["val_accuracy"] = v["loss"], v["accuracy"]
            self.epoch += 1
            if self.scheduler is not None:
                self.scheduler.step()
            self.history.append(record)
            if not self.quiet and self.log is not None:
                msg = (f"epoch {record['epoch']}: loss {record['loss']:.4f} acc {record['accuracy']:.4f}")
                if "val_accuracy" in record:
                    msg += f" | val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.4f}"
                msg += f" | {record['images_per_second']:.0f} img/s, {seconds:.2f} s"
                self.log(msg)
        return self.history

    def _diverged(self, where):
        lr = self.optimizer.param_groups[0]["lr"] if hasattr(self.optimizer, "param_groups") else None
        return (f"training diverged at {where}" + (f" (lr {lr:g})" if lr is not None else "")
                + "; stopped: lower the learning rate")

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """Logits (N, classes) for images x (N, C, H, W) float32, in eval mode."""
        _check_batch_size(batch_size, "predict")
        x = np.ascontiguousarray(x, np.float32)
        was = self.model.training
        self.model.eval()
        try:
            with no_grad():  # inference: nothing to record
                outs = [self._host(self.model(self._to_model_device(x[i:i + batch_size])[0]))
                        for i in range(0, len(x), batch_size)]
        finally:
            self.model.train(was)
        return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)

    def evaluate(self, data, batch_size: int = 256) -> dict:
        """{"loss": mean cross-entropy, "accuracy": fraction correct, "n": count} in eval mode."""
        _check_batch_size(batch_size, "evaluate")
        data = _as_dataset(data, "data")
        was = self.model.training
        self.model.eval()
        total, correct, n = 0.0, 0, 0
        try:
            for x, y in data.batches(batch_size):
                xd, yd = self._to_model_device(x, y)
                with no_grad():  # evaluation: nothing to record
                    logits = self.model(xd)
                total += float(ops.cross_entropy(logits, yd, reduction="sum"))
                logits = self._host(logits)
                correct += int((logits.argmax(axis=1) == y).sum())
                n += len(y)
        finally:
            self.model.train(was)
        return {"loss": total / n if n else float("nan"), "accuracy": correct / n if n else float("nan"), "n": n}

    # -- checkpoints ----------------------------------------------------------------------
    def save(self, path, extra: dict | None = None) -> str:
        """Checkpoint model, optimizer, scheduler and the trainer's position (epoch, seed)."""
        from . import io
        return io.save(path, self.model, self.optimizer, self.scheduler,
                       extra={"epoch": self.epoch, "seed": self.seed, "history": self.history,
                              **(extra or {})})

    def load(self, path) -> dict:
        """Restore a checkpoint written by save(); training then continues exactly where
        it stopped. All or nothing: any problem in the file is a ValueError naming it and
        the field (FileNotFoundError for a missing file), and then nothing has changed."""
        from . import io
        ck = io.load(path, self.model, self.optimizer, self.scheduler, _check_extra=_checked_position)
        self.epoch, self.seed, self.history = ck.pop("checked_extra")
        return ck


def _checked_position(path, extra):
    """(epoch, seed, history) from a checkpoint's extra dict, validated before any state
    is restored."""
    extra = {} if extra is None else extra
    if not isinstance(extra, dict):
        raise ValueError(f"{path}: meta.extra: expected an object, got {type(extra).__name__}")
    epoch, seed, history = extra.get("epoch", 0), extra.get("seed", 0), extra.get("history", [])
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"{path}: meta.extra.epoch: expected a non-negative integer, got {epoch!r:.80}")
    if isinstance(seed, bool) or not isinstance(seed, int):  # any int: Trainer(seed=-1) is allowed
        raise ValueError(f"{path}: meta.extra.seed: expected an integer, got {seed!r:.80}")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ValueError(f"{path}: meta.extra.history: expected a list of objects")
    return epoch, seed, list(history)
