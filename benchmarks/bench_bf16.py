"""bf16 inference: compile(precision="bf16") vs our fp32 vs OpenVINO (its default precision
and INFERENCE_PRECISION_HINT=f32), plus the measured bf16 and fp32 peaks of one core.

    python benchmarks/bench_bf16.py                                   # ResNet-50/18, MobileNet-v2, b1 and b8
    python benchmarks/bench_bf16.py --models resnet50 --batches 1 --repeats 20 --threads 1

Every engine runs the same network (the builder's seeded weights; OpenVINO reads it as
exported by cnnnative.onnx.export) on the same input. Timing: the four runs interleaved
(A, B, C, D, A, B, ...) so all see the same machine load; medians of the PROCESS CPU time
per call (all threads, so a busy machine's waiting does not count; OpenVINO's idle
workers' spinning does) and of the wall time. Effective GFLOP/s = 2 * multiply-adds /
CPU time; % of peak against the probes (one core's vdpbf16ps and FMA throughput, thread
CPU time, times the threads). OpenVINO reports which precision its default chose: on
CPUs without AMX it may run f32 by default (or bf16 via AVX512-BF16).
Accuracy columns: max |y - y_fp32| / max |y_fp32| against our fp32 output.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np


def _peaks(threads):
    from cnnnative import _core
    bf16 = _core.measure_bf16_peak(0.5) * threads
    fp32 = _core.measure_fma_peak(0.5, 1, True) * threads
    return bf16, fp32


def _openvino(path, threads, hint):
    try:
        import openvino as ov
    except ImportError:
        return None, "openvino not installed"
    core = ov.Core()
    model = core.read_model(path)
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def run(x):
        request.infer({0: x})
        return request.get_output_tensor(0).data

    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    return run, getattr(precision, "get_type_name", lambda: str(precision))()


def bench(name, batch, threads, repeats, workdir):
    import cnnnative
    import cnnnative.onnx
    from cnnnative import models, nn
    from cnnnative.model_summary import summarize

    nn.init.manual_seed(0)
    model = models.build(name).eval()
    shape = (batch, 3, 224, 224)
    macs = summarize(model, shape)["totals"]
    macs = macs.get("macs", macs["flops"] // 2) * batch  # the summary counts one sample
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    runs = {"ours_fp32": cnnnative.compile(model, shape), "ours_bf16": cnnnative.compile(model, shape, precision="bf16")}
    row = {"model": name, "batch": batch, "threads": threads, "gflop": 2 * macs / 1e9}
    path = os.path.join(workdir, f"{name}_b{batch}.onnx")
    cnnnative.onnx.export(model, path, shape, dynamic_batch=False)
    for label, hint in (("ov_default", None), ("ov_f32", "f32")):
        run, info = _openvino(path, threads, hint)
        if run is None:
            row[label + "_error"] = info
            continue
        runs[label] = run
        row[label + "_precision"] = info
    ref = np.asarray(runs["ours_fp32"](x), dtype=np.float64)
    scale = float(np.abs(ref).max()) or 1.0
    for label, run in runs.items():
        y = np.asarray(run(x), dtype=np.float64).reshape(ref.shape)
        row[label + "_rel_err"] = float(np.abs(y - ref).max()) / scale
        row[label + "_top1"] = float(np.mean(y.argmax(1) == ref.argmax(1)))
        run(x)  # warm-up
    cpu = {k: [] for k in runs}
    wall = {k: [] for k in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            run(x)
            cpu[label].append(time.process_time() - c0)
            wall[label].append(time.perf_counter() - w0)
    for label in runs:
        row[label + "_cpu_ms"] = 1e3 * statistics.median(cpu[label])
        row[label + "_wall_ms"] = 1e3 * statistics.median(wall[label])
    # Ratio of per-pair CPU times (each pair ran back to back), median: steadier than a ratio of medians.
    row["bf16_speedup"] = statistics.median(f / b for f, b in zip(cpu["ours_fp32"], cpu["ours_bf16"]))
    for label in ("ov_default", "ov_f32"):
        if label in runs:
            row[f"bf16_vs_{label}"] = statistics.median(o / b for o, b in zip(cpu[label], cpu["ours_bf16"]))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet50,resnet18,mobilenet_v2")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    import cnnnative
    from cnnnative import _core
    cnnnative.set_num_threads(args.threads)
    bf16_peak, fp32_peak = _peaks(args.threads)
    print(f"# CPU peaks, {args.threads} thread(s): bf16 (vdpbf16ps) {bf16_peak:.0f} GFLOP/s, fp32 FMA "
          f"{fp32_peak:.0f} GFLOP/s; AVX512-BF16: {_core.bf16_supported()}", flush=True)
    print("| model | batch | ours fp32 ms | ours bf16 ms | OV default ms (precision) | OV f32 ms | bf16 speedup "
          "| bf16 vs OV default | bf16 vs OV f32 | bf16 GFLOP/s (% bf16 peak) | fp32 GFLOP/s (% FMA peak) "
          "| bf16 rel err / top-1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                r = bench(name, batch, args.threads, args.repeats, workdir)
                gf_b = r["gflop"] / (r["ours_bf16_cpu_ms"] / 1e3)
                gf_f = r["gflop"] / (r["ours_fp32_cpu_ms"] / 1e3)
                ovd = (f"{r['ov_default_cpu_ms']:.1f} ({r['ov_default_precision']})" if "ov_default_cpu_ms" in r
                       else r.get("ov_default_error", "-"))
                ovf = f"{r['ov_f32_cpu_ms']:.1f}" if "ov_f32_cpu_ms" in r else "-"
                vs_d = f"{r['bf16_vs_ov_default']:.2f}x" if "bf16_vs_ov_default" in r else "-"
                vs_f = f"{r['bf16_vs_ov_f32']:.2f}x" if "bf16_vs_ov_f32" in r else "-"
                print(f"| {name} | {batch} | {r['ours_fp32_cpu_ms']:.1f} | {r['ours_bf16_cpu_ms']:.1f} | {ovd} | {ovf} "
                      f"| {r['bf16_speedup']:.2f}x | {vs_d} | {vs_f} | {gf_b:.0f} ({100 * gf_b / bf16_peak:.0f}%) "
                      f"| {gf_f:.0f} ({100 * gf_f / fp32_peak:.0f}%) "
                      f"| {r['ours_bf16_rel_err']:.2g} / {100 * r['ours_bf16_top1']:.0f}% |", flush=True)
                extra = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                         if k.endswith(("_wall_ms", "_rel_err"))}
                print(f"<!-- {name} b{batch}: {extra} -->", flush=True)


if __name__ == "__main__":
    sys.exit(main())
