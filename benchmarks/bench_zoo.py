"""The model zoo at batch 1: parameters, multiply-adds, and compiled latency beside ONNX
Runtime on the same network (each builder exported with cnnnative.onnx.export, then timed
by bench_onnx's interleaved loop: cnnnative.compile(cnnnative.onnx.load(file)) vs ORT).

    python benchmarks/bench_zoo.py                            # one builder per family
    python benchmarks/bench_zoo.py --models vgg16,resnet50 --repeats 20 --markdown
    python benchmarks/bench_zoo.py --threads 1 --cpu-time      # a machine shared with other jobs

Weights are the builders' seeded random initialisation (the speed does not depend on them);
the outputs of the two engines must agree within 1e-4 relative.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_onnx import bench_one, print_ratio_summary  # noqa: E402

DEFAULT = ("alexnet", "zfnet", "vgg16", "googlenet", "inception_v3", "resnet18", "resnet50", "resnext50_32x4d",
           "wide_resnet50_2", "densenet121", "squeezenet1_1", "shufflenet_v2_x1_0", "mobilenet_v2",
           "mobilenet_v3_large", "efficientnet_b0", "mnasnet1_0", "regnet_y_400mf")
INPUT_SIZE = {"inception_v3": 299}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=None, help="comma-separated builder names (default: one per family)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--ort-no-spin", action="store_true")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the thread's CPU time (needs --threads 1: each runtime then runs on the calling thread)")
    args = ap.parse_args(argv)
    if args.cpu_time and args.threads != 1:
        ap.error("--cpu-time needs --threads 1")
    import cnnnative
    import cnnnative.onnx
    from cnnnative import models, nn
    from cnnnative.model_summary import summarize
    cnnnative.set_num_threads(args.threads)
    names = args.models.split(",") if args.models else [n for n in DEFAULT if n in models.MODELS]
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            nn.init.manual_seed(0)
            kwargs = {"aux_logits": False} if name in ("googlenet", "inception_v3") else {}
            model = models.build(name, **kwargs).eval()
            size = INPUT_SIZE.get(name, 224)
            shape = (1, 3, size, size)
            totals = summarize(model, shape)["totals"]
            path = os.path.join(workdir, f"{name}.onnx")
            try:
                cnnnative.onnx.export(model, path, shape)
            except ValueError as e:
                rows.append({"model": name, "error": f"export failed: {str(e).splitlines()[0][:160]}"})
                continue
            row = bench_one(name, path, args.threads, args.repeats, args.warmup, spin=not args.ort_no_spin,
                            clock=time.thread_time if args.cpu_time else time.perf_counter)
            row["params"], row["macs"] = totals["params"], totals.get("macs", totals["flops"] // 2)
            rows.append(row)
            print(_line(row, False), file=sys.stderr if args.markdown else sys.stdout, flush=True)
    if args.markdown:
        print("| model | parameters | GMACs | cnnnative ms | ORT ms | ours/ORT |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in rows:
            print(_line(row, True))
    print_ratio_summary(rows, "builders")
    return 0


def _line(row, markdown):
    if "error" in row:
        return f"| {row['model']} | {row['error']} | | | | |" if markdown else f"{row['model']:<20} {row['error']}"
    if markdown:
        return (f"| {row['model']} | {row['params'] / 1e6:.1f} M | {row['macs'] / 1e9:.2f} | {row['ours_ms']:.1f} | "
                f"{row['ort_ms']:.1f} | {row['ratio']:.2f} |")
    return (f"{row['model']:<20} {row['params'] / 1e6:6.1f} M params {row['macs'] / 1e9:6.2f} GMACs  "
            f"ours {row['ours_ms']:7.1f} ms  ORT {row['ort_ms']:7.1f} ms  ours/ORT {row['ratio']:.2f}  "
            f"rel.err {row['rel_err']:.1e}")


if __name__ == "__main__":
    sys.exit(main())
