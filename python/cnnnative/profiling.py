"""Where a compiled model spends its time: `profile(compiled, x)` runs a CompiledModel step
by step, timing each engine node with the engine's own per-node clock
(`EnginePlan.profile`) and each host node (an op the engine does not have, run by
`cnnnative.ops` between engine segments) around its call. Rows: op, method (for a
convolution, the kernel the engine chose: winograd F(4x4), im2col, 1x1 gemm, depthwise,
...), where it runs, ms (median over the repeats) and share of the total.
`cnnnative bench model.onnx` prints it.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

__all__ = ["profile", "format_profile"]


def _engine_rows(plan):
    rows = []
    for n in plan.nodes():
        method = n.get("method", "")
        if method == "winograd":
            method += f" F({n['winograd_tile']}x{n['winograd_tile']})"
        if n.get("lanes") == "channels":  # 16 channels per vector (depthwise, small groups)
            method += " lanes=ch"
        if n.get("residual"):
            method += " +residual"
        if n["activation"] != "none":
            method += f" +{n['activation']}"
        rows.append({"op": n["op"], "method": method.strip() or "-", "runs_on": "engine", "layer": "",
                     "output_shape": tuple(n["output_shape"][1:])})
    return rows


def _one_pass(compiled, x):
    """One run of the model, step by step: (per-node seconds, the output)."""
    from .inference import _EngineStep
    from .ir.execute import run_node
    env = {id(compiled._input): compiled._check_input(x)}
    seconds = []
    for i, step in enumerate(compiled._steps):
        if isinstance(step, _EngineStep):
            source = env[id(step.source)]
            seconds.extend(step.plan.profile(np.ascontiguousarray(source, np.float32)))
            env[id(step.result)] = step.run(source, False)  # the profile run keeps no output
        else:
            start = time.perf_counter()
            y = run_node(step.node, env)
            seconds.append(time.perf_counter() - start)
            outs = step.node.outputs
            for v, part in zip(outs, y if len(outs) > 1 else (y,)):
                env[id(v)] = np.ascontiguousarray(part) if isinstance(part, np.ndarray) else part
        for key in compiled._drops[i]:
            env.pop(key, None)
    return seconds, env[id(compiled._output)]


def profile(compiled, x, repeats=10, warmup=2):
    """Per-node times of `compiled` (a CompiledModel) on input `x`: a list of rows
    {op, method, runs_on, layer, output_shape, ms, share}, in execution order. Warns
    (RuntimeWarning) when the thread team's busy-machine back-off ran regions on one thread
    meanwhile."""
    from .inference import _EngineStep
    rows = []
    for step in compiled._steps:
        if isinstance(step, _EngineStep):
            rows.extend(_engine_rows(step.plan))
        else:
            n = step.node
            rows.append({"op": n.op, "method": "cnnnative.ops", "runs_on": "host", "layer": n.scope,
                         "output_shape": tuple(n.outputs[0].shape[1:])})
    from . import _core
    backoffs = _core.team_contention()["events"]
    for _ in range(warmup):
        _one_pass(compiled, x)
    samples = np.array([_one_pass(compiled, x)[0] for _ in range(max(1, repeats))])
    backoffs = _core.team_contention()["events"] - backoffs
    if backoffs and _core.get_num_threads() > 1:
        # During a back-off the parallel regions ran on one thread: those rows are not what a
        # quiet machine gives, and the user should know before tuning on them.
        warnings.warn(f"profile: the thread team backed off {backoffs} time(s) while profiling (other processes "
                      f"held the cores), so some nodes ran on one of the {_core.get_num_threads()} threads; "
                      "profile on a quiet machine or with cnnnative.set_num_threads(1)", RuntimeWarning,
                      stacklevel=2)
    ms = np.median(samples, axis=0) * 1e3
    total = float(ms.sum()) or 1.0
    for row, t in zip(rows, ms):
        row["ms"] = float(t)
        row["share"] = float(t) / total
    return rows


def format_profile(rows) -> str:
    head = f"{'#':>4}  {'op':<20} {'method':<36} {'runs on':<7} {'ms':>9} {'share':>7}"
    lines = [head, "-" * len(head)]
    for i, r in enumerate(rows):
        lines.append(f"{i:>4}  {r['op'][:20]:<20} {r['method'][:36]:<36} {r['runs_on']:<7} {r['ms']:>9.3f} "
                     f"{100 * r['share']:>6.1f}%")
    lines.append("-" * len(head))
    lines.append(f"      {'total':<20} {'':<36} {'':<7} {sum(r['ms'] for r in rows):>9.3f} {100.0:>6.1f}%")
    return "\n".join(lines)
