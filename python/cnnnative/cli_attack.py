"""`cnnnative attack`: adversarial versions of images for a trained checkpoint.

    cnnnative attack run/model.npz images.npy --eps 0.1                  # FGSM
    cnnnative attack run/model.npz images.npy --eps 0.1 --steps 10       # PGD, L-inf
    cnnnative attack run/model.npz images.npy --eps 0.5 --norm 2 --steps 20 --target 3 --figure

Images are read and scaled as `cnnnative predict` does; eps and alpha are in the model's
input units (pixels scaled to [0, 1]). Writes <out>/adversarial.npy (float32 (N, C, H, W)
in those units, so `cnnnative predict` reads it back as is), <out>/predictions.json and,
with --figure and matplotlib, <out>/figure.png (original, perturbation, adversarial).
"""
from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["add_parser", "attack"]


def add_parser(sub, positive_int, positive_float, non_negative_float):
    a = sub.add_parser("attack", help="adversarial examples (FGSM / PGD) for images and a checkpoint")
    a.add_argument("checkpoint", help="a checkpoint (.npz) of `cnnnative train`")
    a.add_argument("images", help=".npy: (N, C, H, W), (N, H, W) or (H, W), as for predict")
    a.add_argument("--eps", type=non_negative_float, required=True,
                   help="radius of the perturbation in the model's input units (pixels scaled to [0, 1])")
    a.add_argument("--steps", type=positive_int, default=1, help="1: FGSM (default); more (or --alpha): PGD")
    a.add_argument("--alpha", type=positive_float, default=None, help="PGD step size (default 2.5 * eps / steps)")
    a.add_argument("--norm", choices=("inf", "2"), default="inf")
    a.add_argument("--target", type=int, default=None, help="targeted attack towards this class")
    a.add_argument("--labels", default=None,
                   help=".npy of true labels (N,) for the untargeted attack (default: the model's predictions)")
    a.add_argument("--no-random-start", action="store_true", help="PGD: start at the image (iterative FGSM)")
    a.add_argument("--seed", type=int, default=0, help="PGD: seed of the random start")
    a.add_argument("--input-max", type=positive_float, default=None,
                   help="pixel value of full intensity in the images (default as for predict)")
    a.add_argument("--batch-size", type=positive_int, default=256)
    a.add_argument("--out", default="cnnnative-attack", help="output directory")
    a.add_argument("--figure", action="store_true",
                   help="also write figure.png (original, perturbation, adversarial; needs matplotlib)")
    a.add_argument("--index", type=int, default=0, help="the image shown by --figure (default 0)")
    a.add_argument("--json", action="store_true", help="print the predictions as one JSON document")
    return a


def _fail(message):
    raise SystemExit(f"cnnnative attack: {message}")


def _top(logits):
    """(classes (N,), probabilities of those classes (N,))."""
    from . import ops
    p = ops.softmax(np.asarray(logits, np.float32), 1)
    k = p.argmax(axis=1)
    return k, p[np.arange(len(k)), k]


def attack(args):
    from .adversarial import fgsm, pgd, predict_logits
    from .adversarial.figure import attack_figure
    from .cli import _model_and_images

    model, x = _model_and_images(args.checkpoint, args.images, args.input_max, "attack")
    n = len(x)
    if n == 0:
        _fail(f"{args.images} holds no images")
    if args.figure and not -n <= args.index < n:
        _fail(f"--index {args.index} is out of range for {n} images")
    if args.figure:  # after the arguments' own checks, before any attack runs
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            _fail("--figure needs matplotlib (pip install matplotlib)")
    logits = predict_logits(model, x, args.batch_size)
    classes = logits.shape[1]
    if args.target is not None and not 0 <= args.target < classes:
        _fail(f"--target {args.target} is not a class of this model (0..{classes - 1})")
    if args.labels is not None:
        try:
            y = np.load(args.labels, allow_pickle=False)
        except (OSError, ValueError) as e:
            _fail(f"cannot read --labels {args.labels}: {e}")
        if not isinstance(y, np.ndarray) or y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            _fail(f"--labels must be an integer .npy of shape ({n},), got "
                  f"{getattr(y, 'dtype', '?')} {getattr(y, 'shape', '?')}")
    else:
        y = logits.argmax(axis=1)
    norm = "inf" if args.norm == "inf" else 2
    targeted = args.target is not None
    goal = np.full(n, args.target, np.int64) if targeted else y
    one_step = args.steps == 1 and args.alpha is None  # FGSM; anything else is PGD
    out = []
    for i in range(0, n, args.batch_size):
        xb, yb = x[i:i + args.batch_size], goal[i:i + args.batch_size]
        if one_step:
            out.append(fgsm(model, xb, yb, args.eps, norm=norm, targeted=targeted))
        else:
            out.append(pgd(model, xb, yb, args.eps, alpha=args.alpha, steps=args.steps, norm=norm, targeted=targeted,
                           random_start=not args.no_random_start, seed=args.seed + i))
    x_adv = np.concatenate(out)
    before, p_before = _top(logits)
    after, p_after = _top(predict_logits(model, x_adv, args.batch_size))
    delta = (x_adv - x).reshape(n, -1)
    success = after == args.target if targeted else after != y
    os.makedirs(args.out, exist_ok=True)
    adv_path = os.path.join(args.out, "adversarial.npy")
    np.save(adv_path, x_adv)
    report = {
        "attack": "fgsm" if one_step else "pgd", "eps": args.eps, "norm": args.norm, "steps": args.steps,
        "alpha": args.eps if one_step else (args.alpha or 2.5 * args.eps / args.steps),
        "target": args.target, "images": n,
        "success_rate": float(success.mean()), "adversarial": adv_path,
        "before": {"classes": before.tolist(), "probabilities": p_before.tolist()},
        "after": {"classes": after.tolist(), "probabilities": p_after.tolist()},
        "linf": np.abs(delta).max(axis=1).tolist(), "l2": np.sqrt((delta.astype(np.float64) ** 2).sum(axis=1)).tolist(),
    }
    if args.figure:
        k = args.index % n
        report["figure"] = attack_figure(x[k], x_adv[k], (before[k], p_before[k]), (after[k], p_after[k]),
                                         os.path.join(args.out, "figure.png"))
    with open(os.path.join(args.out, "predictions.json"), "w") as f:
        json.dump(report, f, indent=1)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{'image':>5}  {'before':>12}  {'after':>12}  {'L-inf':>7}  {'L2':>7}")
    for i in range(n):
        print(f"{i:>5}  {before[i]:>4} ({p_before[i]:.3f})  {after[i]:>4} ({p_after[i]:.3f})  "
              f"{report['linf'][i]:>7.4f}  {report['l2'][i]:>7.4f}")
    what = f"reached target {args.target}" if targeted else "changed class"
    print(f"{int(success.sum())}/{n} images {what} ({report['attack']}, eps {args.eps:g}, norm {args.norm}); "
          f"written to {args.out}")
    return 0
