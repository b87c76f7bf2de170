"""`cnnnative train --distributed` (and --resume): the CLI side of data-parallel training.

    mpiexec -n 4 cnnnative train --distributed --dataset mnist --data-dir ~/data --scale-lr --warmup-epochs 2

Every rank runs the same command; only rank 0 prints, writes the output directory
(checkpoint, plots) and downloads a dataset. A failure on any rank ends the job: the rank
prints `cnnnative train: rank N failed: <what>` and aborts every rank (MPI_Abort). See
docs/distributed.md.
"""
from __future__ import annotations

import os
import sys

__all__ = ["add_arguments", "run", "threads_per_rank", "resume_batch_size", "fit_epochs"]


def add_arguments(t, positive_int, positive_float, non_negative_float):
    g = t.add_argument_group("distributed training (mpiexec -n N cnnnative train --distributed ...; "
                             "see docs/distributed.md)")
    g.add_argument("--distributed", action="store_true",
                   help="data-parallel over the ranks of the MPI job: --batch-size per rank, only rank 0 prints "
                        "and writes")
    g.add_argument("--scale-lr", action="store_true",
                   help="linear scaling rule: lr x the global batch / the per-rank batch (x the ranks)")
    g.add_argument("--warmup-epochs", type=non_negative_float, default=0.0,
                   help="with --scale-lr: ramp the lr multiplier linearly from 1 over these epochs (Goyal et al.)")
    g.add_argument("--collective-timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="abort the job when a training step or collective waits longer than this for the other "
                        "ranks (a rank stopped or unreachable); default: wait")
    g.add_argument("--sync-batchnorm", action="store_true",
                   help="BatchNorm statistics over the global batch (SyncBatchNorm) instead of each rank's")
    g.add_argument("--bucket-cap-mb", type=positive_float, default=25.0,
                   help="gradient bucket size of DistributedDataParallel (MiB)")
    t.add_argument("--save-every", type=positive_int, default=None, metavar="EPOCHS",
                   help="also write the checkpoint every EPOCHS epochs during training (atomically: a crash keeps "
                        "the last complete one; continue with --resume)")
    t.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="continue from a checkpoint of `cnnnative train` (any number of ranks) up to --epochs in "
                        "all; without --batch-size the checkpoint's global batch is kept")


def threads_per_rank(comm) -> int:
    """Kernel threads per rank when neither --threads nor OMP_NUM_THREADS says: the CPUs
    this process may use, shared by the ranks on this machine."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, comm.local_size))


def resume_batch_size(checkpoint: dict, world_size: int, given, default: int = 32) -> int:
    """The per-rank batch for a resumed run: --batch-size when given, else the checkpoint's
    global batch / the ranks now (the same optimisation as the uninterrupted run), else
    the default."""
    if given is not None:
        return given
    extra = (checkpoint.get("meta") or {}).get("extra") or {}
    total = extra.get("global_batch_size")
    if not isinstance(total, int) or total < 1:
        return default
    if total % world_size:
        raise SystemExit(f"cnnnative train: --resume: the checkpoint's global batch {total} does not split over "
                         f"{world_size} ranks; pass --batch-size (per rank)")
    return total // world_size


def fit_epochs(args, trainer, train_set, val_set, save):
    """trainer.fit up to --epochs in all (after --resume: the rest), calling save() every
    --save-every epochs (and after the last one, which the caller saves anyway)."""
    remaining = max(0, args.epochs - trainer.epoch)
    every = args.save_every
    if not every:
        return trainer.fit(train_set, val_set, epochs=remaining, batch_size=args.batch_size)
    while trainer.epoch < args.epochs:
        step = min(every - trainer.epoch % every, args.epochs - trainer.epoch)
        trainer.fit(train_set, val_set, epochs=step, batch_size=args.batch_size)
        if trainer.epoch < args.epochs:
            save()
    return trainer.history


def run(args, command):
    """command(args) on every rank; any failure ends the job naming the rank."""
    from . import distributed as dist
    from .distributed.faults import DistributedError, fail, install_excepthook

    try:
        comm = dist.init()
    except (RuntimeError, ValueError) as e:
        raise SystemExit(f"cnnnative {args.command}: --distributed: {e}") from None
    install_excepthook(comm)
    if comm.rank != 0:
        sys.stdout = open(os.devnull, "w")  # only rank 0 prints (errors still go to stderr)
    try:
        return command(args)
    except DistributedError as e:  # every rank raised it together: rank 0 says it once
        raise SystemExit(f"cnnnative {args.command}: {e}" if comm.rank == 0 else 1) from None
    except SystemExit as e:
        if e.code in (None, 0):
            raise
        text = str(e.code)
        prefix = f"cnnnative {args.command}: "
        text = text[len(prefix):] if text.startswith(prefix) else text
        fail(comm, f"{prefix}rank {comm.rank} failed: {text}")
    except Exception as e:  # noqa: BLE001 -- every failure ends the job, in one line
        if os.environ.get("CNNNATIVE_TRACEBACK"):
            raise  # the excepthook prints the traceback and aborts
        from .cli import _one_line
        fail(comm, f"cnnnative {args.command}: rank {comm.rank} failed: {_one_line(e)}")
