"""Weights from files: `load_state_dict_file(path)` reads a state_dict (name -> numpy array)
from the formats weights travel in, with no hub and no download:

  .npz           a plain archive of arrays (np.savez of a state_dict), or a cnnnative
                 checkpoint (`cnnnative.save`), whose model/<key> entries are taken
  .safetensors   the format most hubs ship (the optional `safetensors` package, numpy only)
  .pth / .pt     PyTorch's pickled state_dict, read with torch.load(weights_only=True)
                 when torch is installed (a {"state_dict": ...} or {"model": ...} wrapper
                 is unwrapped)

Nothing is executed while loading (no pickle outside torch's weights-only loader).
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

__all__ = ["load_state_dict_file"]


def _from_npz(path) -> "OrderedDict[str, np.ndarray]":
    with np.load(path, allow_pickle=False) as z:
        names = list(z.files)
        if "__format__" in names:  # a cnnnative checkpoint: the model's entries
            return OrderedDict((k[len("model/"):], z[k]) for k in names if k.startswith("model/"))
        return OrderedDict((k, z[k]) for k in names)


def _from_safetensors(path):
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise ImportError(f"reading {path!r} needs the safetensors package: "
                          "pip install 'cnnnative[safetensors]'") from None
    return OrderedDict(load_file(path))


def _from_torch(path):
    try:
        import torch
    except ImportError:
        raise ImportError(f"reading {path!r} (a PyTorch file) needs torch; save it as .safetensors "
                          "or .npz to load it without torch") from None
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise ValueError(f"{path!r} holds a {type(obj).__name__}, not a state_dict")
    out = OrderedDict()
    for k, v in obj.items():
        if not hasattr(v, "detach"):
            raise ValueError(f"{path!r}: entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k] = v.detach().cpu().numpy()
    return out


_READERS = {".npz": _from_npz, ".safetensors": _from_safetensors, ".pth": _from_torch, ".pt": _from_torch}


def load_state_dict_file(path) -> "OrderedDict[str, np.ndarray]":
    """The state_dict stored in `path` (.npz, .safetensors, .pth/.pt) as numpy arrays, in
    the file's order. ValueError for an unknown extension or a file that holds no arrays."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _READERS:
        raise ValueError(f"load_state_dict_file: cannot tell the format of {path!r} from its extension; "
                         f"expected one of {sorted(_READERS)}")
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return _READERS[ext](path)
