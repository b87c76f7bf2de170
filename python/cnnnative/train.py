"""Trainer: the training loop (forward, loss, backward, optimizer update), evaluation with
metrics, progress display and checkpoints. The arithmetic is in the core; this file only
sequences it. The loss (a name, a cnnnative.nn loss module or any callable(output, target)
returning a scalar) and the metrics are resolved in train_loss.py."""
from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from . import ops
from .autograd import no_grad
from .data.dataset import Dataset
from .nn.module import Module
from .ops._args import index
from .tensor import Tensor
from .train_loss import METRIC_LABELS, ArrayPairs, is_plain_cross_entropy, resolve_loss, resolve_metrics

__all__ = ["Trainer", "TrainingDiverged"]

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
    if data is None or isinstance(data, (Dataset, ArrayPairs)):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim in (3, 4) and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):  # images and labels
            return Dataset(x if x.dtype == np.uint8 else np.ascontiguousarray(x, np.float32), y,
                           num_classes=None, max_value=255.0, name=what)
        return ArrayPairs(x, y, name=what)  # any inputs, float targets (regression)
    raise TypeError(f"{what} must be a cnnnative.data.Dataset or an (inputs, targets) pair, got "
                    f"{type(data).__name__}")


def _epoch_seed(seed, epoch):
    # Shuffling order of epoch e depends only on (seed, e): a resumed run reshuffles the
    # same way as one that never stopped.
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)])


class _Progress:
    """tqdm when installed; otherwise a plain one-line counter rewritten in place. Either
    only on a terminal and never in quiet mode (fit prints one line per epoch anyway)."""

    def __init__(self, total, desc, quiet) -> None:
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
    """Train a model: each step runs `out = model(x); loss = loss_fn(out, y);
    opt.zero_grad(); loss.backward(); opt.step()`.

    loss: a name ("cross_entropy" (default), "nll", "mse", "l1", "smooth_l1", "huber",
    "bce", "bce_with_logits", "kl_div"; the ops names such as "mse_loss" too), a
    cnnnative.nn loss module (nn.CrossEntropyLoss(label_smoothing=0.1), ...) or any
    callable(output, target) returning a scalar Tensor (built from cnnnative.ops).
    Targets: class indices (int) for the classification losses, float arrays for the
    others (y of shape (N,) or (N, k); a (N,) target meets a (N, 1) output as a column).
    metrics: names reported by fit/evaluate and kept in the history ("accuracy",
    "binary_accuracy", "mse", "mae"); by default chosen from the loss (accuracy for
    classification, mse and mae for regression, binary_accuracy for the BCE losses,
    none for a custom callable).
    scheduler (optional) is stepped once per epoch. seed fixes the shuffling order.
    adversarial (optional): adversarial training, e.g. dict(eps=0.1, steps=7, norm="inf",
    mix=0.0): each batch is replaced by PGD examples crafted with the current weights
    (see cnnnative.adversarial.AdversarialTraining).
    distributed (optional): True, a cnnnative.distributed Communicator or a
    cnnnative.distributed.trainer_support.DistributedConfig: data-parallel training over the
    ranks of an MPI job (`mpiexec -n N python script.py`): the model is wrapped in
    DistributedDataParallel, each rank trains on its shard (batch_size per rank), metrics
    are reduced exactly, only rank 0 prints, save/load/evaluate are collective (every rank
    calls them); see docs/distributed.md. scale_lr: the linear scaling rule, lr x global
    batch / the first fit's per-rank batch; warmup_epochs: that multiplier ramps up from 1
    over these epochs (Goyal et al. 2017); both need distributed.
    """

    def __init__(self, model: Module, optimizer, loss="cross_entropy", *, metrics=None, scheduler=None,
                 seed: int = 0, quiet: bool = False, log=print, adversarial=None, distributed=None,
                 scale_lr: bool = False, warmup_epochs: float = 0.0) -> None:
        self.loss_fn, self.loss, self.task = resolve_loss(loss)
        self.metrics = resolve_metrics(metrics, self.task, self.loss_fn)
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.seed, self.quiet, self.log = index(seed, "Trainer seed"), bool(quiet), log
        self._check_owns_parameters()
        self.adversarial = _adversarial_training(adversarial)
        self.epoch = 0          # completed epochs (continues across fit calls and checkpoints)
        self.history: list[dict] = []
        self.dist = None        # distributed/trainer_support.py's DistributedTraining
        if distributed is not None and distributed is not False:
            from .distributed.trainer_support import DistributedTraining
            self.dist = DistributedTraining(self, distributed, scale_lr, warmup_epochs)
        elif scale_lr or warmup_epochs:
            raise ValueError("Trainer: scale_lr and warmup_epochs scale the lr by the ranks' global batch; "
                             "they need distributed=True (or a communicator)")

    def _check_owns_parameters(self):
        """The optimizer must update this model's parameters and nothing else: one built for
        another model (or a copy of this one) would change nothing the model uses, silently.
        Parameters of a loss module (a learnable loss) count as the model's."""
        groups = getattr(self.optimizer, "param_groups", None)
        if groups is None:
            return  # a duck-typed optimizer: nothing to check against
        owned = {id(p) for p in self.model.parameters()}
        if isinstance(self.loss_fn, Module):
            owned |= {id(p) for p in self.loss_fn.parameters()}
        trainable = {id(p) for p in self.model.parameters() if p.requires_grad}
        updated = {id(p) for g in groups for p in g["params"]}
        if trainable and not (trainable & updated):
            raise ValueError(f"Trainer: the optimizer updates {len(updated)} parameters, none of them this "
                             f"model's {len(trainable)} trainable ones (built for another model?); "
                             "training would change nothing")
        foreign = updated - owned
        if foreign:
            raise ValueError(f"Trainer: {len(foreign)} of the optimizer's {len(updated)} parameters are not "
                             "this model's (an optimizer built for another model, or a copy of this one); "
                             "build it from model.parameters()")

    # -- one batch ------------------------------------------------------------------------
    def _to_model_device(self, x, y=None):
        """Upload a host batch when the model lives on the GPU (see Module.to)."""
        if self.model.device == "cpu":
            return x, y
        from . import cuda
        index = self.model.device_index  # the model's GPU, not always the first one
        x = cuda.from_numpy(np.ascontiguousarray(x, np.float32), device=index)
        return x, (None if y is None else cuda.from_numpy(np.ascontiguousarray(y), device=index))

    @staticmethod
    def _host(a):
        a = a.data if isinstance(a, Tensor) else a
        return a.numpy() if type(a).__module__ == "cnnnative._cuda" else a

    def _target(self, y):
        """Class indices as int64 for the classification losses (probability targets, a
        float array of 2 or more dimensions, stay float); float32 for the other standard
        losses; for a custom callable, integers as int64 and anything else as float32."""
        y = np.asarray(y)
        integer = np.issubdtype(y.dtype, np.integer)
        if (self.task == "classification" and (integer or y.ndim < 2)) or (self.task == "custom" and integer):
            return np.ascontiguousarray(y, np.int64)
        return np.ascontiguousarray(y, np.float32)

    def _loss_of(self, out, y):
        """loss_fn(out, y), a (N,) float target meeting a (N, 1) output as a column."""
        if self.task != "classification" and y.ndim == 1 and tuple(out.shape) == (y.shape[0], 1):
            y = y.reshape(-1, 1)
        loss = self.loss_fn(out, y)
        if int(np.prod(np.shape(loss))) != 1:
            raise ValueError(f"Trainer: the loss must be a scalar, got shape {tuple(np.shape(loss))} (a loss "
                             "with reduction='none'?)")
        return loss

    def _forward_backward(self, x, y):
        """Forward, loss and backward on one batch; returns (loss, host output)."""
        if self.adversarial is not None:
            return self.adversarial.forward_backward(self, x, y)
        self.model.train()
        x, y = self._to_model_device(x, y)
        out = self.model(x) if self.dist is None else self.dist.forward(x)
        if isinstance(out, Tensor) and out.requires_grad:
            # The model records through ops: the PyTorch loop, parameters' .grad filled.
            loss = self._loss_of(out, y)
            self.optimizer.zero_grad()
            loss.backward()
        elif type(self.model).backward is not Module.backward:
            # A model that still writes its own backward (deprecated): autograd through the
            # loss alone gives the output's gradient, which the model's backward takes.
            warnings.warn(f"{type(self.model).__name__}.backward: a hand-written backward is deprecated; "
                          "write forward with cnnnative ops and autograd derives it", DeprecationWarning,
                          stacklevel=3)
            if type(out).__module__ == "cnnnative._cuda":
                raise TypeError("Trainer: a model with a hand-written backward trains on the CPU only")
            head = Tensor(out, requires_grad=True)
            loss = self._loss_of(head, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.model.backward(head.grad)
        else:
            raise ValueError(f"Trainer: the output of {type(self.model).__name__} records no gradient: every "
                             "parameter is frozen (requires_grad=False), or forward computes with something "
                             "other than cnnnative ops (numpy calls on .data)")
        return float(loss), self._host(out)

    def step(self, x, y) -> float:
        """One forward, backward and optimizer update on a batch x (N, ...), targets y
        (class indices (N,) int, or float (N,) / (N, k) for regression). Returns the
        batch's loss."""
        x = np.ascontiguousarray(x, np.float32)
        y = self._target(y)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"step: the batch is empty (x has shape {x.shape}); the mean loss of no "
                             "samples is undefined")
        loss, _ = self._forward_backward(x, y)
        self._optimizer_step()
        return loss

    def _optimizer_step(self, epoch=None, batch=None):
        if self.dist is None:
            self.optimizer.step()
        else:  # gradients averaged over the ranks; lr scaling and warm-up
            self.dist.optimizer_step(epoch, batch)

    # -- epochs ---------------------------------------------------------------------------
    def fit(self, train, val=None, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
            seed=None, transform=None) -> list:
        """Train for `epochs` more epochs. train / val: Dataset or (inputs, targets).
        transform: applied to every training batch (data augmentation, e.g.
        data.augment.Compose([RandomCrop(32, 4), RandomHorizontalFlip()])) instead of the
        training Dataset's own transform; it draws from the epoch's seeded generator. val is
        evaluated with its Dataset's own transform (e.g. only Normalize).
        Returns the history: one dict per epoch {epoch, loss, <metrics> (e.g. accuracy, or
        mse and mae), val_loss, val_<metrics>, seconds, images_per_second, lr}."""
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
        if transform is not None and not callable(transform):
            raise TypeError(f"fit: transform must be callable, got {type(transform).__name__}")
        if transform is not None and not isinstance(train, Dataset):
            raise TypeError("fit: transform needs image data (a Dataset, or (images, integer labels))")
        extra = {} if transform is None else {"transform": transform}
        if self.dist is not None:
            self.dist.start_fit(train, val, epochs, batch_size, shuffle, transform)
        for _ in range(epochs):
            e = self.epoch
            rng = np.random.default_rng(_epoch_seed(self.seed, e))
            if self.dist is None:
                batches, total = train.batches(batch_size, shuffle=shuffle, seed=rng, **extra), len(train)
            else:  # this rank's shard
                batches = self.dist.batches(train, batch_size, shuffle, e, self.seed, transform)
                total = self.dist.shard_length(len(train))
            progress = _Progress(total, f"epoch {e + 1}", self.quiet)
            t0 = time.perf_counter()
            tally = _Tally(self.metrics)
            for batch, (x, y) in enumerate(batches):
                y = self._target(y)
                loss, out = self._forward_backward(x, y)
                if not np.isfinite(loss):
                    raise TrainingDiverged(self._diverged(f"epoch {e + 1}, batch {batch + 1}: loss {loss}"))
                self._optimizer_step(e, batch)
                tally.add(loss, out, y)
                dt = time.perf_counter() - t0
                progress.update(len(y), loss=tally.loss, **tally.short(),
                                img_s=f"{tally.n / dt:.0f}" if dt > 0 else "-")
            progress.close()
            if self.dist is not None:
                self.dist.reduce_tally(tally)  # sums over all ranks: global means, images/s
            seconds = time.perf_counter() - t0
            record = {"epoch": e + 1, "loss": tally.loss, **tally.values(),
                      "seconds": seconds, "images_per_second": tally.n / seconds if seconds > 0 else float("inf"),
                      "lr": self.optimizer.param_groups[0]["lr"] * (1.0 if self.dist is None else
                                                                    self.dist.lr_factor())}
            first = self.history[0]["loss"] if self.history else record["loss"]
            if record["loss"] > DIVERGENCE_FACTOR * first:
                raise TrainingDiverged(self._diverged(
                    f"epoch {e + 1}: mean loss {record['loss']:.4g} is over {DIVERGENCE_FACTOR:g}x the first "
                    f"epoch's {first:.4g}"))
            if val is not None and len(val):
                v = self.evaluate(val, batch_size=max(batch_size, 256))
                record["val_loss"] = v["loss"]
                record.update({f"val_{name}": v[name] for name in self.metrics})
            self.epoch += 1
            if self.scheduler is not None:
                self.scheduler.step()
            self.history.append(record)
            if not self.quiet and self.log is not None:
                msg = f"epoch {record['epoch']}: {_summary(record, self.metrics)}"
                if "val_loss" in record:
                    msg += f" | val {_summary(record, self.metrics, 'val_')}"
                msg += f" | {record['images_per_second']:.0f} img/s, {seconds:.2f} s"
                self.log(msg)
        return self.history

    def _diverged(self, where):
        lr = self.optimizer.param_groups[0]["lr"] if hasattr(self.optimizer, "param_groups") else None
        return (f"training diverged at {where}" + (f" (lr {lr:g})" if lr is not None else "")
                + "; stopped: lower the learning rate")

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """The model's outputs (logits (N, classes) for a classifier) for inputs x, in eval
        mode."""
        _check_batch_size(batch_size, "predict")
        x = np.ascontiguousarray(x, np.float32)
        was = self.model.training
        self.model.eval()
        try:
            with no_grad():
                outs = [self._host(self.model(self._to_model_device(x[i:i + batch_size])[0]))
                        for i in range(0, len(x), batch_size)]
        finally:
            self.model.train(was)
        return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)

    def evaluate(self, data, batch_size: int = 256) -> dict:
        """{"loss": mean loss per sample, <metric>: value for each metric (e.g.
        "accuracy": fraction correct, or "mse" and "mae"), "n": count}, in eval mode."""
        _check_batch_size(batch_size, "evaluate")
        data = _as_dataset(data, "data")
        if self.dist is not None:  # collective: each rank a slice, the sums reduced
            data = self.dist.eval_shard(data)
        was = self.model.training
        self.model.eval()
        plain = is_plain_cross_entropy(self.loss_fn)
        tally = _Tally(self.metrics)
        try:
            with no_grad():
                for x, y in data.batches(batch_size):
                    y = self._target(y)
                    xd, yd = self._to_model_device(x, y)
                    out = self.model(xd)
                    if plain:  # the exact float64 sum (and on the GPU)
                        total = float(ops.cross_entropy(self._device(out), yd, reduction="sum"))
                        out = self._host(out)
                    else:
                        out = self._host(out)
                        total = float(self._loss_of(out, y)) * len(y)
                    tally.add(total / len(y) if len(y) else 0.0, out, y)
        finally:
            self.model.train(was)
        if self.dist is not None:
            self.dist.reduce_tally(tally)
        return {"loss": tally.loss, **tally.values(), "n": tally.n}

    @staticmethod
    def _device(a):
        return a.data if isinstance(a, Tensor) else a

    # -- checkpoints ----------------------------------------------------------------------
    def save(self, path, extra: dict | None = None) -> str:
        """Checkpoint model, optimizer, scheduler and the trainer's position (epoch, seed).
        Distributed: collective; rank 0 writes after a barrier."""
        from . import io
        extra = {"epoch": self.epoch, "seed": self.seed, "history": self.history,
                 **({"loss": self.loss} if self.loss else {}),
                 **({} if self.dist is None else {"distributed": self.dist.state()}), **(extra or {})}

        def save_one(p):
            return io.save(p, self.model, self.optimizer, self.scheduler, extra=extra)
        return save_one(path) if self.dist is None else self.dist.save(save_one, path)

    def load(self, path) -> dict:
        """Restore a checkpoint written by save(); training then continues exactly where
        it stopped. All or nothing: any problem in the file is a ValueError naming it and
        the field (FileNotFoundError for a missing file), and then nothing has changed.
        Distributed: collective; rank 0 reads the file and sends it to the others (the file
        need only be on rank 0's machine); a failure on any rank is a DistributedError on
        every rank."""
        from . import io

        def load_one(p):
            ck = io.load(p, self.model, self.optimizer, self.scheduler, _check_extra=_checked_position)
            self.epoch, self.seed, self.history = ck.pop("checked_extra")
            return ck
        return load_one(path) if self.dist is None else self.dist.load(load_one, path)


def _adversarial_training(spec):
    """Trainer(adversarial=...): None, or the settings (cnnnative/adversarial/training.py)."""
    if spec is None:
        return None
    from .adversarial.training import AdversarialTraining
    return AdversarialTraining.of(spec)


class _Tally:
    """Per-sample mean loss and the metrics over the batches of an epoch."""

    def __init__(self, metrics) -> None:
        self.metrics = metrics
        self.total, self.n = 0.0, 0
        self.sums = {name: [0.0, 0] for name in metrics}

    def add(self, mean_loss, out, y):
        n = len(y)
        self.total += mean_loss * n
        self.n += n
        for name, metric in self.metrics.items():
            s, c = metric(out, y)
            self.sums[name][0] += s
            self.sums[name][1] += c

    @property
    def loss(self):
        return self.total / self.n if self.n else float("nan")

    def values(self):
        return {name: (s / c if c else float("nan")) for name, (s, c) in self.sums.items()}

    def short(self):
        return {METRIC_LABELS[name]: v for name, v in self.values().items()}


def _summary(record, metrics, prefix=""):
    """'loss 0.1234 acc 0.9876' (or '... mse 0.01 mae 0.08') from a history row."""
    parts = [f"loss {record[prefix + 'loss']:.4f}"]
    parts += [f"{METRIC_LABELS[name]} {record[prefix + name]:.4f}" for name in metrics]
    return " ".join(parts)


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
