"""int8 inference: cnnnative.quantize beside our fp32 compile and ONNX Runtime fp32 / int8.

    python benchmarks/bench_int8.py                                  # resnet18, resnet50, mobilenet_v2
    python benchmarks/bench_int8.py --models resnet18 --size 112 --threads 2 --repeats 20 --ort-no-spin

Per model (cnnnative.models, random weights with non-trivial BatchNorm statistics, seed 0,
batch 1, --size x --size images):
- ours fp32: cnnnative.compile(model, (1, 3, s, s));
- ours int8: cnnnative.quantize(model, calib, method=minmax, per_channel=True), first and
  last layers fp32 (the default; --fp32-layers none quantizes them too, as ORT does),
  calibrated on --calib standard-normal images (the input distribution the benchmark feeds);
- ORT fp32: the same model exported with cnnnative.onnx.export (opset 17);
- ORT int8: onnxruntime.quantization.quantize_static on that export after ORT's
  quant_pre_process (BatchNorm folded into the convs, as ORT's documentation asks), QOperator format,
  uint8 activations, int8 weights per channel (ORT's fastest int8 path on x86), calibrated
  on the same images (MinMax).
The four run the same input, interleaved call by call after a warm-up; the table gives the
median CPU time per call (process CPU time: on a shared machine wall time mostly measures the
neighbours) and wall time, the speed-ups our int8 / our fp32 and our int8 / ORT int8, and
the top-1 agreement / max relative logit error of each int8 model against our fp32 on
--eval fresh inputs. With --qdq also ORT's QDQ-format quantization of the same export (same
calibration), run by ORT ("ORT qdq") and by cnnnative.quantize(path, None) with the file's
own scales ("ours qdq"). Also printed: the int8 kernels' ISA and how many layers ran int8.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

MODELS = ("resnet18", "resnet50", "mobilenet_v2")


def build(name, rng):
    import cnnnative
    from cnnnative import nn
    nn.init.manual_seed(0)
    model = getattr(cnnnative.models, name)()
    for m in model.modules():  # non-trivial BatchNorm (as tests/bn_stats.py)
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.uniform(-0.2, 0.2, c)
            m.running_mean[...] = rng.uniform(-0.2, 0.2, c)
            m.running_var[...] = rng.uniform(0.5, 1.5, c)
    model.eval()
    return model


def ort_session(path, threads, spin=True):
    from bench_onnx import ort_session as session
    sess = session(path, threads, spin=spin)
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def ort_int8(fp32_path, out_path, calib, fmt="QOperator"):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    import onnx
    name = onnx.load(fp32_path, load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(fp32_path, out_path, Reader(), quant_format=getattr(QuantFormat, fmt),
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    return out_path


def agreement(y, ref):
    return float((y.argmax(1) == ref.argmax(1)).mean()), float((np.abs(y - ref).max(1) / np.abs(ref).max(1)).max())


def bench_model(name, args, workdir):
    import cnnnative
    import cnnnative.onnx  # noqa: F401  (the exporter)
    rng = np.random.default_rng(0)
    model = build(name, rng)
    s = args.size
    calib = rng.standard_normal((args.calib, 3, s, s)).astype(np.float32)
    evalx = rng.standard_normal((args.eval, 3, s, s)).astype(np.float32)
    x = rng.standard_normal((1, 3, s, s)).astype(np.float32)
    row = {"model": name}
    t0 = time.perf_counter()
    fp32 = cnnnative.compile(model, (1, 3, s, s))
    fp32_layers = () if args.fp32_layers == "none" else tuple(args.fp32_layers.split(","))
    qm = cnnnative.quantize(model, calib, input_shape=(1, 3, s, s), method=args.method, fp32_layers=fp32_layers)
    row["quantize_s"] = time.perf_counter() - t0
    row["int8_layers"] = sum(r["mode"] == "int8" and r["op"] in ("conv2d", "linear") for r in qm.layers)
    row["gemm_layers"] = sum(r["op"] in ("conv2d", "linear") for r in qm.layers)
    fp32_path = os.path.join(workdir, f"{name}.onnx")
    cnnnative.onnx.export(model, fp32_path, (1, 3, s, s), opset=17)
    runs = {"ours fp32": fp32, "ours int8": qm}
    try:
        runs["ORT fp32"] = ort_session(fp32_path, args.threads, spin=not args.ort_no_spin)
        # ORT's recommended flow: its pre-processing (shape inference, BatchNorm folded into
        # the convs) before quantize_static; without it every BatchNorm stays a float node
        # between dequantize and quantize (stop 25's figures were taken so: too slow for ORT)
        from onnxruntime.quantization.shape_inference import quant_pre_process
        pre_path = os.path.join(workdir, f"{name}.pre.onnx")
        quant_pre_process(fp32_path, pre_path)
        int8_path = ort_int8(pre_path, os.path.join(workdir, f"{name}.int8.onnx"), calib)
        runs["ORT int8"] = ort_session(int8_path, args.threads, spin=not args.ort_no_spin)
        if args.qdq:
            qdq_path = ort_int8(pre_path, os.path.join(workdir, f"{name}.qdq.onnx"), calib, "QDQ")
            runs["ORT qdq"] = ort_session(qdq_path, args.threads, spin=not args.ort_no_spin)
            runs["ours qdq"] = cnnnative.quantize(qdq_path, None, input_shape=(1, 3, s, s))
            row["qdq_int8_layers"] = sum(r["mode"] == "int8" and r["op"] in ("conv2d", "linear")
                                         for r in runs["ours qdq"].layers)
    except ImportError:
        print("onnxruntime is not installed: ORT columns skipped", file=sys.stderr)
    ref = np.concatenate([fp32(evalx[i:i + 1]) for i in range(len(evalx))])
    for k in ("ours int8", "ORT int8", "ORT fp32", "ours qdq", "ORT qdq"):
        if k in runs:
            y = np.concatenate([runs[k](evalx[i:i + 1]) for i in range(len(evalx))])
            row[k + " agree"] = agreement(y, ref)
    for _ in range(args.warmup):
        for f in runs.values():
            f(x)
    cpu = {k: [] for k in runs}
    wall = {k: [] for k in runs}
    for _ in range(args.repeats):  # interleaved: all see the same machine load
        for k, f in runs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            f(x)
            cpu[k].append(time.process_time() - c0)
            wall[k].append(time.perf_counter() - w0)
    for k in runs:
        row[k] = (1e3 * statistics.median(cpu[k]), 1e3 * statistics.median(wall[k]))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--calib", type=int, default=16, help="calibration images")
    ap.add_argument("--eval", type=int, default=16, help="images for the agreement check")
    ap.add_argument("--method", default="minmax")
    ap.add_argument("--fp32-layers", default="first,last",
                    help="quantize's fp32_layers: 'first,last' (the default), 'last', or 'none' (every conv and "
                         "linear in int8, as ONNX Runtime's quantize_static does)")
    ap.add_argument("--qdq", action="store_true",
                    help="also ORT's QDQ-format quantization of the same export, run by ORT and imported by "
                         "cnnnative.quantize(path, None) (its own scales)")
    ap.add_argument("--ort-no-spin", action="store_true",
                    help="ONNX Runtime's workers block instead of spin-waiting: with --threads > 1 their "
                         "spinning after each call otherwise takes the cores from our next (interleaved) call")
    args = ap.parse_args(argv)
    import cnnnative
    from cnnnative.quantization import int8_isa
    cnnnative.set_num_threads(args.threads)
    # One thread: CPU time (robust on a shared machine); more: wall time (the latency; CPU time
    # then adds the threads' time and any spinning).
    clock = 0 if args.threads == 1 else 1
    print(f"int8 kernels: {int8_isa()}; threads {args.threads}; batch 1, {args.size}x{args.size}; "
          f"CPU ms / wall ms per call (medians of {args.repeats}, interleaved); ratios from "
          f"{'CPU' if clock == 0 else 'wall'} time")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models.split(","):
            row = bench_model(name, args, workdir)
            parts = [f"{row['model']:13s} int8 layers {row['int8_layers']}/{row['gemm_layers']}"]
            for k in ("ours fp32", "ours int8", "ORT fp32", "ORT int8", "ours qdq", "ORT qdq"):
                if k in row:
                    parts.append(f"{k} {row[k][0]:7.1f}/{row[k][1]:7.1f}")
            ours8, ours32 = row["ours int8"][clock], row["ours fp32"][clock]
            parts.append(f"int8 speed-up vs our fp32 {ours32 / ours8:.2f}x")
            if "ORT int8" in row:
                parts.append(f"vs ORT int8 {row['ORT int8'][clock] / ours8:.2f}x")
            if "ours qdq" in row:
                parts.append(f"QDQ import: {row['qdq_int8_layers']}/{row['gemm_layers']} int8, "
                             f"vs ORT on the QDQ file {row['ORT qdq'][clock] / row['ours qdq'][clock]:.2f}x")
            for k in ("ours int8", "ORT int8", "ours qdq", "ORT qdq"):
                if k + " agree" in row:
                    a, e = row[k + " agree"]
                    parts.append(f"{k} top-1 agree {a:.3f} max rel err {e:.3f}")
            print("  ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
