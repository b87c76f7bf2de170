"""ONNX Gemm and MatMul imported as nn.Linear (or folded, or ops.matmul), and the layer
pattern lifts: MatMul + Add -> Linear, the squeeze-excitation block -> channel_scale,
GlobalAveragePool -> Flatten -> Gemm heads."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402
from onnx_single_node import (close, export_torch, grads_reach_parameters, load, reference, runtime,  # noqa: E402
                              single_node_model)

RNG = np.random.default_rng(3)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _graph_model(nodes, x_shape, y_rank, inits, opset=17):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *x_shape[1:]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [f"d{i}" for i in range(y_rank)])],
                              [numpy_helper.from_array(a, name) for name, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ops(g):
    """The graph's ops, a layer by its class name (LinearNd, the Linear over (N, ..., in),
    counts as Linear)."""
    return [n.op if n.op != "module" else type(n.module).__name__.replace("LinearNd", "Linear")
            for n in g.ir.nodes]


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (), (1,), (6,), (1, 6)])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, -2.0)])
def test_gemm_matches_reference(trans_b, c_shape, alpha, beta):
    w = _rand(6, 5) if trans_b else _rand(5, 6)
    c = None if c_shape is None else _rand(*c_shape)
    model = single_node_model("Gemm", (3, 5), dict(transB=trans_b, alpha=alpha, beta=beta),
                              [("fc.weight", w), ("fc.bias", c)], opset=13)
    g = load(model)
    assert list(g.state_dict()) == ["fc.weight"] + ([] if c is None else ["fc.bias"])
    for n in (1, 3):
        x = _rand(n, 5)
        close(g(x), reference(model, x)[0])
        ort = runtime(model, x)
        if ort is not None:
            close(g(x), ort[0])


@pytest.mark.parametrize("opset", [7, 9, 11])
def test_gemm_older_opsets(opset):
    model = single_node_model("Gemm", (2, 4), dict(transB=1), [("fc.weight", _rand(3, 4)), ("fc.bias", _rand(3))],
                              opset=opset)
    x = _rand(2, 4)
    close(load(model)(x), reference(model, x)[0])


@pytest.mark.parametrize("trans_a, trans_b", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_gemm_on_constants_folds_at_load(trans_a, trans_b):
    a, b, c = _rand(4, 3), _rand(3, 5), _rand(5)
    a_in, b_in = (a.T.copy() if trans_a else a), (b.T.copy() if trans_b else b)
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["folded"], transA=trans_a, transB=trans_b, alpha=2.0,
                              beta=0.5),
             helper.make_node("Reshape", ["folded", "shape"], ["row"]),
             helper.make_node("Add", ["x", "row"], ["y"])]
    model = _graph_model(nodes, (2, 20), 2, [("a", a_in), ("b", b_in), ("c", c),
                                             ("shape", np.array([1, 20], np.int64))])
    g = load(model)
    assert "Linear" not in _ops(g) and not list(g.state_dict())
    x = _rand(2, 20)
    close(g(x), x + (2.0 * a @ b + 0.5 * c).reshape(1, 20))


def test_gemm_with_a_run_time_c_adds_it():
    nodes = [helper.make_node("Gemm", ["x", "w", "x"], ["y"], transB=1, beta=0.5)]
    model = _graph_model(nodes, (2, 4), 2, [("w", _rand(4, 4))])
    x = _rand(3, 4)
    close(load(model)(x), reference(model, x)[0])


@pytest.mark.parametrize("attrs, match", [(dict(transA=1), "transA=1"), ])
def test_bad_gemm_is_a_clear_error(attrs, match):
    model = single_node_model("Gemm", (2, 4), attrs, [("w", _rand(2, 3))])
    with pytest.raises(ValueError, match=f"'node'.*{match}"):
        load(model)


@pytest.mark.parametrize("x_shape", [(2, 5), (2, 3, 5), (1, 2, 3, 5)])
def test_matmul_by_a_constant_is_a_linear_without_bias(x_shape):
    model = single_node_model("MatMul", x_shape, {}, [("proj.weight_t", _rand(5, 4))])
    g = load(model)
    assert "Linear" in _ops(g) and list(g.state_dict()) == ["proj.weight"]
    x = _rand(*x_shape)
    close(g(x), reference(model, x)[0])
    grads_reach_parameters(g, x)


def test_matmul_of_two_run_time_values_is_batched():
    nodes = [helper.make_node("MatMul", ["x", "x"], ["y"])]
    model = _graph_model(nodes, (2, 3, 4, 4), 4, [])
    x = _rand(2, 3, 4, 4)
    g = load(model)
    assert "matmul" in _ops(g)
    close(g(x), reference(model, x)[0])


@pytest.mark.parametrize("w_shape, left", [((3, 4), True), ((2, 4, 5), False), ((5, 4), True)])
def test_matmul_with_a_constant_batch_or_left_operand(w_shape, left):
    w = _rand(*w_shape)
    inputs = ["w", "x"] if left else ["x", "w"]
    x_shape = (2, 2, 4, 6) if left else (2, 2, 3, 4)
    if w_shape == (5, 4):
        x_shape = (2, 4, 6)
    model = _graph_model([helper.make_node("MatMul", inputs, ["y"])], x_shape, len(x_shape), [("w", w)])
    g = load(model)
    assert "matmul" in _ops(g)
    x = _rand(*x_shape)
    close(g(x), reference(model, x)[0])


def test_matmul_add_lifts_to_one_linear_with_bias():
    nodes = [helper.make_node("MatMul", ["x", "onnx::MatMul_7"], ["h"]),
             helper.make_node("Add", ["encoder.fc.bias", "h"], ["y"])]
    w, b = _rand(5, 3), _rand(3)
    model = _graph_model(nodes, (2, 4, 5), 3, [("onnx::MatMul_7", w), ("encoder.fc.bias", b)])
    g = load(model)
    assert _ops(g).count("Linear") == 1 and "add" not in _ops(g)
    assert list(g.state_dict()) == ["encoder.fc.weight", "encoder.fc.bias"]
    x = _rand(3, 4, 5)
    close(g(x), reference(model, x)[0])
    close(cn.compile(g, x.shape)(x), g(x), 1e-5)


def test_matmul_add_with_a_shared_intermediate_is_not_lifted():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Add", ["h", "b"], ["a"]),
             helper.make_node("Add", ["a", "h"], ["y"])]
    model = _graph_model(nodes, (2, 5), 2, [("w", _rand(5, 5)), ("b", _rand(5))])
    g = load(model)
    x = _rand(2, 5)
    close(g(x), reference(model, x)[0])


def _se_model(act="Relu", gate="Sigmoid", c=8, s=3):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
             helper.make_node("Conv", ["p", "se.fc1.weight", "se.fc1.bias"], ["h"], kernel_shape=[1, 1])]
    if act == "Relu":
        nodes.append(helper.make_node("Relu", ["h"], ["a"]))
    else:  # SiLU as exporters write it: h * Sigmoid(h)
        nodes += [helper.make_node("Sigmoid", ["h"], ["hs"]), helper.make_node("Mul", ["h", "hs"], ["a"])]
    nodes.append(helper.make_node("Conv", ["a", "se.fc2.weight", "se.fc2.bias"], ["e"]))
    if gate == "Sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["e"], ["gate"]))
    else:
        nodes.append(helper.make_node("HardSigmoid", ["e"], ["gate"], alpha=1.0 / 6))
    nodes.append(helper.make_node("Mul", ["gate", "x"], ["y"]))
    inits = [("se.fc1.weight", _rand(s, c, 1, 1)), ("se.fc1.bias", _rand(s)),
             ("se.fc2.weight", _rand(c, s, 1, 1)), ("se.fc2.bias", _rand(c))]
    return _graph_model(nodes, (2, c, 5, 6), 4, inits)


@pytest.mark.parametrize("act, gate", [("Relu", "Sigmoid"), ("SiLU", "Sigmoid"), ("Relu", "HardSigmoid")])
def test_squeeze_excitation_lifts_to_channel_scale(act, gate):
    model = _se_model(act, gate)
    g = load(model)
    ops = _ops(g)
    assert "channel_scale" in ops and "mul" not in ops, ops
    assert list(g.state_dict()) == ["se.fc1.weight", "se.fc1.bias", "se.fc2.weight", "se.fc2.bias"]
    x = _rand(2, 8, 5, 6)
    close(g(x), reference(model, x)[0])
    compiled = cn.compile(g, x.shape)
    close(compiled(x), g(x), 1e-5)
    if gate == "Sigmoid":  # as nn.SqueezeExcitation: the engine runs it all, the gate in place
        assert "host:" not in compiled.summary() and "channel_scale" in compiled.summary()
    grads_reach_parameters(g, x)


def test_gap_flatten_gemm_head_compiles_to_engine_nodes():
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], transB=1)]
    model = _graph_model(nodes, (2, 6, 5, 5), 2, [("fc.weight", _rand(4, 6)), ("fc.bias", _rand(4))])
    g = load(model)
    assert _ops(g) == ["global_avg_pool2d", "flatten", "Linear"]
    x = _rand(2, 6, 5, 5)
    compiled = cn.compile(g, x.shape)
    close(compiled(x), reference(model, x)[0])
    assert "host:" not in compiled.summary(), compiled.summary()


def test_torch_linear_and_se_twins():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(0)

    class SE(tnn.Module):  # torchvision.ops.SqueezeExcitation's structure
        def __init__(self, c, s):
            super().__init__()
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = tnn.Conv2d(c, s, 1), tnn.Conv2d(s, c, 1)
            self.activation, self.scale_activation = tnn.SiLU(), tnn.Hardsigmoid()

        def forward(self, x):
            return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tnn.Conv2d(3, 8, 3, padding=1)
            self.se = SE(8, 4)
            self.pool = tnn.AdaptiveAvgPool2d(1)
            self.head = tnn.Linear(8, 5)
            self.proj = tnn.Linear(5, 4, bias=False)

        def forward(self, x):
            y = self.head(torch.flatten(self.pool(self.se(self.conv(x))), 1))
            return self.proj(y)

    m = Net().eval()
    x = torch.randn(2, 3, 6, 7)
    # constant folding (the default) turns proj's weight into an anonymous transposed constant:
    # the layer is named from the node's torch scope
    g = cnx.load(export_torch(m, x))
    assert set(g.state_dict()) == set(m.state_dict()), list(g.state_dict())
    assert "channel_scale" in _ops(g)
    for n in (1, 3):
        xn = torch.randn(n, 3, 6, 7)
        close(g(xn.numpy()), m(xn).detach().numpy())
    close(cn.compile(g, (2, 3, 6, 7))(x.numpy()), m(x).detach().numpy())
    grads_reach_parameters(g, x.numpy())


def test_torch_linear_on_3d_input_is_one_linear():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3, bias=False)).eval()
    x = torch.randn(2, 5, 6)
    g = cnx.load(export_torch(m, x))
    assert _ops(g).count("Linear") == 2 and "add" not in _ops(g)
    assert set(g.state_dict()) == set(m.state_dict())
    close(g(x.numpy()), m(x).detach().numpy())
