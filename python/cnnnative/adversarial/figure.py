"""The lectures' "panda" figure (Goodfellow et al. 2015, figure 1): original + scaled
perturbation = adversarial image, each titled with its top class and confidence."""
from __future__ import annotations

import numpy as np

__all__ = ["attack_figure"]


def _displayable(img):
    """(C, H, W) -> what imshow takes: (H, W) for one channel, (H, W, 3) for three, the
    channel mean otherwise."""
    img = np.asarray(img, np.float32)
    if img.ndim == 2:
        return img
    if img.shape[0] == 3:
        return np.transpose(img, (1, 2, 0))
    return img.mean(axis=0)


def attack_figure(x, x_adv, before, after, path, clip=(0.0, 1.0), class_names=None) -> str:
    """Write a PNG of three panels for one image: x (C, H, W), the perturbation x_adv - x
    scaled to fill the display range (mid-grey is zero), and x_adv. before / after:
    (class index, probability) of the model's top class for x and x_adv. clip: the input
    range shown as black..white. Needs matplotlib (ImportError otherwise). Returns path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = (0.0, 1.0) if clip is None else clip
    delta = np.asarray(x_adv, np.float32) - np.asarray(x, np.float32)
    peak = float(np.abs(delta).max())
    shown = 0.5 + 0.5 * delta / peak if peak > 0 else np.full_like(delta, 0.5)
    name = (lambda k: str(class_names[k])) if class_names is not None else str
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.6))
    panels = [(x, f"x\nclass {name(before[0])} ({100 * before[1]:.1f}% confidence)", (lo, hi)),
              (shown, f"perturbation (x{0.5 / peak if peak > 0 else 1:.3g} for display)\nmax |delta| = {peak:.3g}",
               (0.0, 1.0)),
              (x_adv, f"x + perturbation\nclass {name(after[0])} ({100 * after[1]:.1f}% confidence)", (lo, hi))]
    for ax, (img, title, (vmin, vmax)) in zip(axes, panels):
        img = _displayable(img)
        if img.ndim == 3:  # colour: imshow takes [0, 1]
            ax.imshow(np.clip((img - vmin) / (vmax - vmin), 0, 1), interpolation="nearest")
        else:
            ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.text(0.345, 0.43, "+", fontsize=20, ha="center", va="center")
    fig.text(0.655, 0.43, "=", fontsize=20, ha="center", va="center")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.82, wspace=0.25)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
