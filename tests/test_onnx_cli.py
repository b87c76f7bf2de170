"""The command line on ONNX models: `cnnnative predict model.onnx images.npy`, `cnnnative
bench model.onnx`, `cnnnative summary model.onnx` (small models built with onnx.helper,
run through cli.main with argv)."""
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnnnative.onnx as cnx  # noqa: E402
from cnnnative import cli  # noqa: E402


def _classifier(h=8, w=8, batch="N"):
    """conv(2->6, 3x3, pad 1) + relu + global average pool + flatten + linear(6->5)."""
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array(rng.standard_normal((6, 2, 3, 3)).astype(np.float32), "conv.weight"),
             numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "conv.bias"),
             numpy_helper.from_array(rng.standard_normal((5, 6)).astype(np.float32), "fc.weight"),
             numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "fc.bias")]
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def files(tmp_path):
    model = tmp_path / "net.onnx"
    onnx.save(_classifier(), str(model))
    images = np.random.default_rng(1).standard_normal((7, 2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    return str(model), str(tmp_path / "images.npy"), images


def _reference(images):
    return cnx.load(_classifier())(images)


# -- predict ------------------------------------------------------------------------------------------
def test_predict_prints_the_best_class_and_saves_outputs(files, tmp_path, capsys):
    model, images_path, images = files
    out = tmp_path / "preds.npy"
    assert cli.main(["predict", model, images_path, "--out", str(out), "--batch-size", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    want = _reference(images)
    np.testing.assert_allclose(np.load(out), want, rtol=1e-4, atol=1e-5)
    assert len(lines) == 7
    for i, line in enumerate(lines):
        assert line.startswith(f"{i}: {int(want[i].argmax())} (p=")


def test_predict_top_k_json(files, capsys):
    model, images_path, images = files
    assert cli.main(["predict", model, images_path, "--top", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    want = _reference(images)
    assert np.array(doc["predictions"]).shape == (7, 3)
    np.testing.assert_array_equal(np.array(doc["predictions"]), np.argsort(-want, axis=1, kind="stable")[:, :3])
    probs = np.array(doc["probabilities"])
    assert np.all(np.diff(probs, axis=1) <= 0) and np.all(probs.sum(axis=1) <= 1 + 1e-6)


def test_predict_one_sample_and_symbolic_sizes(tmp_path, capsys):
    path = tmp_path / "sym.onnx"
    onnx.save(_classifier(h="H", w="W"), str(path))
    np.save(tmp_path / "one.npy", np.ones((2, 11, 5), np.float32))  # one sample, sizes from the image
    assert cli.main(["predict", str(path), str(tmp_path / "one.npy")]) == 0
    assert capsys.readouterr().out.startswith("0: ")


def test_predict_errors_are_one_line(files, tmp_path):
    model, images_path, _ = files
    np.save(tmp_path / "wrong.npy", np.ones((2, 3, 8, 8), np.float32))
    with pytest.raises(SystemExit, match=r"cnnnative predict: .*dim 1 is 3, the model declares 2"):
        cli.main(["predict", model, str(tmp_path / "wrong.npy")])
    with pytest.raises(SystemExit, match="not found"):
        cli.main(["predict", str(tmp_path / "none.onnx"), images_path])
    (tmp_path / "junk.onnx").write_bytes(b"\x00\xff" * 50)
    with pytest.raises(SystemExit, match="cnnnative predict: .*not a valid ONNX model"):
        cli.main(["predict", str(tmp_path / "junk.onnx"), images_path])


# -- bench --------------------------------------------------------------------------------------------
def test_bench_text_with_profile(files, capsys):
    import cnnnative
    model, _, _ = files
    threads = cnnnative.get_num_threads()
    try:
        assert cli.main(["bench", model, "--batch", "2", "--threads", "1", "--repeats", "3"]) == 0
    finally:
        cnnnative.set_num_threads(threads)
    text = capsys.readouterr().out
    assert "input (2, 2, 8, 8), 1 thread(s), 3 interleaved rounds" in text
    assert "cnnnative" in text and "per-node profile" in text
    assert "conv" in text and "share" in text and "100.0%" in text


def test_bench_json_beside_onnxruntime(files, capsys):
    pytest.importorskip("onnxruntime")
    model, _, _ = files
    assert cli.main(["bench", model, "--repeats", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["engines"]) == {"cnnnative", "onnxruntime"}
    assert doc["max_abs_diff_over_max_abs"] < 1e-4 and doc["ratio_to_onnxruntime"] > 0
    ops = [r["op"] for r in doc["profile"]]
    assert ops[0] == "conv" and "linear" in ops
    assert abs(sum(r["share"] for r in doc["profile"]) - 1.0) < 1e-6
    assert all(r["ms"] >= 0 and r["method"] for r in doc["profile"])


def test_bench_without_onnxruntime(files, capsys):
    model, _, _ = files
    assert cli.main(["bench", model, "--repeats", "2", "--no-ort", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["engines"]) == {"cnnnative"}


def test_bench_flags_that_do_not_fit(files):
    with pytest.raises(SystemExit, match="--batch needs an ONNX model"):
        cli.main(["bench", "--batch", "4"])
    with pytest.raises(SystemExit, match="--layers and --no-torch"):
        cli.main(["bench", files[0], "--layers", "lenet5.c3"])
    with pytest.raises(SystemExit, match="--input-max applies to checkpoints"):
        cli.main(["predict", files[0], files[1], "--input-max", "255"])


# -- summary ------------------------------------------------------------------------------------------
def test_summary_rows_and_totals(files, capsys):
    model, _, _ = files
    assert cli.main(["summary", model, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["op"]: r for r in doc["rows"]}
    conv, fc = rows["conv2d"], rows["linear"]
    assert conv["params"] == 6 * 2 * 9 + 6 and fc["params"] == 5 * 6 + 5
    assert conv["flops"] == 2 * (6 * 8 * 8) * (2 * 9) + 6 * 8 * 8  # multiply-adds + bias
    assert fc["flops"] == 2 * 5 * 6 + 5
    assert conv["activation_bytes"] == 4 * 6 * 8 * 8 and conv["output_shape"] == [None, 6, 8, 8]
    assert conv["layer"] == "conv" and fc["layer"] == "fc"
    t = doc["totals"]
    assert t["params"] == 114 + 35 and t["flops"] == sum(r["flops"] for r in doc["rows"])
    assert t["ops"] == 5 and sum(t["op_counts"].values()) == 5  # the pool's op name is the converter's choice
    assert {op: t["op_counts"][op] for op in ("conv2d", "relu", "flatten", "linear")} == \
        {"conv2d": 1, "relu": 1, "flatten": 1, "linear": 1}


def test_summary_text(files, capsys):
    model, _, _ = files
    assert cli.main(["summary", model]) == 0
    text = capsys.readouterr().out
    assert "conv2d" in text and "parameters 149" in text and "FLOPs per sample" in text


def test_summary_symbolic_sizes_need_input_shape(tmp_path, capsys):
    path = tmp_path / "sym.onnx"
    onnx.save(_classifier(h="H", w="W"), str(path))
    with pytest.raises(SystemExit, match="symbolic dims.*input_shape"):
        cli.main(["summary", str(path)])
    assert cli.main(["summary", str(path), "--input-shape", "2,16,16", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_shape"] == [1, 2, 16, 16]
    with pytest.raises(SystemExit, match="--input-shape"):
        cli.main(["summary", str(path), "--input-shape", "two"])


def test_checkpoint_predict_takes_top_and_out_too(tmp_path, capsys):
    import cnnnative
    from cnnnative import data
    run = tmp_path / "run"
    threads = cnnnative.get_num_threads()
    try:
        assert cli.main(["train", "--epochs", "1", "--limit", "64", "--out", str(run), "--no-plots", "--quiet",
                         "--threads", "1"]) == 0
    finally:
        cnnnative.set_num_threads(threads)
    capsys.readouterr()
    np.save(tmp_path / "imgs.npy", data.load_digits("test").images[:4, 0])
    out = tmp_path / "logits.npy"
    assert cli.main(["predict", str(run / "model.npz"), str(tmp_path / "imgs.npy"), "--top", "2",
                     "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    logits = np.load(out)
    assert logits.shape == (4, 10) and len(lines) == 4
    for i, line in enumerate(lines):
        best = np.argsort(-logits[i], kind="stable")[:2]
        assert line.startswith(f"{i}: {best[0]} (p=") and f", {best[1]} (p=" in line
