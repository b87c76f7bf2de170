"""Elementwise activations, forward and backward, side by side with PyTorch CPU, in one
process, interleaved (ours, torch, ours, ...), medians.

For each activation and size: median time of cnnnative and of torch, the achieved
bandwidth (bytes the op must move / time: forward reads x and writes y, 8 bytes an
element; backward reads g and x and writes gx, 12), that bandwidth as a fraction of the
machine's bandwidth-bound speed (`bw`: a plain copy, np.copyto, and a numpy add of the same
size, which move 8 and 12 bytes an element, timed in the same interleaved rounds as each row, with the same threads:
numpy's copy and add are single-threaded, so the reference uses cnnnative's own threaded
add when it is faster), and torch_time / our_time (> 1: we are faster).

    python benchmarks/bench_activations.py                      # 2 threads, 2^16 and 2^24 floats
    python benchmarks/bench_activations.py --threads 1 --clock thread   # on a busy machine
    python benchmarks/bench_activations.py --only gelu,mish --sizes 20 --markdown
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
import torch_waits  # noqa: E402

CLOCK = time.perf_counter
SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


def cases(torch):
    """name -> (ours forward, ours backward(g, x), torch forward, torch backward(g, x)). The
    torch backward is the aten kernel autograd calls (no graph overhead on either side)."""
    F = torch.nn.functional if torch else None
    A = torch.ops.aten if torch else None
    w1 = np.array([0.25], np.float32)
    t_w1 = torch.tensor([0.25]) if torch else None
    return {
        "relu": (ops.relu, lambda g, x: ops.relu_backward(g, x), lambda t: F.relu(t),
                 lambda g, t: A.threshold_backward(g, t, 0.0)),
        "sigmoid": (ops.sigmoid, ops.sigmoid_backward, lambda t: torch.sigmoid(t), lambda g, t: A.sigmoid_backward(g, t)),
        "tanh": (ops.tanh, ops.tanh_backward, lambda t: torch.tanh(t), lambda g, t: A.tanh_backward(g, t)),
        "silu": (ops.silu, ops.silu_backward, lambda t: F.silu(t), lambda g, t: A.silu_backward(g, t)),
        "gelu": (ops.gelu, ops.gelu_backward, lambda t: F.gelu(t), lambda g, t: A.gelu_backward(g, t)),
        "gelu_tanh": (lambda x: ops.gelu(x, "tanh"), lambda g, x: ops.gelu_backward(g, x, "tanh"),
                      lambda t: F.gelu(t, approximate="tanh"), lambda g, t: A.gelu_backward(g, t, approximate="tanh")),
        "hardswish": (ops.hardswish, ops.hardswish_backward, lambda t: F.hardswish(t),
                      lambda g, t: A.hardswish_backward(g, t)),
        "hardsigmoid": (ops.hardsigmoid, ops.hardsigmoid_backward, lambda t: F.hardsigmoid(t),
                        lambda g, t: A.hardsigmoid_backward(g, t)),
        "prelu(1)": (lambda x: ops.prelu(x, w1), lambda g, x: ops.prelu_backward(g, x, w1, weight_grad=False),
                     lambda t: F.prelu(t, t_w1), lambda g, t: A._prelu_kernel_backward(g, t, t_w1)[0]),
        "elu": (ops.elu, ops.elu_backward, lambda t: F.elu(t), lambda g, t: A.elu_backward(g, 1.0, 1.0, 1.0, False, t)),
        "selu": (ops.selu, ops.selu_backward, lambda t: F.selu(t),
                 lambda g, t: A.elu_backward(g, SELU[0], SELU[1], 1.0, False, t)),
        "celu": (ops.celu, ops.celu_backward, lambda t: F.celu(t), lambda g, t: A.elu_backward(g, 1.0, 1.0, 1.0, False, t)),
        "hardtanh": (ops.hardtanh, ops.hardtanh_backward, lambda t: F.hardtanh(t),
                     lambda g, t: A.hardtanh_backward(g, t, -1.0, 1.0)),
        "threshold": (lambda x: ops.threshold(x, 0.1, 0.0), lambda g, x: ops.threshold_backward(g, x, 0.1),
                      lambda t: F.threshold(t, 0.1, 0.0), lambda g, t: A.threshold_backward(g, t, 0.1)),
        "mish": (ops.mish, ops.mish_backward, lambda t: F.mish(t), lambda g, t: A.mish_backward(g, t)),
        "softplus": (ops.softplus, ops.softplus_backward, lambda t: F.softplus(t),
                     lambda g, t: A.softplus_backward(g, t, 1.0, 20.0)),
        "softsign": (ops.softsign, ops.softsign_backward, lambda t: F.softsign(t),
                     lambda g, t: g / (t.abs() + 1) ** 2),  # torch has no fused softsign backward
        "logsigmoid": (ops.logsigmoid, ops.logsigmoid_backward, lambda t: F.logsigmoid(t),
                       lambda g, t: A.log_sigmoid_backward(g, t, _log_sigmoid_buffer(A, t))),
    }


_buffers = {}


def _log_sigmoid_buffer(A, t):
    """The buffer torch's log_sigmoid forward saves for its backward (made once per input)."""
    key = (t.data_ptr(), t.numel())
    if key not in _buffers:
        _buffers[key] = A.log_sigmoid_forward(t)[1]
    return _buffers[key]


def timed(f, repeat, min_seconds=0.2):
    f()  # warm-up (first touch of the output buffers, thread team)
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_seconds and len(times) < 10 * repeat):
        t = CLOCK()
        f()
        times.append(CLOCK() - t)
    return statistics.median(times)


def interleaved(fs, repeat):
    """Median of each of fs, timed in rounds of one call each (so load spikes hit all alike)."""
    for f in fs:
        f()
    times = [[] for _ in fs]
    for _ in range(repeat):
        for f, ts in zip(fs, times):
            t = CLOCK()
            f()
            ts.append(CLOCK() - t)
    return [statistics.median(ts) for ts in times]


def main():
    global CLOCK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="16,24", help="log2 of the element counts (default 16,24)")
    ap.add_argument("--repeat", type=int, default=0, help="rounds (default: 200 small, 15 large)")
    ap.add_argument("--only", default="", help="comma-separated activation names")
    ap.add_argument("--clock", choices=["wall", "thread"], default="wall")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--wait-policy", choices=torch_waits.CHOICES, default="passive", help=torch_waits.HELP)
    args = ap.parse_args()
    wait_policy = torch_waits.apply(args.threads, args.wait_policy)  # before torch is imported
    if args.clock == "thread":
        if args.threads != 1:
            ap.error("--clock thread measures one thread: use it with --threads 1")
        CLOCK = time.thread_time
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    cnnnative.set_num_threads(args.threads)
    table = cases(torch)
    names = [n for n in table if not args.only or n in args.only.split(",")]
    print(f"# cnnnative {cnnnative.info()['isa']}, threads={args.threads}, torch "
          f"{torch.__version__ if torch else '-'}, {args.clock} clock, medians of interleaved rounds, "
          f"OMP_WAIT_POLICY={wait_policy}")
    sep = "|" if args.markdown else " "
    for lg in (int(s) for s in args.sizes.split(",")):
        n = 1 << lg
        repeat = args.repeat or (200 if n <= 1 << 18 else 15)
        rng = np.random.default_rng(0)
        x = (rng.standard_normal(n) * 3).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        y = np.empty_like(x)
        copy_refs = [lambda: np.copyto(y, x)]
        add_refs = [lambda: np.add(g, x, out=y), lambda: ops.add(g, x)]
        t_copy = min(interleaved(copy_refs, repeat))
        t_add = min(interleaved(add_refs, repeat))
        print(f"\n## n = 2^{lg} floats ({4 * n / 2**20:.2f} MiB an array): bandwidth-bound reference "
              f"{8 * n / t_copy / 1e9:.1f} GB/s (copy), {12 * n / t_add / 1e9:.1f} GB/s (add) before the "
              f"rows; each row's 'of bw' uses the reference timed in its own interleaved rounds")
        header = ["activation", "pass", "ours us", "torch us", "ours GB/s", "of bw", "torch GB/s", "torch/ours"]
        print(sep.join(f"{h:>11s}" for h in header) if not args.markdown else "|" + "|".join(header) + "|")
        if args.markdown:
            print("|" + "|".join("---" for _ in header) + "|")
        xt = torch.from_numpy(x) if torch else None
        gt = torch.from_numpy(g) if torch else None
        for name in names:
            fwd, bwd, tfwd, tbwd = table[name]
            for pas, ours, theirs, nbytes, refs in (
                    ("forward", lambda: fwd(x), (lambda: tfwd(xt)) if torch else None, 8 * n, copy_refs),
                    ("backward", lambda: bwd(g, x), (lambda: tbwd(gt, xt)) if torch else None, 12 * n, add_refs)):
                # The bandwidth reference runs in the same rounds as the op: on a shared machine
                # the available bandwidth drifts between rows.
                if torch:
                    with torch.no_grad():
                        t_ours, t_torch, *t_refs = interleaved([ours, theirs, *refs], repeat)
                else:
                    t_ours, *t_refs = interleaved([ours, *refs], repeat)
                    t_torch = float("nan")
                bw = nbytes / min(t_refs)
                row = [name, pas, f"{t_ours * 1e6:.1f}", f"{t_torch * 1e6:.1f}", f"{nbytes / t_ours / 1e9:.1f}",
                       f"{nbytes / t_ours / bw:.2f}", f"{nbytes / t_torch / 1e9:.1f}", f"{t_torch / t_ours:.2f}"]
                print(sep.join(f"{c:>11s}" for c in row) if not args.markdown else "|" + "|".join(row) + "|")


if __name__ == "__main__":
    main()
