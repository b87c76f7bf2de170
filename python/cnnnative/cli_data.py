"""`cnnnative train`'s data options: a seeded validation split held out of the training
set (--val-split) and augmentation (--augment: random crop with 4 pixels of padding and
horizontal flips on training batches, every split normalised by the training split's
channel mean and std). Defaults depend on the dataset: cifar10 gets both (augmentation and
a 10% validation split, the usual CIFAR protocol); the digit sets get neither (a flipped
digit is another digit or none, and their default runs keep reporting the test set per
epoch as before)."""
from __future__ import annotations

import argparse

import numpy as np

__all__ = ["add_arguments", "prepare", "normalize_for_predict", "check_input_size"]

_AUGMENT_DEFAULT = {"cifar10": True}
_VAL_SPLIT_DEFAULT = {"cifar10": 0.1}
PADDING = 4  # RandomCrop padding, as in He et al. 2016 (section 4.2) for CIFAR-10


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def add_arguments(t):
    """Add --augment / --no-augment and --val-split to the train subparser."""
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help=f"random crop ({PADDING} px padding) and horizontal flip of training images, and "
                        "every split normalised by the training split's channel mean/std (saved in the "
                        "checkpoint; predict applies it). Default: on for cifar10, off for the digit sets")
    t.add_argument("--val-split", type=_fraction, default=None,
                   help="fraction of the training set held out (seeded by --seed) for the per-epoch "
                        "validation; the test set is then only used at the end. Default: 0.1 for cifar10, "
                        "0 (per-epoch numbers on the test set) otherwise")


def prepare(args, train_set, test_set) -> dict:
    """{"train", "val" (None without a split), "test": Datasets with their transforms,
    "augment": bool, "val_split": float, "extra": checkpoint entries (the normalisation)}."""
    from .data import Compose, Normalize, RandomCrop, RandomHorizontalFlip, channel_stats, split_validation

    augment = _AUGMENT_DEFAULT.get(args.dataset, False) if args.augment is None else args.augment
    fraction = _VAL_SPLIT_DEFAULT.get(args.dataset, 0.0) if args.val_split is None else args.val_split
    try:
        train, val = split_validation(train_set, fraction, args.seed)
    except ValueError as e:
        raise SystemExit(f"cnnnative train: --val-split {fraction:g}: {e}") from None
    extra = {}
    if augment:
        _, h, w = train.sample_shape
        full = train.max_value if train.images.dtype == np.uint8 else 1.0  # what batches divide by
        mean, std = channel_stats(train.images, full)
        std = np.maximum(std, 1e-6)  # a constant channel: no division by zero
        norm = Normalize(mean, std)
        train = train.with_transform(Compose([RandomCrop((h, w), padding=PADDING),
                                              RandomHorizontalFlip(), norm]))
        val = None if val is None else val.with_transform(norm)
        test_set = test_set.with_transform(norm)
        extra["normalize"] = {"mean": mean.tolist(), "std": std.tolist()}
    return {"train": train, "val": val, "test": test_set, "augment": bool(augment), "val_split": fraction,
            "extra": extra}


def normalize_for_predict(x, extra):
    """Images already scaled to [0, 1] -> what the model saw in training (the checkpoint's
    channel normalisation, if it was trained with --augment)."""
    norm = (extra or {}).get("normalize")
    if not norm:
        return x
    from .data import Normalize
    return Normalize(norm["mean"], norm["std"])(x)


def check_input_size(model_name, h, w, dataset):
    """A model whose smallest input is larger than the dataset's images: one clear line
    before anything is built (models.MIN_INPUT_SIZE)."""
    from .models import MIN_INPUT_SIZE

    need = MIN_INPUT_SIZE.get(model_name)
    if need is not None and (h < need or w < need):
        raise SystemExit(f"cnnnative train: --model {model_name} needs images of at least {need}x{need}; "
                         f"{dataset} has {h}x{w}")
