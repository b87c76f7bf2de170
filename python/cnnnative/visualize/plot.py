"""matplotlib figures of the arrays the other modules make (needs matplotlib: every
function raises ImportError saying so when it is missing). Each returns the Figure."""
from __future__ import annotations

import numpy as np

from .filters import filter_grid, tile
from .image import to_rgb

__all__ = ["plot_filters", "plot_feature_maps", "plot_heatmap"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("cnnnative.visualize plotting needs matplotlib (pip install matplotlib, or the "
                          "'plot' extra); the array functions (filter_grid, grad_cam, ...) do not") from None
    return plt


def plot_filters(weights, ncols=None, title: str = "first-layer filters"):
    """The filters (a model, a conv layer or a (K, C, kh, kw) array, see filter_grid) on
    one common scale, with a colour bar in weight units."""
    plt = _pyplot()
    grid = filter_grid(weights, ncols)
    fig, ax = plt.subplots(figsize=(6, 6))
    shown = ax.imshow(grid.image, cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
    ax.axis("off")
    ax.set_title(title)
    bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.linspace(0, 1, 5)
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{grid.vmin + t * (grid.vmax - grid.vmin):.3g}" for t in ticks])
    bar.set_label("weight" + (" (each of R, G, B)" if grid.image.ndim == 3 else " (mean over channels)"))
    return fig


def plot_feature_maps(maps, ncols=None, title: str = "feature maps", max_maps: int = 64):
    """One image's feature maps (C, h, w) (the first max_maps), on one common scale."""
    plt = _pyplot()
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps: expected one image's feature maps (C, h, w), got shape {maps.shape}")
    maps = maps[:max_maps]
    low, high = float(maps.min()), float(maps.max())
    grid = tile((maps - low) / (high - low) if high > low else np.zeros_like(maps), ncols, pad_value=np.nan)
    fig, ax = plt.subplots(figsize=(6, 6))
    shown = ax.imshow(grid * (high - low) + low, cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
    ax.axis("off")
    ax.set_title(title)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_heatmap(image, heat, title: str = "", alpha: float = 0.5):
    """An image (C, H, W) or (H, W) and a heat map (H, W) over it, with a colour bar."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 4))
    a1.imshow(to_rgb(image), interpolation="nearest")
    a1.set_title("input")
    a2.imshow(to_rgb(image), interpolation="nearest")
    shown = a2.imshow(np.asarray(heat), cmap="jet", alpha=alpha, vmin=0, vmax=1, interpolation="bilinear")
    a2.set_title(title)
    for a in (a1, a2):
        a.axis("off")
    fig.colorbar(shown, ax=a2, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
