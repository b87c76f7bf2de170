"""Checkpoints: model + optimizer + schedule state in one .npz file. No pickle, no code runs
on load, and a damaged or mismatched file changes nothing.

Layout (format version 2); every entry is a plain numeric or unicode numpy array:

    __format__               "cnnnative-checkpoint"
    __version__              int64 scalar, 2
    meta                     unicode JSON: {"cnnnative": version, "model_spec": {...} or null,
                             "optimizer": {"class", "step_count", "param_groups": [...],
                             "state": {i: {"step": n}}} or null,
                             "scheduler": {"class", "last_epoch"} or null, "extra": {...},
                             "rng_states": {module name: numpy bit-generator state}}
    model/<key>              the model's state_dict (PyTorch keys, float32; int64
                             num_batches_tracked)
    optim/momentum/<i>       SGD's momentum buffer of the optimizer's i-th parameter (float32)
    optim/<name>/<i>         another optimizer's state array <name> of its i-th parameter
                             (Adam's exp_avg, exp_avg_sq, ...; float32)

Version 1 (the first release) had SGD only: no optimizer class, no optim/<name> entries
other than momentum. Both are read; version 2 is written.

Saving writes a temporary file `.<name>.<pid>.<random>.tmp` in the same directory, flushes
it to disk, then renames it over the target: a crash mid-save leaves the previous checkpoint
intact, and the next save of that path removes temp files left by a killed writer. The
checkpoint gets the mode a new file gets under the umask, or keeps the mode of the file it
replaces.

Loading reads the zip archive itself (see checkpoint_reader.py): every declared size is
checked against the archive, against the .npy headers and against the model before any
data is decompressed, and no member is decompressed past its declared size. The whole file
is validated (model entries, optimizer and scheduler state, random-generator states) before
any state is written; then everything is applied. Errors: FileNotFoundError for a missing
file, other OSErrors (IsADirectoryError, PermissionError, I/O errors) as the system raises
them, and ValueError naming the file and the field for anything wrong inside the file.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time

import numpy as np

from .checkpoint_reader import read_checkpoint

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION", "CheckpointKeyError"]

FORMAT = "cnnnative-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

# Test hook: called with the temp path after it is fully written, before the rename.
_before_rename = None

# A temp file of another writer is left alone while it is fresh and its writer lives.
_STALE_TEMP_SECONDS = 60.0


class CheckpointKeyError(ValueError, KeyError):
    """Strict loading found missing or unexpected model entries. A ValueError like every
    other checkpoint problem (and a KeyError, as Module.load_state_dict raises)."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _model_arrays(model):
    out = {}
    for k, v in model._state_items():
        out["model/" + k] = np.asarray(v)
    return out


def _rng_states(model):
    # Random generators of layers such as Dropout, so a resumed run draws the same masks.
    return {name or "<root>": m._rng.bit_generator.state for name, m in model.named_modules()
            if hasattr(m, "_rng")}


# -- saving -----------------------------------------------------------------------------
def _temp_prefix(path):
    return "." + os.path.basename(path) + "."


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # exists but belongs to someone else (or not a valid pid: treated below)
    return True


def _remove_stale_temps(path):
    """Delete `.<name>.<pid>.<random>.tmp` files of this path whose writer is gone or that
    nobody has written to for a minute (a save killed mid-write leaves one behind)."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        middle = name[len(prefix):-len(".tmp")]
        m = re.fullmatch(r"(\d{1,10})\.[0-9a-f]+", middle)
        full = os.path.join(directory, name)
        try:
            age = now - os.lstat(full).st_mtime
            writer_gone = m is not None and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))
            if writer_gone or age > _STALE_TEMP_SECONDS:
                os.unlink(full)
        except OSError:
            pass  # removed by someone else meanwhile, or not ours to remove


def _open_temp(path):
    """Create the temp file with mode 0o666 (the kernel applies the umask, as for any new
    file), named after our pid so a later save can tell whether its writer still runs."""
    directory = os.path.dirname(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(directory, f"{_temp_prefix(path)}{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: could not create a temporary file beside it")


def save(path, model, optimizer=None, scheduler=None, *, extra: dict | None = None) -> str:
    """Write a checkpoint of model (and optimizer/scheduler state) to path atomically.

    extra: JSON-serialisable dict stored as-is (e.g. epoch, seed). Returns path."""
    from . import __version__

    path = os.fspath(path)
    arrays = _model_arrays(model)
    meta = {"cnnnative": __version__, "model_spec": getattr(model, "spec", None),
            "optimizer": None, "scheduler": None, "extra": extra or {},
            "rng_states": _rng_states(model)}
    if optimizer is not None:
        st = optimizer.state_dict()
        meta["optimizer"] = {"class": type(optimizer).__name__, "step_count": st["step_count"],
                             "param_groups": st["param_groups"],
                             "max_grad_norm": getattr(optimizer, "max_grad_norm", None)}
        for k, buf in st.get("momentum_buffers", {}).items():
            arrays[f"optim/momentum/{k}"] = buf
        if "state" in st:  # per-parameter state: arrays as entries, the rest (step) in meta
            meta["optimizer"]["state"] = {}
            for k, entry in st["state"].items():
                meta["optimizer"]["state"][str(k)] = {n: v for n, v in entry.items() if not isinstance(v, np.ndarray)}
                arrays.update({f"optim/{n}/{k}": v for n, v in entry.items() if isinstance(v, np.ndarray)})
    if scheduler is not None:
        meta["scheduler"] = {"class": type(scheduler).__name__, **scheduler.state_dict()}
    arrays["__format__"] = np.array(FORMAT)
    arrays["__version__"] = np.array(FORMAT_VERSION, np.int64)
    arrays["meta"] = np.array(json.dumps(meta))

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):  # else the temp file's creation error would name the temp file
        raise FileNotFoundError(f"cannot save {path}: directory {directory} does not exist")
    _remove_stale_temps(path)
    try:
        keep_mode = os.stat(path).st_mode & 0o7777  # overwriting keeps the file's mode
    except OSError:
        keep_mode = None
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            if keep_mode is not None:
                os.fchmod(f.fileno(), keep_mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        if _before_rename is not None:
            _before_rename(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


# -- loading ----------------------------------------------------------------------------
def _error(path, field, message):
    return ValueError(f"{path}: {field}: {message}")


def _check_model_entries(path, model, headers, strict):
    """Checkpoint model entries against the model's own arrays (names, shapes, dtypes)."""
    own = dict(model._state_items())
    names = {k[len("model/"):] for k in headers if k.startswith("model/")}
    for k in sorted(names & own.keys()):
        shape, dtype = headers["model/" + k]
        if np.dtype(own[k].dtype) != dtype or tuple(own[k].shape) != shape:
            raise ValueError(f"{path}: {k!r} is {dtype}{list(shape)} in the checkpoint, "
                             f"the model has {np.dtype(own[k].dtype)}{list(own[k].shape)}")
    missing = [k for k in own if k not in names]
    unexpected = sorted(names - own.keys())
    if strict and (missing or unexpected):
        raise CheckpointKeyError(f"{path}: model entries do not match {type(model).__name__}: "
                                 f"missing keys {missing}, unexpected keys {unexpected}")


def _optimizer_params(optimizer):
    return [p for g in optimizer.param_groups for p in g["params"]]


def _check_optimizer_headers(path, optimizer, headers):
    params = _optimizer_params(optimizer)
    for key, (shape, dtype) in headers.items():
        if not key.startswith("optim/"):
            continue
        i = int(key.rsplit("/", 1)[1])
        if i >= len(params):
            raise _error(path, key, f"the optimizer has only {len(params)} parameters")
        if shape != tuple(params[i].data.shape) or dtype != np.float32:
            raise _error(path, key, f"{dtype}{list(shape)} does not match parameter {i} "
                                    f"(float32{list(params[i].data.shape)})")


def _merged_state(path, scalars, arrays):
    """Per-parameter optimizer state {i: {"step": n, name: array}} from meta (scalars, keyed
    by the position as a string) and the optim/<name>/<i> arrays; the optimizer validates it."""
    if scalars is None:
        scalars = {}
    if not isinstance(scalars, dict):
        raise _error(path, "meta.optimizer.state", f"expected an object, got {type(scalars).__name__}")
    merged = {i: dict(named) for i, named in arrays.items()}
    for key, entry in scalars.items():
        if not isinstance(entry, dict):
            raise _error(path, f"meta.optimizer.state[{key!r}]", f"expected an object, got {type(entry).__name__}")
        i = int(key) if isinstance(key, str) and key.isdigit() and len(key) < 10 else key
        merged.setdefault(i, {}).update(entry)
    return merged


def _model_rng_modules(model):
    return {name or "<root>": m for name, m in model.named_modules() if hasattr(m, "_rng")}


def _check_rng_states(path, model, states):
    """Each recorded state must be accepted by a fresh generator of the layer's kind."""
    if not isinstance(states, dict):
        raise _error(path, "meta.rng_states", f"expected an object, got {type(states).__name__}")
    checked = {}
    for name, m in _model_rng_modules(model).items():
        state = states.get(name)
        if state is None:
            continue
        trial = type(m._rng.bit_generator)()
        try:
            trial.state = state
        except Exception as e:  # numpy raises TypeError/ValueError/OverflowError/KeyError...
            raise _error(path, f"meta.rng_states[{name!r}]", f"not a valid {type(trial).__name__} "
                                                             f"state: {e}") from None
        checked[name] = trial.state
    return checked


def _validated(path, field, what):
    """Run a component's own state validation, naming the file and field on failure."""
    try:
        return what()
    except (ValueError, TypeError, KeyError, OverflowError, ArithmeticError) as e:
        raise _error(path, field, e) from None


def load(path, model=None, optimizer=None, scheduler=None, *, strict: bool = True,
         _check_extra=None) -> dict:
    """Read a checkpoint; when model / optimizer / scheduler are given, restore them.

    Everything is validated before anything is modified; on any error model, optimizer and
    scheduler are untouched. Errors: FileNotFoundError (missing file), OSError (the file
    cannot be opened or read), ValueError naming the file and the field for anything wrong
    in the file: damage, limits (member count, metadata size and nesting), names, shapes or
    dtypes that do not match the model (CheckpointKeyError, a ValueError, for missing or
    unexpected names in strict mode), invalid optimizer/scheduler/generator state, or an
    optimizer/scheduler given when the checkpoint holds none.
    Returns {"model_state": {key: array}, "meta": {...}, "momentum_buffers": {i: array}}.
    """
    path = os.fspath(path)

    def check_headers(headers):
        # Called by the reader after the .npy headers are read, before any data is.
        if model is not None:
            _check_model_entries(path, model, headers, strict)
        if optimizer is not None:
            _check_optimizer_headers(path, optimizer, headers)

    arrays, meta = read_checkpoint(path, FORMAT, READABLE_VERSIONS, check_headers)
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    momentum = {int(k.rsplit("/", 1)[1]): v for k, v in arrays.items() if k.startswith("optim/momentum/")}
    state_arrays = {}  # {i: {name: array}}: the state of optimizers other than SGD
    for k, v in arrays.items():
        if k.startswith("optim/") and not k.startswith("optim/momentum/"):
            _, name, i = k.split("/")
            state_arrays.setdefault(int(i), {})[name] = v

    # -- validate everything --
    rng_states = {}
    if model is not None:
        rng_states = _check_rng_states(path, model, meta.get("rng_states") or {})
    opt_state = None
    initial_lrs = None
    if optimizer is not None:
        if meta.get("optimizer") is None:
            raise _error(path, "meta.optimizer", "the checkpoint holds no optimizer state")
        raw = meta["optimizer"]
        if not isinstance(raw, dict):
            raise _error(path, "meta.optimizer", f"expected an object, got {type(raw).__name__}")
        state = {**raw, "momentum_buffers": momentum, "state": _merged_state(path, raw.get("state"), state_arrays)}
        if hasattr(optimizer, "validated_state"):
            opt_state = _validated(path, "meta.optimizer", lambda: optimizer.validated_state(state))
            initial_lrs = [g["initial_lr"] for g in opt_state["param_groups"]]
        else:
            opt_state = state
    sched_state = None
    if scheduler is not None:
        st = meta.get("scheduler")
        if st is None:
            raise _error(path, "meta.scheduler", "the checkpoint holds no scheduler state")
        if not isinstance(st, dict):
            raise _error(path, "meta.scheduler", f"expected an object, got {type(st).__name__}")
        if st.get("class") != type(scheduler).__name__:
            raise _error(path, "meta.scheduler.class", f"checkpoint scheduler is {st.get('class')}, "
                                                       f"given {type(scheduler).__name__}")
        if getattr(scheduler, "optimizer", None) is not optimizer:
            initial_lrs = None  # the scheduler drives an optimizer this load does not touch
        if hasattr(scheduler, "validated_state"):
            sched_state = _validated(path, "meta.scheduler",
                                     lambda: scheduler.validated_state(st, initial_lrs))
        else:
            sched_state = st
    extra = None
    if _check_extra is not None:
        extra = _check_extra(path, meta.get("extra"))

    # -- apply: nothing below can fail on a validated file --
    if model is not None:
        model.load_state_dict(model_state, strict=strict)
        modules = _model_rng_modules(model)
        for name, state in rng_states.items():
            modules[name]._rng.bit_generator.state = state
    if optimizer is not None:
        optimizer.load_state_dict(opt_state)
    if scheduler is not None:
        scheduler.load_state_dict(sched_state)
    result = {"model_state": model_state, "meta": meta, "momentum_buffers": momentum}
    if extra is not None:
        result["checked_extra"] = extra
    return result
