"""ONNX import of Pad, Resize / Upsample and DepthToSpace / SpaceToDepth: single-node
models against onnx.reference.ReferenceEvaluator (onnxruntime where the reference has no
implementation: Resize-10, Upsample, negative pads), at several opsets, batch 1 and 3."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402


def _model(nodes, in_shape, out_shape, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *out_shape])],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _reference(model):
    ref = ReferenceEvaluator(model)
    return lambda x: ref.run(None, {"x": x})[0]


def _onnxruntime(model):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})[0]


def _check(model, in_shape, reference=_reference, batches=(1, 3), atol=1e-5):
    g = cnx.load(model)
    run = reference(model)
    for n in batches:
        x = np.random.default_rng(n).standard_normal((n, *in_shape)).astype(np.float32)
        want = run(x)
        got = g(x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)
    return g


def _ops(g):
    return [n.op for n in g.ir.nodes]


def _i64(*v):
    return np.array(v, dtype=np.int64)


# -- Pad ----------------------------------------------------------------------------------

def _pad_model(pads, mode, opset, shape=(3, 4, 5), value=0.0, axes=None):
    padded = list(shape)
    rank = len(shape) + 1
    ax = list(range(rank)) if axes is None else [a % rank for a in axes]
    for k, a in enumerate(ax):
        if a:
            padded[a - 1] += pads[k] + pads[k + len(ax)]
    if opset < 11:
        node = helper.make_node("Pad", ["x"], ["y"], pads=pads, mode=mode, value=value)
        return _model([node], shape, padded, opset=opset)
    inits = {"p": _i64(*pads), "v": np.array(value, np.float32)}
    inputs = ["x", "p", "v"]
    if axes is not None:
        inits["a"] = _i64(*axes)
        inputs.append("a")
    return _model([helper.make_node("Pad", inputs, ["y"], mode=mode)], shape, padded, inits, opset)


@pytest.mark.parametrize("opset", [2, 11, 13])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", [(0, 0, 1, 2, 0, 0, 3, 0), (0, 1, 0, 1, 0, 2, 1, 0), (0, 0, 0, 1, 0, 0, 0, 2)])
def test_pad_modes(opset, mode, pads):
    _check(_pad_model(list(pads), mode, opset, value=1.5), (3, 4, 5))


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_axes_input_and_wrap(mode):
    _check(_pad_model([1, 2, 2, 1], mode, 19, axes=[-1, 2]), (3, 4, 5))
    _check(_pad_model([1, 2], mode, 19, shape=(3, 4), axes=[2]), (3, 4))


def test_pad_of_a_5d_value_in_reflect_mode():
    _check(_pad_model([0, 0, 1, 0, 2, 0, 0, 0, 1, 1], "reflect", 13, shape=(2, 3, 4, 5)), (2, 3, 4, 5))


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_negative_pads_crop(mode):
    _check(_pad_model([0, -1, 2, -2, 0, 1, -1, 1], mode, 13), (3, 4, 5), reference=_onnxruntime)
    _check(_pad_model([0, 0, -1, 0, 0, 0, 0, -2], mode, 13), (3, 4, 5), reference=_onnxruntime)


@pytest.mark.parametrize("pads,mode,message", [
    ([1, 0, 0, 0, 0, 0, 0, 0], "constant", "dynamic batch"),
    ([0, 0, 0, -3, 0, 0, 0, 3], "reflect", "less than the size"),
    ([0, 0, 1, 0, 0, 0], "constant", "hold 2 \\* 4 values"),
    ([0, 0, 0, 1, 0, 0, 0, 1], "wrap", "opset 19"),
    ([0, 0, 0, 1, 0, 0, 0, 1], "mirror", "mode 'mirror'"),
    ([0, 0, 1 << 40, 0, 0, 0, 0, 0], "constant", "per-sample shape"),
])
def test_bad_pads_fail_naming_the_node(pads, mode, message):
    model = _pad_model(pads + [0] * (8 - len(pads)), mode, 13)
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(_i64(*pads), "p"))
    model.graph.node[0].name = "the_pad"
    with pytest.raises(cnx.ConversionError, match=message) as err:
        cnx.load(model)
    assert "'the_pad'" in str(err.value)


# -- Resize -------------------------------------------------------------------------------

def _resize_model(opset, in_shape, mode, coord=None, nearest_mode=None, scales=None, sizes=None, axes=None,
                  roi=None, **attrs):
    if coord is not None:
        attrs["coordinate_transformation_mode"] = coord
    if nearest_mode is not None:
        attrs["nearest_mode"] = nearest_mode
    if axes is not None:
        attrs["axes"] = axes
    inits = {}
    inputs = ["x", "", "", ""]
    if opset < 13 or roi is not None:
        inits["roi"] = np.array([] if roi is None else roi, np.float32)
        inputs[1] = "roi"
    if scales is not None:
        inits["scales"] = np.array(scales, np.float32)
        inputs[2] = "scales"
    elif opset < 13:
        inits["scales"] = np.zeros(0, np.float32)
        inputs[2] = "scales"
    nodes = []
    if sizes is not None and axes is None:
        # as exporters write it for a dynamic batch: sizes = Concat(Shape(x)[:1], (C, *spatial))
        nodes = [helper.make_node("Shape", ["x"], ["shape"]),
                 helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
                 helper.make_node("Concat", ["batch", "rest"], ["sizes"], axis=0)]
        inits.update(zero=_i64(0), one=_i64(1), rest=_i64(*sizes[1:]))
        inputs[3] = "sizes"
    elif sizes is not None:
        inits["sizes"] = _i64(*sizes)
        inputs[3] = "sizes"
    while inputs[-1] == "":
        inputs.pop()
    nodes.append(helper.make_node("Resize", inputs, ["y"], mode=mode, **attrs))
    ref = ReferenceEvaluator(_model(nodes, in_shape, [None] * len(in_shape), inits, opset))
    out = ref.run(None, {"x": np.zeros((1, *in_shape), np.float32)})[0].shape[1:]
    return _model(nodes, in_shape, out, inits, opset)


# the combinations exporters emit, each on sizes that make ties and edges happen
RESIZES = [
    # torch: F.interpolate(mode='nearest') -> asymmetric + floor
    ("nearest", "asymmetric", "floor", dict(scales=[1, 1, 2, 3])),
    ("nearest", "asymmetric", "floor", dict(scales=[1, 1, 0.5, 0.7])),
    ("nearest", "asymmetric", "floor", dict(sizes=[1, 2, 11, 4])),
    # torch: nearest-exact -> half_pixel/pytorch_half_pixel + round_prefer_ceil (or floor when no ties)
    ("nearest", "half_pixel", "round_prefer_ceil", dict(scales=[1, 1, 2, 0.5])),
    ("nearest", "pytorch_half_pixel", "round_prefer_ceil", dict(sizes=[1, 2, 7, 3])),
    ("nearest", "half_pixel", "round_prefer_floor", dict(scales=[1, 1, 2, 2])),
    ("nearest", "half_pixel", "round_prefer_floor", dict(scales=[1, 1, 0.5, 0.5])),
    # no kernel rounds like this at 0.75: source-pixel selection
    ("nearest", "half_pixel", "round_prefer_floor", dict(scales=[1, 1, 0.75, 1.5])),
    # TF: align_corners nearest
    ("nearest", "align_corners", "round_prefer_ceil", dict(sizes=[1, 2, 9, 4])),
    ("nearest", "asymmetric", "ceil", dict(scales=[1, 1, 1.5, 2])),
    # torch bilinear align_corners=False -> pytorch_half_pixel; TF half_pixel_centers -> half_pixel
    ("linear", "pytorch_half_pixel", None, dict(scales=[1, 1, 2, 1.5])),
    ("linear", "pytorch_half_pixel", None, dict(sizes=[1, 2, 3, 11])),
    ("linear", "half_pixel", None, dict(scales=[1, 1, 0.5, 3])),
    ("linear", "half_pixel", None, dict(sizes=[1, 2, 1, 7])),
    # torch bilinear align_corners=True
    ("linear", "align_corners", None, dict(sizes=[1, 2, 9, 4])),
    ("linear", "align_corners", None, dict(scales=[1, 1, 2, 2])),
]


@pytest.mark.parametrize("opset", [11, 13, 19])
@pytest.mark.parametrize("mode,coord,nearest_mode,given", RESIZES)
def test_resize_against_the_reference(opset, mode, coord, nearest_mode, given):
    model = _resize_model(opset, (2, 5, 6), mode, coord, nearest_mode, **given)
    g = _check(model, (2, 5, 6))
    uses_kernel = "interpolate" in _ops(g)
    if mode == "linear" or coord == "asymmetric" and nearest_mode == "floor":
        assert uses_kernel


def test_resize_picks_the_kernel_for_torch_modes():
    g = cnx.load(_resize_model(13, (2, 5, 6), "nearest", "asymmetric", "floor", scales=[1, 1, 2, 2]))
    assert _ops(g) == ["interpolate"]
    g = cnx.load(_resize_model(13, (2, 5, 6), "nearest", "half_pixel", "round_prefer_floor",
                               scales=[1, 1, .75, .75]))
    assert _ops(g) == ["getitem"]  # no kernel rounds these coordinates so: the exact selection


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_1d_and_3d(mode):
    coord = "half_pixel"
    _check(_resize_model(13, (2, 5), mode, coord, "round_prefer_ceil", scales=[1, 1, 2.5]), (2, 5))
    _check(_resize_model(13, (2, 3, 4, 5), mode, coord, "round_prefer_ceil", sizes=[1, 2, 5, 3, 7]), (2, 3, 4, 5))


def test_resize_18_axes_and_keep_aspect_ratio():
    _check(_resize_model(18, (2, 5, 6), "linear", "half_pixel", scales=[2, 0.5], axes=[2, 3]), (2, 5, 6))
    _check(_resize_model(18, (2, 5, 6), "nearest", "asymmetric", "floor", sizes=[10, 9], axes=[2, 3],
                         keep_aspect_ratio_policy="not_larger"), (2, 5, 6))
    _check(_resize_model(18, (2, 5, 6), "linear", "half_pixel", sizes=[1, 2, 3, 2],
                         keep_aspect_ratio_policy="not_smaller"), (2, 5, 6))  # the policy covers N, C: 1
    _check(_resize_model(19, (2, 5, 6), "nearest", "half_pixel_symmetric", "round_prefer_ceil",
                         scales=[1, 1, 1.7, 2.5]), (2, 5, 6))


def test_resize_sizes_from_the_input_shape():
    # torch's F.interpolate(size=...) export: sizes = Concat(Shape(x)[:2], (H', W'))
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "two"], ["nc"]),
             helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                              coordinate_transformation_mode="pytorch_half_pixel")]
    model = _model(nodes, (2, 5, 6), (2, 7, 3), {"zero": _i64(0), "two": _i64(2), "hw": _i64(7, 3)}, 13)
    _check(model, (2, 5, 6))


@pytest.mark.parametrize("opset", [10])
@pytest.mark.parametrize("scales", [[1, 1, 2, 3], [1, 1, 0.6, 0.6], [1, 1, 3, 0.5]])
def test_resize_10_nearest_against_onnxruntime(opset, scales):
    node = helper.make_node("Resize", ["x", "scales"], ["y"], mode="nearest")
    out = [2] + [int(d * s) for d, s in zip((5, 6), scales[2:])]
    model = _model([node], (2, 5, 6), out, {"scales": np.array(scales, np.float32)}, opset)
    _check(model, (2, 5, 6), reference=_onnxruntime)


@pytest.mark.parametrize("opset", [7, 9])
def test_upsample_nearest(opset):
    if opset < 9:
        node = helper.make_node("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 2.0, 3.0])
        inits = {}
    else:
        node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
        inits = {"scales": np.array([1, 1, 2, 3], np.float32)}
    model = _model([node], (2, 5, 6), (2, 10, 18), inits, opset)
    _check(model, (2, 5, 6), reference=_onnxruntime)


@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("mode,coord,scales,attrs", [
    ("linear", "asymmetric", [1, 1, 2, 0.7], {}),
    ("linear", "pytorch_half_pixel", [1, 1, 0.25, 2], {}),  # an output axis of length 1
    ("cubic", "half_pixel", [1, 1, 2, 0.6], {}),
    ("cubic", "pytorch_half_pixel", [1, 1, 1.5, 2], {"cubic_coeff_a": -0.5, "exclude_outside": 1}),
    ("cubic", "align_corners", [1, 1, 2.5, 1], {}),
    ("cubic", "asymmetric", [1, 1, 2, 3], {"exclude_outside": 1}),
])
def test_resizes_no_kernel_has_are_exact_matrix_products(opset, mode, coord, scales, attrs):
    g = _check(_resize_model(opset, (2, 4, 6), mode, coord, scales=scales, **attrs), (2, 4, 6))
    assert "matmul" in _ops(g) and "interpolate" not in _ops(g)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("given", [dict(scales=[1, 1, 0.6, 1.5]), dict(sizes=[1, 2, 3, 2])])
def test_antialiased_shrinking(mode, given):
    _check(_resize_model(18, (2, 5, 6), mode, "half_pixel", antialias=1, **given), (2, 5, 6))


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("roi,value", [([0, 0, 0.2, 0.1, 1, 1, 0.9, 0.7], 0.0),
                                       ([0, 0, -0.3, 0.4, 1, 1, 1.2, 0.8], 2.5)])
def test_tf_crop_and_resize(mode, roi, value):
    model = _resize_model(13, (2, 5, 6), mode, "tf_crop_and_resize", "round_prefer_ceil", scales=[1, 1, 1.6, 0.9],
                          roi=roi, extrapolation_value=value)
    _check(model, (2, 5, 6))
    model = _resize_model(18, (2, 5, 6), mode, "tf_crop_and_resize", "round_prefer_ceil", scales=[0.9, 1.6],
                          axes=[3, 2], roi=[roi[k] for k in (3, 2, 7, 6)], extrapolation_value=value)
    _check(model, (2, 5, 6))


@pytest.mark.parametrize("mode,coord,nearest_mode", [("nearest", "half_pixel", "round_prefer_floor"),
                                                     ("linear", "asymmetric", None)])
def test_general_resize_forms_compile_and_pass_gradients(mode, coord, nearest_mode):
    g = cnx.load(_resize_model(13, (2, 4, 6), mode, coord, nearest_mode, scales=[1, 1, 0.75, 1.5]))
    assert "interpolate" not in _ops(g)
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(cn.compile(g, (3, 2, 4, 6))(x), g(x), rtol=1e-5, atol=1e-5)
    xt = cn.Tensor(x, requires_grad=True)
    g(xt).sum().backward()
    assert xt.grad is not None and np.abs(xt.grad).sum() > 0


@pytest.mark.parametrize("opset", [7, 9])
def test_upsample_linear_against_onnxruntime(opset):
    scales = [1.0, 1.0, 2.0, 1.5]
    if opset < 9:
        node = helper.make_node("Upsample", ["x"], ["y"], mode="linear", scales=scales)
        inits = {}
    else:
        node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="linear")
        inits = {"scales": np.array(scales, np.float32)}
    _check(_model([node], (2, 5, 6), (2, 10, 9), inits, opset), (2, 5, 6), reference=_onnxruntime)


@pytest.mark.parametrize("mode,coord,scales,attrs,message", [
    ("nearest", "tf_crop_and_resize", [1, 1, 2, 2], {}, "needs roi"),
    ("linear", "half_pixel", [1, 2, 2, 2], {}, "channel axis"),
    ("bicubic", "half_pixel", [1, 1, 2, 2], {}, "mode 'bicubic'"),
    ("nearest", "half_pixel", [1, 1, 2, 2], {"nearest_mode": "up"}, "nearest_mode 'up'"),
    ("nearest", "half_pixel", [1, 1, 1e9, 2], {}, "absurdly large"),
])
def test_unsupported_resizes_fail_naming_the_combination(mode, coord, scales, attrs, message):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode, coordinate_transformation_mode=coord,
                            name="up", **attrs)
    model = _model([node], (2, 4, 6), [None, None, None], {"scales": np.array(scales, np.float32)}, 18)
    with pytest.raises(cnx.ConversionError, match=message) as err:
        cnx.load(model)
    assert "'up'" in str(err.value)


def test_constant_sizes_that_fix_a_dynamic_batch_fail():
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest", name="up")
    model = _model([node], (2, 5, 6), [2, 10, 12], {"sizes": _i64(1, 2, 10, 12)}, 13)
    with pytest.raises(cnx.ConversionError, match="batch is dynamic"):
        cnx.load(model)


def test_imported_resize_and_pad_pass_gradients_and_compile():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"]),
             helper.make_node("Pad", ["c", "p"], ["pc"], mode="reflect"),
             helper.make_node("Resize", ["pc", "", "scales"], ["y"], mode="linear",
                              coordinate_transformation_mode="pytorch_half_pixel")]
    inits = {"conv.weight": rng.standard_normal((4, 2, 1, 1)).astype(np.float32),
             "p": _i64(0, 0, 1, 1, 0, 0, 1, 1), "scales": np.array([1, 1, 2, 2], np.float32)}
    g = _check(_model(nodes, (2, 5, 6), (4, 14, 16), inits, 13), (2, 5, 6))
    x = rng.standard_normal((3, 2, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(cn.compile(g, (3, 2, 5, 6))(x), g(x), rtol=1e-5, atol=1e-5)
    g.train()
    g(cn.Tensor(x)).sum().backward()
    assert np.abs(dict(g.named_parameters())["conv.weight"].grad).sum() > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy exporter, as asked
def test_torch_exported_interpolations(tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    class Net(torch.nn.Module):
        def forward(self, x):
            return (F.interpolate(x, scale_factor=2, mode="nearest"),
                    F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=False),
                    F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True))

    net = Net().eval()
    path = tmp_path / "up.onnx"
    names = ["a", "b", "c"]
    torch.onnx.export(net, (torch.randn(1, 2, 5, 6),), str(path), input_names=["x"], output_names=names,
                      dynamic_axes={k: {0: "N"} for k in ["x"] + names}, dynamo=False, opset_version=17)
    g = cnx.load(str(path))
    assert _ops(g).count("interpolate") == 3
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 2, 5, 6)).astype(np.float32)
        with torch.no_grad():
            want = [t.numpy() for t in net(torch.from_numpy(x))]
        for got, w in zip(g(x), want):
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)


# -- DepthToSpace / SpaceToDepth ---------------------------------------------------------

@pytest.mark.parametrize("opset", [1, 11, 13])
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("blocksize,channels", [(2, 8), (3, 9), (2, 4)])
def test_depth_to_space(opset, mode, blocksize, channels):
    if opset < 11 and mode == "CRD":
        pytest.skip("mode exists from opset 11")
    kw = {"mode": mode} if opset >= 11 else {}
    node = helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=blocksize, **kw)
    r = blocksize
    model = _model([node], (channels, 3, 4), (channels // (r * r), 3 * r, 4 * r), opset=opset)
    g = _check(model, (channels, 3, 4))
    assert "PixelShuffle" in [type(m).__name__ for m in g.modules()]


@pytest.mark.parametrize("opset,mode", [(1, None), (13, None), (28, "DCR"), (28, "CRD")])
@pytest.mark.parametrize("blocksize,channels", [(2, 3), (3, 1)])
def test_space_to_depth(opset, mode, blocksize, channels):
    r = blocksize
    kw = {} if mode is None else {"mode": mode}
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=r, **kw)
    model = _model([node], (channels, 2 * r, 3 * r), (channels * r * r, 2, 3), opset=opset)
    _check(model, (channels, 2 * r, 3 * r))


def test_depth_to_space_bad_sizes_fail():
    node = helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, name="d2s")
    with pytest.raises(cnx.ConversionError, match="divisible by blocksize"):
        cnx.load(_model([node], (6, 3, 4), (1, 6, 8), opset=13))
