"""ONNX pools (Max/Average/Lp, 1-D to 3-D, Global*) and normalizations (Batch, Instance,
Layer, Group, LRN) imported: single-node models against onnx's reference evaluator and
onnxruntime, across the attributes and opsets where they changed; torch twins."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import cnnnative as cn  # noqa: E402
from onnx import TensorProto  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402
from onnx_single_node import (close, export_torch, grads_reach_parameters, load, reference, runtime,  # noqa: E402
                              single_node_model)

RNG = np.random.default_rng(7)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _check(model, x, use_reference=True, n_outputs=1):
    """Ours against onnxruntime (when installed) and the reference evaluator."""
    g = load(model)
    ours = g(x)
    ours = ours if isinstance(ours, tuple) else (ours,)
    ort = runtime(model, x)
    if ort is not None:
        for a, b in zip(ours, ort[:n_outputs]):
            close(a, b)
    if use_reference:
        for a, b in zip(ours, reference(model, x)[:n_outputs]):
            close(a, b)
    return g


POOL_CASES = [
    # (input shape, attributes, the reference evaluator gets it right: it does not with
    # ceil_mode, SAME_LOWER with stride 3 or pads over half the kernel -- onnxruntime does)
    ((2, 3, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1]), True),
    ((1, 2, 10), dict(kernel_shape=[4], strides=[3], pads=[0, 2], ceil_mode=1), False),
    ((2, 3, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), True),
    ((1, 2, 7, 8), dict(kernel_shape=[3, 2], strides=[2, 2], pads=[0, 1, 2, 0]), True),
    ((2, 2, 8, 7), dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), False),
    ((1, 3, 7, 7), dict(kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1), False),
    ((1, 2, 7, 9), dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), True),
    ((1, 2, 8, 9), dict(kernel_shape=[2, 4], strides=[3, 2], auto_pad="SAME_LOWER"), False),
    ((1, 2, 8, 9), dict(kernel_shape=[3, 3], strides=[2, 1], auto_pad="VALID"), True),
    ((1, 2, 5, 6, 7), dict(kernel_shape=[2, 3, 3], strides=[2, 2, 2], pads=[0, 1, 1, 1, 1, 1]), True),
    ((2, 2, 5, 5, 6), dict(kernel_shape=[3, 2, 2], strides=[2, 2, 2], ceil_mode=1), False),
    ((1, 2, 6, 7), dict(kernel_shape=[3, 3], strides=[1, 1], pads=[2, 2, 0, 2]), False),  # pad > kernel/2
]


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_max_pool_matches_reference(case):
    shape, attrs, ref_ok = POOL_CASES[case]
    _check(single_node_model("MaxPool", shape, attrs, opset=12), _rand(*shape), ref_ok)


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], strides=[1, 1], dilations=[2, 2], pads=[2, 2, 2, 2]),
    dict(kernel_shape=[2, 2], strides=[2, 1], dilations=[2, 3], ceil_mode=1),
    dict(kernel_shape=[2, 3], dilations=[1, 2], pads=[1, 0, 0, 2]),
])
def test_max_pool_dilations(attrs):
    _check(single_node_model("MaxPool", (2, 2, 8, 9), attrs, opset=12), _rand(2, 2, 8, 9),
           use_reference="ceil_mode" not in attrs)


@pytest.mark.parametrize("op,opset", [("MaxPool", 12), ("AveragePool", 19), ("LpPool", 18)])
def test_ceil_mode_window_overhanging_the_input_gives_one_output(op, opset):
    """ONNX's ceil((size - span) / stride + 1) = 1 when the window overhangs the padded input
    by less than a stride: with ceil_mode it still pools what it covers (torch too);
    without ceil_mode it is refused."""
    if op == "MaxPool":  # span 5 on 4
        shape, attrs = (2, 2, 4, 4), dict(kernel_shape=[1, 3], strides=[1, 2], dilations=[1, 2], ceil_mode=1)
    else:  # span 3 on 2
        shape, attrs = (2, 2, 4, 2), dict(kernel_shape=[1, 3], strides=[1, 2], ceil_mode=1)
    g = _check(single_node_model(op, shape, attrs, opset=opset), _rand(*shape), use_reference=False)
    assert g(_rand(*shape)).shape == (2, 2, 4, 1)
    attrs.pop("ceil_mode")
    with pytest.raises(cnx.ConversionError, match="larger than the padded input"):
        load(single_node_model(op, shape, attrs, opset=opset))


@pytest.mark.parametrize("op", ["AveragePool", "LpPool"])
def test_dilation_on_one_axis_only_is_not_ignored(op):
    """One dilated axis among undilated ones was once let through and ignored (min of the
    dilations tested instead of max)."""
    model = single_node_model(op, (1, 2, 6, 6), dict(kernel_shape=[2, 2], dilations=[1, 2]),
                              opset=19 if op == "AveragePool" else 18)
    x = _rand(2, 2, 6, 6)
    g = _check(model, x, use_reference=False)
    assert g(x).shape == (2, 2, 5, 4)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_average_pool_matches_reference(case, count_include_pad):
    shape, attrs, ref_ok = POOL_CASES[case]
    model = single_node_model("AveragePool", shape, dict(attrs, count_include_pad=count_include_pad), opset=11)
    # the reference evaluator pads SAME with count_include_pad=1 differently from onnxruntime
    auto = attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER") and count_include_pad
    _check(model, _rand(*shape), ref_ok and not auto)


@pytest.mark.parametrize("shape, opset, attrs", [
    ((2, 3, 9), 7, dict(kernel_shape=[3], pads=[1, 1], count_include_pad=1)),
    ((1, 2, 7, 8), 10, dict(kernel_shape=[3, 3], pads=[1, 2, 1, 0])),
    ((1, 2, 7, 8), 19, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1)),
])
def test_average_pool_across_opsets(shape, opset, attrs):
    _check(single_node_model("AveragePool", shape, attrs, opset=opset), _rand(*shape), "ceil_mode" not in attrs)


def test_pool_attributes_of_later_opsets_are_refused():
    with pytest.raises(ValueError, match="ceil_mode"):
        load(single_node_model("AveragePool", (1, 1, 4, 4), dict(kernel_shape=[2, 2], ceil_mode=1), opset=7))
    with pytest.raises(ValueError, match="dilations"):  # an attribute of AveragePool from opset 19
        load(single_node_model("AveragePool", (1, 1, 6, 6), dict(kernel_shape=[2, 2], dilations=[2, 2]), opset=18))


@pytest.mark.parametrize("shape, attrs, storage_order", [
    ((2, 3, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), 0),
    ((2, 3, 7, 8), dict(kernel_shape=[3, 2], strides=[2, 2]), 1),
    ((2, 2, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1]), 0),
    ((1, 2, 4, 5, 6), dict(kernel_shape=[2, 2, 3], strides=[2, 2, 2]), 0),
    ((1, 2, 4, 5, 6), dict(kernel_shape=[2, 2, 3], strides=[2, 2, 2]), 1),
    ((2, 2, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 2, 1]), 0),
    ((2, 2, 7, 8), dict(kernel_shape=[3, 2], strides=[2, 2], pads=[2, 0, 1, 1]), 1),
    ((1, 2, 8, 7), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1], ceil_mode=1), 0),
])
def test_max_pool_indices_output(shape, attrs, storage_order):
    model = single_node_model("MaxPool", shape, dict(attrs, storage_order=storage_order), opset=12, n_outputs=2)
    x = _rand(*shape)
    y, idx = load(model)(x)
    assert idx.dtype == np.int64
    if "ceil_mode" not in attrs:  # the reference evaluator gets ceil_mode wrong
        want_y, want_idx = reference(model, x)
        close(y, want_y)
        np.testing.assert_array_equal(idx, want_idx)
    ort = runtime(model, x)
    if ort is not None:
        close(y, ort[0])
        np.testing.assert_array_equal(idx, ort[1])


@pytest.mark.parametrize("opset, p", [(7, 3), (11, 2), (18, 3)])
def test_lp_pool(opset, p):
    shape = (2, 3, 7, 8)
    attrs = dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 0, 1], p=p)
    if opset >= 18:
        attrs["ceil_mode"] = 1
    _check(single_node_model("LpPool", shape, attrs, opset=opset), _rand(*shape), opset < 18)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 3, 5, 6), (2, 2, 3, 4, 5)])
def test_global_pools_any_rank(op, shape):
    attrs = dict(p=3) if op == "GlobalLpPool" else {}
    # the reference evaluator has no GlobalLpPool, and its GlobalMaxPool drops a 1-D axis
    reference_ok = op == "GlobalAveragePool" or (op == "GlobalMaxPool" and len(shape) == 4)
    _check(single_node_model(op, shape, attrs), _rand(*shape), reference_ok)


def test_pools_compile_and_backward():
    model = single_node_model("AveragePool", (2, 3, 7, 8), dict(kernel_shape=[3, 2], strides=[2, 2],
                                                               pads=[0, 1, 2, 0], count_include_pad=0), opset=11)
    g = load(model)
    x = _rand(2, 3, 7, 8)
    close(cn.compile(g, x.shape)(x), g(x), 1e-5)
    t = cn.Tensor(x, requires_grad=True)
    g(t).sum().backward()
    assert t.grad is not None and np.abs(t.grad).sum() > 0


# -- normalizations --------------------------------------------------------------------------
def _bn_weights(c):
    return [("bn.weight", _rand(c)), ("bn.bias", _rand(c)), ("bn.running_mean", _rand(c)),
            ("bn.running_var", RNG.uniform(0.5, 2, c).astype(np.float32))]


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 2, 3, 4)])
def test_batch_norm_ranks_and_opsets(shape, opset):
    model = single_node_model("BatchNormalization", shape, dict(epsilon=1e-3), _bn_weights(shape[1]), opset=opset)
    g = _check(model, _rand(*shape), opset >= 14)  # the reference's BatchNormalization 6 and 9 are broken
    assert list(g.state_dict())[:4] == ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]


def test_batch_norm_training_mode_is_refused():
    model = single_node_model("BatchNormalization", (2, 3, 4, 4), dict(training_mode=1), _bn_weights(3), opset=15)
    with pytest.raises(ValueError, match="'node'.*training_mode"):
        load(model)


@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 4, 5), (1, 3, 2, 3, 4)])
def test_instance_norm(shape):
    model = single_node_model("InstanceNormalization", shape, dict(epsilon=1e-4),
                              [("inorm.weight", _rand(shape[1])), ("inorm.bias", _rand(shape[1]))])
    g = _check(model, _rand(*shape))
    assert list(g.state_dict()) == ["inorm.weight", "inorm.bias"]
    grads_reach_parameters(g, _rand(*shape))


@pytest.mark.parametrize("shape, axis, bias", [((2, 5), -1, True), ((2, 3, 4), -1, False), ((2, 3, 4, 5), 1, True),
                                               ((1, 3, 4, 5), -2, True)])
def test_layer_norm(shape, axis, bias):
    normalized = shape[axis:]
    weights = [("ln.weight", _rand(*normalized)), ("ln.bias", _rand(*normalized) if bias else None)]
    model = single_node_model("LayerNormalization", shape, dict(axis=axis, epsilon=1e-3), weights)
    g = _check(model, _rand(*shape))
    assert list(g.state_dict()) == ["ln.weight"] + (["ln.bias"] if bias else [])
    grads_reach_parameters(g, _rand(*shape))


def test_layer_norm_scale_that_broadcasts_and_compiles():
    shape = (2, 3, 4, 5)
    model = single_node_model("LayerNormalization", shape, dict(axis=2),
                              [("ln.weight", _rand(5)), ("ln.bias", _rand(1))])
    g = _check(model, _rand(*shape))
    assert g.state_dict()["ln.weight"].shape == (4, 5)
    x = _rand(*shape)
    close(cn.compile(g, x.shape)(x), g(x), 1e-5)


def test_supported_ops_list_the_opset_changes():
    cnx._register_converters()
    ops = cnx.supported_ops()
    assert ops["MaxPool"] == [1, 8, 10] and ops["AveragePool"] == [1, 7, 10, 19]
    assert ops["BatchNormalization"] == [1, 7, 9, 14] and ops["GroupNormalization"] == [18, 21]
    assert ops["LpPool"] == [1, 2, 18] and ops["Gemm"] == [1, 7, 11]
    for op in ("Conv", "ConvTranspose", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "InstanceNormalization",
               "LayerNormalization", "LRN", "MatMul", "cnnnative:Linear", "cnnnative:SqueezeExcitation"):
        assert op in ops, op


@pytest.mark.parametrize("shape, axis", [((2, 3, 4), -1), ((3, 2, 4, 5), 1)])
def test_layer_norm_mean_and_inv_std_dev_outputs(shape, axis):
    normalized = shape[axis:]
    model = single_node_model("LayerNormalization", shape, dict(axis=axis, epsilon=1e-3),
                              [("ln.weight", _rand(*normalized)), ("ln.bias", _rand(*normalized))], n_outputs=3)
    for o in model.graph.output[1:]:
        o.type.tensor_type.elem_type = TensorProto.FLOAT  # Mean and InvStdDev are float
    x = _rand(*shape)
    g = load(model)
    got = g(x)
    assert len(got) == 3 and got[1].shape == shape[:axis % len(shape)] + (1,) * len(normalized)
    for ours, want in zip(got, reference(model, x)):
        close(ours, want)
    grads_reach_parameters(g, x)


def test_layer_norm_over_the_batch_is_refused():
    model = single_node_model("LayerNormalization", (2, 3), dict(axis=0), [("s", _rand(2, 3))])
    with pytest.raises(ValueError, match="'node'.*axis 0"):
        load(model)


@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 6, 3, 4)])
def test_group_norm_opset_21(shape):
    groups = 3
    model = single_node_model("GroupNormalization", shape, dict(num_groups=groups, epsilon=1e-3),
                              [("gn.weight", _rand(shape[1])), ("gn.bias", _rand(shape[1]))], opset=21)
    x = _rand(*shape)
    g = load(model)
    close(g(x), reference(model, x)[0])
    assert list(g.state_dict()) == ["gn.weight", "gn.bias"]
    grads_reach_parameters(g, x)


def test_group_norm_opset_18_scales_per_group():
    # onnx's checker refuses GroupNormalization-18 (deprecated), so the converter is run directly
    from cnnnative.onnx._registry import find_converter
    from cnnnative.onnx._importer import Importer
    cnx._register_converters()
    model = single_node_model("GroupNormalization", (2, 6, 5), dict(num_groups=3, epsilon=1e-3),
                              [("gn.weight", _rand(3)), ("gn.bias", _rand(3))], opset=18)
    importer = Importer(model)
    assert find_converter("GroupNormalization", 18).__name__ == "_group_norm_v18"
    g = importer.build()
    x = _rand(2, 6, 5)
    scale = np.repeat(np.asarray(importer.initializers["gn.weight"]), 2)
    bias = np.repeat(np.asarray(importer.initializers["gn.bias"]), 2)
    groups = x.reshape(2, 3, -1)
    norm = ((groups - groups.mean(-1, keepdims=True)) / np.sqrt(groups.var(-1, keepdims=True) + 1e-3))
    close(g(x), norm.reshape(x.shape) * scale[:, None] + bias[:, None])
    with pytest.raises(ValueError, match=r"'node'.*scale has shape \(6,\), expected \(3,\)"):
        Importer(single_node_model("GroupNormalization", (2, 6, 4), dict(num_groups=3),
                                   [("s", _rand(6)), ("b", _rand(6))], opset=18)).build()


def _lrn_spec(x, size, alpha, beta, bias):
    """LRN as the ONNX spec words it (channels c - floor((size-1)/2) .. c + ceil((size-1)/2))."""
    c = x.shape[1]
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    sq = np.zeros_like(x, dtype=np.float64)
    for k in range(c):
        sq[:, k] = (x[:, max(0, k - lo):min(c, k + hi + 1)].astype(np.float64) ** 2).sum(1)
    return x / (bias + alpha / size * sq) ** beta


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_lrn_odd_and_even_sizes(size):
    shape = (2, 7, 4, 5)
    model = single_node_model("LRN", shape, dict(size=size, alpha=0.02, beta=0.6, bias=1.5))
    x = _rand(*shape)
    # the reference evaluator's LRN loops over the batch instead of the channels, and
    # onnxruntime takes odd sizes only: the spec itself is the reference
    g = _check(model, x, use_reference=False) if size % 2 else load(model)
    close(g(x), _lrn_spec(x, size, 0.02, 0.6, 1.5))


def test_torch_pool_norm_twins():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(0)
    m = tnn.Sequential(tnn.Conv2d(3, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.MaxPool2d(3, 2, 1, ceil_mode=True),
                       tnn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                       tnn.InstanceNorm2d(8, affine=True), tnn.LayerNorm([8, 3, 3])).eval()
    with torch.no_grad():
        m[1].running_mean.normal_()
        m[1].running_var.uniform_(0.5, 2)
        for layer in (m[4], m[5]):
            layer.weight.normal_()
            layer.bias.normal_()
    x = torch.randn(2, 3, 9, 9)
    g = cnx.load(export_torch(m, x, opset=18, do_constant_folding=False,
                              training=torch.onnx.TrainingMode.PRESERVE))
    assert set(g.state_dict()) >= {k for k in m.state_dict() if not k.endswith("num_batches_tracked")}
    for n in (1, 3):
        xn = torch.randn(n, 3, 9, 9)
        close(g(xn.numpy()), m(xn).detach().numpy())
    close(cn.compile(g, (2, 3, 9, 9))(x.numpy()), m(x).detach().numpy())


def test_torch_1d_3d_pool_twins():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    for m, sample in ((tnn.Sequential(tnn.MaxPool1d(3, 2, 1, dilation=2), tnn.AvgPool1d(2, 2, 1, ceil_mode=True),
                                      tnn.BatchNorm1d(4)), (4, 17)),
                      (tnn.Sequential(tnn.MaxPool3d(2, 2, ceil_mode=True), tnn.AvgPool3d(3, 1, 1),
                                      tnn.AdaptiveAvgPool3d(1)), (3, 5, 6, 7))):
        m = m.eval()
        x = torch.randn(2, *sample)
        g = cnx.load(export_torch(m, x, opset=17))
        for n in (1, 3):
            xn = torch.randn(n, *sample)
            close(g(xn.numpy()), m(xn).detach().numpy())


def test_pools_over_random_attributes_match_onnxruntime():
    pytest.importorskip("onnxruntime")
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=40, deadline=None, derandomize=True, database=None)
    @hypothesis.given(op=st.sampled_from(["MaxPool", "AveragePool0", "AveragePool1", "LpPool"]),
                      k=st.integers(1, 3), kw=st.integers(1, 4), s=st.integers(1, 3), sw=st.integers(1, 3),
                      pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), ceil=st.booleans(),
                      dil=st.integers(1, 2), h=st.integers(4, 8), w=st.integers(4, 8), n=st.integers(1, 2))
    def check(op, k, kw, s, sw, pads, ceil, dil, h, w, n):
        pads = [min(p, kk - 1) for p, kk in zip(pads, (k, kw, k, kw))]  # onnxruntime wants pads < kernel
        attrs = dict(kernel_shape=[k, kw], strides=[s, sw], pads=pads)
        opset = 18 if op == "LpPool" else 12
        if op == "MaxPool":
            attrs.update(dilations=[dil, 1])
        if op.startswith("AveragePool"):
            attrs["count_include_pad"], op = int(op[-1]), "AveragePool"
        if op != "LpPool" or opset >= 18:
            attrs["ceil_mode"] = int(ceil)
        spans = ((k - 1) * (dil if op == "MaxPool" else 1) + 1, kw)
        hypothesis.assume(h + pads[0] + pads[2] >= spans[0] and w + pads[1] + pads[3] >= spans[1])
        model = single_node_model(op, (n, 2, h, w), attrs, opset=opset)
        x = _rand(n, 2, h, w)
        want = runtime(model, x)
        hypothesis.assume(want is not None)
        close(load(model)(x), want[0])

    check()
