"""Images in and out without extra packages: PNG writing (zlib), a heat-map colour map,
an overlay of a heat map on an image, and reading .npy (always) or .png (with Pillow or
matplotlib, whichever is installed)."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np

__all__ = ["write_png", "read_image", "to_rgb", "heat_colors", "overlay"]


def write_png(path, image) -> str:
    """Save an image as an 8-bit PNG: (H, W) grey or (H, W, 3) RGB, floats in [0, 1]
    (clipped) or uint8. Returns path."""
    a = np.asarray(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or a.size == 0:
        raise ValueError(f"image: expected (H, W) or (H, W, 3), got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.round(np.clip(np.nan_to_num(a.astype(np.float64)), 0, 1) * 255).astype(np.uint8)
    h, w = a.shape[:2]
    colour = 2 if a.ndim == 3 else 0
    rows = np.concatenate([np.zeros((h, 1), np.uint8), a.reshape(h, -1)], axis=1)  # filter 0 per row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)
    return os.fspath(path)


def read_image(path) -> np.ndarray:
    """An image file as an array: .npy as stored; .png as float32 in [0, 1], (H, W) or
    (H, W, 3/4) (needs Pillow or matplotlib: ImportError naming them otherwise)."""
    path = os.fspath(path)
    if path.lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        with Image.open(path) as im:
            a = np.asarray(im if im.mode in ("L", "RGB", "RGBA") else im.convert("RGB"))
        return a.astype(np.float32) / 255.0
    try:
        import matplotlib.image as mpimg
    except ImportError:
        raise ImportError(f"reading {path} needs Pillow or matplotlib (pip install pillow); "
                          "or save the image as a .npy array") from None
    return np.asarray(mpimg.imread(path), dtype=np.float32)


def to_rgb(image) -> np.ndarray:
    """One image (C, H, W) with C in (1, 3), or (H, W), as (H, W, 3) in [0, 1] (each
    image stretched to its own min..max)."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.transpose(a, (1, 2, 0))
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"image: expected (C, H, W) with C 1 or 3, or (H, W), got shape {np.shape(image)}")
    low, high = float(a.min()), float(a.max())
    a = (a - low) / (high - low) if high > low else np.zeros_like(a)
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a


def heat_colors(heat) -> np.ndarray:
    """Values in [0, 1] (H, W) -> RGB (H, W, 3): dark blue, cyan, yellow, red (a 'jet'-like map)."""
    t = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    r = np.clip(1.5 - np.abs(4 * t - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * t - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * t - 1), 0, 1)
    return np.stack([r, g, b], axis=-1)


def overlay(image, heat, alpha: float = 0.5) -> np.ndarray:
    """A heat map (H, W) in [0, 1] blended over an image ((C, H, W) or (H, W)): (H, W, 3)."""
    rgb = to_rgb(image)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != rgb.shape[:2]:
        raise ValueError(f"heat map of shape {heat.shape} for an image of size {rgb.shape[:2]}")
    return (1 - alpha) * rgb + alpha * heat_colors(heat)
