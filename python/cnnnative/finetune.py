"""Transfer learning: reuse a trained network for a new task.

The four scenarios (small or large new dataset, similar to the original data or not) are
all one model built with pretrained weights and a new head
(`models.resnet18(weights=path, num_classes=k)`: every weight loads but the classifier's,
see models/_weights.py) and differ only in what trains:

1. small and similar: the backbone is a fixed feature extractor. `extract_features` runs
   it once over the data (compiled) and only the head trains, on the cached features;
   the head is the model's own, so afterwards the full model predicts.
2. larger, or less similar: `freeze(model, up_to="layer3")` and fine-tune the rest.
3. fine-tune everything, the pretrained layers slower than the new head:
   `param_groups(model, lr=0.01, backbone_lr=0.001)` for any cnnnative.optim optimizer.
4. large and different: fine-tune everything at one rate (`unfreeze`), or train from
   scratch.

The head is found, not named: the last layer with parameters (`head(model)`), which is how
every torchvision classifier is registered (fc, classifier.6, classifier.1, heads.head).
Frozen layers by default also stay in eval mode under model.train() (keep_eval): their
BatchNorm normalises with, and stops updating, the pretrained running statistics and their
Dropout is off, so a frozen part computes exactly the features the cache holds.
"""
from __future__ import annotations

import itertools
import math
import time
import warnings

import numpy as np

from . import nn
from .autograd import no_grad
from .models._weights import head_names
from .train_loss import ArrayPairs

__all__ = ["head", "freeze", "unfreeze", "param_groups", "FeatureCache", "extract_features"]


def head(model) -> str:
    """The dotted name of the classifier head: the last layer with parameters of its own,
    in registration (state_dict) order, e.g. "fc" for a ResNet, "classifier.6" for a VGG."""
    return head_names(model)[0]


def _in_head(name: str, head_name: str) -> bool:
    return name == head_name or name.startswith(head_name + ".")


def _set_keep_eval(module, keep: bool) -> None:
    """Lock a leaf layer in eval mode (Module.train leaves it there) or release it."""
    if keep:
        object.__setattr__(module, "_keep_eval", True)
        object.__setattr__(module, "training", False)
    else:
        module.__dict__.pop("_keep_eval", None)


def freeze(model, up_to=None, *, keep_eval: bool = True):
    """Freeze the layers registered before and including `up_to` (in named_modules order,
    which is torchvision's and the state_dict's): their parameters get requires_grad=False,
    so backward skips them and optimizers leave them alone.

    up_to: a module name ("layer3", "features.10", a Sequential index "5"; a name prefix
    such as "layer3" also covers nn.Graph nodes "layer3.0.conv1", ...), or None for every
    layer except the head. ValueError for an unknown name or one that would freeze the head.
    keep_eval: the frozen layers (BatchNorm, Dropout, ...) stay in eval mode even under
    model.train() until `unfreeze`; False leaves their mode to train()/eval() as PyTorch
    does (BatchNorm then normalises with batch statistics and updates its running ones).
    Returns the model."""
    head_name = head(model)
    named = [(n, m) for n, m in model.named_modules() if n]
    if up_to is None:
        chosen = [(n, m) for n, m in named if not _in_head(n, head_name)]
        # A container of the head (e.g. "classifier") keeps its own parameters trainable.
        chosen = [(n, m) for n, m in chosen if not head_name.startswith(n + ".")]
    else:
        up_to = str(up_to)
        hits = [i for i, (n, _) in enumerate(named) if n == up_to or n.startswith(up_to + ".")]
        if not hits:
            tops = list(dict.fromkeys(n.split(".", 1)[0] for n, _ in named))
            raise ValueError(f"freeze: {type(model).__name__} has no layer {up_to!r}; its top-level "
                             f"layers are {tops}")
        chosen = named[:hits[-1] + 1]
        if any(_in_head(n, head_name) for n, _ in chosen):
            raise ValueError(f"freeze: up_to={up_to!r} would freeze the head {head_name!r} too; "
                             "freeze(model) freezes everything but the head, model.requires_grad_(False) "
                             "everything")
    for _, m in chosen:
        for p in m._parameters.values():
            if p is not None:
                p.requires_grad = False
        if keep_eval and not m._modules:
            _set_keep_eval(m, True)
    return model


def unfreeze(model):
    """Make every parameter trainable again and release the eval lock of freeze(keep_eval);
    the layers take the model's current mode. Returns the model."""
    for m in model.modules():
        _set_keep_eval(m, False)
        object.__setattr__(m, "training", model.training)
    model.requires_grad_(True)
    return model


def param_groups(model, lr, backbone_lr) -> list:
    """Parameter groups for any cnnnative.optim optimizer (torch.optim's format): the
    trainable parameters of the backbone at `backbone_lr`, those of the head at `lr`;
    frozen parameters are left out, and so is a group left empty.

        opt = optim.SGD(finetune.param_groups(model, lr=0.01, backbone_lr=0.001), momentum=0.9)

    Returns [{"params": [...], "lr": backbone_lr}, {"params": [...], "lr": lr}]."""
    for value, name in ((lr, "lr"), (backbone_lr, "backbone_lr")):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not np.isfinite(value) or value < 0:
            raise ValueError(f"param_groups: {name} must be a finite number >= 0, got {value!r}")
    head_name = head(model)
    backbone, top = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (top if _in_head(n.rsplit(".", 1)[0] if "." in n else "", head_name) else backbone).append(p)
    groups = [{"params": backbone, "lr": float(backbone_lr)}, {"params": top, "lr": float(lr)}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError(f"param_groups: every parameter of {type(model).__name__} is frozen")
    return groups


# -- feature extraction ------------------------------------------------------------------------
def _locate(model, name):
    """[(parent, key), ...] from the model down to the module `name`; a key may itself be
    dotted (an nn.Graph names its layers "layer1.0.conv1")."""
    path, module, rest = [], model, name
    while rest:
        key = max((k for k in module._modules if rest == k or rest.startswith(k + ".")), key=len, default=None)
        if key is None:
            raise ValueError(f"no module {name!r} in {type(model).__name__}")
        path.append((module, key))
        module, rest = module._modules[key], rest[len(key) + 1:]
    return path


def _tail(model, head_name):
    """(swaps, tail): the places of the head and of every layer a Sequential runs after
    it (e.g. global pooling after a convolutional head), and an nn.Sequential of those same
    module objects in running order: features -> output."""
    swaps = []
    for depth, (parent, key) in enumerate(reversed(_locate(model, head_name))):
        keys = list(parent._modules)
        later = keys[keys.index(key) + 1:] if isinstance(parent, nn.Sequential) else []
        swaps += [(parent, k) for k in ([key] if depth == 0 else []) + later]
    tail = [parent._modules[k] for parent, k in swaps]
    return swaps, nn.Sequential(*tail)


class _Capture(nn.Module):
    """The identity, noting the per-sample shape of its input: put in the head's place,
    it tells the shape of the head's input, the features."""

    def __init__(self):
        super().__init__()
        self.sample_shape = None

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        self.sample_shape = tuple(x.shape)[1:]
        return x


class _Swapped:
    """Context: the head replaced by `capture` and the layers after it by nn.Identity, so
    the model returns the head's input (the features); put back on exit."""

    def __init__(self, swaps, capture):
        self.swaps, self.capture = swaps, capture

    def __enter__(self):
        self.saved = []
        for i, (parent, key) in enumerate(self.swaps):
            old, new = parent._modules[key], (self.capture if i == 0 else nn.Identity())
            self.saved.append((parent, key, old))
            if isinstance(parent, nn.Graph):
                parent.replace_layer(key, new)
            else:
                parent._modules[key] = new
        return self

    def __exit__(self, *exc):
        for parent, key, old in reversed(self.saved):
            if isinstance(parent, nn.Graph):
                parent.replace_layer(key, old)
            else:
                parent._modules[key] = old
        return False


class FeatureCache(ArrayPairs):
    """A frozen backbone's features of a dataset and the targets, computed once by
    `extract_features`; Trainer.fit / evaluate take it like an (inputs, targets) pair.

    features: float32 (N, ...) the head's inputs (e.g. (N, 512) for a ResNet-18);
    targets: the dataset's labels (N,); head: an nn.Sequential of the model's own head
    layer (and the parameter-free layers a Sequential runs after it), so training it
    trains the model's head in place; head_name: its dotted name in the model;
    compiled: whether the backbone ran on the compiled engine; seconds: extraction time.

        cache = finetune.extract_features(model, train_set)
        opt = optim.SGD(cache.head.parameters(), lr=0.1, momentum=0.9)
        cn.Trainer(cache.head, opt).fit(cache, epochs=20)      # the model's head is trained
        model.eval(); model(x)                                 # the full model predicts
    """

    def __init__(self, features, targets, head, head_name, compiled, seconds, name="features"):
        super().__init__(features, targets, name=name)
        self.head, self.head_name, self.compiled, self.seconds = head, head_name, bool(compiled), float(seconds)

    @property
    def features(self) -> np.ndarray:
        return self.inputs

    def __repr__(self):
        return (f"FeatureCache(n={len(self)}, features={tuple(self.inputs.shape[1:])}, head={self.head_name!r}, "
                f"compiled={self.compiled})")


def _relative_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-6))


def extract_features(model, data, batch_size: int = 256, *, compiled: bool = True) -> FeatureCache:
    """Run `model` without its head, in eval mode and once, over `data` (a
    cnnnative.data.Dataset or an (inputs, targets) pair; uint8 images are scaled as the
    Dataset does) and return the head's inputs as a FeatureCache.

    compiled: run the backbone on the compiled engine (cnnnative.compile) when it compiles;
    otherwise (or with compiled=False) eagerly, with a warning when compiling failed. The
    model must be on the CPU. A few samples are checked first: the head applied to their
    features must give the model's own output, else ValueError (a model whose forward does
    more after its last parameterised layer than a Sequential's parameter-free layers and
    a flatten). The model (parameters, modes) is unchanged afterwards."""
    from .inference import compile as compile_model
    from .ops._args import index
    from .train import _as_dataset

    data = _as_dataset(data, "extract_features: data")
    if data is None or len(data) == 0:
        raise ValueError("extract_features: data is empty")
    if model.device != "cpu":
        raise ValueError("extract_features runs on the CPU; model.to('cpu') first")
    batch_size = index(batch_size, "extract_features: batch_size")
    if batch_size < 1:
        raise ValueError(f"extract_features: batch_size must be >= 1, got {batch_size}")
    head_name = head(model)
    swaps, tail = _tail(model, head_name)
    capture = _Capture()
    modes = [(m, m.training) for m in model.modules()]
    t0 = time.perf_counter()
    feats, targets = [], []
    try:
        model.eval()
        batches = data.batches(batch_size, shuffle=False)
        x0, y0 = next(batches)
        probe = x0[:4]  # eval mode: samples are independent, a few check the whole
        with no_grad():
            expected = np.asarray(_host(model(probe)))
        with _Swapped(swaps, capture):
            with no_grad():
                model(probe)  # eager, for the shape of the head's input
            shape = capture.sample_shape
            run = None
            if compiled:
                try:
                    run = compile_model(model, (len(x0),) + tuple(x0.shape[1:]))
                except Exception as e:  # an op the engine lacks: eager is always possible
                    warnings.warn(f"extract_features: the backbone does not compile ({type(e).__name__}: {e}); "
                                  "running it eagerly", RuntimeWarning, stacklevel=2)
            forward = run if run is not None else model
            with no_grad():
                for x, y in itertools.chain([(x0, y0)], batches):
                    f = np.asarray(_host(forward(x)), np.float32)
                    if f.shape[1:] != shape:  # the forward reshapes what the head's layers return
                        if f[0].size != math.prod(shape):
                            raise ValueError(f"extract_features: {type(model).__name__} without its head returns "
                                             f"{f.shape[1:]} per sample, not the head's input {shape}")
                        f = f.reshape((len(f),) + shape)
                    feats.append(np.array(f, np.float32, copy=True))
                    targets.append(y)
        with no_grad():
            got = np.asarray(_host(tail(feats[0][:len(probe)])))
        if got.shape != expected.shape and expected.ndim == 2 and got.size == expected.size:
            tail.append(nn.Flatten())  # the forward flattens (N, k, 1, 1) logits itself (SqueezeNet)
            got = got.reshape(expected.shape)
        err = _relative_error(got, expected)
        if err > 1e-3:
            raise ValueError(f"extract_features: the head {head_name!r} applied to the features does not give "
                             f"{type(model).__name__}'s output (relative error {err:.3g}): its forward does more "
                             "after the head than the head's parameter-free successors in a Sequential")
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return FeatureCache(np.concatenate(feats), np.concatenate(targets), tail, head_name, run is not None,
                        time.perf_counter() - t0, name=f"features of {getattr(data, 'name', 'data')}")


def _host(a):
    from .tensor import Tensor
    a = a.data if isinstance(a, Tensor) else a
    return a.numpy() if type(a).__module__ == "cnnnative._cuda" else a
