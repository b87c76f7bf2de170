"""ops.pad (F.pad) beside torch.nn.functional.pad, same process, same threads, interleaved.

For each case: median time of the forward and of the backward (pad_backward; torch's
autograd backward of F.pad) for cnnnative and torch, effective GB/s (bytes read + written)
and the ratio torch_time / our_time (> 1: we are faster).

    python benchmarks/bench_pad.py                   # default cases, 2 threads
    python benchmarks/bench_pad.py --threads 1 --repeat 30 --markdown
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import cnnnative  # noqa: E402
from cnnnative import ops  # noqa: E402

CASES = [  # (name, input shape, pad, mode)
    ("reflect 1, (8,64,112,112)", (8, 64, 112, 112), (1, 1, 1, 1), "reflect"),
    ("replicate 1, (8,64,112,112)", (8, 64, 112, 112), (1, 1, 1, 1), "replicate"),
    ("circular 1, (8,64,112,112)", (8, 64, 112, 112), (1, 1, 1, 1), "circular"),
    ("constant 1, (8,64,112,112)", (8, 64, 112, 112), (1, 1, 1, 1), "constant"),
    ("reflect 3, (8,64,56,56)", (8, 64, 56, 56), (3, 3, 3, 3), "reflect"),
    ("reflect 4, (8,256,1024) 1-D", (8, 256, 1024), (4, 4), "reflect"),
]


def interleaved_medians(fns, repeat):
    """Median seconds of each function, run round-robin so load changes hit them alike."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeat):
        for t, fn in zip(times, fns):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    cnnnative.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    rows = []
    for name, shape, pad, mode in CASES:
        x = rng.standard_normal(shape).astype(np.float32)
        y = ops.pad(x, pad, mode)
        g = rng.standard_normal(y.shape).astype(np.float32)
        xt, gt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)
        yt = F.pad(xt, pad, mode)

        def torch_backward():
            xt.grad = None
            yt.backward(gt, retain_graph=True)

        ours_f, torch_f, ours_b, torch_b = interleaved_medians(
            [lambda: ops.pad(x, pad, mode), lambda: F.pad(xt.detach(), pad, mode),
             lambda: ops.pad_backward(g, shape, pad, mode), torch_backward], args.repeat)
        gb = (x.nbytes + y.nbytes) / 1e9
        rows.append((name, "forward", ours_f, torch_f, gb))
        rows.append((name, "backward", ours_b, torch_b, gb))

    print(f"cnnnative {cnnnative.info()['isa']}, torch {torch.__version__}, {args.threads} threads, "
          f"median of {args.repeat} interleaved runs")
    if args.markdown:
        print("| case | pass | cnnnative ms | torch ms | cnnnative GB/s | torch / cnnnative |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, kind, o, t, gb in rows:
            print(f"| {name} | {kind} | {o * 1e3:.2f} | {t * 1e3:.2f} | {gb / o:.1f} | {t / o:.2f} |")
    else:
        for name, kind, o, t, gb in rows:
            print(f"{name:32s} {kind:8s} ours {o * 1e3:8.2f} ms  torch {t * 1e3:8.2f} ms  "
                  f"{gb / o:6.1f} GB/s  ratio {t / o:5.2f}")


if __name__ == "__main__":
    main()
