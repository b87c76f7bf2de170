"""The `cnnnative` command: train, predict, attack, info, bench.

    cnnnative train                    # small CNN on the embedded digits, a few epochs
    cnnnative train --dataset mnist --data-dir ~/data --download --model seed_mnist_net
    cnnnative predict run/model.npz images.npy
    cnnnative attack run/model.npz images.npy --eps 0.1 [--steps 10 --norm inf|2 --target K --figure]
    cnnnative info
    cnnnative bench
    cnnnative predict model.onnx images.npy [--out preds.npy] [--top K]   # ONNX models: cli_onnx.py
    cnnnative bench model.onnx [--batch N] [--threads T]
    cnnnative summary model.onnx
    cnnnative summary --model vgg16 [--input-shape 3,224,224]           # cli_inspect.py
    cnnnative explain run/model.npz image.png --method gradcam --out heat.png

Every failure ends in one line on stderr, `cnnnative <command>: <what went wrong>`, and a
non-zero exit status; set CNNNATIVE_TRACEBACK=1 to see
the Python traceback of an unexpected error instead.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

from . import cli_data

__all__ = ["main"]

_DEFAULT_MODEL = {"digits": "digits_net", "mnist": "seed_mnist_net", "fashion-mnist": "seed_mnist_net",
                  "cifar10": "vgg_small"}


_THREADS_HELP = ("threads for every kernel (default: OMP_NUM_THREADS, else the CPUs this process may "
                 "run on). Use at most one per core you have to yourself: with other busy processes "
                 "on the machine fewer (often 1) is faster. `cnnnative info` shows the count and how "
                 "idle threads wait")


# Hyperparameters a model needs that differ from the command's defaults. all_conv_net (nine
# plain ReLU convolutions, no pooling or normalisation) diverged early at lr 0.1 on short
# runs and sat at chance; at 0.05 it reaches 98% on the digits (tests/test_cli_failures.py).
_MODEL_DEFAULTS = {"all_conv_net": {"lr": 0.05}}


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (`cnnnative train: argument --lr: ...`)
    instead of the usage text followed by the error."""

    def error(self, message):
        raise SystemExit(f"{self.prog}: {message}")  # printed to stderr, exit status 1


def _number(kind, low, low_inclusive, what):
    """An argparse type: a `kind` number above (or from) `low`."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not (value >= low if low_inclusive else value > low) or not np.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    return parse


_positive_int = _number(int, 0, False, "positive")
_positive_float = _number(float, 0.0, False, "positive")
_non_negative_float = _number(float, 0.0, True, "zero or positive")


def _parser():
    from . import __version__
    from .data import DATASETS
    from .models import MODELS

    p = _Parser(prog="cnnnative", description="CNNs on a native C++ engine.")
    p.add_argument("--version", action="version", version=f"cnnnative {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model and save a checkpoint")
    t.add_argument("--model", choices=sorted(MODELS), default=None,
                   help="builder from cnnnative.models (default: digits_net for digits, "
                        "seed_mnist_net for (fashion-)mnist, vgg_small for cifar10)")
    t.add_argument("--dataset", choices=DATASETS, default="digits")
    t.add_argument("--data-dir", default=None, help="directory holding (or receiving) the dataset files")
    t.add_argument("--download", action="store_true", help="download the dataset into --data-dir if missing")
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--batch-size", type=_positive_int, default=None,
                   help="default 32 (with --distributed: per rank; with --resume: the checkpoint's global batch)")
    t.add_argument("--limit", type=_positive_int, default=None,
                   help="use only the first N training and N test images (quick checks)")
    t.add_argument("--lr", type=_positive_float, default=None,
                   help="default 0.1 for digits, 0.05 otherwise and for all_conv_net")
    t.add_argument("--momentum", type=_non_negative_float, default=0.9)
    t.add_argument("--weight-decay", type=_non_negative_float, default=5e-4)
    t.add_argument("--schedule", choices=("none", "cosine", "step"), default="cosine",
                   help="learning-rate schedule over the epochs")
    t.add_argument("--threads", type=_positive_int, default=None, help=_THREADS_HELP)
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the optional CUDA backend)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="cnnnative-run", help="output directory (checkpoint, plots)")
    t.add_argument("--no-plots", action="store_true", help="skip the PNGs even if matplotlib is installed")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    _add_transfer_args(t)
    cli_data.add_arguments(t)
    from .cli_distributed import add_arguments as add_distributed_args
    add_distributed_args(t, _positive_int, _positive_float, _non_negative_float)

    pr = sub.add_parser("predict", help="classify images stored in a .npy file")
    pr.add_argument("checkpoint", help="a checkpoint (.npz) of `cnnnative train`, or an ONNX model (.onnx)")
    pr.add_argument("images", help=".npy: (N, C, H, W), (N, H, W) or (H, W)")
    pr.add_argument("--input-max", type=_positive_float, default=None,
                    help="pixel value of full intensity in the images (default: the training set's, "
                         "e.g. 16 for digits, for integer images; 1 for float images)")
    pr.add_argument("--batch-size", type=_positive_int, default=256)
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--out", default=None, help="save the model's outputs (logits) to this .npy file")
    pr.add_argument("--top", type=_positive_int, default=None,
                    help="print the K most probable classes per image (default 1)")

    from .cli_attack import add_parser as add_attack_parser
    add_attack_parser(sub, _positive_int, _positive_float, _non_negative_float)

    sub.add_parser("info", help="print build and CPU information, threads and how idle threads wait (JSON)")

    b = sub.add_parser("bench", help="time convolution layers (beside PyTorch when installed), or an ONNX "
                                     "model compiled beside ONNX Runtime with a per-node profile")
    b.add_argument("model", nargs="?", default=None, help="an ONNX model (.onnx) to time instead of the layers")
    b.add_argument("--threads", type=_positive_int, default=None, help=_THREADS_HELP)
    b.add_argument("--repeats", type=_positive_int, default=None,
                   help="timing rounds (default 5 for the layers, 30 for an ONNX model)")
    b.add_argument("--batch", type=_positive_int, default=1, help="ONNX model: the batch size timed")
    b.add_argument("--input-shape", default=None,
                   help="ONNX model with symbolic sizes: the per-sample input shape, e.g. 3,224,224")
    b.add_argument("--no-ort", action="store_true", help="ONNX model: do not time ONNX Runtime")
    b.add_argument("--no-torch", action="store_true")
    b.add_argument("--layers", default=None, help="comma-separated layer names (default: all)")
    b.add_argument("--json", action="store_true", help="print the rows as one JSON document only")

    sm = sub.add_parser("summary", help="an ONNX model's (or a zoo model's) ops, parameters, FLOPs, "
                                        "activation memory and receptive fields per layer")
    sm.add_argument("model", nargs="?", default=None, help="an ONNX model (.onnx)")
    sm.add_argument("--model", dest="builder", default=None,
                    help="instead: a cnnnative.models builder (e.g. vgg16), built with random weights")
    sm.add_argument("--input-shape", default=None,
                    help="the per-sample input shape, e.g. 3,224,224 (an ONNX model: for symbolic sizes; "
                         "--model: default the builder's channels and size, else 224)")
    sm.add_argument("--json", action="store_true", help="print one JSON document")
    _explain_parser(sub)
    return p


def _explain_parser(sub):
    e = sub.add_parser("explain", help="a heat map of what decides a checkpoint's class for an image "
                                       "(Grad-CAM, saliency, SmoothGrad)")
    e.add_argument("checkpoint", help="a checkpoint (.npz) of `cnnnative train`")
    e.add_argument("image", help="the image: .npy ((H, W), (C, H, W) or a stack) or .png (needs Pillow or matplotlib)")
    e.add_argument("--index", type=int, default=0, help="which image of a stack (N, [C,] H, W) in a .npy file")
    e.add_argument("--method", choices=("gradcam", "saliency", "smoothgrad"), default="gradcam")
    e.add_argument("--layer", default=None, help="Grad-CAM's layer, a named_modules name (default: the last conv)")
    e.add_argument("--class", dest="target", type=int, default=None, help="the class explained (default: the top one)")
    e.add_argument("--out", default="explain.png", help="the PNG written: input | heat map | overlay")
    e.add_argument("--json", action="store_true", help="print one JSON object")


def _plots(out_dir, history, model, val_label="test"):
    """Training curves and first-layer filters as PNGs; silently skipped without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from .nn import Conv2d

    written = []
    epochs = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.plot(epochs, [h["loss"] for h in history], label="train")
    if history and "val_loss" in history[0]:
        a1.plot(epochs, [h["val_loss"] for h in history], label=val_label)
    a1.set_xlabel("epoch"), a1.set_ylabel("loss"), a1.legend()
    a2.plot(epochs, [h["accuracy"] for h in history], label="train")
    if history and "val_accuracy" in history[0]:
        a2.plot(epochs, [h["val_accuracy"] for h in history], label=val_label)
    a2.set_xlabel("epoch"), a2.set_ylabel("accuracy"), a2.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, "curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)

    conv = next((m for m in model.modules() if isinstance(m, Conv2d)), None)
    if conv is not None:
        w = conv.weight.data
        k = w.shape[0]
        cols = int(np.ceil(np.sqrt(k)))
        rows = int(np.ceil(k / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1))
        for i, ax in enumerate(np.atleast_1d(axes).ravel()):
            ax.axis("off")
            if i < k:
                f = w[i].mean(axis=0) if w.shape[1] != 3 else np.transpose(w[i], (1, 2, 0))
                f = (f - f.min()) / (np.ptp(f) + 1e-12)
                ax.imshow(f, cmap=None if f.ndim == 3 else "gray", interpolation="nearest")
        fig.suptitle("first-layer filters")
        path = os.path.join(out_dir, "filters.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _prepare_out(path):
    """Create the output directory and prove it is writable now, before any training time
    is spent on a run whose checkpoint could not be saved."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise SystemExit(f"cnnnative train: cannot write to --out {path}: {e.strerror or e}") from None


def _build_kwargs(builder, **wanted):
    """The subset of wanted keyword arguments the builder takes (the module-class ResNets
    have no input_size: they end in global pooling)."""
    params = inspect.signature(builder).parameters
    return {k: v for k, v in wanted.items() if k in params}


def _add_transfer_args(t):
    g = t.add_argument_group("transfer learning (see cnnnative.finetune)")
    g.add_argument("--weights", default=None, metavar="FILE",
                   help="start from these weights (.npz, .safetensors, .pth/.pt/.bin with torch): every layer "
                        "loads but the classifier head, which is new when the dataset's classes differ")
    g.add_argument("--freeze-backbone", action="store_true",
                   help="train only the head, on features the frozen rest computes once (compiled)")
    g.add_argument("--freeze-up-to", default=None, metavar="LAYER",
                   help="freeze the layers up to and including LAYER (e.g. layer3) and fine-tune the rest")
    g.add_argument("--backbone-lr", type=_non_negative_float, default=None,
                   help="learning rate of every layer but the head (which takes --lr)")


def _transfer_params(args, model, lr):
    """What the optimizer updates: the model, or after --freeze-backbone / --freeze-up-to
    its trainable parameters, in two groups (backbone, head) with --backbone-lr."""
    from . import finetune
    if args.freeze_backbone and (args.freeze_up_to is not None or args.backbone_lr is not None):
        raise SystemExit("cnnnative train: --freeze-backbone trains the head alone; it takes neither "
                         "--freeze-up-to nor --backbone-lr")
    if args.freeze_backbone and args.device != "cpu":
        raise SystemExit("cnnnative train: --freeze-backbone runs on the CPU (the compiled engine); "
                         "drop --device")
    if args.freeze_backbone or args.freeze_up_to is not None:
        finetune.freeze(model, args.freeze_up_to)
    if not args.json:
        print(f"transfer learning: {'weights ' + args.weights if args.weights else 'no weights'}; head "
              f"{finetune.head(model)}; {model.num_parameters(trainable_only=True)} of {model.num_parameters()} "
              "parameters train")
    if args.backbone_lr is not None:
        return finetune.param_groups(model, lr, args.backbone_lr)
    return [p for p in model.parameters() if p.requires_grad]


def _fit(args, trainer, train_set, test_set, save=None):
    """trainer.fit, or with --freeze-backbone: the backbone's features cached once and
    the model's head trained on them (the trainer then holds the head's history)."""
    if not args.freeze_backbone:
        from .cli_distributed import fit_epochs  # --resume, --save-every
        return fit_epochs(args, trainer, train_set, test_set, save)
    from .finetune import extract_features
    from .train import Trainer
    train_f, test_f = extract_features(trainer.model, train_set), extract_features(trainer.model, test_set)
    if not args.quiet and not args.json:
        print(f"features {train_f.features.shape[1:]} of {len(train_f)} + {len(test_f)} images cached in "
              f"{train_f.seconds + test_f.seconds:.2f} s ({'compiled' if train_f.compiled else 'eager'})")
    head = Trainer(train_f.head, trainer.optimizer, scheduler=trainer.scheduler, seed=trainer.seed,
                   quiet=trainer.quiet, log=trainer.log)
    history = head.fit(train_f, test_f, epochs=args.epochs, batch_size=args.batch_size)
    trainer.epoch, trainer.history = head.epoch, head.history
    return history


def _train(args):
    import cnnnative
    from . import data, models, nn, optim
    from .train import Trainer

    if args.dataset != "digits" and args.data_dir is None:
        raise SystemExit(f"cnnnative train: --dataset {args.dataset} needs --data-dir")
    comm = None
    if args.distributed:
        from . import distributed
        from .cli_distributed import threads_per_rank
        comm = distributed.get_communicator()
        if args.freeze_backbone or args.device != "cpu":
            raise SystemExit("cnnnative train: --distributed trains on the CPU, without --freeze-backbone")
        if args.threads is None and not os.environ.get("OMP_NUM_THREADS"):
            args.threads = threads_per_rank(comm)  # the ranks of a machine share its cores
    elif args.scale_lr or args.warmup_epochs or args.collective_timeout or args.sync_batchnorm:
        raise SystemExit("cnnnative train: --scale-lr, --warmup-epochs, --collective-timeout and --sync-batchnorm "
                         "need --distributed")
    if args.save_every and (args.device != "cpu" or args.freeze_backbone):
        raise SystemExit("cnnnative train: --save-every trains on the CPU, without --freeze-backbone")
    rank0 = comm is None or comm.rank == 0
    if args.threads is not None:
        cnnnative.set_num_threads(args.threads)
    if rank0:
        _prepare_out(args.out)
    if args.download and comm is not None and comm.size > 1:  # rank 0 downloads, the others wait
        if rank0:
            data.load_dataset(args.dataset, "train", args.data_dir, True)
        comm.barrier()
    quiet = args.quiet or args.json
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    t_start = time.perf_counter()
    train_set = data.load_dataset(args.dataset, "train", args.data_dir, args.download)
    test_set = data.load_dataset(args.dataset, "test", args.data_dir, False)
    if args.limit is not None:
        train_set = train_set.subset(np.arange(min(args.limit, len(train_set))))
        test_set = test_set.subset(np.arange(min(args.limit, len(test_set))))
    c, h, w = train_set.sample_shape
    model_name = args.model or _DEFAULT_MODEL[args.dataset]
    cli_data.check_input_size(model_name, h, w, args.dataset)
    split = cli_data.prepare(args, train_set, test_set)  # validation split, augmentation
    train_set, val_set, test_set = split["train"], split["val"], split["test"]
    nn.init.manual_seed(args.seed)
    # aux_logits=False: the trainer fits the main output only (GoogLeNet, Inception-v3).
    model = models.build(model_name, weights=args.weights,
                         **_build_kwargs(models.MODELS[model_name], in_channels=c,
                                         num_classes=train_set.num_classes, input_size=h, aux_logits=False))
    if args.device != "cpu":
        try:
            model.to(args.device)
        except (RuntimeError, ValueError) as e:
            raise SystemExit(f"cnnnative train: --device {args.device}: {e}") from None
    # Defaults chosen on the digits: 10 epochs, lr 0.1, momentum 0.9, weight decay 5e-4,
    # cosine schedule, batch 32 reached 98.1-99.2% test accuracy over seeds 0-4.
    default_lr = 0.1 if args.dataset == "digits" else 0.05
    lr = args.lr if args.lr is not None else _MODEL_DEFAULTS.get(model_name, {}).get("lr", default_lr)
    transfer = args.weights or args.freeze_backbone or args.freeze_up_to is not None or args.backbone_lr is not None
    opt = optim.SGD(_transfer_params(args, model, lr) if transfer else model, lr=lr, momentum=args.momentum,
                    weight_decay=args.weight_decay)
    sched = None
    if args.schedule == "cosine":
        sched = optim.CosineAnnealingLR(opt, T_max=args.epochs)
    elif args.schedule == "step":
        sched = optim.StepLR(opt, step_size=max(1, args.epochs // 3))
    dist_cfg = None
    if comm is not None:
        from .distributed.trainer_support import DistributedConfig
        dist_cfg = DistributedConfig(comm, bucket_cap_mb=args.bucket_cap_mb, timeout=args.collective_timeout,
                                     sync_batchnorm=args.sync_batchnorm)
    trainer = Trainer(model, opt, scheduler=sched, seed=args.seed, quiet=quiet, log=log, distributed=dist_cfg,
                      scale_lr=args.scale_lr, warmup_epochs=args.warmup_epochs)
    if args.resume is not None:
        from .cli_distributed import resume_batch_size
        if not os.path.isfile(args.resume):
            raise SystemExit(f"cnnnative train: --resume: checkpoint {args.resume} not found")
        ck = trainer.load(args.resume)
        args.batch_size = resume_batch_size(ck, 1 if comm is None else comm.size, args.batch_size)
        if not args.json:
            print(f"resumed from {args.resume} after epoch {trainer.epoch}")
    args.batch_size = 32 if args.batch_size is None else args.batch_size
    world = 1 if comm is None else comm.size
    scaled = ""
    if args.scale_lr:
        scaled = f" x {args.batch_size * world / (trainer.dist.base_batch_size or args.batch_size):g} (--scale-lr)"
    if not args.json:
        print(f"training {model_name} ({model.num_parameters()} parameters) on {args.dataset}: "
              f"{len(train_set)} train / {len(val_set) if val_set else 0} val / {len(test_set)} test images"
              f"{' (augmented)' if split['augment'] else ''}, {args.epochs} epochs, "
              f"batch {args.batch_size}{f' x {world} ranks' if comm is not None else ''}, lr {lr:g}"
              f"{scaled}, "
              f"{cnnnative.get_num_threads()} threads, isa {cnnnative.get_isa()}")
    ckpt = os.path.join(args.out, "model.npz")
    # max_value: the model saw images / max_value; predict applies the same scaling.
    ck_extra = {"dataset": args.dataset, "max_value": train_set.max_value,
                "global_batch_size": args.batch_size * world, **split["extra"]}
    history = _fit(args, trainer, train_set, val_set or test_set, lambda: trainer.save(ckpt, extra=ck_extra))
    train_seconds = sum(h["seconds"] for h in history)
    result = trainer.evaluate(test_set)
    val_result = trainer.evaluate(val_set) if val_set else None
    model.to("cpu")  # checkpoints hold host arrays
    trainer.save(ckpt, extra=ck_extra)
    pngs = [] if args.no_plots or not rank0 else _plots(args.out, history, model, "val" if val_set else "test")
    summary = {
        "test_accuracy": result["accuracy"], "test_loss": result["loss"], "epochs": args.epochs,
        "seconds": time.perf_counter() - t_start, "train_seconds": train_seconds,
        "images_per_second": len(train_set) * args.epochs / train_seconds if train_seconds > 0 else None,
        "model": model_name, "dataset": args.dataset, "batch_size": args.batch_size, "lr": lr,
        "threads": cnnnative.get_num_threads(), "checkpoint": ckpt, "plots": pngs, "ranks": world,
        "augment": split["augment"], "val_split": split["val_split"],
        **({"val_accuracy": val_result["accuracy"], "val_loss": val_result["loss"]} if val_result else {}),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        if val_result:
            print(f"val accuracy {val_result['accuracy']:.4f} (loss {val_result['loss']:.4f}, "
                  f"{len(val_set)} held-out training images)")
        print(f"test accuracy {result['accuracy']:.4f} (loss {result['loss']:.4f}); "
              f"{summary['images_per_second']:.0f} img/s; {summary['seconds']:.1f} s total")
        print(f"checkpoint: {ckpt}" + (f"; plots: {', '.join(pngs)}" if pngs else ""))
    return 0


def _read_checkpoint(path, command="predict"):
    """io.load, after the checks that give a plain answer for the common mistakes (no such
    file, not a checkpoint at all)."""
    from . import io

    if not os.path.exists(path):
        raise SystemExit(f"cnnnative {command}: checkpoint {path} not found")
    if os.path.isdir(path):
        raise SystemExit(f"cnnnative {command}: checkpoint {path} is a directory, not a .npz file")
    if not zipfile.is_zipfile(path):
        raise SystemExit(f"cnnnative {command}: {path} is not a cnnnative checkpoint (not an .npz archive; "
                         "`cnnnative train` writes one as <out>/model.npz)")
    return io.load(path)


def _scale_images(x, input_max, trained_max, path, command="predict"):
    """Scale images the way the training set was: pixel / full intensity, so the model sees
    [0, 1]. Integer images default to the training set's full intensity (16 for the
    digits), float images to 1 (already scaled); values beyond it are refused rather than
    silently mis-scaled."""
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise SystemExit(f"cnnnative {command}: {path} holds {x.dtype} values; expected integer or float pixels")
    if input_max is None:
        input_max = trained_max if np.issubdtype(x.dtype, np.integer) else 1.0
    x = x.astype(np.float32)
    if x.size:
        low, high = float(x.min()), float(x.max())
        if not np.isfinite(low) or not np.isfinite(high):
            raise SystemExit(f"cnnnative {command}: {path} contains NaN or infinite values")
        if low < 0 or high > input_max * (1 + 1e-6):
            raise SystemExit(
                f"cnnnative {command}: {path} has pixel values in [{low:g}, {high:g}] but full intensity is "
                f"{input_max:g} (the model was trained on pixels 0..{trained_max:g} scaled to [0, 1]); "
                f"pass --input-max with the full-intensity value of these images, e.g. --input-max 255")
    return x / np.float32(input_max)


def _model_and_images(checkpoint, images, input_max, command="predict"):
    """The checkpoint's model (eval mode) and the images of a .npy file as (N, C, H, W)
    float32 in the model's units (scaled as the training set was)."""
    from . import models

    ck = _read_checkpoint(checkpoint, command)
    spec = ck["meta"].get("model_spec")
    if not spec:
        raise SystemExit(f"cnnnative {command}: {checkpoint} does not record its model builder")
    model = models.build(spec["builder"], **spec["kwargs"])
    model.load_state_dict(ck["model_state"])
    try:
        x = np.load(images, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SystemExit(f"cnnnative {command}: cannot read {images} as a .npy array: {e}") from None
    if not isinstance(x, np.ndarray):
        raise SystemExit(f"cnnnative {command}: {images} is an .npz archive; give one .npy array")
    kw = spec["kwargs"]
    c, s = kw.get("in_channels", 1), kw.get("input_size")
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None] if c == 1 else x[None]
    if x.ndim != 4 or x.shape[1] != c or (s is not None and x.shape[2:] != (s, s)):
        raise SystemExit(f"cnnnative {command}: images of shape {x.shape} do not fit the model's input "
                         f"({c}, {s}, {s})")
    extra = ck["meta"].get("extra") or {}
    trained_max = float(extra.get("max_value", 255.0))
    x = cli_data.normalize_for_predict(_scale_images(x, input_max, trained_max, images, command), extra)
    model.eval()
    return model, x


def _predict(args):
    from . import ops
    from .cli_onnx import is_onnx_file, predict, print_top_k

    if is_onnx_file(args.checkpoint):
        return predict(args)

    model, x = _model_and_images(args.checkpoint, args.images, args.input_max)
    from .autograd import no_grad
    with no_grad():  # inference: record nothing (numpy in, numpy out)
        logits = (np.concatenate([model(x[i:i + args.batch_size]) for i in range(0, len(x), args.batch_size)])
                  if len(x) else np.zeros((0, 1), np.float32))
    if args.out:
        np.save(args.out, logits)
    if args.top:
        return print_top_k(logits, args.top, args.json)
    probs = ops.softmax(logits, 1)
    pred = probs.argmax(axis=1)
    if args.json:
        print(json.dumps({"predictions": pred.tolist(), "probabilities": probs.max(axis=1).tolist()}))
    else:
        for i, (k, p) in enumerate(zip(pred, probs.max(axis=1))):
            print(f"{i}: {k} (p={p:.3f})")
    return 0


def _bench(args):
    from . import bench
    from .cli_onnx import bench as bench_onnx

    if args.model is not None:
        return bench_onnx(args)
    for flag in ("batch", "input_shape", "no_ort"):
        if getattr(args, flag) not in (None, False, 1):
            raise SystemExit(f"cnnnative bench: --{flag.replace('_', '-')} needs an ONNX model argument")
    layers = None
    if args.layers:
        wanted = args.layers.split(",")
        known = {row[0]: row for row in bench.LAYERS}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise SystemExit(f"cnnnative bench: unknown layers {unknown}; known: {sorted(known)}")
        layers = [known[w] for w in wanted]
    rows = bench.run(layers, repeats=args.repeats or 5, threads=args.threads, with_torch=not args.no_torch)
    if args.json:
        print(json.dumps(rows))
    else:
        print(bench.format_table(rows))
    return 0


def _info(args):
    import cnnnative
    print(json.dumps(cnnnative.info(), indent=2))
    return 0


def _summary(args):
    from .cli_inspect import summary_model
    from .cli_onnx import summary
    if args.builder is not None:
        return summary_model(args)
    if args.model is None:
        raise SystemExit("cnnnative summary: give an ONNX model (.onnx) or --model NAME")
    return summary(args)


def _attack(args):
    from .cli_attack import attack
    return attack(args)


def _explain(args):
    from .cli_inspect import explain
    return explain(args)


_COMMANDS = {"train": _train, "predict": _predict, "info": _info, "bench": _bench, "summary": _summary,
             "attack": _attack, "explain": _explain}


def _one_line(error: BaseException) -> str:
    """An exception as one line: its message (OSError: reason and file name), prefixed by
    the type only when the type is not one a user expects (a bug is then recognisable)."""
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    else:
        text = str(error) or type(error).__name__
        if isinstance(error, KeyError) and error.args:
            text = str(error.args[0])
    if not isinstance(error, (ValueError, TypeError, OSError, KeyError, OverflowError, RuntimeError)):
        text = f"{type(error).__name__}: {text}"
    return " ".join(text.split())


def _silence_stdout():
    # The reader went away (`cnnnative predict ... | head`): point stdout at /dev/null so
    # the interpreter's final flush does not raise a second BrokenPipeError.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (captured in a test): nothing to flush there


def main(argv=None) -> int:
    """Entry point of the console script. Returns the exit status; a failure raises
    SystemExit with the one-line message `cnnnative <command>: <what>`."""
    args = _parser().parse_args(argv)
    if getattr(args, "distributed", False):  # every rank runs this; a failure ends them all
        from .cli_distributed import run
        return run(args, _COMMANDS[args.command])
    try:
        return _COMMANDS[args.command](args)
    except SystemExit:
        raise
    except BrokenPipeError:
        _silence_stdout()
        return 141  # as a shell reports a process ended by SIGPIPE; no message, like head's writers
    except KeyboardInterrupt:
        raise SystemExit(f"cnnnative {args.command}: interrupted") from None
    except Exception as e:  # noqa: BLE001 -- every failure ends in one line
        if os.environ.get("CNNNATIVE_TRACEBACK"):
            raise
        raise SystemExit(f"cnnnative {args.command}: {_one_line(e)}") from None


if __name__ == "__main__":
    sys.exit(main())
