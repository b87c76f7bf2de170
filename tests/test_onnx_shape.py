"""ONNX import of the structural ops (Shape, Gather, Unsqueeze, Squeeze, Concat, Slice,
Split, Transpose, ConstantOfShape, Expand, Tile, Range), the folding of the shape chains
of dynamic-batch exports, and the channel-shuffle pattern: single-node models against
onnx.reference.ReferenceEvaluator at several opsets, batch 1 and 3."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402

INT64_MAX = np.iinfo(np.int64).max


def _model(nodes, in_shape, n_out=1, initializers=(), opset=17, out_names=None):
    out_names = out_names or (["y"] if n_out == 1 else [f"y{k}" for k in range(n_out)])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in out_names],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _declare_outputs(model, in_shape):
    """Give the outputs their shapes (batch 'N'), read off a reference run (onnx.checker
    wants them declared)."""
    ref = ReferenceEvaluator(model)
    outs = ref.run(None, {"x": np.zeros((1, *in_shape), np.float32)})
    for vi, y in zip(model.graph.output, outs):
        vi.CopyFrom(helper.make_tensor_value_info(vi.name, TensorProto.FLOAT, ["N", *y.shape[1:]]))
    return model


def _check(model, in_shape, batches=(1, 3)):
    """Our import against the reference evaluator; returns the imported graph."""
    model = _declare_outputs(model, in_shape)
    g = cnx.load(model)
    ref = ReferenceEvaluator(model)
    for n in batches:
        x = np.random.default_rng(n).standard_normal((n, *in_shape)).astype(np.float32)
        want = ref.run(None, {"x": x})
        got = g(x)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    return g


def _ops(g):
    return [n.op for n in g.ir.nodes]


def _i64(*v):
    return np.array(v, dtype=np.int64)


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis,indices", [(1, 2), (2, -1), (-1, [0, -1, 1]), (1, [[0, 1], [2, 2]])])
def test_gather_on_a_run_time_value(opset, axis, indices):
    model = _model([helper.make_node("Gather", ["x", "i"], ["y"], axis=axis)], (3, 4, 5),
                   initializers={"i": np.array(indices, np.int64)}, opset=opset)
    _check(model, (3, 4, 5))


@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze_and_squeeze_axes_attribute_then_input(opset):
    if opset < 13:
        nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[-1, 2]),
                 helper.make_node("Squeeze", ["u"], ["y"], axes=[2])]
        inits = {}
    else:
        nodes = [helper.make_node("Unsqueeze", ["x", "ua"], ["u"]), helper.make_node("Squeeze", ["u", "sa"], ["y"])]
        inits = {"ua": _i64(-1, 2), "sa": _i64(2)}
    g = _check(_model(nodes, (3, 4), initializers=inits, opset=opset), (3, 4))
    assert g(np.zeros((2, 3, 4), np.float32)).shape == (2, 3, 4, 1)


def test_squeeze_without_axes_keeps_the_batch():
    model = _model([helper.make_node("Squeeze", ["x"], ["y"])], (1, 4, 1), opset=13)
    g = _check(model, (1, 4, 1), batches=(3,))
    assert g(np.zeros((1, 1, 4, 1), np.float32)).shape == (1, 4)  # ONNX would drop a batch of 1 too


@pytest.mark.parametrize("axis", [1, -1])
def test_concat_of_run_time_values(axis):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Concat", ["x", "r", "x"], ["y"], axis=axis)]
    _check(_model(nodes, (2, 3)), (2, 3))


@pytest.mark.parametrize("opset", [9, 10, 13])
@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([1], [INT64_MAX], [1], [1]),
    ([-2, 0], [INT64_MAX, 5], [-1, 2], [1, 2]),
    ([-1], [-INT64_MAX], [2], [-1]),
    ([4, 3], [0, -10], [3, 1], [-2, -1]),
    ([0, 1, 1], [INT64_MAX, 3, 4], [0, 1, 2], [1, 1, 1]),  # the whole batch axis is allowed
])
def test_slice(opset, starts, ends, axes, steps):
    if opset < 10:
        if any(s != 1 for s in steps):
            pytest.skip("steps exist from opset 10")
        node = helper.make_node("Slice", ["x"], ["y"], starts=starts, ends=ends, axes=axes)
        inits = {}
    else:
        node = helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])
        inits = {"s": _i64(*starts), "e": _i64(*ends), "a": _i64(*axes), "t": _i64(*steps)}
    _check(_model([node], (3, 5, 6), initializers=inits, opset=opset), (3, 5, 6))


_BOUND = st.one_of(st.integers(-8, 8), st.sampled_from([INT64_MAX, -INT64_MAX, -INT64_MAX - 1]))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3, -1]), _BOUND, _BOUND, st.sampled_from([-3, -2, -1, 1, 2, 3])),
                min_size=1, max_size=3, unique_by=lambda t: t[0] % 4))
def test_slice_any_bounds_and_steps(slices):
    axes, starts, ends, steps = zip(*slices)
    dims = {1: 3, 2: 5, 3: 6, -1: 6}
    # the reference evaluator slices with Python's rules, which differ from ONNX's clamping
    # when a negative step starts before the first element (the test below)
    assume(all(t > 0 or s >= -dims[a] for a, s, t in zip(axes, starts, steps)))
    node = helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])
    inits = {"s": _i64(*starts), "e": _i64(*ends), "a": _i64(*axes), "t": _i64(*steps)}
    _check(_model([node], (3, 5, 6), initializers=inits, opset=13), (3, 5, 6), batches=(2,))


@pytest.mark.parametrize("start,end,want", [(-9, -INT64_MAX, slice(0, 1)), (0, INT64_MAX, slice(0, 0)),
                                            (INT64_MAX, 1, slice(2, 1, -1))])
def test_slice_negative_steps_clamp_as_onnx_says(start, end, want):
    # a negative step's start is clamped to [0, dim - 1] and its end to [-1, dim - 1] (so
    # -9 on an axis of 3 starts at 0, as onnxruntime computes; an end of INT64_MAX is
    # dim - 1, as ONNX's shape inference computes)
    node = helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])
    inits = {"s": _i64(start), "e": _i64(end), "a": _i64(1), "t": _i64(-1)}
    model = _model([node], (3, 5), initializers=inits, opset=13)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", None, 5]))
    g = cnx.load(model)
    x = np.arange(30, dtype=np.float32).reshape(2, 3, 5)
    np.testing.assert_array_equal(g(x), x[:, want])


@pytest.mark.parametrize("opset,how", [(11, "attr"), (11, "equal"), (13, "input"), (18, "num_outputs")])
def test_split(opset, how):
    inits, kw, inputs = {}, {}, ["x"]
    if how == "attr":
        kw["split"] = [2, 3]
    elif how == "input":
        inits["s"] = _i64(2, 3)
        inputs.append("s")
    elif how == "num_outputs":
        kw["num_outputs"] = 2  # 5 = 3 + 2: the last piece is smaller
    if how == "equal":
        model = _model([helper.make_node("Split", inputs, ["y0", "y1"], axis=1)], (4, 3), 2, opset=opset)
        _check(model, (4, 3))
        return
    model = _model([helper.make_node("Split", inputs, ["y0", "y1"], axis=-1, **kw)], (2, 5), 2, inits, opset=opset)
    _check(model, (2, 5))


@pytest.mark.parametrize("perm", [(0, 2, 3, 1), (0, 3, 1, 2), (0, 1, 2, 3)])
def test_transpose_keeping_the_batch_first(perm):
    _check(_model([helper.make_node("Transpose", ["x"], ["y"], perm=list(perm))], (2, 3, 4)), (2, 3, 4))


@pytest.mark.parametrize("target", [(1, 3, 4, 5), (4, 1), (3, 4, 5)])
def test_expand_a_run_time_value(target):
    _check(_model([helper.make_node("Expand", ["x", "s"], ["y"])], (3, 1, 5), initializers={"s": _i64(*target)}),
           (3, 1, 5))


@pytest.mark.parametrize("repeats", [(1, 2, 1, 3), (1, 1, 1, 1), (1, 3, 2, 1)])
def test_tile_a_run_time_value(repeats):
    _check(_model([helper.make_node("Tile", ["x", "r"], ["y"])], (2, 3, 4), initializers={"r": _i64(*repeats)}),
           (2, 3, 4))


def test_flatten_head_shape_chain_folds_and_keeps_the_batch():
    # what torch's exporter writes for x.view(x.size(0), -1)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = {"zero": np.array(0, np.int64), "axes0": _i64(0), "minus1": _i64(-1)}
    g = _check(_model(nodes, (2, 3, 4), initializers=inits, opset=13), (2, 3, 4))
    assert _ops(g) == ["reshape"]  # the chain costs nothing at run time


def test_arithmetic_on_the_batch_scalar_keeps_it_a_scalar():
    # Mul(Gather(Shape(x), 0), 1) is still the 0-d batch size, which Unsqueeze makes a vector
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Mul", ["n", "one"], ["n_times_1"]),
             helper.make_node("Unsqueeze", ["n_times_1", "axes0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = {"zero": np.array(0, np.int64), "one": np.array(1, np.int64), "axes0": _i64(0), "minus1": _i64(-1)}
    g = _check(_model(nodes, (2, 3), initializers=inits, opset=13), (2, 3))
    assert _ops(g) == ["reshape"]


@pytest.mark.parametrize("opset", [13, 15])
def test_shape_slices_and_constant_of_shape_fold(opset):
    # y = x + ConstantOfShape(Shape(x)[1:], 2.0): Shape's start attribute from 15, Slice before
    if opset >= 15:
        nodes = [helper.make_node("Shape", ["x"], ["s"], start=1)]
    else:
        nodes = [helper.make_node("Shape", ["x"], ["s0"]),
                 helper.make_node("Slice", ["s0", "one", "big"], ["s"])]
    nodes += [helper.make_node("ConstantOfShape", ["s"], ["c"],
                               value=numpy_helper.from_array(np.array([2.0], np.float32))),
              helper.make_node("Add", ["x", "c"], ["y"])]
    inits = {"one": _i64(1), "big": _i64(INT64_MAX)} if opset < 15 else {}
    _check(_model(nodes, (2, 3), initializers=inits, opset=opset), (2, 3))


def test_range_and_tile_fold_on_constants():
    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["idx"]),
             helper.make_node("Gather", ["x", "idx"], ["picked"], axis=1),
             helper.make_node("Tile", ["c", "reps"], ["tiled"]),
             helper.make_node("Add", ["picked", "tiled"], ["y"])]
    inits = {"start": np.array(4, np.int64), "limit": np.array(-1, np.int64), "delta": np.array(-2, np.int64),
             "c": np.arange(3, dtype=np.float32).reshape(3, 1), "reps": _i64(1, 2)}
    _check(_model(nodes, (5, 2), initializers=inits), (5, 2))


def test_folded_shape_arithmetic_keeps_int64():
    from cnnnative.onnx._importer import Importer
    cnx._register_converters()
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i"], ["c"], axis=0),
             helper.make_node("Slice", ["s", "one", "big"], ["tail"]),
             helper.make_node("Gather", ["s", "zero"], ["n1"], axis=0),
             helper.make_node("Squeeze", ["n1", "axes0"], ["n"]),
             helper.make_node("Relu", ["x"], ["y"])]
    inits = {"i": np.array(2, np.int64), "one": _i64(1), "big": _i64(INT64_MAX), "axes0": _i64(0),
             "zero": _i64(0)}
    imp = Importer(_declare_outputs(_model(nodes, (3, 4), initializers=inits, opset=13), (3, 4)))
    imp.build()
    assert imp.env["c"].dtype == np.int64 and imp.env["c"].shape == () and int(imp.env["c"]) == 4
    assert imp.env["tail"].dtype == np.int64 and imp.env["tail"].tolist() == [3, 4]
    assert repr(imp.env["n"]) == "ShapeTensor(N)" and imp.env["n"].shape == ()


def test_where_equal_folds_an_expand_target():
    # torch's expand logic: Where(Equal(s, -1), ones, s)
    nodes = [helper.make_node("Equal", ["s", "minus1"], ["is_free"]),
             helper.make_node("Where", ["is_free", "ones", "s"], ["target"]),
             helper.make_node("Expand", ["x", "target"], ["y"])]
    inits = {"s": _i64(1, -1, 4, 5), "minus1": _i64(-1), "ones": _i64(1, 1, 1, 1)}
    _check(_model(nodes, (3, 1, 5), initializers=inits, opset=16), (3, 1, 5))


@pytest.mark.parametrize("channels,flattened", [(3, True), (4, False)])
def test_if_guard_on_a_known_dim(channels, flattened):
    # torch guards some reshapes with If(Equal(Gather(Shape(x), 1), k)): decided at load
    then_g = helper.make_graph([helper.make_node("Flatten", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "one"], ["c"], axis=0),
             helper.make_node("Equal", ["c", "three"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = {"one": np.array(1, np.int64), "three": np.array(3, np.int64)}
    model = _model(nodes, (channels, 2), initializers=inits, opset=16)
    g = _check(model, (channels, 2))
    assert (g(np.zeros((2, channels, 2), np.float32)).ndim == 2) == flattened


@pytest.mark.parametrize("node,message", [
    (helper.make_node("ConstantOfShape", ["s"], ["c"], name="bad"), "depends on the batch size"),
    (helper.make_node("Range", ["zero", "zero", "zero"], ["c"], name="bad"), "delta must not be 0"),
    (helper.make_node("Range", ["zero", "huge", "one"], ["c"], name="bad"), "more than"),
])
def test_bad_shape_computations_fail_naming_the_node(node, message):
    nodes = [helper.make_node("Shape", ["x"], ["s"]), node, helper.make_node("Relu", ["x"], ["y"])]
    inits = {"zero": np.array(0, np.int64), "one": np.array(1, np.int64), "huge": np.array(1 << 40, np.int64)}
    model = _model(nodes, (3,), initializers=inits)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3]))
    with pytest.raises(cnx.ConversionError, match=f"'bad'.*{message}"):
        cnx.load(model)


def test_equal_of_the_batch_size_with_a_number_fails():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Equal", ["n", "one"], ["cond"], name="batch_is_one"),
             helper.make_node("Relu", ["x"], ["y"])]
    model = _model(nodes, (3,), initializers={"zero": np.array(0, np.int64), "one": np.array(1, np.int64)})
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3]))
    with pytest.raises(cnx.ConversionError, match="batch_is_one.*known at load"):
        cnx.load(model)


@pytest.mark.parametrize("node,inits,message", [
    (helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 2], name="tr"), {}, "dynamic batch"),
    (helper.make_node("Gather", ["x", "i"], ["y"], axis=0, name="ga"), {"i": _i64(0)}, "dynamic batch"),
    (helper.make_node("Concat", ["x", "x"], ["y"], axis=0, name="co"), {}, "dynamic batch"),
    (helper.make_node("Split", ["x"], ["y"], axis=0, name="sp"), {}, "dynamic batch"),
    (helper.make_node("Unsqueeze", ["x", "a"], ["y"], name="un"), {"a": _i64(0)}, "dynamic batch"),
    (helper.make_node("Slice", ["x", "s", "e", "a"], ["y"], name="sl"),
     {"s": _i64(1), "e": _i64(3), "a": _i64(0)}, "dynamic batch"),
    (helper.make_node("Gather", ["x", "i"], ["y"], axis=1, name="gi"), {"i": _i64(7)}, "out of range"),
    (helper.make_node("Squeeze", ["x", "a"], ["y"], name="sq"), {"a": _i64(1)}, "size 3"),
    (helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"], name="st"),
     {"s": _i64(0), "e": _i64(2), "a": _i64(1), "t": _i64(0)}, "contain 0"),
    (helper.make_node("Expand", ["x", "s"], ["y"], name="ex"), {"s": _i64(2, 1, 3, 4)}, "more dims"),
    (helper.make_node("Tile", ["x", "r"], ["y"], name="ti"), {"r": _i64(2, 1, 1)}, "dynamic batch"),
    (helper.make_node("Split", ["x", "s"], ["y"], axis=1, name="sz"), {"s": _i64(2, 2)}, "does not cut"),
    (helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 1], name="pp"), {}, "not a permutation"),
    (helper.make_node("Gather", ["x", "i"], ["y"], axis=1, name="gf"), {"i": np.array([0.5], np.float32)},
     "integer"),
])
def test_bad_nodes_fail_naming_the_node(node, inits, message):
    model = _model([node], (3, 4), initializers=inits, opset=13)
    for vi in model.graph.output:
        vi.CopyFrom(helper.make_tensor_value_info(vi.name, TensorProto.FLOAT, ["N", 3, 4]))
    with pytest.raises(cnx.ConversionError, match=message) as err:
        cnx.load(model)
    assert repr(node.name) in str(err.value)


# -- the channel-shuffle pattern --------------------------------------------------------

def _shuffle_model(groups, channels, split_rest, merged_rest, perm=(0, 2, 1, 3, 4), in_shape=(3, 4, 5)):
    """Conv -> Reshape(N, *split_rest) -> Transpose(perm) -> Reshape(N, *merged_rest), the
    targets built from Shape(x)[0] as torch's exporter does for a dynamic batch."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"]),
             helper.make_node("Shape", ["c"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
             helper.make_node("Concat", ["n1", "split_rest"], ["t1"], axis=0),
             helper.make_node("Concat", ["n1", "merged_rest"], ["t2"], axis=0),
             helper.make_node("Reshape", ["c", "t1"], ["r1"]),
             helper.make_node("Transpose", ["r1"], ["tr"], perm=list(perm)),
             helper.make_node("Reshape", ["tr", "t2"], ["y"])]
    inits = {"conv.weight": rng.standard_normal((channels, in_shape[0], 1, 1)).astype(np.float32),
             "zero": np.array(0, np.int64), "axes0": _i64(0), "split_rest": _i64(*split_rest),
             "merged_rest": _i64(*merged_rest)}
    return _model(nodes, in_shape, initializers=inits, opset=13)


def test_channel_shuffle_pattern_on_the_dynamic_batch_form():
    g = _check(_shuffle_model(3, 6, (3, 2, 4, 5), (-1, 4, 5)), (3, 4, 5))
    assert "ChannelShuffle" in [type(m).__name__ for m in g.modules()]
    assert "permute" not in _ops(g)


def test_other_reshape_transpose_reshape_is_left_as_it_is():
    # (g, C/g, H*W) transposed: not a channel shuffle of (C, H, W); the three ops stay
    g = _check(_shuffle_model(2, 6, (2, 3, 20), (6, 4, 5), perm=(0, 2, 1, 3)), (3, 4, 5))
    assert "ChannelShuffle" not in [type(m).__name__ for m in g.modules()]
    assert "permute" in _ops(g)


@pytest.mark.parametrize("channels,split,perm,merged,layer", [
    (6, (6, 2, 2, 3, 2), (0, 1, 3, 5, 2, 4), (24, 2, 3), "PixelUnshuffle"),   # as SpaceToDepth-free exports write it
    (8, (2, 2, 2, 4, 6), (0, 1, 4, 2, 5, 3), (2, 8, 12), "PixelShuffle"),
    (6, (6, 2, 2, 3, 2), (0, 1, 3, 5, 2, 4), (24, 6), None),                 # some other layout: left as it is
    (8, (2, 2, 2, 4, 6), (0, 1, 4, 2, 5, 3), (2, 2, 4, 12), None),
])
def test_pixel_shuffle_patterns(channels, split, perm, merged, layer):
    model = _shuffle_model(0, channels, split, merged, perm=perm, in_shape=(3, 4, 6))
    g = _check(model, (3, 4, 6))
    names = [type(m).__name__ for m in g.modules()]
    if layer:
        assert layer in names and "permute" not in _ops(g)
    else:
        assert "permute" in _ops(g) and "PixelShuffle" not in names and "PixelUnshuffle" not in names


def _shuffle_net_block(torchvision_style):
    torch = pytest.importorskip("torch")

    class Block(torch.nn.Module):
        """A ShuffleNet-v2 unit (chunk, a conv on one half, cat, channel shuffle) and a
        flatten head."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.groups = 2

        def forward(self, x):
            x = torch.cat([x, x[:, 1:3]], dim=1)  # 4 channels -> 6
            if torchvision_style:  # chunk exports as Slice with bounds computed by Add, Div, Mul
                left, right = x.chunk(2, dim=1)
            else:
                left, right = x[:, :3], x[:, 3:]
            x = torch.cat((left, self.conv(right)), dim=1)
            b, c, h, w = x.size()
            per_group = c // self.groups if torchvision_style else 6 // self.groups
            x = x.view(b, self.groups, per_group, h, w)
            x = torch.transpose(x, 1, 2).contiguous()
            x = x.view(b, -1, h, w)
            return torch.relu(x).view(x.size(0), -1)

    return Block().eval()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy exporter, as asked
@pytest.mark.parametrize("torchvision_style", [False, True])
def test_torch_exported_shufflenet_block(torchvision_style, tmp_path):
    torch = pytest.importorskip("torch")
    from cnnnative.onnx._registry import find_converter
    if torchvision_style and any(find_converter(op, 17) is None for op in ("Add", "Mul", "Div", "Cast")):
        pytest.skip("chunk and c // groups export as Add, Mul, Div and Cast on shape scalars: needs the math "
                    "converters")
    block = _shuffle_net_block(torchvision_style)
    path = tmp_path / "block.onnx"
    torch.manual_seed(0)
    torch.onnx.export(block, (torch.randn(1, 4, 5, 7),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, dynamo=False, opset_version=17)
    g = cnx.load(str(path))
    assert any(type(m).__name__ == "ChannelShuffle" and m.groups == 2 for m in g.modules())
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 4, 5, 7)).astype(np.float32)
        with torch.no_grad():
            want = block(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(g(x), want, rtol=1e-5, atol=1e-5)
    compiled = cn.compile(g, (3, 4, 5, 7))
    np.testing.assert_allclose(compiled(x), g(x), rtol=1e-5, atol=1e-5)
    g.train()
    g(cn.Tensor(x)).sum().backward()
    assert np.abs(dict(g.named_parameters())["conv.weight"].grad).sum() > 0


def test_gradients_flow_through_structural_ops_and_compile_matches():
    # conv -> Split -> Concat (swapped) -> Slice (reversed) -> Gather -> Transpose
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"]),
             helper.make_node("Split", ["c", "halves"], ["a", "b"], axis=1),
             helper.make_node("Concat", ["b", "a"], ["ba"], axis=1),
             helper.make_node("Slice", ["ba", "s", "e", "ax", "st"], ["rev"]),
             helper.make_node("Gather", ["rev", "idx"], ["g"], axis=2),
             helper.make_node("Transpose", ["g"], ["y"], perm=[0, 3, 1, 2])]
    inits = {"conv.weight": rng.standard_normal((4, 3, 1, 1)).astype(np.float32), "halves": _i64(1, 3),
             "s": _i64(-1), "e": _i64(-INT64_MAX), "ax": _i64(3), "st": _i64(-1), "idx": _i64(3, 0, 0)}
    g = _check(_model(nodes, (3, 4, 5), initializers=inits, opset=13), (3, 4, 5))
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(cn.compile(g, (2, 3, 4, 5))(x), g(x), rtol=1e-5, atol=1e-5)
    g.train()
    g(cn.Tensor(x)).sum().backward()
    grad = dict(g.named_parameters())["conv.weight"].grad
    assert grad is not None and np.all(np.abs(grad).sum(axis=(1, 2, 3)) > 0)


def test_gather_of_a_constant_with_a_scalar_index_stays_a_constant():
    # np.take with a 0-d index gives a numpy scalar, which is not an array: the next node
    # must still see a constant (here Unsqueeze -> Concat -> Reshape)
    nodes = [helper.make_node("Gather", ["dims", "one"], ["c"], axis=0),
             helper.make_node("Unsqueeze", ["c", "axes0"], ["c1"]),
             helper.make_node("Concat", ["minus1", "c1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = {"dims": _i64(5, 12), "one": np.array(1, np.int64), "axes0": _i64(0), "minus1": _i64(-1)}
    g = _check(_model(nodes, (3, 4), initializers=inits, opset=13), (3, 4))
    assert g(np.zeros((2, 3, 4), np.float32)).shape == (2, 12)


@pytest.mark.parametrize("layer", ["ChannelShuffle", "PixelShuffle", "PixelUnshuffle"])
def test_exported_layout_layers_come_back_as_the_same_layers(layer):
    import io
    make = {"ChannelShuffle": lambda: cn.nn.ChannelShuffle(2), "PixelShuffle": lambda: cn.nn.PixelShuffle(2),
            "PixelUnshuffle": lambda: cn.nn.PixelUnshuffle(2)}[layer]
    model = cn.nn.Sequential(cn.nn.Conv2d(4, 4, 1), make()).eval()
    f = io.BytesIO()
    cnx.export(model, f, (1, 4, 6, 8))
    g = cnx.load(f.getvalue())
    assert [type(m).__name__ for m in g.modules()][1:] == ["Conv2d", layer]
    x = np.random.default_rng(0).standard_normal((3, 4, 6, 8)).astype(np.float32)
    np.testing.assert_allclose(g(x), model(x), rtol=1e-6, atol=1e-6)
