"""The deployable model file: export_plan writes a compiled model, load_plan (the C++
loader) runs it with exactly the compiled model's output -- the same kernels are chosen on
the same CPU -- for every op a plan holds (tests/plan_file_nets.py)."""
import io
import struct

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn
from plan_file_layout import parse
from plan_file_nets import NETS, build, quantized


def _round_trip(name, algo="auto"):
    model, shape = build(name)
    compiled = cn.compile(model, shape, algo=algo, exportable=True)
    loaded = cn.load_plan(cn.export_plan(compiled))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return compiled, loaded, x


@pytest.mark.parametrize("algo", ["auto", "gemm"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_round_trip_is_exact(name, algo):
    compiled, loaded, x = _round_trip(name, algo)
    y = compiled(x)
    np.testing.assert_array_equal(loaded(x), y)
    np.testing.assert_array_equal(loaded(x[:1]), y[:1])  # any batch up to the planned one
    assert loaded(x[:0]).shape == (0, *y.shape[1:])
    # The same nodes, each conv with the same method.
    def describe(nodes):
        return [(n["op"], n.get("method"), n["activation"], tuple(n["output_shape"])) for n in nodes]
    assert describe(loaded.nodes) == describe(compiled.nodes)
    assert loaded.input_shape == compiled.input_shape and loaded.output_shape == compiled.output_shape
    assert loaded.weight_bytes == compiled.weight_bytes and loaded.arena_bytes == compiled.arena_bytes


def test_every_op_is_covered():
    """The small nets together write every op code the format has."""
    ops = set()
    for name in NETS:
        model, shape = build(name)
        ops |= {n["opcode"] for n in parse(cn.export_plan(model, None, shape))["nodes"]}
    assert ops == set(range(1, 19)), set(range(1, 19)) - ops


def test_paths_files_bytes_and_names(tmp_path):
    model, shape = build("residual")
    path = tmp_path / "model.cnn"
    assert cn.export_plan(model, path, shape, input_name="image", output_name="probs") == path
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = cn.compile(model, shape)(x)
    for source in (path, str(path), path.read_bytes(), bytearray(path.read_bytes()), io.BytesIO(path.read_bytes())):
        m = cn.load_plan(source)
        np.testing.assert_array_equal(m(x), expected)
        assert (m.input_name, m.output_name) == ("image", "probs")
    buf = io.BytesIO()
    cn.export_plan(model, buf, shape)
    assert cn.load_plan(buf.getvalue()).input_name == "input"
    out = np.empty_like(expected)
    assert m(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert "LoadedPlan" in repr(m) and "nodes" in m.summary()


def test_layout_header_alignment_and_tensor_names():
    model, shape = build("residual")
    data = cn.export_plan(model, None, shape)
    assert data[:8] == b"CNNPLAN\0"
    assert struct.unpack_from("<HH", data, 8) == (1, 1) == cn.plan_file.FORMAT_VERSION
    assert struct.unpack_from("<Q", data, 16)[0] == len(data)
    layout = parse(data)
    data_section = [s for s in layout["sections"] if s[1] == 4][0]
    assert data_section[2] % 64 == 0
    assert all(t["offset"] % 64 == 0 for t in layout["tensors"])
    names = [data[t["name"] + 4:t["name"] + 4 + struct.unpack_from("<I", data, t["name"])[0]].decode()
             for t in layout["tensors"]]
    assert "stem.weight" in names and "fc.bias" in names and "pw.slope" in names, names
    assert len(set(names)) == len(names)


def test_batch_and_shape_errors():
    compiled, loaded, x = _round_trip("residual")
    with pytest.raises(ValueError, match="larger than the plan's batch"):
        loaded(np.concatenate([x, x]))
    with pytest.raises(ValueError, match="shape"):
        loaded(x[:, :2])
    with pytest.raises(TypeError):
        loaded("not an array")
    with pytest.raises(TypeError, match="source"):
        cn.load_plan(42)


class _Tanh(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.conv(x))


def test_host_nodes_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"host.*act \(tanh\)"):
        cn.export_plan(_Tanh().eval(), None, (1, 3, 8, 8))


def test_compiled_without_exportable_is_refused_with_a_hint():
    model, shape = build("mlp")
    compiled = cn.compile(model, shape)
    assert compiled._recordings is None  # no copy of the weights unless asked
    with pytest.raises(ValueError, match="exportable=True"):
        cn.export_plan(compiled)
    with pytest.raises(ValueError, match="input_shape is required"):
        cn.export_plan(model)
    with pytest.raises(ValueError, match="differs"):
        cn.export_plan(cn.compile(model, shape, exportable=True), None, (1, 6))
    with pytest.raises(ValueError, match="input_name"):
        cn.export_plan(model, None, shape, input_name="")


def test_identity_model_and_algo_choice():
    ident = cn.compile(nn.Sequential(nn.Identity()), (2, 5), exportable=True)
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    np.testing.assert_array_equal(cn.load_plan(cn.export_plan(ident))(x), x)
    model, shape = build("residual")
    data = cn.export_plan(model, None, shape, algo="gemm")
    assert parse(data)["meta"]["choice"] == 1
    with pytest.raises(ValueError, match="algo"):
        cn.export_plan(cn.compile(model, shape, exportable=True), None, algo="fast")


@pytest.mark.parametrize("algo", ["auto", "gemm"])
def test_bf16_plan_round_trip_is_exact(algo, tmp_path):
    """A bf16 model is written with its precision (meta, version 1.1) and float32 weights;
    the loader rounds them to bf16 as compile does, so the loaded plan gives the compiled
    bf16 model's output bit for bit, with the same nodes in bf16."""
    cn.nn.init.manual_seed(0)
    net = cn.models.resnet20().eval()
    compiled = cn.compile(net, (2, 3, 32, 32), algo=algo, precision="bf16", exportable=True)
    data = cn.export_plan(compiled)
    assert parse(data)["meta"]["precision"] == 1
    loaded = cn.load_plan(data)
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), compiled(x))
    assert [n.get("precision") for n in loaded.nodes] == [n.get("precision") for n in compiled.nodes]
    assert any(n.get("precision") == "bf16" for n in loaded.nodes)
    # Through a file and from a model with input_shape too; the fp32 plan of the same net differs.
    path = str(tmp_path / "bf16.cnn")
    cn.export_plan(compiled, path)
    np.testing.assert_array_equal(cn.load_plan(path)(x), compiled(x))
    fp32 = cn.load_plan(cn.export_plan(net, None, (2, 3, 32, 32), algo=algo))
    assert parse(cn.export_plan(net, None, (2, 3, 32, 32)))["meta"]["precision"] == 0
    assert not any(n.get("precision") == "bf16" for n in fp32.nodes)
    assert not np.array_equal(fp32(x), loaded(x))
    np.testing.assert_array_equal(
        cn.load_plan(cn.export_plan(net, None, (2, 3, 32, 32), algo=algo, precision="bf16"))(x), compiled(x))
    with pytest.raises(ValueError, match="precision='fp32' differs"):
        cn.export_plan(compiled, None, precision="fp32")


@pytest.mark.parametrize("per_channel,fp32_layers",
                         [(True, ()), (False, ("last",)), (True, ("first", "last")), (True, ("group",))])
def test_int8_plan_round_trip_is_exact(per_channel, fp32_layers, tmp_path):
    """An int8 model (quantize(..., exportable=True)) is written node for node with its
    int8 weights and quantization parameters: the loaded plan gives the QuantizedModel's
    output bit for bit, with the same nodes."""
    q, shape = quantized(per_channel, fp32_layers)
    data = cn.export_plan(q)
    layout = parse(data)
    dtypes = {struct.unpack_from("<I", data, t["dtype_at"])[0] for t in layout["tensors"]}
    assert dtypes == {1, 4}  # int8 weights; float32 mult and bias (and the fp32 layers)
    loaded = cn.load_plan(data)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), q(x))
    np.testing.assert_array_equal(loaded(x[:1]), q(x[:1]))
    assert [n["op"] for n in loaded.nodes] == [n["op"] for n in q.nodes]
    ops = {n["op"] for n in loaded.nodes}
    assert {"quantize", "conv_int8"} <= ops
    if "group" not in fp32_layers:
        assert {"max_pool_u8", "avg_pool_u8", "concat_u8", "global_avg_pool_u8"} <= ops
    assert ("linear_int8" in ops) != ("last" in fp32_layers)
    assert ("dequantize" in ops) == ("group" in fp32_layers)  # a float32 layer reading a uint8 value
    assert loaded.arena_bytes == q._plan.arena_bytes
    path = str(tmp_path / "q.cnn")
    cn.export_plan(q, path)
    np.testing.assert_array_equal(cn.load_plan(path)(x), q(x))


def test_int8_zoo_model_round_trip_is_exact():
    cn.nn.init.manual_seed(0)
    net = cn.models.resnet20().eval()
    calib = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    q = cn.quantize(net, calib, input_shape=(2, 3, 32, 32), exportable=True)
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    data = cn.export_plan(q)
    np.testing.assert_array_equal(cn.load_plan(data)(x), q(x))
    # int8 weights: the file is much smaller than the float32 plan's.
    assert len(data) < 0.5 * len(cn.export_plan(net, None, (2, 3, 32, 32)))


def test_a_quantized_model_without_its_build_record_is_refused(tmp_path):
    cn.nn.init.manual_seed(0)
    net = cn.models.resnet20().eval()
    calib = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with pytest.raises(ValueError, match=r"quantize\(model, calibration_data, \.\.\., exportable=True\)"):
        cn.export_plan(cn.quantize(net, calib, input_shape=(1, 3, 32, 32)), str(tmp_path / "q.cnn"))
    assert not (tmp_path / "q.cnn").exists()