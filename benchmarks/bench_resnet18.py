"""ResNet-18 inference: cnnnative.compile vs ONNX Runtime vs PyTorch eager, same weights.

    python benchmarks/bench_resnet18.py                       # batch 1 and 8, 2 threads
    python benchmarks/bench_resnet18.py --batch 1 --repeats 20 --markdown

One torch ResNet-18 (torchvision layout rebuilt from torch.nn; random weights with
non-trivial BatchNorm statistics, seed 0) is saved as a state_dict (.npz) and exported to
ONNX (torch.onnx.export). Each framework then runs in its own subprocess, so each one's
peak RSS is its own: it loads the same weights, checks its output on a fixed input
against PyTorch's, warms up, and times `repeats` calls. Reported: median latency,
images/s, the process's peak RSS, and for cnnnative the planned arena and weight bytes.
Timings on a shared machine are noisy: compare ratios within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

FRAMEWORKS = ("cnnnative", "onnxruntime", "torch", "onnxruntime-nospin")
DEFAULT_FRAMEWORKS = ("cnnnative", "onnxruntime", "torch")


def prepare(workdir, size):
    """Write weights.npz, model.onnx and input.npy into workdir (same weights for all)."""
    import torch
    from cnnnative.torch_reference import resnet18 as torch_resnet18

    m = torch_resnet18()
    np.savez(os.path.join(workdir, "weights.npz"), **{k: v.numpy() for k, v in m.state_dict().items()})
    x = torch.randn(1, 3, size, size)
    np.save(os.path.join(workdir, "input.npy"), x.numpy())
    onnx_path = os.path.join(workdir, "model.onnx")
    kwargs = dict(input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    try:
        torch.onnx.export(m, (x,), onnx_path, dynamo=False, **kwargs)
    except TypeError:  # older torch without the dynamo switch
        torch.onnx.export(m, (x,), onnx_path, **kwargs)


# -- one framework, in its own process --------------------------------------------------------

def rss_mib():
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's over exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(framework, workdir, batch, threads, repeats, warmup):
    os.environ["OMP_NUM_THREADS"] = str(threads)
    base_rss = rss_mib()
    x1 = np.load(os.path.join(workdir, "input.npy"))
    x = np.ascontiguousarray(np.repeat(x1, batch, axis=0))
    extra = {}
    if framework == "cnnnative":
        import cnnnative
        from cnnnative.resnet import resnet18

        cnnnative.set_num_threads(threads)
        model = resnet18()
        model.load_state_dict(dict(np.load(os.path.join(workdir, "weights.npz"))))
        model.eval()
        base_rss = rss_mib()
        t0 = time.perf_counter()
        compiled = cnnnative.compile(model, x.shape)
        extra["compile_s"] = time.perf_counter() - t0
        del model  # the compiled plan owns its (folded) weights
        extra["arena_mib"] = compiled.arena_bytes / 2**20
        extra["weights_mib"] = compiled.weight_bytes / 2**20
        extra["unshared_mib"] = compiled.unshared_bytes / 2**20
        extra["methods"] = sorted({n.get("method", "") for n in compiled.nodes if n["op"] == "conv"})
        run = lambda: compiled(x)  # noqa: E731
        # Python-side overhead of one call: a compiled model that does almost nothing.
        tiny = cnnnative.compile(cnnnative.nn.ReLU(), (1, 1, 1, 1))
        t1 = np.zeros((1, 1, 1, 1), np.float32)
        ts = []
        for _ in range(2000):
            t = time.perf_counter()
            tiny(t1)
            ts.append(time.perf_counter() - t)
        extra["call_overhead_us"] = float(np.median(ts) * 1e6)
    elif framework.startswith("onnxruntime"):
        from bench_onnx import ort_session
        # ORT's idle threads spin by default; cnnnative's sleep after a short spin.
        sess = ort_session(os.path.join(workdir, "model.onnx"), threads, spin=framework != "onnxruntime-nospin")
        run = lambda: sess.run(None, {"input": x})[0]  # noqa: E731
    elif framework == "torch":
        import torch
        from cnnnative.torch_reference import resnet18 as torch_resnet18

        torch.set_num_threads(threads)
        model = torch_resnet18()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(os.path.join(workdir, "weights.npz")).items()})
        model.eval()
        xt = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return model(xt).numpy()
    else:
        raise SystemExit(f"unknown framework {framework}")

    y = run()
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    np.save(os.path.join(workdir, f"out_{framework}_{batch}.npy"), np.asarray(y))
    med = float(np.median(times))
    result = dict(framework=framework, batch=batch, threads=threads, median_ms=med * 1e3,
                  min_ms=float(np.min(times)) * 1e3, images_per_s=batch / med, peak_rss_mib=rss_mib(),
                  rss_after_load_mib=base_rss, **extra)
    print(json.dumps(result))


# -- driver ---------------------------------------------------------------------------------

def run_worker(args, framework, batch, workdir):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--workdir", workdir,
           "--batch", str(batch), "--threads", str(args.threads), "--repeats", str(args.repeats),
           "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"[{framework} batch {batch}] failed:\n{out.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(results, args, markdown, workdir):
    header = ["batch", "framework", "median ms", "images/s", "vs ORT", "peak RSS MiB", "arena+weights MiB",
              "max |diff| vs torch"]
    rows = []
    for b in args.batch:
        by = {r["framework"]: r for r in results if r["batch"] == b}
        ref_path = os.path.join(workdir, f"out_torch_{b}.npy")
        ref = np.load(ref_path) if os.path.exists(ref_path) else None
        for fw in FRAMEWORKS:
            r = by.get(fw)
            if r is None:
                continue
            ratio = r["median_ms"] / by["onnxruntime"]["median_ms"] if "onnxruntime" in by else float("nan")
            mem = f"{r['arena_mib']:.1f}+{r['weights_mib']:.1f}" if "arena_mib" in r else "-"
            diff = "-"
            if ref is not None:
                out = np.load(os.path.join(workdir, f"out_{fw}_{b}.npy"))
                diff = f"{float(np.abs(out - ref).max()):.1e}"
            rows.append([str(b), fw, f"{r['median_ms']:.2f}", f"{r['images_per_s']:.1f}", f"{ratio:.2f}",
                         f"{r['peak_rss_mib']:.0f}", mem, diff])
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        for row in rows:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    for r in results:
        if r["framework"] == "cnnnative":
            print(f"\ncnnnative batch {r['batch']}: arena {r['arena_mib']:.2f} MiB (without reuse "
                  f"{r['unshared_mib']:.2f} MiB), weights {r['weights_mib']:.2f} MiB, conv methods "
                  f"{r['methods']}, compile {r['compile_s']:.2f} s, Python overhead per call "
                  f"{r['call_overhead_us']:.1f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--frameworks", nargs="+", default=list(DEFAULT_FRAMEWORKS), choices=FRAMEWORKS,
                    help="onnxruntime-nospin: ORT with its thread spinning switched off")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.workdir, args.batch[0], args.threads, args.repeats, args.warmup)
        return
    with tempfile.TemporaryDirectory(prefix="bench_resnet18_") as workdir:
        prepare(workdir, args.size)
        results = []
        for b in args.batch:
            # torch first: its output is the reference the others are checked against.
            for fw in sorted(args.frameworks, key=lambda f: f != "torch"):
                r = run_worker(args, fw, b, workdir)
                if r:
                    results.append(r)
        print(f"ResNet-18 {args.size}x{args.size}, {args.threads} threads, median of {args.repeats} "
              f"after {args.warmup} warm-up calls; each framework in its own process\n")
        report(results, args, args.markdown, workdir)


if __name__ == "__main__":
    main()
