"""ONNX AveragePool (opset 19+) and LpPool (opset 18+) with dilations > 1: the library's
average pools have no dilation, so the importer builds them from a depthwise ones-kernel
convolution on the padded input and a per-position divisor known at load. Checked against
onnxruntime and onnx's reference evaluator across count_include_pad, ceil_mode, pads and
ranks; compile equals eager; gradients reach the parameters of a layer before the pool."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import cnnnative as cn  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_single_node import close, grads_reach_parameters, load, reference, runtime, single_node_model  # noqa: E402

RNG = np.random.default_rng(11)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _check(model, x, use_reference=True):
    g = load(model)
    ours = g(x)
    ort = runtime(model, x)
    if ort is not None:
        close(ours, ort[0])
    if use_reference:
        close(ours, reference(model, x)[0])
    return g


DILATED_CASES = [
    # (input shape, attributes); the reference evaluator is skipped with ceil_mode (it
    # gets the last window wrong, see test_onnx_pool_norm.py)
    ((2, 3, 11), dict(kernel_shape=[3], strides=[1], dilations=[2])),
    ((1, 2, 12), dict(kernel_shape=[3], strides=[2], dilations=[3], pads=[2, 1], ceil_mode=1)),
    ((2, 2, 7, 8), dict(kernel_shape=[2, 2], strides=[1, 1], dilations=[2, 2])),
    ((1, 3, 9, 8), dict(kernel_shape=[3, 2], strides=[2, 1], dilations=[2, 3], pads=[1, 0, 2, 1])),
    ((2, 2, 8, 9), dict(kernel_shape=[2, 3], strides=[2, 2], dilations=[3, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ((1, 2, 7, 7), dict(kernel_shape=[3, 3], strides=[3, 2], dilations=[1, 2], pads=[0, 2, 1, 0], ceil_mode=1)),
    ((1, 2, 6, 7, 8), dict(kernel_shape=[2, 2, 3], strides=[1, 2, 2], dilations=[2, 2, 2])),
    ((2, 1, 7, 6, 8), dict(kernel_shape=[2, 3, 2], strides=[2, 2, 3], dilations=[3, 2, 2],
                           pads=[1, 0, 1, 0, 1, 1], ceil_mode=1)),
]


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("case", range(len(DILATED_CASES)))
def test_dilated_average_pool_matches_references(case, count_include_pad):
    shape, attrs = DILATED_CASES[case]
    model = single_node_model("AveragePool", shape, dict(attrs, count_include_pad=count_include_pad), opset=19)
    _check(model, _rand(*shape), "ceil_mode" not in attrs)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("case", [0, 1, 3, 4, 6])
def test_dilated_lp_pool_matches_references(case, p):
    shape, attrs = DILATED_CASES[case]
    model = single_node_model("LpPool", shape, dict(attrs, p=p), opset=18)
    _check(model, _rand(*shape), "ceil_mode" not in attrs)


def test_dilated_average_pool_window_counts_by_hand():
    # 1-D, length 5, kernel 2, dilation 3, pads 1/1, stride 2: windows at -1 (taps -1, 2),
    # 1 (taps 1, 4); ceil_mode adds a window at 3 (taps 3, 6: 6 is the pad-and-beyond
    # overhang, counted by neither divisor)
    x = np.arange(1, 6, dtype=np.float32).reshape(1, 1, 5)
    attrs = dict(kernel_shape=[2], strides=[2], dilations=[3], pads=[1, 1], ceil_mode=1)
    want = {0: [3 / 1, (2 + 5) / 2, 4 / 1], 1: [3 / 2, (2 + 5) / 2, 4 / 1]}
    for cip, expected in want.items():
        model = single_node_model("AveragePool", (1, 1, 5), dict(attrs, count_include_pad=cip), opset=19)
        close(load(model)(x)[0, 0], expected, 1e-6)
        ort = runtime(model, x)
        if ort is not None:
            close(ort[0][0, 0], expected, 1e-6)


def test_dilations_before_they_were_attributes_are_refused():
    # (onnx.checker already rejects these; the converters refuse them too)
    with pytest.raises(ValueError, match="dilations"):
        load(single_node_model("AveragePool", (1, 1, 6, 6), dict(kernel_shape=[2, 2], dilations=[2, 2]), opset=18))
    with pytest.raises(ValueError, match="dilations"):
        load(single_node_model("LpPool", (1, 1, 6, 6), dict(kernel_shape=[2, 2], dilations=[2, 2]), opset=11))


def _conv_then_pool(op, attrs, opset):
    """Conv (trainable weights) -> a dilated pool, dynamic batch."""
    w = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node(op, ["h"], ["y"], name="pool", **attrs)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 9, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "c", "h", "w"])],
                              [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("op, opset, extra", [("AveragePool", 19, dict(count_include_pad=0)),
                                               ("AveragePool", 19, dict(count_include_pad=1)),
                                               ("LpPool", 18, dict(p=3))])
def test_dilated_pools_compile_and_backward(op, opset, extra):
    attrs = dict(kernel_shape=[3, 2], strides=[2, 2], dilations=[2, 3], pads=[1, 0, 0, 1], ceil_mode=1, **extra)
    model = _conv_then_pool(op, attrs, opset)
    g = load(model)
    for n in (1, 3):
        x = _rand(n, 2, 9, 10)
        eager = g(x)
        ort = runtime(model, x)
        if ort is not None:
            close(eager, ort[0])
        close(cn.compile(g, x.shape)(x), eager, 1e-5)
    grads_reach_parameters(g, _rand(2, 2, 9, 10))
    t = cn.Tensor(_rand(2, 2, 9, 10), requires_grad=True)
    g(t).sum().backward()
    assert t.grad is not None and np.abs(t.grad).sum() > 0


def test_dilated_pools_over_random_attributes_match_onnxruntime():
    pytest.importorskip("onnxruntime")
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=30, deadline=None, derandomize=True, database=None)
    @hypothesis.given(op=st.sampled_from(["AveragePool0", "AveragePool1", "LpPool"]),
                      k=st.integers(1, 3), kw=st.integers(1, 3), s=st.integers(1, 3), sw=st.integers(1, 3),
                      d=st.integers(1, 3), dw=st.integers(2, 3), pads=st.lists(st.integers(0, 2), min_size=4,
                                                                                max_size=4),
                      ceil=st.booleans(), h=st.integers(4, 9), w=st.integers(4, 9), n=st.integers(1, 2))
    def check(op, k, kw, s, sw, d, dw, pads, ceil, h, w, n):
        pads = [min(p, kk - 1) for p, kk in zip(pads, (k, kw, k, kw))]  # onnxruntime wants pads < kernel
        attrs = dict(kernel_shape=[k, kw], strides=[s, sw], dilations=[d, dw], pads=pads, ceil_mode=int(ceil))
        opset = 18 if op == "LpPool" else 19
        if op.startswith("AveragePool"):
            attrs["count_include_pad"], op = int(op[-1]), "AveragePool"
        hypothesis.assume(h + pads[0] + pads[2] >= (k - 1) * d + 1 and w + pads[1] + pads[3] >= (kw - 1) * dw + 1)
        model = single_node_model(op, (n, 2, h, w), attrs, opset=opset)
        x = _rand(n, 2, h, w)
        want = runtime(model, x)
        hypothesis.assume(want is not None)
        close(load(model)(x), want[0])

    check()


@pytest.mark.parametrize("case", [1, 7])  # 1-D and 3-D, with ceil_mode and uneven pads
def test_dilated_pools_compile_1d_3d(case):
    shape, attrs = DILATED_CASES[case]
    g = load(single_node_model("AveragePool", shape, dict(attrs, count_include_pad=0), opset=19))
    x = _rand(*shape)
    close(cn.compile(g, x.shape)(x), g(x), 1e-5)
