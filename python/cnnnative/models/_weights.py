"""The `weights=` argument every zoo builder takes: a path to a state_dict file (see
cnnnative.state_dict_file) or a mapping of arrays, loaded into the new model.

Loading is strict (every key of the model, nothing else, each shape equal) with two
allowances that make the transfer-learning scenarios one call:

* a new head: `resnet18(weights=path, num_classes=5)` loads every weight except the
  classifier's, whose shape no longer fits, and keeps the new head's fresh initialisation
  (a head left all zeros by nn.init.skip_random_init gets PyTorch's default one).
  The head is found, not named: the last parameterised layer (the one that produces the
  output) and, for networks with auxiliary classifiers, the last parameterised layer of
  another top-level child, provided only their output size (dim 0) differs and they all
  change it the same way. Any other shape mismatch is an error.
* `remap=`: keys renamed before loading, for files whose layout is a near miss (a
  "module." prefix from DataParallel, a renamed block): a callable key -> new key (None
  drops the entry) or a dict {regex: replacement (None drops)} applied in order with re.sub.

Missing or unexpected keys raise cnnnative.io.CheckpointKeyError (a ValueError and a
KeyError) that lists them with the nearest names on the other side.
"""
from __future__ import annotations

import difflib
import re
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

__all__ = ["load_weights", "head_names", "remap_keys"]

_LISTED = 8  # keys listed per kind in an error


def _key_mapper(remap):
    """remap (callable or {regex: replacement}) as a function key -> key or None."""
    if callable(remap):
        return remap
    if not isinstance(remap, dict):
        raise TypeError(f"remap must be a callable key -> key (or None) or a dict {{regex: replacement}}, "
                        f"got {type(remap).__name__}")
    rules = []
    for pattern, repl in remap.items():
        try:
            rules.append((re.compile(pattern), repl))
        except (re.error, TypeError) as e:
            raise ValueError(f"remap: pattern {pattern!r} is not a regular expression: {e}") from None
        if repl is not None and not isinstance(repl, str):
            raise TypeError(f"remap: replacement for {pattern!r} must be a str or None, got {type(repl).__name__}")

    def apply(key):
        for rx, repl in rules:
            if repl is None:
                if rx.search(key):
                    return None
            else:
                key = rx.sub(repl, key)
        return key
    return apply


def remap_keys(state, remap) -> "OrderedDict":
    """`state` with its keys renamed by `remap` (None: unchanged; a callable key -> key or
    None to drop; a dict {regex: replacement or None} applied in order with re.sub).
    ValueError when two entries get the same name."""
    if remap is None:
        return OrderedDict(state)
    mapper = _key_mapper(remap)
    out, source = OrderedDict(), {}
    for k, v in state.items():
        new = mapper(k)
        if new is None:
            continue
        if not isinstance(new, str):
            raise TypeError(f"remap({k!r}) returned a {type(new).__name__}, expected a str or None")
        if new in out:
            raise ValueError(f"remap: {source[new]!r} and {k!r} both become {new!r}")
        out[new], source[new] = v, k
    return out


def _param_layers(model):
    """(dotted name, module) of every module with parameters of its own, in registration
    (torchvision's state_dict) order."""
    return [(name, m) for name, m in model.named_modules()
            if any(p is not None for p in m._parameters.values())]


def head_names(model) -> list:
    """The classifier head(s): the last parameterised layer first, then the candidates for
    auxiliary heads (e.g. Inception's AuxLogits.fc): the last parameterised layer inside
    each other top-level block, when it is a convolution or linear layer (its weight has
    two or more dimensions). ValueError for a model without parameters."""
    layers = _param_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no parameters, so no head")
    last_of = OrderedDict()
    for n, m in layers:
        if "." in n:
            last_of[n.split(".", 1)[0]] = (n, m)
    main = layers[-1][0]
    aux = [n for n, m in last_of.values() if n.split(".", 1)[0] != main.split(".", 1)[0]
           and getattr(m._parameters.get("weight"), "ndim", 0) >= 2]
    return [main] + aux


def _from_torch(v):
    """A torch tensor (e.g. from torch_model.state_dict()) as numpy, floats of any width as
    float32 (numpy has no bfloat16); anything else unchanged."""
    if hasattr(v, "detach") and hasattr(v, "is_floating_point") and hasattr(v, "cpu"):
        v = v.detach().cpu()
        return (v.float() if v.is_floating_point() else v).numpy()
    return v


def _owner(key):
    return key.rsplit(".", 1)[0] if "." in key else ""


def _nearest(key, pool):
    close = difflib.get_close_matches(key, pool, n=1, cutoff=0.6)
    return f" (nearest: {close[0]!r})" if close else ""


def _prefix_hint(missing, unexpected):
    """A remap that would fix the commonest near miss: a prefix added or lost on every key."""
    for extra, lacking, rule in ((unexpected, missing, "{{r'^{p}': ''}}"), (missing, unexpected, "{{r'^': '{p}'}}")):
        heads = {k.split(".", 1)[0] for k in extra if "." in k}
        if len(heads) == 1:
            p = heads.pop() + "."
            if sum(k[len(p):] in set(lacking) for k in extra if k.startswith(p)) >= max(1, len(lacking) // 2):
                return f"; every key differs by the prefix {p!r}: remap={rule.format(p=re.escape(p))}"
    return ""


def _key_error(model, source, missing, unexpected):
    from ..io import CheckpointKeyError
    lines = [f"weights {source} do not fit {type(model).__name__}: {len(missing)} missing and "
             f"{len(unexpected)} unexpected keys{_prefix_hint(missing, unexpected)}"]
    for kind, keys, pool in (("missing", missing, unexpected), ("unexpected", unexpected, missing)):
        for k in keys[:_LISTED]:
            lines.append(f"  {kind} {k!r}{_nearest(k, pool)}")
        if len(keys) > _LISTED:
            lines.append(f"  ... and {len(keys) - _LISTED} more {kind}")
    lines.append("  (remap= renames keys: a callable key -> key or None, or {regex: replacement})")
    return CheckpointKeyError("\n".join(lines))


def _new_heads(model, source, state, own):
    """The keys of the head(s) whose shapes changed (left at their fresh initialisation);
    ValueError for any other shape mismatch."""
    wrong = [k for k in own if tuple(np.shape(state[k])) != tuple(own[k].shape)]
    if not wrong:
        return []
    heads = head_names(model)
    by_layer = OrderedDict()
    for k in wrong:
        by_layer.setdefault(_owner(k), []).append(k)
    change = {(np.shape(state[k])[0] if np.ndim(state[k]) else None, own[k].shape[0] if own[k].ndim else None)
              for k in wrong}
    fits = (heads[0] in by_layer and all(layer in heads for layer in by_layer) and len(change) == 1
            and all(np.ndim(state[k]) == own[k].ndim >= 1 and tuple(np.shape(state[k]))[1:] == own[k].shape[1:]
                    for k in wrong))
    if fits:
        return wrong
    listed = ", ".join(f"{k} {tuple(np.shape(state[k]))} in the weights, {tuple(own[k].shape)} in the model"
                       for k in wrong[:_LISTED])
    more = f" and {len(wrong) - _LISTED} more" if len(wrong) > _LISTED else ""
    raise ValueError(f"weights {source} do not fit {type(model).__name__}: shapes differ for {listed}{more}. "
                     f"Only the classifier head ({heads[0]}) may differ, and only in its output size "
                     "(a new num_classes); build the model with the options the weights were trained with")


def load_weights(model, weights, *, remap=None):
    """`model` with `weights` loaded; returns the model.

    weights: None (keep the initialisation), a path (.npz, .safetensors, .pth/.pt/.bin; see
    cnnnative.load_state_dict_file) or a mapping of name -> array (numpy arrays, or torch
    tensors such as torch_model.state_dict(), float16/bfloat16 ones included).
    remap: None, a callable key -> key (None drops the entry) or a dict {regex: replacement
    (None drops)} applied to the weights' keys in order.
    Every key must match (CheckpointKeyError listing missing / unexpected keys and the
    nearest names) and every shape must, except the classifier head's output size: a model
    built with another num_classes keeps its freshly initialised head and takes all other
    weights (see the module docstring). Nothing is changed when anything does not fit."""
    if weights is None:
        return model
    if isinstance(weights, Mapping):
        source, state = "mapping", OrderedDict((k, _from_torch(v)) for k, v in weights.items())
    else:
        from ..state_dict_file import load_state_dict_file
        source, state = repr(str(weights)), load_state_dict_file(weights)
    state = remap_keys(state, remap)
    own = OrderedDict(model._state_items())
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise _key_error(model, source, missing, unexpected)
    fresh = _new_heads(model, source, state, own)
    # The new head keeps its own initialisation; every other key was checked above.
    model.load_state_dict(OrderedDict((k, v) for k, v in state.items() if k not in fresh), strict=not fresh)
    modules = dict(model.named_modules())
    for layer in dict.fromkeys(_owner(k) for k in fresh):
        _initialise_if_blank(modules[layer])
    return model


def _initialise_if_blank(layer):
    """A new head that is all zeros was built under nn.init.skip_random_init (a builder that
    expected the weights to overwrite every parameter): give it PyTorch's default
    initialisation of Linear / Conv layers, kaiming-uniform(a=sqrt(5)) weights and biases
    uniform in +-1/sqrt(fan_in), instead of a head that cannot learn (zeros before a ReLU)."""
    import math

    from ..nn import init
    params = {n: p for n, p in layer._parameters.items() if p is not None}
    weight = params.get("weight")
    if weight is None or weight.data.ndim < 2 or any(np.any(p.data) for p in params.values()):
        return
    init.kaiming_uniform_(weight.data, a=math.sqrt(5))
    if params.get("bias") is not None:
        bound = 1.0 / math.sqrt(max(1, int(np.prod(weight.data.shape[1:]))))
        init.uniform_(params["bias"].data, -bound, bound)
