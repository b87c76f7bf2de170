"""CPU inference of the zoo beside ONNX Runtime and OpenVINO, with effective GFLOP/s and % of
this machine's measured peak (issue 16's table).

    python benchmarks/bench_cpu_inference.py                         # the issue's 8 models, b1/b8, 1/2 threads
    python benchmarks/bench_cpu_inference.py --models resnet50 --batches 1 --threads 2 --repeats 20
    python benchmarks/bench_cpu_inference.py --markdown > table.md   # for benchmarks/RESULTS.md

Engines, each on the same network and the same seeded input (the builder's seeded random
weights, exported with cnnnative.onnx.export for the others):
  ours        cnnnative.compile(model, shape)  (fp32)
  ours-bf16   cnnnative.compile(model, shape, precision="bf16")   when this build offers it
  ours-int8   cnnnative.quantize(model, calibration)              when this build offers it
  ort         ONNX Runtime CPU, fp32, intra_op_num_threads = threads, sequential
  ov-f32      OpenVINO CPU with INFERENCE_PRECISION_HINT=f32, LATENCY hint, 1 stream
  ov-default  OpenVINO CPU with its own default precision (bf16 where the CPU has
              AVX512-BF16 or AMX; the table says which it chose)
Per (model, batch, threads) all engines run call by call in turn (interleaved, so a busy
machine slows all alike), or with --order blocks each engine's calls together (ONNX Runtime's
and OpenVINO's idle workers keep spinning after a call and take the cores from the next
engine's; measured: SqueezeNet 26 ms interleaved vs 5.4 ms alone), and the medians of wall
time are reported; `--clock cpu` uses the
process CPU time instead (robust to other load, but it counts both threads' time).
Effective GFLOP/s = 2 x multiply-adds x batch / time; % of peak = that over the FP32 FMA peak
measured here on the same number of threads (cnnnative._core.measure_fma_peak). Low-precision
engines are also given as % of the FP32 peak, which is the honest common ruler; their own
peaks (VNNI, bf16) are printed when the build has probes for them.
"ours / this" is ours fp32 time over the engine's (< 1: ours is faster); a closing line gives its
geometric mean per engine, batch and thread count. Outputs are compared with ours fp32 (max abs difference / max abs): fp32 engines must
agree within 1e-3; the low-precision ones report top-1 agreement on the batch.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "squeezenet1_1",
          "googlenet", "densenet121")


def cpu_description() -> str:
    name, flags = platform.processor() or "unknown CPU", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name in ("", "unknown CPU", "x86_64"):
                    name = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    flags = sorted(f for f in have if f.startswith(("avx512", "amx", "avx_vnni", "fma", "avx2")))
                    break
    except OSError:
        pass
    return f"{name}; {os.cpu_count()} CPUs; {' '.join(flags)}"


def make_engines(model, onnx_path, shape, threads, names):
    """name -> (callable x -> y, note). Engines this build or machine lacks are left out with
    their reason printed once."""
    import cnnnative
    engines, skipped = {}, {}
    if "ours" in names:
        engines["ours"] = (cnnnative.compile(model, shape), "")
    if "ours-bf16" in names:
        try:
            engines["ours-bf16"] = (cnnnative.compile(model, shape, precision="bf16"), "")
        except TypeError:
            skipped["ours-bf16"] = "this build's compile has no precision argument"
    if "ours-int8" in names:
        if hasattr(cnnnative, "quantize"):
            calib = np.random.default_rng(1).standard_normal((8,) + tuple(shape[1:])).astype(np.float32)
            engines["ours-int8"] = (cnnnative.quantize(model, calib, input_shape=shape), "")
        else:
            skipped["ours-int8"] = "this build has no cnnnative.quantize"
    if "ort" in names:
        try:
            import onnxruntime  # noqa: F401  (ImportError: reported as skipped below)
            from bench_onnx import ort_session
            sess = ort_session(onnx_path, threads)
            in_name = sess.get_inputs()[0].name
            engines["ort"] = (lambda x, s=sess, n=in_name: s.run(None, {n: x})[0], "")
        except ImportError:
            skipped["ort"] = "onnxruntime is not installed"
    for ov_name, hint in (("ov-f32", "f32"), ("ov-default", None)):
        if ov_name not in names:
            continue
        try:
            import openvino as ov
        except ImportError:
            skipped[ov_name] = "openvino is not installed"
            continue
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        if hint:
            config["INFERENCE_PRECISION_HINT"] = hint
        compiled = core.compile_model(core.read_model(onnx_path), "CPU", config)
        request = compiled.create_infer_request()
        chosen = compiled.get_property("INFERENCE_PRECISION_HINT")
        chose = chosen.get_type_name() if hasattr(chosen, "get_type_name") else str(chosen)
        engines[ov_name] = (lambda x, r=request: next(iter(r.infer([x]).values())), chose)
    return engines, skipped


def time_engines(engines, x, repeats, warmup, clock, order):
    """Median seconds per call of each engine. order "interleaved": call by call in turn;
    "blocks": each engine's calls together, with a pause between engines, so that one
    runtime's idle workers still spinning (ONNX Runtime's and OpenVINO's do) do not take the
    cores from the next engine's calls."""
    tick = time.process_time if clock == "cpu" else time.perf_counter
    samples = {name: [] for name in engines}
    if order == "blocks":
        for name, (fn, _) in engines.items():
            time.sleep(0.3)
            for _ in range(warmup):
                fn(x)
            for _ in range(repeats):
                t0 = tick()
                fn(x)
                samples[name].append(tick() - t0)
        return {name: statistics.median(s) for name, s in samples.items()}
    for _ in range(warmup):
        for fn, _ in engines.values():
            fn(x)
    for _ in range(repeats):
        for name, (fn, _) in engines.items():
            t0 = tick()
            fn(x)
            samples[name].append(tick() - t0)
    return {name: statistics.median(s) for name, s in samples.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--engines", default="ours,ours-bf16,ours-int8,ort,ov-f32,ov-default")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--order", choices=("interleaved", "blocks"), default="interleaved",
                    help="blocks: each engine's calls together (on a quiet machine; see time_engines)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    import cnnnative
    import cnnnative.onnx
    from cnnnative import models, nn
    from cnnnative.model_summary import summarize

    names = args.engines.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]
    peaks = {}
    for t in thread_counts:
        cnnnative.set_num_threads(t)
        peaks[t] = cnnnative._core.measure_fma_peak(0.3, t)
    print(f"# {cpu_description()}")
    print("# FP32 FMA peak measured here: " + ", ".join(f"{t} thread(s) {p:.0f} GFLOP/s" for t, p in peaks.items()))
    print(f"# clock: {args.clock}; medians of {args.repeats} calls, {args.order}; cnnnative {cnnnative.__version__}")
    header = "| model | batch | threads | engine | ms | GFLOP/s | % FP32 peak | ours / this | agreement with ours |"
    rows, reasons, ratios = [], {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models.split(","):
            nn.init.manual_seed(0)
            model = models.build(name, **({"aux_logits": False} if name == "googlenet" else {})).eval()
            for batch in (int(b) for b in args.batches.split(",")):
                shape = (batch, 3, 224, 224)
                totals = summarize(model, shape)["totals"]
                macs = totals.get("macs", totals["flops"] // 2)
                onnx_path = os.path.join(workdir, f"{name}_b{batch}.onnx")
                cnnnative.onnx.export(model, onnx_path, shape)
                x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
                for t in thread_counts:
                    cnnnative.set_num_threads(t)
                    engines, skipped = make_engines(model, onnx_path, shape, t, names)
                    reasons.update(skipped)
                    ref = np.asarray(engines["ours"][0](x), np.float64) if "ours" in engines else None
                    medians = time_engines(engines, x, args.repeats, args.warmup, args.clock, args.order)
                    for engine, seconds in medians.items():
                        y = np.asarray(engines[engine][0](x), np.float64)
                        agreement = ""
                        if ref is not None and engine != "ours":
                            rel = float(np.max(np.abs(y - ref)) / (np.max(np.abs(ref)) or 1.0))
                            top1 = float(np.mean(y.argmax(1) == ref.argmax(1)))
                            agreement = f"rel {rel:.1e}, top-1 {top1:.0%}"
                        note = engines[engine][1]
                        gflops = 2.0 * macs / seconds / 1e9
                        row = (f"| {name} | {batch} | {t} | {engine}{' (' + note + ')' if note else ''} | "
                               f"{1e3 * seconds:.2f} | {gflops:.0f} | {100 * gflops / peaks[t]:.0f}% | "
                               f"{medians['ours'] / seconds:.2f} | {agreement} |" if "ours" in medians else "")
                        rows.append(row)
                        if "ours" in medians and engine != "ours":
                            ratios.setdefault((engine, batch, t), []).append(medians["ours"] / seconds)
                        if not args.markdown:
                            print(row, flush=True)
    if args.markdown:
        print(header)
        print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |")
        for row in rows:
            print(row)
    print("\ngeometric mean of ours (fp32) / engine, over the models (< 1: ours is faster):")
    for (engine, batch, t), rs in sorted(ratios.items()):
        print(f"  {engine:12s} batch {batch} threads {t}: {float(np.exp(np.mean(np.log(rs)))):.2f} "
              f"(worst {max(rs):.2f}, {len(rs)} models)")
    for engine, why in reasons.items():
        print(f"# {engine} not run: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
