"""Helpers of the ONNX converter tests: one-node models built with onnx.helper, run by
cnnnative.onnx.load and by the references (onnx.reference.ReferenceEvaluator, and
onnxruntime when it is installed)."""
import io
import warnings

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def single_node_model(op, x_shape, attrs=None, weights=(), opset=17, n_outputs=1, domain_opsets=()):
    """A model computing `op` on input 'x' (x_shape, first dim symbolic 'N') and the
    initializers `weights` ((name, array) pairs, in input order; a None array leaves that
    input out). Outputs 'y', 'y1', ... of x's rank (sizes left symbolic)."""
    names = ["x"] + [name if a is not None else "" for name, a in weights]
    while names and names[-1] == "":
        names.pop()
    outputs = ["y"] + [f"y{k}" for k in range(1, n_outputs)]  # the second is int64 (MaxPool's Indices)
    node = helper.make_node(op, names, outputs, name="node", **(attrs or {}))
    inits = [numpy_helper.from_array(np.asarray(a), name) for name, a in weights if a is not None]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                          ["N"] + list(x_shape[1:]))],
                              [helper.make_tensor_value_info(o, TensorProto.INT64 if k else TensorProto.FLOAT,
                                                             [f"d{i}" for i in range(len(x_shape))])
                               for k, o in enumerate(outputs)],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *domain_opsets])


def reference(model, x):
    """Every output of `model` on x by onnx's ReferenceEvaluator."""
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(model).run(None, {"x": x})


def runtime(model, x):
    """Every output of `model` on x by onnxruntime, or None when it is not installed (or
    says it does not support the node's attributes, e.g. dilations with auto_pad SAME)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})
    except Exception as e:  # an attribute combination onnxruntime itself does not implement
        if "not supported" in str(e):
            return None
        raise


def load(model):
    import cnnnative.onnx as cnx
    return cnx.load(model.SerializeToString(), input_shape=None)


def close(a, b, tol=1e-4):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


def grads_reach_parameters(g, x):
    """Backward through the imported graph: every Parameter gets a non-zero gradient."""
    import cnnnative as cn
    g.train()
    out = g(cn.Tensor(x))
    out = out[0] if isinstance(out, tuple) else out
    (out * out).sum().backward()
    params = dict(g.named_parameters())
    assert params, "the imported graph has no parameters"
    for name, p in params.items():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name
    g.eval()


def export_torch(module, x, opset=17, **kwargs):
    """module exported by torch.onnx.export (TorchScript exporter), dynamic batch."""
    import torch
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, x, buf, opset_version=opset, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, **kwargs)
    return buf.getvalue()
