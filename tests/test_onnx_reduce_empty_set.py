"""ONNX reductions over an empty set of values, folded at load (a constant input with a
zero-size axis): ReduceMax gives -inf (the type's minimum for integers), ReduceMin +inf,
ReduceSum 0, ReduceLogSumExp -inf -- as onnxruntime and the reference evaluator do."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_single_node import load, reference, runtime  # noqa: E402


def _model(op, data, axes, keepdims=1):
    """y = x + op(data over axes): `data` an initializer, folded at load."""
    nodes = [helper.make_node(op, ["data", "axes"], ["r"], keepdims=keepdims),
             helper.make_node("Add", ["x", "r"], ["y"])]
    out_shape = [1 if k in axes else d for k, d in enumerate(data.shape)] if keepdims else \
        [d for k, d in enumerate(data.shape) if k not in axes]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + out_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"] + out_shape)],
                              [numpy_helper.from_array(data, "data"),
                               numpy_helper.from_array(np.array(axes, np.int64), "axes")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), out_shape


@pytest.mark.parametrize("op, want", [("ReduceMax", -np.inf), ("ReduceMin", np.inf), ("ReduceSum", 0.0),
                                      ("ReduceLogSumExp", -np.inf)])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_over_an_empty_set_folds(op, want, keepdims):
    data = np.zeros((2, 0, 4), np.float32)
    model, out_shape = _model(op, data, [1], keepdims)
    x = np.random.default_rng(3).standard_normal([2] + out_shape).astype(np.float32)
    y = load(model)(x)
    np.testing.assert_array_equal(y, x + np.float32(want))
    np.testing.assert_array_equal(y, reference(model, x)[0])
    ort = runtime(model, x)
    if ort is not None:
        np.testing.assert_array_equal(y, ort[0])


def test_reduce_max_and_min_of_integers_over_an_empty_set_give_the_type_limits():
    from cnnnative.onnx.convert_reduce import _FOLD
    empty = np.zeros((3, 0), np.int32)
    np.testing.assert_array_equal(_FOLD["ReduceMax"](empty, (1,), False), np.full(3, np.iinfo(np.int32).min))
    np.testing.assert_array_equal(_FOLD["ReduceMin"](empty, (1,), False), np.full(3, np.iinfo(np.int32).max))
    x = np.array([[1, 5], [-2, 0]], np.int64)  # and the usual answer otherwise
    np.testing.assert_array_equal(_FOLD["ReduceMax"](x, (1,), False), [5, 0])
    np.testing.assert_array_equal(_FOLD["ReduceMin"](x, (1,), False), [1, -2])
