"""Checks shared by the mobile zoo families' tests (test_zoo_shufflenetv2.py,
test_zoo_mobilenetv2.py, test_zoo_mobilenetv3.py, test_zoo_mnasnet.py): torchvision's
layout from the committed json, output shapes, compiled == eager, one training step, the
weights= round trip, and torchvision's output at seeded weights (committed by
tools/zoo_small_reference.py). No torchvision needed.

`seeded_state` is also what tools/zoo_small_reference.py loads into torchvision's model,
so the two sides see the same numbers.
"""
from __future__ import annotations

import json
import os

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), "data")
LAYOUT_DIR = os.path.join(DATA, "zoo_layouts")
REFERENCE = os.path.join(DATA, "zoo_small_reference.json")


def seeded_state(layout, seed: int = 0) -> dict:
    """Deterministic weights for a state_dict layout [(key, shape), ...] (numpy only):
    weights U(+-sqrt(6 / fan_in)) (He: the signal neither dies nor explodes through ReLUs, so
    the output depends on the input), biases and BN shifts U(+-0.2), BN scales U(0.5, 1.5),
    running means U(+-0.2), running variances U(0.5, 1.5)."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in layout:
        shape = tuple(shape)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[key] = np.zeros(shape, np.int64)
        elif leaf in ("running_var",) or (leaf == "weight" and len(shape) == 1):
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif leaf == "weight":
            bound = np.sqrt(6.0 / int(np.prod(shape[1:])))
            state[key] = rng.uniform(-bound, bound, shape).astype(np.float32)
        else:  # bias, running_mean
            state[key] = rng.uniform(-0.2, 0.2, shape).astype(np.float32)
    return state


def seeded_input(shape, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def layout(name: str) -> dict:
    with open(os.path.join(LAYOUT_DIR, f"{name}.json")) as f:
        return json.load(f)


def assert_layout(model, name: str) -> None:
    """state_dict keys in order, their shapes and the parameter count equal torchvision's."""
    ref = layout(name)
    ours = [[k, list(np.shape(v))] for k, v in model.state_dict().items()]
    assert [k for k, _ in ours] == [k for k, _ in ref["state_dict"]]
    assert ours == ref["state_dict"]
    assert model.num_parameters() == ref["params"]


def eager(model, x) -> np.ndarray:
    import cnnnative as cn
    with cn.no_grad():
        return np.asarray(model.eval()(x))


def _compiled_equal_to_eager(model, shape):
    import cnnnative as cn
    x = seeded_input(shape)
    expected = eager(model, x)
    compiled = cn.compile(model, shape, poison=True)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-4, atol=1e-4 * scale)
    return compiled


def assert_compiled_equals_eager(model, shape) -> list:
    """Compile at `shape` (poisoned arena), compare with eager at rtol 1e-4; returns the
    host nodes (ops the engine did not run)."""
    return [n["op"] for n in _compiled_equal_to_eager(model, shape).nodes if n["op"].startswith("host:")]


def engine_nodes(model, shape) -> list:
    """As assert_compiled_equals_eager, and every op ran on the engine; returns the compiled
    graph's (op, activation) pairs, for tests that count what fusion made of a family."""
    nodes = [(n["op"], n["activation"]) for n in _compiled_equal_to_eager(model, shape).nodes]
    assert not [op for op, _ in nodes if op.startswith("host:")]
    return nodes


def assert_trains(model, shape, num_classes) -> None:
    """One SGD step in train mode: finite loss, every parameter gets a gradient, and the
    weights move."""
    import cnnnative as cn
    model.train()
    x = cn.tensor(seeded_input(shape))
    labels = np.arange(shape[0]) % num_classes
    before = {k: v.copy() for k, v in model.state_dict().items()}
    opt = cn.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad()
    loss = cn.ops.cross_entropy(model(x), labels)
    loss.backward()
    assert np.isfinite(float(np.asarray(loss.data)))
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.data.shape, name
    grads = [np.abs(p.grad).max() for p in model.parameters()]
    assert sum(g > 0 for g in grads) > 0.9 * len(grads)  # a few BN shifts before a BN get exactly 0
    opt.step()
    after = model.state_dict()
    assert any(not np.array_equal(before[k], after[k]) for k in before if k.endswith("weight"))
    model.eval()


def assert_weights_round_trip(builder, tmp_path, shape, **kwargs) -> None:
    """np.savez of a state_dict -> builder(weights=path) gives the same outputs."""
    source = builder(**kwargs)
    state = seeded_state([(k, np.shape(v)) for k, v in source.state_dict().items()], seed=3)
    source.load_state_dict(state)
    path = tmp_path / "weights.npz"
    np.savez(path, **source.state_dict())
    loaded = builder(weights=str(path), **kwargs)
    x = seeded_input(shape)
    np.testing.assert_array_equal(eager(loaded, x), eager(source, x))


def reference(name: str) -> dict:
    with open(REFERENCE) as f:
        return json.load(f)[name]


def assert_matches_torchvision(label: str) -> None:
    """The output at seeded weights equals torchvision's (committed), <= 1e-4 relative."""
    from cnnnative import models
    ref = reference(label)
    model = models.MODELS[ref["builder"]](**ref["kwargs"])
    model.load_state_dict(seeded_state([(k, np.shape(v)) for k, v in model.state_dict().items()], ref["seed"]))
    out = eager(model, seeded_input(ref["input_shape"], ref["input_seed"]))
    expected = np.asarray(ref["output"], np.float32)
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= 1e-4 * np.abs(expected).max()
