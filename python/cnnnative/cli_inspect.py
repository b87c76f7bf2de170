"""The `cnnnative` subcommands that look inside a network (see cli.py for the command line):

    cnnnative summary --model vgg16 [--input-shape 3,224,224]   # a zoo builder, random weights
    cnnnative explain run/model.npz image.png --method gradcam [--layer NAME] [--class K] --out heat.png

`explain` reads .npy images always and .png images with Pillow or matplotlib; it writes
the PNG itself (input | heat map | overlay), with no extra package.
"""
from __future__ import annotations

import inspect
import json
import os

import numpy as np

__all__ = ["summary_model", "explain"]


def _fail(command, message):
    raise SystemExit(f"cnnnative {command}: {message}")


def _default_shape(builder):
    """(in_channels, input_size, input_size) from the builder's defaults (3, 224)."""
    params = inspect.signature(builder).parameters
    c = params["in_channels"].default if "in_channels" in params else 3
    s = params["input_size"].default if "input_size" in params else 224
    return (int(c), int(s), int(s))


def summary_model(args):
    """`cnnnative summary --model NAME`: the zoo model's per-layer table (ModelSummary)."""
    from . import models
    from .cli_onnx import _parse_shape
    if args.model is not None:
        _fail("summary", "give an ONNX model or --model NAME, not both")
    if args.builder not in models.MODELS:
        _fail("summary", f"unknown model {args.builder!r}; choose one of {sorted(models.MODELS)}")
    builder = models.MODELS[args.builder]
    sample = _parse_shape(args.input_shape, "summary") or _default_shape(builder)
    # builders whose layers depend on the input take its channels and (square) size
    params = inspect.signature(builder).parameters
    kwargs = {"in_channels": sample[0]} if "in_channels" in params else {}
    if "input_size" in params and len(sample) == 3 and sample[1] == sample[2]:
        kwargs["input_size"] = sample[1]
    model = models.build(args.builder, **kwargs)
    s = model.summary(sample)
    if args.json:
        print(json.dumps({"model": args.builder, "input_shape": list(s["input_shape"]), "totals": s["totals"],
                          "rows": s["rows"]}))
        return 0
    print(f"{args.builder}: input {sample} per sample")
    print(s)
    return 0


def _load_model(path):
    from . import io, models
    if not os.path.isfile(path):
        _fail("explain", f"checkpoint {path} not found")
    try:
        ck = io.load(path)
    except (OSError, ValueError) as e:
        _fail("explain", f"{path} is not a cnnnative checkpoint ({e})")
    spec = ck["meta"].get("model_spec")
    if not spec:
        _fail("explain", f"{path} does not record its model builder")
    model = models.build(spec["builder"], **spec["kwargs"])
    model.load_state_dict(ck["model_state"])
    return model.eval(), spec["kwargs"], float((ck["meta"].get("extra") or {}).get("max_value", 255.0))


def _read(path, channels, size, trained_max, index=0):
    """The image as (1, channels, H, W) floats scaled like the training images; from a
    stack ((N, H, W) for a one-channel model, or (N, C, H, W)) the one at `index`."""
    from . import ops
    from .visualize import read_image
    if not os.path.isfile(path):
        _fail("explain", f"image {path} not found")
    try:
        a = read_image(path)
    except ImportError as e:
        _fail("explain", str(e))
    except (OSError, ValueError) as e:
        _fail("explain", f"cannot read {path}: {e}")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / np.float32(trained_max)  # .npy pixels on the training set's scale
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 3 and a.shape[-1] in (3, 4) and a.shape[0] not in (1, 3):
        a = np.transpose(a[..., :3], (2, 0, 1))  # (H, W, RGB[A]) from a PNG
    if a.ndim == 3 and channels == 1 and a.shape[0] != 1:
        a = a[:, None]  # a stack of grey images
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 4:
        if not -len(a) <= index < len(a):
            _fail("explain", f"--index {index}: {path} holds {len(a)} images")
        a = a[index]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        _fail("explain", f"image of shape {a.shape}: expected (H, W), (C, H, W) or (H, W, 3)")
    if a.shape[0] != channels:
        a = a.mean(axis=0, keepdims=True) if channels == 1 else np.repeat(a, channels, axis=0)
    x = np.ascontiguousarray(a[None], dtype=np.float32)
    if size is not None and x.shape[2:] != (size, size):
        x = ops.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def _last_conv(model):
    names = [n for n, m in model.named_modules()
             if getattr(m, "_parameters", {}).get("weight") is not None and np.ndim(m.weight.data) == 4]
    if not names:
        _fail("explain", "the model has no convolution layer for Grad-CAM; use --method saliency")
    return names[-1]


def _panels(x, heat, height=192):
    """input | heat map | overlay, side by side, enlarged (nearest) to about `height`."""
    from .visualize import heat_colors, overlay, to_rgb
    image = x[0]
    scale = max(1, height // image.shape[1])
    panels = [to_rgb(image), heat_colors(heat), overlay(image, heat)]
    gap = np.ones((image.shape[1] * scale, max(2, scale), 3), np.float32)
    out = []
    for p in panels:
        out += [np.repeat(np.repeat(p, scale, axis=0), scale, axis=1), gap]
    return np.concatenate(out[:-1], axis=1)


def explain(args):
    """`cnnnative explain CHECKPOINT IMAGE`: a heat map of what decides the class."""
    from . import ops, visualize
    from .autograd import no_grad
    model, kw, trained_max = _load_model(args.checkpoint)
    x = _read(args.image, kw.get("in_channels", 1), kw.get("input_size"), trained_max, args.index)
    with no_grad():
        probs = ops.softmax(np.asarray(model(x)), 1)[0]
    k = int(np.argmax(probs)) if args.target is None else args.target
    if not 0 <= k < len(probs):
        _fail("explain", f"--class {k}: the model has classes 0..{len(probs) - 1}")
    layer = None
    if args.method == "gradcam":
        layer = args.layer or _last_conv(model)
        try:
            heat = visualize.grad_cam(model, x, layer, target=k)[0]
        except ValueError as e:
            _fail("explain", str(e))
    elif args.layer:
        _fail("explain", f"--layer applies to --method gradcam, not {args.method}")
    else:
        fn = visualize.saliency if args.method == "saliency" else visualize.smoothgrad
        heat = fn(model, x, target=k)[0]
        heat = heat / heat.max() if heat.max() > 0 else heat
    visualize.write_png(args.out, _panels(x, heat))
    result = {"class": k, "probability": float(probs[k]), "method": args.method, "layer": layer, "out": args.out}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"class {k} (p={probs[k]:.3f}), {args.method}" + (f" at layer {layer}" if layer else "")
              + f": {args.out}")
    return 0
