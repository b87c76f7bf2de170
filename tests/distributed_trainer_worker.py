"""One rank of the distributed Trainer tests (tests/test_distributed_trainer*.py start it
with mpiexec, or alone for the one-process references).

    python distributed_trainer_worker.py MODE OUT [options]

MODE: train (fit and write rank 0's weights to OUT), fail-raise, fail-kill, fail-stop,
mismatch; or `cli-kill STEP <cnnnative train arguments>`. Data: 48 generated 8x8 digits-like images (the same on every rank), digits_net
(no BatchNorm: N ranks then match one process up to float rounding)."""
from __future__ import annotations

import argparse
import os
import signal
import sys

import numpy as np

# The launcher (tests/mpi_launch.py) puts the cnnnative the tests import on PYTHONPATH.

import cnnnative  # noqa: E402
from cnnnative import models, nn, optim  # noqa: E402
from cnnnative.train import Trainer  # noqa: E402


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)
    y = rng.integers(0, 10, n)
    return x, y


def trainer(args, loss="cross_entropy"):
    nn.init.manual_seed(1)
    model = models.build("digits_net")
    opt = (optim.Adam(model, lr=args.lr) if args.optimizer == "adam"
           else optim.SGD(model, lr=args.lr, momentum=0.9, weight_decay=5e-4))
    from cnnnative.distributed.trainer_support import DistributedConfig
    dist = DistributedConfig(timeout=args.timeout) if args.distributed else None
    return Trainer(model, opt, loss, seed=3, distributed=dist, scale_lr=args.scale_lr,
                   warmup_epochs=args.warmup_epochs)


def cli_kill(step, argv):
    """`cnnnative train ARGV` in which rank 1 kills itself (SIGKILL) at its step-th
    training step (counted from 1)."""
    import cnnnative.distributed as dist
    from cnnnative import cli
    rank = dist.init().rank
    calls = [0]
    original = Trainer._forward_backward

    def forward_backward(self, x, y):
        calls[0] += 1
        if rank == 1 and calls[0] == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, x, y)
    Trainer._forward_backward = forward_backward
    return cli.main(argv)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--resume", default=None)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--no-distributed", dest="distributed", action="store_false")
    p.add_argument("--scale-lr", action="store_true")
    p.add_argument("--warmup-epochs", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=None)
    args = p.parse_args()
    cnnnative.set_num_threads(1)
    x, y = data()

    if args.mode == "mismatch":  # rank 1 asks for another learning rate
        import cnnnative.distributed as dist
        if dist.init().rank == 1:
            args.lr *= 2

    failing = {"fail-raise", "fail-kill", "fail-stop"}
    if args.mode in failing:
        import cnnnative.distributed as dist
        rank = dist.init().rank
        calls = [0]
        base = nn.CrossEntropyLoss()

        def loss(out, target):  # rank 1 fails at its 3rd batch
            calls[0] += 1
            if rank == 1 and calls[0] == 3:
                if args.mode == "fail-raise":
                    raise RuntimeError("injected failure on purpose")
                os.kill(os.getpid(), signal.SIGKILL if args.mode == "fail-kill" else signal.SIGSTOP)
            return base(out, target)
        t = trainer(args, loss)
    else:
        t = trainer(args)
    if args.resume:
        t.load(args.resume)
    t.fit((x, y), (x[:20], y[:20]), epochs=args.epochs, batch_size=args.batch_size)
    if args.checkpoint:
        t.save(args.checkpoint)
    rank = t.dist.rank if t.dist is not None else 0
    if rank == 0:
        np.savez(args.out, *[q.data for q in t.model.parameters()],
                 history_loss=np.array([h["loss"] for h in t.history]),
                 val_accuracy=np.array([h["val_accuracy"] for h in t.history]))
        print(f"worker done: {len(t.history)} epochs, loss {t.history[-1]['loss']:.6f}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "cli-kill":
        sys.exit(cli_kill(int(sys.argv[2]), sys.argv[3:]))
    main()
