"""ONNX Conv and ConvTranspose (1-D, 2-D, 3-D) imported as the library's conv layers:
single-node models against onnx's reference evaluator (and onnxruntime), torch twins."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402
from onnx_single_node import (close, export_torch, grads_reach_parameters, load, reference, runtime,  # noqa: E402
                              single_node_model)

RNG = np.random.default_rng(14)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


CONV_CASES = [
    # (input shape, weight shape, attributes)
    ((2, 3, 9), (4, 3, 3), dict(pads=[1, 2], strides=[2])),
    ((1, 4, 10), (4, 2, 3), dict(group=2, dilations=[2], auto_pad="SAME_UPPER")),
    ((2, 3, 7, 8), (5, 3, 3, 2), dict(pads=[0, 1, 2, 1], strides=[2, 1])),
    ((2, 4, 7, 7), (4, 1, 3, 3), dict(group=4, auto_pad="SAME_LOWER", strides=[2, 2])),
    ((1, 6, 9, 8), (4, 3, 3, 3), dict(group=2, dilations=[2, 1], auto_pad="SAME_UPPER")),
    ((2, 3, 6, 5), (2, 3, 2, 2), dict(auto_pad="VALID", strides=[2, 2])),
    ((1, 2, 5, 6, 4), (3, 2, 3, 3, 2), dict(pads=[1, 0, 1, 1, 2, 0])),
    ((2, 4, 5, 5, 5), (4, 2, 3, 3, 3), dict(group=2, strides=[2, 1, 2], dilations=[1, 2, 1], pads=[1, 1, 1, 1, 1, 1])),
    ((1, 2, 4, 5, 6), (2, 2, 2, 3, 2), dict(auto_pad="SAME_LOWER", strides=[2, 2, 1])),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv_matches_reference(case, bias):
    x_shape, w_shape, attrs = CONV_CASES[case]
    w = _rand(*w_shape)
    b = _rand(w_shape[0]) if bias else None
    model = single_node_model("Conv", x_shape, attrs, [("conv.weight", w), ("conv.bias", b)], opset=11)
    g = load(model)
    assert list(g.state_dict()) == ["conv.weight"] + (["conv.bias"] if bias else [])
    x = _rand(*x_shape)
    want = reference(model, x)[0]
    close(g(x), want)
    ort = runtime(model, x)
    if ort is not None:
        close(ort[0], want)


@pytest.mark.parametrize("case", [0, 2, 6])  # 1-D, 2-D and 3-D, asymmetric pads
def test_conv_compiles_and_trains(case):
    x_shape, w_shape, attrs = CONV_CASES[case]
    model = single_node_model("Conv", x_shape, attrs, [("c.weight", _rand(*w_shape)), ("c.bias", _rand(w_shape[0]))])
    g = load(model)
    x = _rand(*x_shape)
    close(cn.compile(g, x.shape)(x), g(x), 1e-5)
    grads_reach_parameters(g, x)


def test_conv_weight_computed_at_run_time_is_a_clear_error():
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Relu", ["w0"], ["w"]),
             helper.make_node("Conv", ["x", "w"], ["y"], name="the_conv")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4]),
                                           helper.make_tensor_value_info("w0", TensorProto.FLOAT, [1, 1, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 2, 2])])
    with pytest.raises(ValueError, match="the_conv.*W, the weight.*computed at run time"):
        cnx.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), input_shape={
            "x": (1, 1, 4, 4), "w0": (1, 1, 3, 3)})


@pytest.mark.parametrize("attrs, match", [
    (dict(group=2), "group=2"),
    (dict(kernel_shape=[2, 2]), "kernel_shape"),
    (dict(auto_pad="SAME"), "auto_pad"),
    (dict(pads=[1, 1]), "pads"),
    (dict(strides=[0, 1]), "strides"),
])
def test_bad_conv_attributes_name_the_node(attrs, match):
    model = single_node_model("Conv", (1, 3, 5, 5), attrs, [("w", _rand(2, 3, 3, 3))])
    with pytest.raises(ValueError, match=f"'node'.*{match}"):
        load(model)


TRANSPOSE_CASES = [
    ((2, 3, 5), (3, 2, 3), dict(strides=[2], pads=[1, 0], output_padding=[1])),
    ((1, 4, 6), (4, 1, 4), dict(group=2, strides=[3], dilations=[2], pads=[2, 3])),
    ((2, 3, 4, 5), (3, 4, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 0])),
    ((1, 3, 4, 5), (3, 2, 3, 2), dict(strides=[2, 3], pads=[0, 2, 1, 0])),
    ((2, 2, 3, 4), (2, 3, 3, 3), dict(strides=[2, 2], output_shape=[7, 8])),
    ((1, 2, 3, 4), (2, 2, 3, 3), dict(strides=[2, 2], auto_pad="SAME_UPPER")),
    ((1, 2, 3, 4), (2, 2, 4, 3), dict(strides=[2, 2], auto_pad="SAME_LOWER")),
    ((1, 2, 3, 4), (2, 2, 2, 2), dict(dilations=[2, 1], pads=[0, 1, 1, 0], output_padding=[1, 0],
                                      strides=[2, 2])),
    ((1, 2, 3, 4, 3), (2, 3, 3, 2, 3), dict(strides=[2, 1, 2], pads=[1, 0, 0, 1, 1, 2], output_padding=[1, 0, 0])),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(TRANSPOSE_CASES)))
def test_conv_transpose_matches_reference(case, bias):
    x_shape, w_shape, attrs = TRANSPOSE_CASES[case]
    w = _rand(*w_shape)
    groups = attrs.get("group", 1)
    b = _rand(w_shape[1] * groups) if bias else None
    model = single_node_model("ConvTranspose", x_shape, attrs, [("up.weight", w), ("up.bias", b)])
    g = load(model)
    assert list(g.state_dict()) == ["up.weight"] + (["up.bias"] if bias else [])
    x = _rand(*x_shape)
    ours = g(x)
    ort = runtime(model, x)
    # the reference evaluator's grouped ConvTranspose is wrong (it mixes the groups up), and
    # it cannot run output_shape without pads: onnxruntime is the reference there
    if groups == 1 and "output_shape" not in attrs:
        close(ours, reference(model, x)[0])
    elif ort is None:
        pytest.skip("this ConvTranspose needs onnxruntime as its reference")
    if ort is not None:
        close(ours, ort[0])


def test_conv_transpose_compiles_and_trains():
    model = single_node_model("ConvTranspose", (1, 3, 4, 5), dict(strides=[2, 3], pads=[0, 2, 1, 0]),
                              [("t.weight", _rand(3, 2, 3, 2)), ("t.bias", _rand(2))])
    g = load(model)
    x = _rand(2, 3, 4, 5)
    close(cn.compile(g, x.shape)(x), g(x), 1e-5)
    grads_reach_parameters(g, x)


def test_conv_transpose_output_shape_too_large_is_a_clear_error():
    model = single_node_model("ConvTranspose", (1, 2, 3, 3), dict(output_shape=[9, 9]), [("w", _rand(2, 2, 3, 3))])
    with pytest.raises(ValueError, match="'node'.*output_shape"):
        load(model)


def _torch_twins():
    import torch
    tnn = torch.nn
    return {
        "1d": (tnn.Sequential(tnn.Conv1d(3, 4, 3, padding=1, dilation=2), tnn.ReLU(),
                              tnn.ConvTranspose1d(4, 6, 4, stride=2, padding=1, groups=2),
                              tnn.Conv1d(6, 2, 5, stride=2, groups=2, bias=False)), (3, 20)),
        "2d": (tnn.Sequential(tnn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3, bias=False),
                              tnn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, dilation=1),
                              tnn.Conv2d(4, 4, (3, 1), padding=(1, 0), dilation=(2, 1))), (3, 9, 10)),
        "3d": (tnn.Sequential(tnn.Conv3d(2, 4, (1, 3, 3), padding=(0, 1, 1)),
                              tnn.ConvTranspose3d(4, 4, 2, stride=2, groups=2, bias=False)), (2, 3, 4, 5)),
    }


@pytest.mark.parametrize("family", ["1d", "2d", "3d"])
def test_torch_conv_twins_keep_state_dict_and_outputs(family):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m, sample = _torch_twins()[family]
    m = m.eval()
    x = torch.randn(2, *sample)
    g = cnx.load(export_torch(m, x, do_constant_folding=False))
    assert set(g.state_dict()) == set(m.state_dict())
    for n in (1, 3):  # dynamic batch
        xn = torch.randn(n, *sample)
        close(g(xn.numpy()), m(xn).detach().numpy())
    close(cn.compile(g, (2,) + sample)(x.numpy()), m(x).detach().numpy())


def test_conv_and_conv_transpose_over_random_attributes_match_onnxruntime():
    pytest.importorskip("onnxruntime")
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=20, deadline=None, derandomize=True, database=None)
    @hypothesis.given(op=st.sampled_from(["Conv", "ConvTranspose"]), k=st.integers(1, 3), kw=st.integers(1, 3),
                      s=st.integers(1, 3), sw=st.integers(1, 2), d=st.integers(1, 2), groups=st.sampled_from([1, 2]),
                      pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), out_pad=st.integers(0, 2),
                      h=st.integers(3, 6), w=st.integers(3, 6), bias=st.booleans())
    def check(op, k, kw, s, sw, d, groups, pads, out_pad, h, w, bias):
        c_in, c_out = 2 * groups, 3 * groups
        attrs = dict(strides=[s, sw], dilations=[d, 1], pads=pads, group=groups)
        if op == "ConvTranspose":
            attrs["output_padding"] = [min(out_pad, s - 1), 0]  # onnxruntime: < stride
            w_shape = (c_in, c_out // groups, k, kw)
        else:
            w_shape = (c_out, c_in // groups, k, kw)
            hypothesis.assume(h + pads[0] + pads[2] >= (k - 1) * d + 1 and w + pads[1] + pads[3] >= kw)
        weights = [("layer.weight", _rand(*w_shape)), ("layer.bias", _rand(c_out) if bias else None)]
        model = single_node_model(op, (1, c_in, h, w), attrs, weights)
        x = _rand(2, c_in, h, w)
        want = runtime(model, x)
        hypothesis.assume(want is not None and min(want[0].shape) > 0)
        close(load(model)(x), want[0])

    check()


def test_folded_conv_weights_are_named_by_the_torch_scope():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(2)
    m = tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.BatchNorm2d(4), tnn.Sequential(tnn.Conv2d(4, 2, 1))).eval()
    x = torch.randn(2, 3, 6, 6)
    g = cnx.load(export_torch(m, x))  # constant folding merges the BatchNorm into the conv's weights
    assert set(g.state_dict()) == {"0.weight", "0.bias", "2.0.weight", "2.0.bias"}
    close(g(x.numpy()), m(x).detach().numpy())
