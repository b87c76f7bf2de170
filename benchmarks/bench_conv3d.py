"""conv3d beside PyTorch CPU, same process, same threads, calls interleaved.

Layers: the C3D block (3x3x3, 64 -> 64 channels, 16x56x56, batch 1, padding 1) and a
depthwise 3x3x3 layer of the same size (groups = 64). For each: forward, and forward +
both gradients (cnnnative: conv3d, conv3d_input, conv3d_weight with the bias gradient;
torch: conv3d and aten.convolution_backward, no autograd bookkeeping on either side).
Each repetition runs cnnnative then torch, so both see the same machine load; the
figures are medians and the ratio is torch_time / our_time (> 1: we are faster).

    python benchmarks/bench_conv3d.py                 # 2 threads, 7 repeats
    python benchmarks/bench_conv3d.py --repeat 15 --markdown
    python benchmarks/bench_conv3d.py --profile       # where the C3D forward's time goes
    python benchmarks/bench_conv3d.py --algo gemm     # vol2col + GEMM instead of 'auto'
    python benchmarks/bench_conv3d.py --clock cpu     # process CPU time (busy machine)
    python benchmarks/bench_conv3d.py --threads 1 --clock thread  # the calling thread's CPU time
    python benchmarks/bench_conv3d.py --baseline-algo gemm  # before/after: gemm, auto, torch interleaved
    python benchmarks/bench_conv3d.py --passes        # also each gradient pass on its own

On an AVX2-only comparison cap both libraries: CNNNATIVE_ISA=avx2 for cnnnative and
ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 for torch (its convolutions are oneDNN's).
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

LAYERS = [  # name, N, C, (D, H, W), K, kernel, padding, groups
    ("C3D 3x3x3 64->64 16x56x56", 1, 64, (16, 56, 56), 64, 3, 1, 1),
    ("depthwise 3x3x3 64 16x56x56", 1, 64, (16, 56, 56), 64, 3, 1, 64),
]


CLOCK = time.perf_counter


def interleaved_medians(fns, repeat):
    for fn in fns:
        fn()  # warm-up: page in buffers, pack caches, thread pools
    times = [[] for _ in fns]
    for _ in range(repeat):
        for t, fn in zip(times, fns):
            t0 = CLOCK()
            fn()
            t.append(CLOCK() - t0)
    return [statistics.median(t) for t in times]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--profile", action="store_true", help="C3D forward: vol2col+GEMM vs the GEMM alone")
    ap.add_argument("--algo", default="auto", help="cnnnative algo: auto, gemm, direct, depthwise")
    ap.add_argument("--clock", choices=["wall", "cpu", "thread"], default="wall",
                    help="cpu: process CPU time (all threads), steadier on a shared machine; "
                         "thread: the calling thread's CPU time (needs --threads 1)")
    ap.add_argument("--baseline-algo", default=None,
                    help="also time cnnnative with this algo in the same interleaved loop "
                         "(e.g. gemm: the code the direct kernel replaces)")
    ap.add_argument("--layers", default="all", choices=["all", "c3d", "depthwise"])
    ap.add_argument("--passes", action="store_true",
                    help="also time the input gradient and the weight + bias gradient alone")
    ap.add_argument("--wait-policy", choices=torch_waits.CHOICES, default="passive", help=torch_waits.HELP)
    args = ap.parse_args(argv)
    wait_policy = torch_waits.apply(args.threads, args.wait_policy)  # before torch is imported
    if args.clock == "thread" and args.threads != 1:
        ap.error("--clock thread needs --threads 1 (other threads' work would not be counted)")
    global CLOCK
    CLOCK = {"cpu": time.process_time, "thread": time.thread_time, "wall": time.perf_counter}[args.clock]
    cnnnative.set_num_threads(args.threads)
    import torch
    torch.set_num_threads(args.threads)
    info = cnnnative.info()
    print(f"# cnnnative {info['version']} isa={info['isa']} threads={args.threads} repeat={args.repeat} "
          f"algo={args.algo} (median, {args.clock} clock, interleaved); torch {torch.__version__} "
          f"cpu_capability={torch.backends.cpu.get_cpu_capability()} "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')} OMP_WAIT_POLICY={wait_policy}")
    rng = np.random.default_rng(0)
    rows = []
    layers = {"all": LAYERS, "c3d": LAYERS[:1], "depthwise": LAYERS[1:]}[args.layers]
    for name, n, c, size, k, ksize, pad, groups in layers:
        x = rng.standard_normal((n, c, *size)).astype(np.float32)
        w = (rng.standard_normal((k, c // groups, ksize, ksize, ksize)) * 0.1).astype(np.float32)
        b = rng.standard_normal(k).astype(np.float32)
        y = ops.conv3d(x, w, b, 1, pad, 1, groups)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))
        flops = 2 * y.size * (c // groups) * ksize ** 3
        np.testing.assert_allclose(y, torch.nn.functional.conv3d(tx, tw, tb, 1, pad, 1, groups).numpy(),
                                   rtol=1e-3, atol=1e-3)

        def fit(a):
            return a if a != "depthwise" or groups == c else "auto"

        def our_fwd(algo=fit(args.algo)):
            ops.conv3d(x, w, b, 1, pad, 1, groups, algo=algo)

        def our_step(algo=fit(args.algo)):
            ops.conv3d(x, w, b, 1, pad, 1, groups, algo=algo)
            ops.conv3d_input(x.shape, w, dy, 1, pad, 1, groups, algo=algo)
            ops.conv3d_weight(x, w.shape, dy, 1, pad, 1, groups, with_bias=True, algo=algo)

        def torch_fwd():
            with torch.no_grad():
                torch.nn.functional.conv3d(tx, tw, tb, 1, pad, 1, groups)

        def torch_step():
            with torch.no_grad():
                torch.nn.functional.conv3d(tx, tw, tb, 1, pad, 1, groups)
                torch.ops.aten.convolution_backward(tdy, tx, tw, [k], [1] * 3, [pad] * 3, [1] * 3, False,
                                                    [0] * 3, groups, [True, True, True])

        def our_dx(algo=fit(args.algo)):
            ops.conv3d_input(x.shape, w, dy, 1, pad, 1, groups, algo=algo)

        def our_dw(algo=fit(args.algo)):
            ops.conv3d_weight(x, w.shape, dy, 1, pad, 1, groups, with_bias=True, algo=algo)

        def torch_grad(mask):
            def run():
                with torch.no_grad():
                    torch.ops.aten.convolution_backward(tdy, tx, tw, [k], [1] * 3, [pad] * 3, [1] * 3, False,
                                                        [0] * 3, groups, mask)
            return run

        passes = [("forward", our_fwd, torch_fwd, flops), ("fwd+bwd", our_step, torch_step, 3 * flops)]
        if args.passes:
            passes += [("dx", our_dx, torch_grad([True, False, False]), flops),
                       ("dw+db", our_dw, torch_grad([False, True, True]), flops)]
        for what, ours, theirs, f in passes:
            fns = [ours, theirs]
            if args.baseline_algo:
                base_algo = fit(args.baseline_algo)
                fns.append(lambda: ours(algo=base_algo))
            t_ours, t_torch, *t_base = interleaved_medians(fns, args.repeat)
            rows.append((name, what, t_ours, t_torch, f))
            base = (f"  {args.baseline_algo} {t_base[0] * 1e3:8.1f} ms (torch/{args.baseline_algo} "
                    f"{t_torch / t_base[0]:5.2f}x)") if t_base else ""
            print(f"{name:30s} {what:8s} cnnnative {t_ours * 1e3:8.1f} ms ({f / t_ours / 1e9:6.1f} GFLOP/s)"
                  f"  torch {t_torch * 1e3:8.1f} ms  ratio {t_torch / t_ours:5.2f}x{base}", flush=True)
    if args.markdown:
        print("\n| layer | pass | cnnnative ms | torch ms | torch/cnnnative |\n|---|---|---:|---:|---:|")
        for name, what, t_ours, t_torch, _ in rows:
            print(f"| {name} | {what} | {t_ours * 1e3:.1f} | {t_torch * 1e3:.1f} | {t_torch / t_ours:.2f}x |")
    if args.profile:
        profile(rng, args.repeat)


def profile(rng, repeat):
    """The C3D forward is one GEMM (64 x 1728) * (1728 x 50176) plus vol2col: time the
    conv against the GEMM alone on a ready column matrix."""
    name, n, c, size, k, ksize, pad, _ = LAYERS[0]
    x = rng.standard_normal((n, c, *size)).astype(np.float32)
    w = rng.standard_normal((k, c * ksize ** 3)).astype(np.float32)
    cols = rng.standard_normal((c * ksize ** 3, int(np.prod(size)))).astype(np.float32)
    w5 = w.reshape(k, c, ksize, ksize, ksize)
    t_conv, t_gemm = interleaved_medians([lambda: ops.conv3d(x, w5, None, 1, pad),
                                          lambda: ops.gemm(w, cols)], repeat)
    print(f"profile {name}: conv3d {t_conv * 1e3:.1f} ms, GEMM alone {t_gemm * 1e3:.1f} ms "
          f"-> vol2col and banding {100 * (t_conv - t_gemm) / t_conv:.0f}% of the forward")


if __name__ == "__main__":
    main()
