"""The pooling nodes of an imported ONNX network (default: torchvision's Inception-v3), per node:
cnnnative's compiled engine (its per-node clock, `cnnnative.profiling`) beside ONNX Runtime's
own profiler (the same nodes' kernel times), at batch 1, one network pass of each in turn.

    python benchmarks/bench_pool_nodes.py --threads 1 --repeats 15
    python benchmarks/bench_pool_nodes.py --layouts channels,auto   # old lane kernels vs the rule

--layouts runs the engine once per pool layout (`_core._force_pool_layout`: 'auto' the measured
rule, 'planes' / 'channels' the per-plane and channel-lane kernels), alternating passes so all
see the same machine load. Times are wall medians in microseconds; the pools are ~3% of
Inception-v3, so read them per node, not from the network's total.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile

import numpy as np


def ort_session(path, threads):
    """ONNX Runtime as bench_onnx.py runs it (spinning off), with its profiler on."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_pool_times(sess, warmup):
    """Per pool node of the profiled runs (in execution order): (op, median microseconds)."""
    events = [e for e in json.load(open(sess.end_profiling()))
              if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    times, op = collections.defaultdict(list), {}
    for e in events:
        times[e["name"]].append(e["dur"])
        op[e["name"]] = e["args"].get("op_name", "")
    return [(op[n], float(np.median(t[warmup:]))) for n, t in times.items() if "Pool" in op[n]]


def measure(path, shape, threads, layouts, repeats, with_ort):
    """Engine per-node seconds per layout and ORT's pool times, all passes interleaved."""
    import cnnnative as cn
    import cnnnative.onnx  # noqa: F401
    from cnnnative import _core
    from cnnnative.profiling import _engine_rows, _one_pass
    cn.set_num_threads(threads)
    m = cn.compile(cn.onnx.load(path), shape)
    if any(not hasattr(step, "plan") for step in m._steps):
        raise SystemExit("the network has host nodes; this benchmark reads engine nodes only")
    rows = [r for step in m._steps for r in _engine_rows(step.plan)]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    sess = ort_session(path, threads) if with_ort else None
    samples = {layout: [] for layout in layouts}
    try:
        for r in range(repeats + 1):  # the first round warms up
            for layout in (layouts if r % 2 == 0 else layouts[::-1]):
                _core._force_pool_layout(layout)
                seconds, _ = _one_pass(m, x)
                if r:
                    samples[layout].append(seconds)
            if sess is not None:
                sess.run(None, {sess.get_inputs()[0].name: x})
    finally:
        _core._force_pool_layout("auto")
    med = {layout: np.median(np.array(v), axis=0) * 1e6 for layout, v in samples.items()}
    return rows, med, (ort_pool_times(sess, 1) if sess is not None else [])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/work/tv_onnx/inception_v3.onnx")
    ap.add_argument("--size", type=int, default=299)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--layouts", default="auto")
    ap.add_argument("--no-ort", action="store_true")
    a = ap.parse_args()
    shape = (1, 3, a.size, a.size)
    layouts = a.layouts.split(",")
    rows, med, theirs = measure(a.model, shape, a.threads, layouts, a.repeats, not a.no_ort)
    print(f"# {a.model} threads={a.threads} repeats={a.repeats}; microseconds, wall medians")
    print(f"{'node':16s} {'output':16s} " + " ".join(f"{layout:>9s}" for layout in layouts)
          + ("  ORT node" if theirs else ""))
    totals = collections.defaultdict(lambda: collections.defaultdict(float))
    pools = [i for i, r in enumerate(rows) if r["op"] in ("avg_pool", "max_pool", "global_avg_pool")]
    for j, i in enumerate(pools):
        r = rows[i]
        line = f"{r['op']:16s} {str(r['output_shape']):16s} " + " ".join(f"{med[lay][i]:9.1f}" for lay in layouts)
        for layout in layouts:
            totals[r["op"]][layout] += med[layout][i]
        if j < len(theirs):
            line += f"  {theirs[j][0]:17s} {theirs[j][1]:7.1f}"
            totals[r["op"]]["ORT"] += theirs[j][1]
        print(line)
    for op, t in totals.items():
        print(f"total {op:10s} " + "  ".join(f"{k} {v:7.1f}" for k, v in t.items()))
    print("network (engine nodes) ms: " + "  ".join(f"{layout} {med[layout].sum() / 1e3:.2f}" for layout in layouts))


if __name__ == "__main__":
    main()
