"""Normalization timings, cnnnative against PyTorch CPU in the same process.

    PYTHONPATH=python python benchmarks/bench_norm.py [--threads 2] [--batch 8] [--repeat 15]

Real-network shapes (ResNet-18 batch norm, a transformer layer norm, group/instance norm
on ResNet-sized maps, AlexNet's local response norm). For each: median milliseconds of
`--repeat` runs after warm-up, the ratio torch/cnnnative (> 1: cnnnative faster), and
the effective bandwidth in GB/s (bytes the op must read + write once / time; these ops
are memory-bound). Backward uses torch's native_*_backward ops (LRN: autograd, so both
sides time forward + backward).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnnative
from cnnnative import ops


def median_ms(fn, repeat):
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def cases(batch, torch):
    F = torch.nn.functional
    aten = torch.ops.aten
    rng = np.random.default_rng(0)

    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    for c, hw in [(64, 56), (128, 28), (256, 14), (512, 7)]:
        shape = (batch, c, hw, hw)
        x, dy, w, b = arr(*shape), arr(*shape), arr(c), arr(c)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        tx, tdy, tw, tb = map(torch.from_numpy, (x, dy, w, b))
        trm, trv = torch.zeros(c), torch.ones(c)
        _, sm, si = ops.batch_norm_forward(x, rm, rv, w, b, True)
        _, tsm, tsi = aten.native_batch_norm(tx, tw, tb, trm, trv, True, 0.1, 1e-5)
        n = x.size
        yield (f"batch_norm train fwd {shape}", 2 * n,
               lambda: ops.batch_norm(x, rm, rv, w, b, training=True),
               lambda: F.batch_norm(tx, trm, trv, tw, tb, True))
        yield (f"batch_norm eval fwd {shape}", 2 * n,
               lambda: ops.batch_norm(x, rm, rv, w, b),
               lambda: F.batch_norm(tx, trm, trv, tw, tb, False))
        yield (f"batch_norm train bwd {shape}", 3 * n,
               lambda: ops.batch_norm_backward(dy, x, w, sm, si, True),
               lambda: aten.native_batch_norm_backward(tdy, tx, tw, trm, trv, tsm, tsi, True, 1e-5,
                                                       [True, True, True]))

    shape = (256 * batch, 512)
    x, dy, w, b = arr(*shape), arr(*shape), arr(512), arr(512)
    tx, tdy, tw, tb = map(torch.from_numpy, (x, dy, w, b))
    yield (f"batch_norm train fwd {shape}", 2 * x.size,
           lambda: ops.batch_norm(x, None, None, w, b, training=True),
           lambda: F.batch_norm(tx, None, None, tw, tb, True))

    shape = (64 * batch, 768)
    x, dy, w, b = arr(*shape), arr(*shape), arr(768), arr(768)
    tx, tdy, tw, tb = map(torch.from_numpy, (x, dy, w, b))
    _, m, r = ops.layer_norm_forward(x, 768, w, b)
    _, tm, tr = aten.native_layer_norm(tx, [768], tw, tb, 1e-5)
    yield (f"layer_norm fwd {shape}", 2 * x.size, lambda: ops.layer_norm(x, 768, w, b),
           lambda: F.layer_norm(tx, [768], tw, tb))
    yield (f"layer_norm bwd {shape}", 3 * x.size, lambda: ops.layer_norm_backward(dy, x, 768, m, r, w),
           lambda: aten.native_layer_norm_backward(tdy, tx, [768], tm, tr, tw, tb, [True, True, True]))

    shape = (batch, 256, 28, 28)
    x, dy, w, b = arr(*shape), arr(*shape), arr(256), arr(256)
    tx, tdy, tw, tb = map(torch.from_numpy, (x, dy, w, b))
    _, m, r = ops.group_norm_forward(x, 32, w, b)
    _, tm, tr = aten.native_group_norm(tx, tw, tb, batch, 256, 28 * 28, 32, 1e-5)
    yield (f"group_norm(32) fwd {shape}", 2 * x.size, lambda: ops.group_norm(x, 32, w, b),
           lambda: F.group_norm(tx, 32, tw, tb))
    yield (f"group_norm(32) bwd {shape}", 3 * x.size, lambda: ops.group_norm_backward(dy, x, 32, m, r, w),
           lambda: aten.native_group_norm_backward(tdy, tx, tm, tr, tw, batch, 256, 28 * 28, 32,
                                                   [True, True, True]))
    shape = (batch, 64, 56, 56)
    x = arr(*shape)
    tx = torch.from_numpy(x)
    yield (f"instance_norm fwd {shape}", 2 * x.size, lambda: ops.instance_norm(x),
           lambda: F.instance_norm(tx))

    for shape in [(batch, 96, 55, 55), (batch, 256, 27, 27)]:
        x, dy = arr(*shape), arr(*shape)
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        yield (f"local_response_norm(5) fwd {shape}", 2 * x.size,
               lambda: ops.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
               lambda: F.local_response_norm(tx, 5, 1e-4, 0.75, 2.0))

        def torch_fwd_bwd():
            t = tx.detach().requires_grad_()
            F.local_response_norm(t, 5, 1e-4, 0.75, 2.0).backward(tdy)

        yield (f"local_response_norm(5) fwd+bwd {shape}", 5 * x.size,
               lambda: (ops.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
                        ops.local_response_norm_backward(dy, x, 5, 1e-4, 0.75, 2.0)),
               torch_fwd_bwd)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=cnnnative.get_num_threads())
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cnnnative.set_num_threads(args.threads)
    print(f"threads={args.threads} batch={args.batch} isa={cnnnative.get_isa()} "
          f"torch={torch.__version__}; median of {args.repeat}")
    print(f"{'case':58s} {'cnnnative ms':>12s} {'torch ms':>9s} {'ratio':>6s} {'GB/s':>6s}")
    ratios = []
    for name, floats_moved, ours, theirs in cases(args.batch, torch):
        t_ours = median_ms(ours, args.repeat)
        with torch.no_grad() if "lrn" not in name and "fwd+bwd" not in name else _null():
            t_theirs = median_ms(theirs, args.repeat)
        ratio = t_theirs / t_ours
        ratios.append(ratio)
        print(f"{name:58s} {t_ours:12.3f} {t_theirs:9.3f} {ratio:6.2f} {floats_moved * 4 / t_ours / 1e6:6.1f}")
    print(f"geometric mean ratio (torch / cnnnative): {float(np.exp(np.mean(np.log(ratios)))):.2f}")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
