"""Imported ONNX models: cnnnative.compile(cnnnative.onnx.load(path)) beside ONNX Runtime.

    python benchmarks/bench_onnx.py                        # the 9 light models + resnet18, batch 1
    python benchmarks/bench_onnx.py --models resnet50,vgg19 --repeats 20 --markdown
    python benchmarks/bench_onnx.py --dir /tmp/tv               # every .onnx in a directory

Models: the 9 "light" models that ship inside the onnx wheel (onnx/backend/test/data/light:
AlexNet, ZFNet-512, VGG-19, Inception v1/v2, ResNet-50, DenseNet-121, SqueezeNet,
ShuffleNet; their weights are ConstantOfShape fills, the compute is the real network's) and,
when torch is installed, cnnnative's ResNet-18 twin (cnnnative.torch_reference.resnet18,
random weights, seed 0) exported with torch.onnx.export at opset 17 with a dynamic batch.

Per model: both run the same seeded input at batch 1 with 2 threads (cnnnative.set_num_threads,
ONNX Runtime intra_op_num_threads=2, sequential execution); their outputs must agree within
1e-4 relative (max-abs difference over the max-abs of ONNX Runtime's output); then, after a
warm-up, the two are timed alternately call by call (interleaved, so a busy machine slows
both alike) and the medians are reported with ours / ORT (< 1 is faster). A model that
does not import prints the operators cnnnative cannot import yet. The light models' weights
are constant fills, so their outputs are near-uniform and the agreement check says little
for them (the conformance suite checks them against onnx's reference outputs); the ResNet-18
twin has random weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

LIGHT = ("bvlc_alexnet", "zfnet512", "vgg19", "inception_v1", "inception_v2", "resnet50", "densenet121",
         "squeezenet", "shufflenet")
TOLERANCE = 1e-4


def light_path(name):
    import onnx
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", f"light_{name}.onnx")


def export_resnet18(workdir):
    """cnnnative's ResNet-18 twin in torch, exported (opset 17, dynamic batch); None without torch."""
    try:
        import torch
    except ImportError:
        return None
    from cnnnative.torch_reference import resnet18
    torch.manual_seed(0)
    m = resnet18().eval()
    path = os.path.join(workdir, "resnet18.onnx")
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the TorchScript exporter's notice
    torch.onnx.export(m, (torch.randn(1, 3, 224, 224),), path, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def input_shape(path):
    import onnx
    model = onnx.load(path, load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    vi = next(i for i in model.graph.input if i.name not in inits)
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]
    return vi.name, (1,) + tuple(dims[1:])


def ort_session(path, threads, spin=True):
    """An ONNX Runtime CPU session as every benchmark here runs it: `threads` intra-op
    threads, sequential execution, all graph optimisations; spin=False turns off its
    workers' spin-waiting (which an oversubscribed machine punishes)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # the light models' unused initializers make it warn
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def bench_one(name, path, threads, repeats, warmup, spin=True, clock=time.perf_counter):
    import onnxruntime as ort

    import cnnnative
    from cnnnative.onnx import UnsupportedOperatorError

    row = {"model": name}
    in_name, shape = input_shape(path)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    try:
        t0 = time.perf_counter()
        graph = cnnnative.onnx.load(path)
        row["load_s"] = time.perf_counter() - t0
    except UnsupportedOperatorError as e:
        row["error"] = "unsupported: " + ", ".join(f"{t} x{n}" for t, _, n, _, _ in e.ops)
        return row
    except ValueError as e:
        row["error"] = f"load failed: {str(e).splitlines()[0][:160]}"
        return row
    try:
        t0 = time.perf_counter()
        ours = cnnnative.compile(graph, shape)
        row["compile_s"] = time.perf_counter() - t0
    except Exception as e:  # a compile failure is a result to report, not a crash of the run
        row["error"] = f"compile failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
        return row
    sess = ort_session(path, threads, spin)

    def run_ort():
        return sess.run(None, {in_name: x})[0]

    def run_ours():
        out = ours(x)
        return out[0] if isinstance(out, tuple) else out

    reference = path[:-5] + ".npz"  # the exporting framework's own output (export_torchvision_onnx.py)
    if os.path.exists(reference):
        with np.load(reference) as ref_io:
            want = ref_io["y"].astype(np.float64)
            batch = cnnnative.compile(graph, ref_io["x"].shape)(ref_io["x"])
        row["torch_rel_err"] = float(np.max(np.abs(batch - want)) / (np.max(np.abs(want)) or 1.0))
    ref = run_ort()
    got = np.asarray(run_ours())
    scale = float(np.max(np.abs(ref))) or 1.0
    row["rel_err"] = float(np.max(np.abs(got.astype(np.float64) - ref))) / scale if got.shape == ref.shape else np.inf
    row["agree"] = row["rel_err"] <= TOLERANCE
    for _ in range(warmup):
        run_ours()
        run_ort()
    t_ours, t_ort = [], []
    # Interleaved: both see the same machine load. clock: wall time, or with one thread
    # time.thread_time (CPU time of the calling thread, which runs everything at 1 thread:
    # robust on a machine shared with other jobs).
    for _ in range(repeats):
        t0 = clock()
        run_ours()
        t_ours.append(clock() - t0)
        t0 = clock()
        run_ort()
        t_ort.append(clock() - t0)
    row["ours_ms"] = 1e3 * statistics.median(t_ours)
    row["ort_ms"] = 1e3 * statistics.median(t_ort)
    row["ratio"] = row["ours_ms"] / row["ort_ms"]
    return row


def print_ratio_summary(rows, what):
    """The closing line of a run: geometric mean of ours / ORT, the slowest, how many agree."""
    timed = [r for r in rows if "ratio" in r]
    if timed:
        geo = float(np.exp(np.mean(np.log([r["ratio"] for r in timed]))))
        worst = max(timed, key=lambda r: r["ratio"])
        print(f"\ngeometric mean ours/ORT over {len(timed)} {what}: {geo:.2f}; slowest: {worst['model']} "
              f"{worst['ratio']:.2f}; outputs agree within {TOLERANCE:g}: "
              f"{sum(r['agree'] for r in timed)}/{len(timed)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=None, help="comma-separated subset of: " + ",".join(LIGHT + ("resnet18",)))
    ap.add_argument("--dir", default=None,
                    help="benchmark every .onnx file in this directory instead (e.g. the torchvision families "
                         "written by benchmarks/export_torchvision_onnx.py)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--ort-no-spin", action="store_true",
                    help="ONNX Runtime workers block instead of spin-waiting (fairer on a busy machine)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the thread's CPU time (needs --threads 1: each runtime then runs on the calling thread)")
    args = ap.parse_args(argv)
    if args.cpu_time and args.threads != 1:
        ap.error("--cpu-time needs --threads 1")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("bench_onnx needs onnxruntime (pip install onnxruntime)", file=sys.stderr)
        return 2
    import cnnnative
    cnnnative.set_num_threads(args.threads)
    files = {}
    if args.dir:
        files = {f[:-5]: os.path.join(args.dir, f) for f in sorted(os.listdir(args.dir)) if f.endswith(".onnx")}
        if not files:
            ap.error(f"no .onnx files in {args.dir!r}")
    names = args.models.split(",") if args.models else list(files) or list(LIGHT) + ["resnet18"]
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            if name in files:
                path = files[name]
            elif name == "resnet18":
                path = export_resnet18(workdir)
                if path is None:
                    rows.append({"model": name, "error": "torch is not installed (no export)"})
                    continue
            elif name in LIGHT:
                path = light_path(name)
            else:
                ap.error(f"unknown model {name!r}")
            row = bench_one(name, path, args.threads, args.repeats, args.warmup, spin=not args.ort_no_spin,
                            clock=time.thread_time if args.cpu_time else time.perf_counter)
            rows.append(row)
            print(_line(row, False), file=sys.stderr if args.markdown else sys.stdout, flush=True)
    if args.markdown:
        print("| model | cnnnative ms | ORT ms | ours/ORT | rel. err | load s | compile s |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            print(_line(row, True))
    print_ratio_summary(rows, "models")
    return 0


def _line(row, markdown):
    if "error" in row:
        return f"| {row['model']} | - | - | - | - | - | {row['error']} |" if markdown else \
            f"{row['model']:14s} {row['error']}"
    flag = "" if row["agree"] else " DISAGREE"
    if "torch_rel_err" in row:
        flag += f" (vs torch {row['torch_rel_err']:.1e}{'' if row['torch_rel_err'] <= TOLERANCE else ' DISAGREE'})"
    if markdown:
        return (f"| {row['model']} | {row['ours_ms']:.1f} | {row['ort_ms']:.1f} | {row['ratio']:.2f} | "
                f"{row['rel_err']:.1e}{flag} | {row['load_s']:.2f} | {row['compile_s']:.2f} |")
    return (f"{row['model']:14s} ours {row['ours_ms']:8.1f} ms  ORT {row['ort_ms']:8.1f} ms  ours/ORT "
            f"{row['ratio']:5.2f}  rel.err {row['rel_err']:.1e}{flag}  (load {row['load_s']:.2f} s, "
            f"compile {row['compile_s']:.2f} s)")


if __name__ == "__main__":
    sys.exit(main())
