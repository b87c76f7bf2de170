"""What a layer holds and what it sees: first-layer filters tiled into one image on a
common scale, and the feature maps a named layer produces for an input."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .attribution import eval_mode
from .capture import capture, find_module

__all__ = ["FilterGrid", "filter_grid", "first_conv", "feature_maps", "tile"]

FilterGrid = namedtuple("FilterGrid", ["image", "vmin", "vmax"])
FilterGrid.__doc__ = """image: the tiled filters in [0, 1] ((rows, cols) or (rows, cols, 3)),
where value v of any filter sits at (v - vmin) / (vmax - vmin): one scale for all, so a
colour bar from vmin to vmax reads every tile."""


def first_conv(model):
    """(name, module) of the first module with a 4-D weight (the first Conv2d)."""
    for name, m in model.named_modules():
        w = getattr(m, "_parameters", {}).get("weight")
        if w is not None and np.ndim(w.data) == 4:
            return name, m
    raise ValueError(f"{type(model).__name__} has no layer with a 4-D (convolution) weight")


def tile(images, ncols=None, pad: int = 1, pad_value: float = 1.0):
    """Images (K, h, w) or (K, h, w, 3) side by side in a grid of ncols columns (default
    about square), `pad` pixels of pad_value between and around them."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images: expected (K, h, w) or (K, h, w, 3) with K > 0, got shape {images.shape}")
    k, h, w = images.shape[:3]
    ncols = int(np.ceil(np.sqrt(k))) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be positive, got {ncols}")
    nrows = -(-k // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad) + images.shape[3:], pad_value, np.float32)
    for i in range(k):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    return grid


def filter_grid(weights, ncols=None, pad: int = 1, symmetric: bool = True) -> FilterGrid:
    """The filters of a convolution as one image on a common scale.

    weights: a (K, C, kh, kw) array, a conv layer, or a model (its first conv layer).
    C == 3 tiles RGB filters (K, kh, kw, 3); otherwise each filter's mean over its input
    channels, in grey. symmetric=True centres the scale on 0 (vmin = -vmax = -max|w|, so
    zero is mid-grey); False spans [min, max]. Returns FilterGrid(image, vmin, vmax)."""
    if hasattr(weights, "named_modules") and not hasattr(weights, "weight"):
        weights = first_conv(weights)[1]
    w = getattr(weights, "weight", weights)
    w = np.asarray(w.data if isinstance(w, Tensor) else w, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"weights: expected convolution filters (K, C, kh, kw), got shape {w.shape}")
    tiles = np.transpose(w, (0, 2, 3, 1)) if w.shape[1] == 3 else w.mean(axis=1)
    if symmetric:
        vmax = float(np.abs(tiles).max())
        vmin = -vmax
    else:
        vmin, vmax = float(tiles.min()), float(tiles.max())
    span = vmax - vmin if vmax > vmin else 1.0
    return FilterGrid(tile((tiles - vmin) / span, ncols, pad), vmin, vmax)


def feature_maps(model, x, layer: str):
    """The output of layer `layer` (a named_modules name) for input x (N, C, H, W) or one
    image (C, H, W): (N, ...) or, for one image, that image's maps (e.g. (C', h, w))."""
    find_module(model, layer)
    arr = np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float32)
    single = arr.ndim == 3
    with eval_mode(model), autograd.no_grad(), capture(model, layer) as cap:
        model(arr[None] if single else arr)
    if layer not in cap:
        raise ValueError(f"feature_maps: layer {layer!r} was not called in the model's forward")
    return cap[layer][0] if single else cap[layer]
