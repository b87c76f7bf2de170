"""LocallyConnected2d and TiledConv2d beside the same layers written in PyTorch the way its
users write them (torch has neither layer): F.unfold + einsum over per-position weights;
for tiled, unfold + a gather of each position's bank + einsum. One process, same thread
count, the two sides interleaved call by call; median times and the ratio
torch_time / our_time (> 1: cnnnative is faster).

Forward is timed on plain arrays (inference); forward + backward records both sides and
runs backward for the input, weight and bias gradients.

    python benchmarks/bench_local_conv.py                        # 2 threads, defaults below
    python benchmarks/bench_local_conv.py --threads 1 --clock thread   # on a busy machine

--clock thread (with --threads 1) times each call by the calling thread's CPU time, which
both libraries run on at one thread, so other processes on a shared machine do not count.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import cnnnative as cn  # noqa: E402
from cnnnative import nn  # noqa: E402
import torch_waits  # noqa: E402


def torch_locally_connected(torch, x, weight, bias, kernel, padding):
    """The usual PyTorch recipe: unfold, then one einsum against the (P, K, C*k*k) bank."""
    F = torch.nn.functional
    n, _, h, w = x.shape
    cols = F.unfold(x, kernel, padding=padding)                    # (N, C*k*k, P)
    y = torch.einsum("ncp,pkc->nkp", cols, weight)                 # (N, K, P)
    return y.reshape(n, weight.shape[1], *bias.shape[1:]) + bias


def torch_tiled(torch, x, weight, bias, kernel, padding, tile, bank_index):
    """unfold, gather each position's bank from the (T, K, C, k, k) weight, einsum."""
    F = torch.nn.functional
    n, _, h, w = x.shape
    cols = F.unfold(x, kernel, padding=padding)
    per_position = weight.reshape(weight.shape[0], weight.shape[1], -1)[bank_index]  # (P, K, C*k*k)
    y = torch.einsum("ncp,pkc->nkp", cols, per_position)
    oh = h + 2 * padding - kernel + 1
    return y.reshape(n, weight.shape[1], oh, -1) + bias[:, None, None]


CLOCK = time.perf_counter


def interleaved_medians(fns, repeat, min_seconds=0.3):
    """Median seconds of each function, calls alternating so load changes hit both alike."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < repeat or time.perf_counter() - start < min_seconds:
        for f, t in zip(fns, times):
            t0 = CLOCK()
            f()
            t.append(CLOCK() - t0)
    return [statistics.median(t) for t in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--channels", type=int, default=32, help="in = out channels")
    ap.add_argument("--size", type=int, default=32, help="input height = width")
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--tile", type=int, default=2)
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall")
    ap.add_argument("--wait-policy", choices=torch_waits.CHOICES, default="passive", help=torch_waits.HELP)
    args = ap.parse_args()
    wait_policy = torch_waits.apply(args.threads, args.wait_policy)  # before torch is imported
    if args.clock == "thread":
        if args.threads != 1:
            ap.error("--clock thread needs --threads 1 (other threads' work would not be counted)")
        global CLOCK
        CLOCK = time.thread_time

    import torch
    torch.set_num_threads(args.threads)
    cn.set_num_threads(args.threads)
    n, c, s, k, pad = args.batch, args.channels, args.size, args.kernel, args.kernel // 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, s, s)).astype(np.float32)
    nn.init.manual_seed(0)
    local = nn.LocallyConnected2d(c, c, (s, s), k, padding=pad)
    tiled = nn.TiledConv2d(c, c, k, tile_size=(args.tile, args.tile), padding=pad)
    oh = ow = s + 2 * pad - k + 1
    bank_index = torch.tensor(((np.arange(oh) % args.tile)[:, None] * args.tile
                               + (np.arange(ow) % args.tile)[None]).reshape(-1))

    def torch_params(layer):
        return [torch.tensor(p.data, requires_grad=True) for p in (layer.weight, layer.bias)]

    tl_w, tl_b = torch_params(local)
    tt_w, tt_b = torch_params(tiled)
    tx = torch.tensor(x)
    txg = torch.tensor(x, requires_grad=True)
    torch_local = lambda xx: torch_locally_connected(torch, xx, tl_w, tl_b, k, pad)  # noqa: E731
    torch_tile = lambda xx: torch_tiled(torch, xx, tt_w, tt_b, k, pad, (args.tile, args.tile), bank_index)  # noqa: E731

    # The two sides agree before anything is timed.
    with torch.no_grad():
        for layer, ref in ((local, torch_local), (tiled, torch_tile)):
            with cn.no_grad():
                ours = layer(x)
            theirs = ref(tx).numpy()
            assert np.allclose(ours, theirs, rtol=1e-3, atol=1e-3 * np.abs(theirs).max()), layer

    def our_fwd(layer):
        def run():
            with cn.no_grad():
                layer(x)
        return run

    def their_fwd(ref):
        def run():
            with torch.no_grad():
                ref(tx)
        return run

    def our_train(layer):
        def run():
            layer.zero_grad()
            xt = cn.Tensor(x, requires_grad=True)
            layer(xt).sum().backward()
        return run

    def their_train(ref, params):
        def run():
            for p in (*params, txg):
                p.grad = None
            ref(txg).sum().backward()
        return run

    flops = 2 * n * c * c * k * k * oh * ow  # a dense conv's: both layers do that much work
    print(f"# LocallyConnected2d / TiledConv2d (tile {args.tile}x{args.tile}) vs PyTorch {torch.__version__} "
          f"unfold+einsum; in=out={c}, {k}x{k} pad {pad}, input {s}x{s}, batch {n}, {args.threads} threads, "
          f"{args.clock} clock, OMP_WAIT_POLICY={wait_policy}")
    print(f"{'case':40s} {'cnnnative ms':>13s} {'torch ms':>10s} {'ratio':>7s} {'our GFLOP/s':>12s}")
    cases = [
        ("LocallyConnected2d forward", our_fwd(local), their_fwd(torch_local), 1),
        ("LocallyConnected2d fwd+bwd", our_train(local), their_train(torch_local, (tl_w, tl_b)), 3),
        ("TiledConv2d forward", our_fwd(tiled), their_fwd(torch_tile), 1),
        ("TiledConv2d fwd+bwd", our_train(tiled), their_train(torch_tile, (tt_w, tt_b)), 3),
    ]
    for name, ours_fn, theirs_fn, passes in cases:
        t_ours, t_theirs = interleaved_medians([ours_fn, theirs_fn], args.repeat)
        print(f"{name:40s} {t_ours * 1e3:13.2f} {t_theirs * 1e3:10.2f} {t_theirs / t_ours:6.2f}x "
              f"{passes * flops / t_ours / 1e9:12.1f}")


if __name__ == "__main__":
    main()
