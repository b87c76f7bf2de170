"""Checkpoints: model + optimizer + schedule state in one .npz file, loaded with
allow_pickle=False (no code runs on load).

Layout (format version 1); every entry is a plain numeric or unicode numpy array:

    __format__               "cnnnative-checkpoint"
    __version__              int64 scalar, 1
    meta                     unicode JSON: {"cnnnative": version, "model_spec": {...} or null,
                             "optimizer": {"step_count", "param_groups": [...]} or null,
                             "scheduler": {"class", "last_epoch"} or null, "extra": {...},
                             "rng_states": {module name: numpy bit-generator state}}
    model/<key>              the model's state_dict (PyTorch keys, float32; int64
                             num_batches_tracked)
    optim/momentum/<i>       momentum buffer of the optimizer's i-th parameter (float32)

The file is written to a temporary name in the same directory, flushed to disk, then renamed
over the target: a crash mid-save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "cnnnative-checkpoint"
FORMAT_VERSION = 1

# Test hook: called with the temp path after it is fully written, before the rename.
_before_rename = None


def _model_arrays(model):
    out = {}
    for k, v in model._state_items():
        out["model/" + k] = np.asarray(v)
    return out


def _rng_states(model):
    # Random generators of layers such as Dropout, so a resumed run draws the same masks.
    return {name or "<root>": m._rng.bit_generator.state for name, m in model.named_modules()
            if hasattr(m, "_rng")}


def _restore_rng_states(model, states):
    for name, m in model.named_modules():
        state = states.get(name or "<root>")
        if state is not None and hasattr(m, "_rng"):
            m._rng.bit_generator.state = state


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
        meta["optimizer"] = {"step_count": st["step_count"], "param_groups": st["param_groups"],
                             "max_grad_norm": getattr(optimizer, "max_grad_norm", None)}
        for k, buf in st["momentum_buffers"].items():
            arrays[f"optim/momentum/{k}"] = buf
    if scheduler is not None:
        meta["scheduler"] = {"class": type(scheduler).__name__, **scheduler.state_dict()}
    arrays["__format__"] = np.array(FORMAT)
    arrays["__version__"] = np.array(FORMAT_VERSION, np.int64)
    arrays["meta"] = np.array(json.dumps(meta))

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):  # else mkstemp's error would name its temp file
        raise FileNotFoundError(f"cannot save {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
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


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError (pickled object), OSError ...
        raise ValueError(f"{path}: not a readable cnnnative checkpoint: {e}") from None
    if "__format__" not in arrays or str(arrays["__format__"]) != FORMAT:
        raise ValueError(f"{path}: not a cnnnative checkpoint (no {FORMAT!r} marker)")
    version = int(arrays.get("__version__", -1))
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {version}, this cnnnative reads {FORMAT_VERSION}")
    try:
        meta = json.loads(str(arrays["meta"]))
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}: checkpoint metadata missing or damaged: {e}") from None
    return arrays, meta


def load(path, model=None, optimizer=None, scheduler=None, *, strict: bool = True) -> dict:
    """Read a checkpoint; when model / optimizer / scheduler are given, restore them.

    Names, shapes and dtypes are validated before anything is modified: a mismatch is a
    ValueError (or KeyError for missing/unexpected names in strict mode) naming the entry.
    Returns {"model_state": {key: array}, "meta": {...}, "momentum_buffers": {i: array}}.
    """
    path = os.fspath(path)
    arrays, meta = _read(path)
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    momentum = {int(k.rsplit("/", 1)[1]): v for k, v in arrays.items() if k.startswith("optim/momentum/")}
    known = {"__format__", "__version__", "meta"}
    stray = [k for k in arrays if k not in known and not k.startswith(("model/", "optim/momentum/"))]
    if stray:
        raise ValueError(f"{path}: unknown entries {stray}")
    for k, v in list(model_state.items()) + [(f"momentum {i}", v) for i, v in momentum.items()]:
        if v.dtype not in (np.float32, np.int64):
            raise ValueError(f"{path}: entry {k!r} has dtype {v.dtype}; expected float32 (or int64 counters)")
    if model is not None:
        own = dict(model._state_items())
        for k, v in model_state.items():
            if k in own and (own[k].dtype != v.dtype or own[k].shape != v.shape):
                raise ValueError(f"{path}: {k!r} is {v.dtype}{list(v.shape)} in the checkpoint, "
                                 f"the model has {own[k].dtype}{list(own[k].shape)}")
        model.load_state_dict(model_state, strict=strict)
        _restore_rng_states(model, meta.get("rng_states") or {})
    if optimizer is not None:
        if meta.get("optimizer") is None:
            raise ValueError(f"{path}: checkpoint holds no optimizer state")
        optimizer.load_state_dict({**meta["optimizer"], "momentum_buffers": momentum})
    if scheduler is not None:
        st = meta.get("scheduler")
        if st is None:
            raise ValueError(f"{path}: checkpoint holds no scheduler state")
        if st["class"] != type(scheduler).__name__:
            raise ValueError(f"{path}: checkpoint scheduler is {st['class']}, given {type(scheduler).__name__}")
        scheduler.load_state_dict(st)
    return {"model_state": model_state, "meta": meta, "momentum_buffers": momentum}
