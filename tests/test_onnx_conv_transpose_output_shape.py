"""ONNX ConvTranspose with an output_shape larger than the full output (by less than the
stride): onnxruntime and the backend test's data extend the output at the end, as
output_padding does (the bias there), whatever auto_pad says. Checked against onnxruntime;
compile equals eager; gradients reach the imported layer's parameters."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import cnnnative as cn  # noqa: E402
from onnx_single_node import close, grads_reach_parameters, load, runtime, single_node_model  # noqa: E402

RNG = np.random.default_rng(5)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


CASES = [
    # (input shape, weight shape, attributes): full output sizes in the comments
    ((2, 2, 3, 3), (2, 3, 3, 3), dict(strides=[3, 2], output_shape=[10, 8])),  # full (9, 7)
    ((1, 2, 3, 4), (2, 2, 3, 2), dict(strides=[2, 3], output_shape=[8, 11], auto_pad="SAME_UPPER")),  # (7, 11)
    ((2, 2, 4, 3), (2, 2, 2, 3), dict(strides=[3, 2], output_shape=[12, 7], auto_pad="SAME_LOWER")),  # (11, 7)
    ((2, 3, 5), (3, 2, 3), dict(strides=[2], output_shape=[12], pads=[1, 1])),  # (11): pads ignored
    ((1, 2, 3, 4), (2, 2, 3, 3), dict(strides=[3, 3], output_shape=[11, 13], output_padding=[1, 0])),  # (10, 12)
    ((1, 2, 3, 2, 3), (2, 2, 2, 2, 3), dict(strides=[2, 2, 2], output_shape=[7, 4, 8])),  # (6, 4, 7)
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_output_shape_beyond_the_full_output_matches_onnxruntime(case, bias):
    pytest.importorskip("onnxruntime")
    x_shape, w_shape, attrs = CASES[case]
    b = _rand(w_shape[1]) if bias else None
    model = single_node_model("ConvTranspose", x_shape, attrs, [("w", _rand(*w_shape)), ("b", b)])
    g = load(model)
    for n in (1, 3):
        x = _rand(n, *x_shape[1:])
        want = runtime(model, x)[0]
        assert want.shape[2:] == tuple(attrs["output_shape"])
        eager = g(x)
        close(eager, want)
        close(cn.compile(g, x.shape)(x), eager, 1e-5)
    grads_reach_parameters(g, _rand(2, *x_shape[1:]))


def test_output_shape_a_stride_beyond_is_a_clear_error():
    # full output 7; 9 is a whole stride (2) more: no input of size 3 gives it
    model = single_node_model("ConvTranspose", (1, 2, 3, 3), dict(strides=[2, 2], output_shape=[9, 7]),
                              [("w", _rand(2, 2, 3, 3))])
    with pytest.raises(ValueError, match="'node'.*output_shape.*stride"):
        load(model)


def test_output_padding_of_a_stride_or_more_is_a_clear_error():
    model = single_node_model("ConvTranspose", (1, 2, 3, 3), dict(strides=[2, 2], output_padding=[2, 0]),
                              [("w", _rand(2, 2, 3, 3))])
    with pytest.raises(ValueError, match="'node'.*output_padding.*only less than the stride"):
        load(model)
