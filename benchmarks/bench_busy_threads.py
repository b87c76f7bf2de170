"""`cnnnative train` with 1 and 2 threads beside a competing CPU-bound process.

    python benchmarks/bench_busy_threads.py                 # digits defaults, 5 rounds
    python benchmarks/bench_busy_threads.py --busy 0        # the same without the competitor
    python benchmarks/bench_busy_threads.py --epochs 3 --rounds 7 --extra "--model seed_mnist_net"
    python benchmarks/bench_busy_threads.py --no-backoff-too   # also 2 threads, CNNNATIVE_TEAM_BACKOFF=0
    python benchmarks/bench_busy_threads.py --solo-too   # also 2 threads always backed off (the bound)

Issue 16's rule: on a machine loaded by another busy process, 2 threads must never be
slower than 1. Each round runs the CLI's defaults (digits, batch 32) once per thread count,
in turn (interleaved, so drifts in the machine's load hit both alike), each in a fresh
process beside `--busy` processes that spin (`while True: pass`). The table gives the median
wall seconds of the training itself (the CLI's JSON `seconds`, which leaves out start-up and
the dataset download), the process CPU seconds, and the ratio 2 threads / 1 thread per
round (median and worst).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def _train(threads: int, epochs: int, extra: list[str], out_dir: str, backoff: str = "") -> tuple[float, float]:
    cmd = [sys.executable, "-m", "cnnnative", "train", "--epochs", str(epochs), "--threads", str(threads),
           "--quiet", "--json", "--no-plots", "--out", out_dir, *extra]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "CNNNATIVE_TEAM_BACKOFF")}
    if backoff:
        env["CNNNATIVE_TEAM_BACKOFF"] = backoff
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"train failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return float(report.get("train_seconds", wall)), cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--busy", type=int, default=1, help="competing spinning processes (0: none)")
    ap.add_argument("--extra", default="", help="more `cnnnative train` arguments, one string")
    ap.add_argument("--no-backoff-too", action="store_true",
                    help="also 2 threads with the team's busy-machine back-off off (CNNNATIVE_TEAM_BACKOFF=0)")
    ap.add_argument("--solo-too", action="store_true",
                    help="also 2 threads backed off from the start (CNNNATIVE_TEAM_BACKOFF=always): what the "
                         "back-off could reach at best, the 2-thread plans run on one thread")
    args = ap.parse_args()
    extra = shlex.split(args.extra)

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    configs = [(1, ""), (2, "")] + ([(2, "0")] if args.no_backoff_too else []) + ([(2, "always")] if args.solo_too else [])
    rows: dict = {c: [] for c in configs}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                for threads, backoff in configs:
                    rows[(threads, backoff)].append(_train(threads, args.epochs, extra,
                                                           os.path.join(tmp, f"t{threads}"), backoff))
    finally:
        for p in busy:
            p.kill()
            p.wait()

    ratios = [b[0] / a[0] for a, b in zip(rows[(1, "")], rows[(2, "")])]
    print(f"`cnnnative train --epochs {args.epochs} {args.extra}`, {args.rounds} rounds, "
          f"{args.busy} busy process(es) beside it, {os.cpu_count()} CPUs")
    print("| threads | train s (median) | process CPU s (median) |")
    print("| --- | --- | --- |")
    for (threads, backoff), runs in rows.items():
        label = f"{threads}" + {"": "", "0": " (back-off off)", "always": " (always backed off)"}[backoff]
        print(f"| {label} | {statistics.median(r[0] for r in runs):.2f} | "
              f"{statistics.median(r[1] for r in runs):.2f} |")
    print(f"2 threads / 1 thread, per round: median {statistics.median(ratios):.2f}, worst {max(ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in ratios)})")
    for backoff, what in (("0", "with the back-off off"), ("always", "always backed off")):
        if (2, backoff) in rows:
            other = [b[0] / a[0] for a, b in zip(rows[(1, "")], rows[(2, backoff)])]
            print(f"2 threads {what} / 1 thread: median {statistics.median(other):.2f}, worst {max(other):.2f} "
                  f"({', '.join(f'{r:.2f}' for r in other)})")


if __name__ == "__main__":
    main()
