"""patterns_local_conv.py: the chain cnnnative.onnx.export writes for nn.LocallyConnected2d
(one-hot patch Conv -> Reshape -> Einsum -> Reshape [-> Add bias]) imports as that layer,
trainable and compilable; a chain that differs in any constant is left alone (and then
refused for its Einsum, as before)."""
import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.nn as nn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402
from onnx_single_node import grads_reach_parameters  # noqa: E402


def _exported(bias=True, shape=(1, 2, 5, 6)):
    layer = nn.LocallyConnected2d(2, 3, shape[2:], 3, stride=(1, 2), padding=(1, 0, 2, 1), bias=bias)
    buf = io.BytesIO()
    return layer, cnx.export(layer, buf, shape)


def _x(batch, shape=(1, 2, 5, 6)):
    return np.random.default_rng(batch).standard_normal((batch,) + shape[1:]).astype(np.float32)


@pytest.mark.parametrize("bias", [True, False])
def test_exported_locally_connected_layer_imports_as_the_layer(bias):
    layer, proto = _exported(bias)
    g = cnx.load(proto)
    (lifted,) = [m for m in g.modules() if m is not g]
    assert isinstance(lifted, nn.LocallyConnected2d)
    assert (lifted.kernel_size, lifted.stride, lifted.padding) == ((3, 3), (1, 2), (1, 0, 2, 1))
    np.testing.assert_array_equal(lifted.weight.data, layer.weight.data)
    for batch in (1, 3):
        x = _x(batch)
        want = np.asarray(layer(x))
        np.testing.assert_allclose(np.asarray(g(x)), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ReferenceEvaluator(proto).run(None, {"input": x})[0], want, rtol=1e-4,
                                   atol=1e-4)
    compiled = cn.compile(g, (2, 2, 5, 6))
    np.testing.assert_allclose(np.asarray(compiled(_x(2))), np.asarray(g(_x(2))), rtol=1e-5, atol=1e-5)
    grads_reach_parameters(g, _x(2))


def _initializer(proto, name):
    return next(i for i in proto.graph.initializer if i.name.endswith(name))


def test_a_patch_kernel_that_is_not_one_hot_is_not_lifted():
    _, proto = _exported()
    kernel = _initializer(proto, "patch_kernel")
    values = numpy_helper.to_array(kernel).copy()
    values[0, 0, 0, 0] = 0.5
    kernel.CopyFrom(numpy_helper.from_array(values, kernel.name))
    with pytest.raises(cnx.UnsupportedOperatorError, match="Einsum"):
        cnx.load(proto)


def test_a_bias_of_another_shape_stays_an_add_after_the_layer():
    _, proto = _exported()
    bias = _initializer(proto, "bias")
    bias.CopyFrom(numpy_helper.from_array(np.arange(3, dtype=np.float32).reshape(3, 1, 1), bias.name))
    g = cnx.load(proto)
    (lifted,) = [m for m in g.modules() if m is not g]
    assert isinstance(lifted, nn.LocallyConnected2d) and lifted.bias is None
    x = _x(2)
    np.testing.assert_allclose(np.asarray(g(x)), ReferenceEvaluator(proto).run(None, {"input": x})[0],
                               rtol=1e-4, atol=1e-4)


def test_another_einsum_equation_is_not_lifted():
    _, proto = _exported()
    einsum = next(n for n in proto.graph.node if n.op_type == "Einsum")
    einsum.attribute[0].s = b"nqp,pkq->nkq"
    with pytest.raises(cnx.UnsupportedOperatorError, match="Einsum"):
        cnx.load(proto)
