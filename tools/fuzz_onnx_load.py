#!/usr/bin/env python3
"""Fuzz `cnnnative.onnx.load`: damaged ONNX models must be refused with a ValueError (or
TypeError / OverflowError) -- never a crash, another exception type, a hang or a large
allocation.

Two kinds of damage, both starting from small valid models (`seed_models`):
  * byte mutations of the serialized model: flipped and inserted bytes, truncation,
    splices of two models;
  * structured mutations through onnx.helper / the protobuf API (`mutate_structure`):
    dims of initializers and inputs (negative, zero, beyond the data, past int64),
    raw_data cut short or grown, element types, attribute values (kernel 2**40, negative
    strides, huge pads, group 0, wrong lengths), nodes removed, swapped (out of
    topological order), rewired (cycles, missing or duplicate value names), op types and
    opsets changed, external-data locations.

Checks for every case: the only exceptions are ValueError / TypeError / OverflowError
(MemoryError, RecursionError, AttributeError, a segfault... are defects), the load's peak
traced memory stays under MEMORY_LIMIT (the seeds hold a few KB of weights), and when a
mutant loads, running it on a small batch also raises nothing else.

A seeded loop (deterministic for a given --seed; atheris not needed):

    PYTHONPATH=python python tools/fuzz_onnx_load.py --cases 2000 --seed 1
    PYTHONPATH=python python tools/fuzz_onnx_load.py --seconds 600 --crash-dir /tmp/onnx-crashes

Coverage-guided with atheris (pip install atheris; byte mutations by libFuzzer, structured
ones by the custom mutator; libFuzzer flags pass through):

    PYTHONPATH=python python tools/fuzz_onnx_load.py --atheris -runs=1000000 -rss_limit_mb=2048

Cases that break a check are written to --crash-dir for reproduction.

Record (the offline run of this issue): see FUZZ_RECORD below.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import tracemalloc
import traceback
import warnings

import numpy as np

# What a clean refusal may raise (ConversionError and UnsupportedOperatorError are ValueErrors).
ALLOWED = (ValueError, TypeError, OverflowError)
MEMORY_LIMIT = 64 << 20  # bytes a load of a (mutated) seed may take at its peak
# The importer's bounds on one sample of any value and on any constant, lowered while
# fuzzing (from 2**28) so that the mechanism is what is checked against MEMORY_LIMIT, at a
# size that keeps the fuzzer fast: a legitimately large model is not a defect.
FUZZ_MAX_VALUE_ELEMENTS = 1 << 20
RUN_LIMIT_ELEMENTS = 1 << 16  # mutants whose input sample is larger are loaded but not run

FUZZ_RECORD = """
2026-12-05, branch onnxcli at 1df502e (seed converters): --atheris -runs=1000000 -timeout=60
-rss_limit_mb=3072: 1,000,000 executions in 3101 s (322/s, 2 shared vCPUs), 892 edges of
cnnnative.onnx covered, 0 failures, peak RSS 107 MB, slowest input < 1 s.
Before it, the seeded loop found one defect, fixed with a regression test
(tests/test_onnx_hardening.py::test_huge_input_dims_refused_before_any_allocation): an input
declared (N, 4, 2**30, 4) made shape inference allocate 64 GiB (MemoryError). The hardening
tests added ZeroDivisionError (auto_pad SAME_* with stride 0). The seeded loop on all five
ONNX helper branches merged (with the wide seed): 105,002 cases in 1200 s, 0 failures; on
main merged into onnxcli (9ac75f3): 404,344 cases in 600 s (--seed 21), 0 failures.
"""

INTERESTING_INTS = [0, 1, -1, 2, 3, -2, 7, 255, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 62,
                    2 ** 63 - 1, -2 ** 63, -2 ** 31, 10 ** 9]


# -- seeds -------------------------------------------------------------------------------------
def seed_models():
    """Small valid models (serialized) using the converters of the seed: a residual conv
    block with BatchNorm, pooling and a Gemm head at opset 17, a static-batch one at opset
    9 with a Reshape from a Constant, and a tiny Gemm-only one."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    def model(nodes, x_shape, y_shape, inits, opset):
        g = helper.make_graph(nodes, "seed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    block = model([
        helper.make_node("Conv", ["x", "c1.weight", "c1.bias"], ["a"], name="conv1", pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["a", "bn.weight", "bn.bias", "bn.mean", "bn.var"], ["b"],
                         name="bn", epsilon=1e-5),
        helper.make_node("Relu", ["b"], ["r"], name="relu1"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p", "c2.weight"], ["q"], name="conv2", pads=[1, 1, 1, 1], group=2),
        helper.make_node("Add", ["p", "q"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["t"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["t"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["f"], name="flatten", axis=1),
        helper.make_node("Dropout", ["f"], ["d"], name="drop"),
        helper.make_node("Gemm", ["d", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1),
    ], ["N", 3, 8, 8], ["N", 5], [init("c1.weight", 4, 3, 3, 3), init("c1.bias", 4), init("bn.weight", 4),
                                  init("bn.bias", 4), init("bn.mean", 4),
                                  numpy_helper.from_array(np.ones(4, np.float32), "bn.var"),
                                  init("c2.weight", 4, 2, 3, 3), init("fc.weight", 5, 4), init("fc.bias", 5)], 17)
    static = model([
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Constant", [], ["shape"], name="const",
                         value=numpy_helper.from_array(np.array([2, -1], np.int64))),
        helper.make_node("Reshape", ["a", "shape"], ["r"], name="reshape"),
        helper.make_node("Identity", ["r"], ["i"], name="identity"),
        helper.make_node("Relu", ["i"], ["y"], name="relu"),
    ], [2, 1, 4, 4], [2, 8], [init("w", 2, 1, 2, 2)], 9)
    gemm = model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="gemm", alpha=0.5, beta=2.0)],
                 ["N", 6], ["N", 3], [init("w", 6, 3), init("b", 3)], 11)
    seeds = [block, static, gemm, wide_model()]
    from cnnnative.onnx import _register_converters, supported_ops
    _register_converters()
    known = supported_ops()
    # a seed whose operators are not all importable yet would only test the refusal
    return [m.SerializeToString() for m in seeds if all(n.op_type in known for n in m.graph.node)]


def wide_model():
    """Many operator families in one valid model (opset 17): Pad, AveragePool, the SiLU
    pattern, Clip, Resize, MaxPool, Concat, the Shape -> Gather -> Unsqueeze -> Concat ->
    Reshape -> Transpose -> Reshape channel shuffle, Slice, ReduceMean, Softmax."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name, values):
        return numpy_helper.from_array(np.asarray(values), name)

    n = helper.make_node
    nodes = [
        n("Pad", ["x", "pads"], ["p"], name="pad", mode="reflect"),
        n("AveragePool", ["p"], ["a"], name="avg", kernel_shape=[3, 3]),
        n("Sigmoid", ["a"], ["s"], name="sig"),
        n("Mul", ["a", "s"], ["m"], name="silu"),
        n("Clip", ["m", "lo", "hi"], ["c"], name="clip"),
        n("Resize", ["c", "", "scales"], ["r"], name="resize", mode="nearest"),
        n("MaxPool", ["r"], ["q"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Concat", ["q", "x"], ["cat"], name="cat", axis=1),
        n("Shape", ["cat"], ["sh"], name="shape"),
        n("Gather", ["sh", "zero"], ["n"], name="gather", axis=0),
        n("Unsqueeze", ["n", "axes0"], ["n1"], name="unsqueeze"),
        n("Concat", ["n1", "rest"], ["tshape"], name="tshape", axis=0),
        n("Reshape", ["cat", "tshape"], ["rs"], name="split_groups"),
        n("Transpose", ["rs"], ["tr"], name="transpose", perm=[0, 2, 1, 3]),
        n("Reshape", ["tr", "back"], ["cs"], name="merge_groups"),
        n("Slice", ["cs", "starts", "ends", "axes1"], ["sl"], name="slice"),
        n("ReduceMean", ["sl"], ["rm"], name="mean", axes=[2, 3], keepdims=0),
        n("Softmax", ["rm"], ["y"], name="softmax", axis=-1),
    ]
    inits = [const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), const("lo", np.float32(0)),
             const("hi", np.float32(6)), const("scales", np.array([1, 1, 2, 2], np.float32)),
             const("zero", np.int64(0)), const("axes0", np.array([0], np.int64)),
             const("rest", np.array([2, 4, 64], np.int64)), const("back", np.array([0, 8, 8, 8], np.int64)),
             const("starts", np.array([0], np.int64)), const("ends", np.array([6], np.int64)),
             const("axes1", np.array([1], np.int64))]
    g = helper.make_graph(nodes, "wide", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


# -- structured mutations ----------------------------------------------------------------------
def _pick_int(r):
    return r.choice(INTERESTING_INTS) if r.random() < 0.7 else r.randint(-2 ** 63, 2 ** 63 - 1)


def mutate_structure(r, data):
    """One random structural change of the serialized model `data` (its bytes after)."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.ModelProto()
    m.ParseFromString(data)
    g = m.graph
    kind = r.choice(["init_dim", "init_raw", "init_type", "init_dup", "init_external", "attr_int",
                     "attr_ints", "attr_drop", "node_drop", "node_swap", "node_rewire", "node_dup_output",
                     "node_op", "input_dim", "opset", "output_name", "node_inputs", "attr_type"])
    nodes = list(g.node)
    node = r.choice(nodes) if nodes else None
    if kind == "init_dim" and g.initializer:
        t = r.choice(g.initializer)
        if t.dims:
            t.dims[r.randrange(len(t.dims))] = _pick_int(r)
        else:
            t.dims.append(_pick_int(r))
    elif kind == "init_raw" and g.initializer:
        t = r.choice(g.initializer)
        raw = t.raw_data if t.raw_data else np.asarray(t.float_data, np.float32).tobytes()
        del t.float_data[:]
        cut = r.randrange(len(raw) + 1)
        t.raw_data = raw[:cut] if r.random() < 0.5 else raw + bytes(r.randint(1, 64))
    elif kind == "init_type" and g.initializer:
        r.choice(g.initializer).data_type = r.choice([0, 2, 3, 6, 7, 8, 9, 10, 11, 16, 17, 22, 23, 99])
    elif kind == "init_dup" and g.initializer:
        g.initializer.add().CopyFrom(r.choice(g.initializer))
    elif kind == "init_external" and g.initializer:
        t = r.choice(g.initializer)
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for key, value in (("location", r.choice(["w.bin", "../w.bin", "/etc/passwd", ""])),
                           ("offset", r.choice(["0", "-5", "x", str(2 ** 70)])), ("length", r.choice(["4", "-1"]))):
            e = t.external_data.add()
            e.key, e.value = key, value
    elif kind in ("attr_int", "attr_ints", "attr_drop", "attr_type") and node is not None:
        name = r.choice(["kernel_shape", "strides", "pads", "dilations", "group", "axis", "transB", "transA",
                         "epsilon", "ceil_mode", "auto_pad", "alpha", "beta", "ratio", "allowzero", "perm",
                         "axes", "keepdims", "mode", "output_padding", "output_shape", "blocksize", "split"]
                        + [a.name for a in node.attribute])
        keep = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(keep)
        if kind == "attr_int":
            node.attribute.append(helper.make_attribute(name, _pick_int(r)))
        elif kind == "attr_ints":
            node.attribute.append(helper.make_attribute(name, [_pick_int(r) for _ in range(r.randint(0, 5))]))
        elif kind == "attr_type":
            node.attribute.append(helper.make_attribute(name, r.choice(["SAME_UPPER", "VALID", "x", 1.5, [1.5]])))
    elif kind == "node_drop" and nodes:
        g.node.remove(node)
    elif kind == "node_swap" and len(nodes) > 1:
        i, j = r.sample(range(len(nodes)), 2)
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(g.node[i])
        b.CopyFrom(g.node[j])
        g.node[i].CopyFrom(b)
        g.node[j].CopyFrom(a)
    elif kind == "node_rewire" and node is not None and node.input:
        names = [o for n in nodes for o in n.output] + [t.name for t in g.initializer] + ["x", "nowhere", ""]
        node.input[r.randrange(len(node.input))] = r.choice(names)
    elif kind == "node_dup_output" and node is not None and node.output:
        names = [o for n in nodes for o in n.output] + [t.name for t in g.initializer] + ["x"]
        node.output[r.randrange(len(node.output))] = r.choice(names)
    elif kind == "node_op" and node is not None:
        node.op_type = r.choice(["Conv", "Relu", "Gemm", "MaxPool", "BatchNormalization", "Add", "Flatten",
                                 "Reshape", "Constant", "Dropout", "Identity", "GlobalAveragePool", "Bogus",
                                 "Pad", "AveragePool", "Mul", "Clip", "Resize", "Concat", "Shape", "Gather",
                                 "Unsqueeze", "Squeeze", "Transpose", "Slice", "ReduceMean", "Softmax",
                                 "ConvTranspose", "Expand", "Tile", "ConstantOfShape", "Split", "MatMul"])
    elif kind == "node_inputs" and node is not None:
        if node.input and r.random() < 0.5:
            del node.input[-1]
        else:
            node.input.append(r.choice(["x", "", "nowhere"] + [t.name for t in g.initializer]))
    elif kind == "input_dim" and g.input:
        vi = r.choice(g.input)
        dims = vi.type.tensor_type.shape.dim
        if dims and r.random() < 0.8:
            d = dims[r.randrange(len(dims))]
            if r.random() < 0.2:
                d.dim_param = "S"
            else:
                d.dim_value = _pick_int(r)
        else:
            vi.type.tensor_type.shape.dim.add().dim_value = r.randint(1, 4)
    elif kind == "opset":
        m.opset_import[0].version = r.choice([1, 5, 6, 7, 9, 11, 13, 17, 21, 28, 29, 1000])
    elif kind == "output_name" and g.output:
        g.output[0].name = r.choice(["x", "nowhere", "a"] + [o for n in nodes for o in n.output])
    return kind, m.SerializeToString()


def mutate_bytes(r, data, seeds):
    if not data:
        data = r.choice(seeds)
    kind = r.choice(["flip", "flip", "insert", "truncate", "splice"])
    if kind == "flip":
        b = bytearray(data)
        for _ in range(r.randint(1, 8)):
            b[r.randrange(len(b))] = r.randrange(256)
        return kind, bytes(b)
    if kind == "insert":
        at = r.randrange(len(data) + 1)
        return kind, data[:at] + bytes(r.randrange(256) for _ in range(r.randint(1, 16))) + data[at:]
    if kind == "truncate":
        return kind, data[:r.randrange(len(data))]
    other = r.choice(seeds)
    a, b = r.randrange(len(data)), r.randrange(len(other))
    return kind, data[:a] + other[b:b + r.randint(0, 512)] + data[a:]


def mutate(r, seeds):
    data = r.choice(seeds)
    for _ in range(r.choice([1, 1, 1, 2, 3])):  # sometimes several changes at once
        if r.random() < 0.7:
            try:
                kind, data = mutate_structure(r, data)
            except Exception:  # the bytes no longer parse: damage them further instead
                kind, data = mutate_bytes(r, data, seeds)
        else:
            kind, data = mutate_bytes(r, data, seeds)
    return kind, data


# -- the target --------------------------------------------------------------------------------
def check_one(data):
    """Load `data` (and run it when it loads). Returns None if every check holds, else a
    description of the defect."""
    import cnnnative.onnx as cnx
    from cnnnative.autograd import no_grad
    tracemalloc.reset_peak()
    floor = tracemalloc.get_traced_memory()[0]
    try:
        model = cnx.load(data)
    except ALLOWED:
        model = None
    except Exception as e:  # noqa: BLE001 -- what we look for
        return "crash: " + "".join(traceback.format_exception(type(e), e, e.__traceback__))[-3000:]
    peak = tracemalloc.get_traced_memory()[1] - floor
    if peak > MEMORY_LIMIT:
        return f"memory: the load peaked at {peak} bytes"
    if model is None:
        return None
    shape = tuple(model.ir.inputs[0].shape[1:]) if hasattr(model, "ir") and model.ir.inputs else None
    if shape is None or int(np.prod(shape, dtype=object)) > RUN_LIMIT_ELEMENTS:
        return None
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    try:
        with no_grad():
            model(x)
    except ALLOWED:
        pass
    except Exception as e:  # noqa: BLE001
        return "crash while running: " + "".join(traceback.format_exception(type(e), e, e.__traceback__))[-3000:]
    return "loaded"


def _lower_value_bound():
    """Set the importer's bounds (MAX_VALUE_ELEMENTS, MAX_TENSOR_ELEMENTS, wherever a
    cnnnative.onnx module holds them) to FUZZ_MAX_VALUE_ELEMENTS; returns a function that
    restores them."""
    import cnnnative.onnx as cnx
    cnx._register_converters()
    saved = []
    for name, module in list(sys.modules.items()):
        if name.startswith("cnnnative.onnx"):
            for bound in ("MAX_VALUE_ELEMENTS", "MAX_TENSOR_ELEMENTS"):
                if isinstance(getattr(module, bound, None), int):
                    saved.append((module, bound, getattr(module, bound)))
                    setattr(module, bound, FUZZ_MAX_VALUE_ELEMENTS)

    def restore():
        for module, bound, value in saved:
            setattr(module, bound, value)
    return restore


def run(cases=None, seconds=None, seed=0, crash_dir=None, log=None):
    """The seeded loop; returns statistics (failures listed under "failures")."""
    r = random.Random(seed)
    warnings.simplefilter("ignore")
    seeds = seed_models()
    stats = {"cases": 0, "loaded": 0, "rejected": 0, "failures": [], "kinds": {}}
    restore_bounds = _lower_value_bound()
    tracemalloc.start()
    start = time.monotonic()
    try:
        while (cases is None or stats["cases"] < cases) and (seconds is None or time.monotonic() - start < seconds):
            kind, data = mutate(r, seeds)
            stats["cases"] += 1
            stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
            problem = check_one(data)
            if problem == "loaded":
                stats["loaded"] += 1
            elif problem is None:
                stats["rejected"] += 1
            else:
                stats["failures"].append({"case": stats["cases"], "kind": kind, "problem": problem})
                if crash_dir:
                    os.makedirs(crash_dir, exist_ok=True)
                    with open(os.path.join(crash_dir, f"case{stats['cases']}-{kind}.onnx"), "wb") as f:
                        f.write(data)
                if log:
                    log(f"case {stats['cases']} ({kind}): {problem}")
    finally:
        tracemalloc.stop()
        restore_bounds()
    stats["seconds"] = round(time.monotonic() - start, 1)
    return stats


def run_atheris(argv, crash_dir=None):
    """Coverage-guided: libFuzzer mutates bytes; the custom mutator adds structured changes."""
    import atheris
    with atheris.instrument_imports(include=["cnnnative.onnx"]):
        import cnnnative.onnx  # noqa: F401
    warnings.simplefilter("ignore")
    seeds = seed_models()
    _lower_value_bound()
    tracemalloc.start()
    counter = {"n": 0, "failures": 0}

    def custom_mutator(data, max_size, seed):
        r = random.Random(seed)
        if not data or r.random() < 0.1:
            data = r.choice(seeds)
        if r.random() < 0.5:
            try:
                return mutate_structure(r, data)[1][:max_size]
            except Exception:
                pass
        return atheris.Mutate(data, max_size)

    def one_input(data):
        counter["n"] += 1
        problem = check_one(bytes(data))
        if problem not in (None, "loaded"):
            counter["failures"] += 1
            if crash_dir:
                os.makedirs(crash_dir, exist_ok=True)
                with open(os.path.join(crash_dir, f"atheris{counter['n']}.onnx"), "wb") as f:
                    f.write(data)
                with open(os.path.join(crash_dir, f"atheris{counter['n']}.txt"), "w") as f:
                    f.write(problem)
            else:
                raise RuntimeError(problem)
        if counter["n"] % 100000 == 0:
            print(f"[fuzz_onnx_load] {counter['n']} executions, {counter['failures']} failures",
                  file=sys.stderr, flush=True)

    corpus = os.environ.get("FUZZ_ONNX_CORPUS")
    if corpus:
        os.makedirs(corpus, exist_ok=True)
        for i, s in enumerate(seeds):
            with open(os.path.join(corpus, f"seed{i}.onnx"), "wb") as f:
                f.write(s)
    atheris.Setup([sys.argv[0], *argv] + ([corpus] if corpus else []), one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--cases", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crash-dir", default=None)
    ap.add_argument("--atheris", action="store_true", help="coverage-guided with atheris (libFuzzer flags follow)")
    args, rest = ap.parse_known_args(argv)
    if args.atheris:
        run_atheris(rest, args.crash_dir)
        return 0
    if rest:
        ap.error(f"unknown arguments {rest}")
    if args.seconds is None and args.cases is None:
        args.cases = 2000
    stats = run(args.cases, args.seconds, args.seed, args.crash_dir, log=lambda s: print(s[:3000], file=sys.stderr))
    failures = stats.pop("failures")
    stats["failures"] = len(failures)
    print(json.dumps(stats, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
