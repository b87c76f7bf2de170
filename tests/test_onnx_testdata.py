"""The committed ONNX files of tests/data/onnx/ (exported from torch 2.13 by
tools/make_onnx_testdata.py, which says how): import, outputs against torch's saved ones,
the library layers the import holds, compile, external data, and fine-tuning (gradients
against finite differences, a few SGD steps). Needs onnx only, never torch."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402
from cnnnative import ops, optim  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "onnx")

# name -> what the imported graph must hold (a layer by class name, or an op)
MODELS = {
    "resnet_block_op13": {"Conv2d", "Linear"},
    "resnet_block_external": {"Conv2d", "Linear"},
    "shufflenet_unit_op17": {"ChannelShuffle"},
    "mobilenet_v3_op13": {"Hardswish", "channel_scale"},
    "mobilenet_v3_op17": {"Hardswish", "channel_scale"},
}


def _load(name):
    return cnx.load(os.path.join(DATA, f"{name}.onnx"))


def _expected(name):
    with np.load(os.path.join(DATA, f"{name}.npz")) as f:
        return dict(f)


def _kinds(g):
    return {n.op if n.op != "module" else type(n.module).__name__.replace("LinearNd", "Linear") for n in g.ir.nodes}


def _close(got, want, tol=1e-4):
    """The issue's target: max-abs error over max-abs value within tol."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= tol * np.abs(want).max(), np.abs(got - want).max()


def test_every_file_is_small_and_has_expected_outputs():
    names = sorted(os.listdir(DATA))
    assert {n[:-5] for n in names if n.endswith(".onnx")} == set(MODELS)
    for n in names:
        assert os.path.getsize(os.path.join(DATA, n)) < 100_000, n
    for name in MODELS:
        assert {"x1", "y1", "x3", "y3"} <= set(_expected(name))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_imported_model_equals_torch_at_batch_1_and_3(name):
    g = _load(name)
    assert MODELS[name] <= _kinds(g), sorted(_kinds(g))
    e = _expected(name)
    for batch in (1, 3):
        _close(g(e[f"x{batch}"]), e[f"y{batch}"])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiled_equals_eager(name):
    g = _load(name)
    x = _expected(name)["x3"]
    compiled = cn.compile(g, x.shape)
    _close(compiled(x), g(x), 1e-5)


def test_external_data_needs_the_path():
    with open(os.path.join(DATA, "resnet_block_external.onnx"), "rb") as f:
        raw = f.read()
    with pytest.raises(ValueError, match="external file.*give the .onnx path"):
        cnx.load(raw)


def test_torch_names_survive_as_state_dict_keys():
    g = _load("resnet_block_op13")
    assert {"fc.weight", "fc.bias"} <= set(g.state_dict())
    assert {"se.fc1.weight", "se.fc2.bias"} <= set(_load("mobilenet_v3_op17").state_dict())


def _loss(g, x, r):
    return ops.sum(ops.mul(g(x), r))


@pytest.mark.parametrize("name", ["resnet_block_op13", "mobilenet_v3_op17"])
def test_gradients_match_finite_differences(name):
    """d(sum(y * r))/d(parameter) by backward against central differences on a few entries
    of every parameter (float32: eps 5e-3, within 2% of the largest gradient entry; a
    larger eps crosses ReLU kinks, a smaller one drowns in rounding)."""
    g = _load(name)
    g.train()
    x = _expected(name)["x1"]
    rng = np.random.default_rng(1)
    r = rng.standard_normal(np.asarray(g(x)).shape).astype(np.float32)
    g.zero_grad()
    _loss(g, cn.Tensor(x), r).backward()
    for key, p in g.named_parameters():
        grad = np.asarray(p.grad)
        assert np.abs(grad).sum() > 0, key
        flat = p.data.reshape(-1)
        for i in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + 5e-3
            up = np.sum(np.asarray(g(x), np.float64) * r)  # summed in float64: less rounding noise
            flat[i] = old - 5e-3
            down = np.sum(np.asarray(g(x), np.float64) * r)
            flat[i] = old
            numeric = (up - down) / 1e-2
            assert abs(numeric - grad.reshape(-1)[i]) <= 0.02 * max(np.abs(grad).max(), 1e-3), (key, i)


def test_fine_tuning_an_imported_graph_lowers_its_loss():
    g = _load("resnet_block_external")
    g.train()
    e = _expected("resnet_block_external")
    x = e["x3"]
    target = np.zeros_like(e["y3"])
    opt = optim.SGD(g.parameters(), lr=0.02)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ops.mse_loss(g(cn.Tensor(x)), target)
        loss.backward()
        opt.step()
        losses.append(float(np.asarray(loss)))
    assert losses[-1] < 0.9 * losses[0], losses
    g.eval()
    assert not np.allclose(np.asarray(g(x)), e["y3"], atol=1e-4)  # the weights moved


def test_the_files_load_without_torch():
    """A fresh interpreter where importing torch fails runs the same checks."""
    code = f"""
import sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
import numpy as np, cnnnative.onnx as cnx
for name in {sorted(MODELS)!r}:
    g = cnx.load({DATA!r} + "/" + name + ".onnx")
    e = np.load({DATA!r} + "/" + name + ".npz")
    got, want = np.asarray(g(e["x3"]), np.float64), e["y3"]
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), name
print("ok")
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
