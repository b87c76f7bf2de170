"""The `cnnnative` subcommands on ONNX models (see cli.py for the command line itself):

    cnnnative predict model.onnx images.npy [--out preds.npy] [--top K]
    cnnnative bench model.onnx [--batch N] [--threads T]   # beside ONNX Runtime when installed
    cnnnative summary model.onnx                           # ops, parameters, FLOPs, memory

Models are imported with `cnnnative.onnx.load` and run compiled (`cnnnative.compile`).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

__all__ = ["is_onnx_file", "predict", "bench", "summary", "top_k", "print_top_k"]


def is_onnx_file(path) -> bool:
    """A path that names an ONNX model (by its extension: .onnx)."""
    return str(path).lower().endswith(".onnx")


def _fail(command, message):
    raise SystemExit(f"cnnnative {command}: {message}")


def _parse_shape(text, command):
    """'3,224,224' -> (3, 224, 224) (the per-sample shape; None when not given)."""
    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        _fail(command, f"--input-shape {text!r} is not a comma-separated list of sizes such as 3,224,224")
    if not shape or any(d <= 0 for d in shape):
        _fail(command, f"--input-shape {text!r} must be positive sizes")
    return shape


def _import(path, command, sample_shape=None, batch=1):
    """(the imported nn.Graph, the full input shape for `batch`)."""
    from . import onnx as cnx
    if not os.path.isfile(path):
        _fail(command, f"ONNX model {path} not found")
    graph = cnx.load(path, input_shape=None if sample_shape is None else (batch, *sample_shape))
    if len(graph.ir.inputs) != 1:
        _fail(command, f"{path} has {len(graph.ir.inputs)} inputs; only single-input models are supported here")
    return graph, (batch, *graph.ir.inputs[0].shape[1:])


def _declared_rank(path):
    """The rank of the model's (first non-initializer) input, read without its weights."""
    from .onnx._read import require_onnx
    onnx = require_onnx()
    if not os.path.isfile(path):
        _fail("predict", f"ONNX model {path} not found")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        _fail("predict", f"{path} is not a valid ONNX model: {e}")
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        _fail("predict", f"{path} has {len(inputs)} inputs; only single-input models are supported here")
    return len(inputs[0].type.tensor_type.shape.dim)


# -- predict ------------------------------------------------------------------------------------------
def top_k(scores, k):
    """(indices, probabilities) of the k best classes per row, best first. Scores that are
    already a distribution (non-negative rows summing to 1) are kept; others get a softmax."""
    from . import ops
    scores = np.asarray(scores, np.float32)
    dist = scores.size and scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)
    probs = scores if dist else ops.softmax(scores, 1)
    k = min(k, probs.shape[1])
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(probs, idx, axis=1)


def predict(args):
    """Run an ONNX model on the images of a .npy file, compiled, in batches."""
    import cnnnative as cn
    if args.input_max is not None:
        _fail("predict", "--input-max applies to checkpoints; an ONNX model takes the images as they are "
              "(apply its preprocessing beforehand)")
    try:
        x = np.load(args.images, allow_pickle=False)
    except (OSError, ValueError) as e:
        _fail("predict", f"cannot read {args.images} as a .npy array: {e}")
    if not isinstance(x, np.ndarray):
        _fail("predict", f"{args.images} is an .npz archive; give one .npy array")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        _fail("predict", f"{args.images} holds {x.dtype} values; expected numbers")
    rank = _declared_rank(args.checkpoint)
    if x.ndim == rank - 1:
        x = x[None]  # one sample
    if x.ndim != rank:
        _fail("predict", f"images of shape {x.shape} do not fit the model's {rank}-D input (batch first)")
    x = x.astype(np.float32)  # as they are: apply the model's own preprocessing beforehand
    batch = max(1, min(args.batch_size, len(x)))
    model = cn.compile(args.checkpoint, (batch, *x.shape[1:]))  # checks the sizes against the model
    outputs = [model(x[i:i + batch]) for i in range(0, len(x), batch)]
    y = np.concatenate(outputs) if outputs else np.zeros((0, *model.output_shape[1:]), np.float32)
    if args.out:
        np.save(args.out, y)
    if y.ndim != 2:
        message = f"{len(y)} outputs of shape {y.shape[1:]}" + (f" written to {args.out}" if args.out else
                                                                 " (give --out to save them)")
        print(json.dumps({"output_shape": list(y.shape), "out": args.out}) if args.json else message)
        return 0
    return print_top_k(y, args.top, args.json)


def print_top_k(scores, top, as_json):
    """Print the best classes of each row of `scores`: `i: k (p=0.93)`, or with top=K the
    K best `i: k1 (p=..), k2 (p=..)`; as JSON lists (flat when top is None)."""
    k = top or 1
    idx, probs = top_k(scores, k) if len(scores) else (np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))
    if as_json:
        flat = top is None
        print(json.dumps({"predictions": (idx[:, 0] if flat else idx).tolist(),
                          "probabilities": (probs[:, 0] if flat else probs).tolist()}))
    else:
        for i in range(len(scores)):
            print(f"{i}: " + ", ".join(f"{c} (p={p:.3f})" for c, p in zip(idx[i], probs[i])))
    return 0


# -- bench --------------------------------------------------------------------------------------------
def _ort_session(path, threads):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def _time_call(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(args):
    """Our compiled model beside ONNX Runtime (interleaved rounds, medians), then the
    per-node profile of ours."""
    import cnnnative as cn
    from .profiling import format_profile, profile
    if args.layers or args.no_torch:
        _fail("bench", "--layers and --no-torch time the built-in layers; with an ONNX model use --no-ort")
    if args.threads is not None:
        cn.set_num_threads(args.threads)
    threads = cn.get_num_threads()
    sample = _parse_shape(args.input_shape, "bench")
    graph, shape = _import(args.model, "bench", sample, args.batch)
    compiled = cn.compile(graph, shape)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    session = None if args.no_ort else _ort_session(args.model, threads)
    runners = {"cnnnative": lambda: compiled(x)}
    if session is not None:
        feed = {session.get_inputs()[0].name: x}
        runners["onnxruntime"] = lambda: session.run(None, feed)
    rounds = args.repeats or 30
    for fn in runners.values():  # warm up: arenas, ORT's first-run allocations, caches
        for _ in range(3):
            fn()
    times = {name: [] for name in runners}
    for _ in range(rounds):  # interleaved, so both see the same machine load
        for name, fn in runners.items():
            times[name].append(_time_call(fn))
    result = {"model": args.model, "input_shape": list(shape), "threads": threads, "rounds": rounds,
              "engines": {n: {"median_ms": float(np.median(t)) * 1e3, "min_ms": float(np.min(t)) * 1e3}
                          for n, t in times.items()}}
    if session is not None:
        ours, theirs = compiled(x), runners["onnxruntime"]()[0]
        scale = float(np.max(np.abs(theirs))) or 1.0
        result["max_abs_diff_over_max_abs"] = float(np.max(np.abs(ours - theirs))) / scale
        result["ratio_to_onnxruntime"] = (result["engines"]["cnnnative"]["median_ms"]
                                          / result["engines"]["onnxruntime"]["median_ms"])
    rows = profile(compiled, x, repeats=max(3, min(rounds, 10)))
    result["profile"] = [{**r, "output_shape": list(r["output_shape"])} for r in rows]
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.model}: input {tuple(shape)}, {threads} thread(s), {rounds} interleaved rounds")
    print(f"  {'engine':<12} {'median ms':>10} {'min ms':>10}")
    for name, e in result["engines"].items():
        print(f"  {name:<12} {e['median_ms']:>10.3f} {e['min_ms']:>10.3f}")
    if session is None:
        why = "skipped: --no-ort" if args.no_ort else "is not installed: pip install onnxruntime"
        print(f"  (ONNX Runtime {why})")
    else:
        print(f"  cnnnative / onnxruntime: {result['ratio_to_onnxruntime']:.2f}x (median); outputs differ by "
              f"{result['max_abs_diff_over_max_abs']:.1e} (max abs difference / max abs)")
    print("per-node profile of the compiled model (engine nodes timed by the engine, host nodes around "
          "their call; median of the runs):")
    print(format_profile(rows))
    return 0


# -- summary ------------------------------------------------------------------------------------------
def summary(args):
    from .model_summary import format_summary, summarize
    sample = _parse_shape(args.input_shape, "summary")
    graph, shape = _import(args.model, "summary", sample)
    s = summarize(graph, shape)
    if args.json:
        print(json.dumps({"input_shape": list(shape), "totals": s["totals"],
                          "rows": [{**r, "output_shape": list(r["output_shape"])} for r in s["rows"]]}))
        return 0
    print(f"{args.model}: input {tuple(shape)} (per-sample figures; the batch is dynamic)")
    print(format_summary(s))
    return 0
