"""cnnnative.ir: the op graph built by hand -- shape inference and its errors, the repr,
running it by calling the ops, the compiler's rewrites, and lowering to the engine with
host nodes (the compiled graph equals the graph run op by op)."""
import numpy as np
import pytest

from cnnnative import inference, ops
from cnnnative.ir import OpGraph, ShapeError, run
from cnnnative.ir import fuse


def randn(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def conv_bn_graph(rng, c=6, act="relu"):
    """x -> conv -> batch_norm -> act -> conv(+x residual) -> tanh (host) -> pool -> flatten -> linear."""
    g = OpGraph()
    x = g.input((None, c, 9, 7), name="x")
    y = g.add_node("conv2d", {"input": x, "weight": randn(rng, c, c, 3, 3, scale=0.3), "bias": randn(rng, c),
                              "padding": 1}, scope="block.conv1")
    y = g.add_node("batch_norm", {"input": y, "running_mean": randn(rng, c),
                                  "running_var": rng.uniform(0.5, 2, c).astype(np.float32),
                                  "weight": randn(rng, c), "bias": randn(rng, c), "eps": 1e-5}, scope="block.bn1")
    y = g.add_node(act, {"x": y})
    z = g.add_node("conv2d", {"input": y, "weight": randn(rng, c, c, 3, 3, scale=0.3), "padding": (1, 1)})
    z = g.add_node("add", {"a": z, "b": x})
    z = g.add_node("tanh", {"x": z}, scope="block.act")
    z = g.add_node("max_pool2d", {"input": z, "kernel_size": 2, "stride": 2, "ceil_mode": True})
    z = g.add_node("flatten", {"input": z, "start_dim": 1})
    out = g.add_node("linear", {"input": z, "weight": randn(rng, 3, c * 5 * 4, scale=0.1), "bias": randn(rng, 3)})
    g.set_outputs(out)
    return g


def test_shapes_are_inferred_with_a_dynamic_batch(rng):
    g = conv_bn_graph(rng)
    assert [n.output.shape for n in g.nodes] == [
        (None, 6, 9, 7), (None, 6, 9, 7), (None, 6, 9, 7), (None, 6, 9, 7), (None, 6, 9, 7), (None, 6, 9, 7),
        (None, 6, 5, 4), (None, 120), (None, 3)]
    # Any batch runs the same graph.
    for n in (1, 3):
        assert run(g, [randn(rng, n, 6, 9, 7)])[0].shape == (n, 3)


def test_shape_errors_name_the_node_the_inputs_and_the_sizes(rng):
    g = OpGraph()
    x = g.input((None, 3, 8, 8), name="img")
    a = g.add_node("conv2d", {"input": x, "weight": randn(rng, 4, 3, 3, 3)}, name="conv_a")
    with pytest.raises(ShapeError, match=r"'bad' \(conv2d, layer 'stem'\).*'conv_a' is \(N, 4, 6, 6\).*"
                                         r"expected 5 channels"):
        g.add_node("conv2d", {"input": a, "weight": randn(rng, 2, 5, 1, 1)}, name="bad", scope="stem")
    with pytest.raises(ShapeError, match=r"'img' is \(N, 3, 8, 8\).*'conv_a' is \(N, 4, 6, 6\).*broadcast"):
        g.add_node("add", {"a": x, "b": a})
    with pytest.raises(ShapeError, match=r"linear expects 7 input features"):
        g.add_node("linear", {"input": a, "weight": randn(rng, 2, 7)})
    with pytest.raises(ShapeError, match="cat along dim 1"):
        g.add_node("cat", {"tensors": [x, a], "dim": 1})
    with pytest.raises(ShapeError, match="larger than the padded input"):
        g.add_node("conv2d", {"input": a, "weight": randn(rng, 1, 4, 9, 9)})
    with pytest.raises(ShapeError, match="the first dim must be -1"):
        g.add_node("reshape", {"input": a, "shape": (4, -1)})
    # A failed node leaves no trace: its name is free again.
    g.add_node("relu", {"x": a}, name="bad")
    with pytest.raises(ValueError, match="already exists"):
        g.add_node("relu", {"x": a}, name="bad")


def test_shape_rules_for_layout_ops():
    g = OpGraph()
    x = g.input((None, 6, 4, 5))
    assert g.add_node("flatten", {"input": x, "start_dim": 1}).shape == (None, 120)
    assert g.add_node("flatten", {"input": x, "start_dim": 2}).shape == (None, 6, 20)
    assert g.add_node("reshape", {"input": x, "shape": (-1, 3, 40)}).shape == (None, 3, 40)
    assert g.add_node("transpose", {"input": x, "dim0": 1, "dim1": 3}).shape == (None, 5, 4, 6)
    assert g.add_node("permute", {"input": x, "dims": (0, 2, 3, 1)}).shape == (None, 4, 5, 6)
    assert g.add_node("cat", {"tensors": [x, x], "dim": -1}).shape == (None, 6, 4, 10)
    parts = g.add_node("split", {"tensor": x, "split_size_or_sections": [1, 2, 3], "dim": 1})
    assert [p.shape for p in parts] == [(None, 1, 4, 5), (None, 2, 4, 5), (None, 3, 4, 5)]
    assert [p.name for p in parts][1:] == [parts[0].name + ":1", parts[0].name + ":2"]
    assert g.add_node("mul", {"a": x, "b": np.ones((6, 1, 1), np.float32)}).shape == (None, 6, 4, 5)
    assert g.add_node("max_pool2d", {"input": x, "kernel_size": 3, "stride": 2, "padding": 1}).shape == \
        (None, 6, 2, 3)
    assert g.add_node("global_avg_pool2d", {"input": x}).shape == (None, 6, 1, 1)
    with pytest.raises(ShapeError, match="batch"):
        g.add_node("cat", {"tensors": [x, x], "dim": 0})
    with pytest.raises(ShapeError, match="merge the batch"):
        g.add_node("flatten", {"input": x})


def test_an_op_without_a_rule_is_evaluated_once():
    g = OpGraph()
    x = g.input((None, 5))
    y = g.add_node("log_softmax", {"x": x, "dim": 1})
    assert y.shape == (None, 5)
    m = g.add_node("matmul", {"a": x, "b": np.ones((5, 2), np.float32)})  # no rule: run at batch 1
    assert m.shape == (None, 2)


def test_repr_lists_inputs_nodes_layers_and_outputs(rng):
    g = conv_bn_graph(rng)
    text = repr(g)
    assert "input x: (N, 6, 9, 7)" in text
    assert "conv2d1: (N, 6, 9, 7) = conv2d(x, weight=<6x6x3x3>, bias=<6>, padding=1)  # block.conv1" in text
    assert "tanh1" in text and "# block.act" in text
    assert text.strip().endswith("outputs: linear1\n)") or "outputs: linear1" in text


def test_rewrites_fold_and_fuse_and_keep_the_result(rng):
    g = conv_bn_graph(rng)
    x = randn(rng, 2, 6, 9, 7)
    expected = run(g, [x])[0]
    fuse.simplify(g)
    assert [n.op for n in g.nodes] == ["conv2d", "conv2d", "tanh", "max_pool2d", "flatten", "linear"]
    first, second = g.nodes[0], g.nodes[1]
    assert [s[0] for s in first.epilogue] == ["scale_shift", "relu"]
    assert [s[0] for s in second.epilogue] == ["add"] and second.epilogue[0][1] is g.inputs[0]
    assert "+scale_shift +relu" in repr(g) and "+add(x)" in repr(g)
    np.testing.assert_allclose(run(g, [x])[0], expected, rtol=1e-4, atol=1e-4)


def test_batch_norm_that_does_not_follow_a_single_use_conv_stays(rng):
    g = OpGraph()
    x = g.input((None, 4, 5, 5))
    c = g.add_node("conv2d", {"input": x, "weight": randn(rng, 4, 4, 1, 1)})
    b = g.add_node("batch_norm", {"input": c, "running_mean": randn(rng, 4), "running_var": np.ones(4, np.float32)})
    g.set_outputs(g.add_node("add", {"a": b, "b": c}))  # c has two readers: no folding
    fuse.simplify(g)
    assert [n.op for n in g.nodes] == ["conv2d", "batch_norm", "add"]


def test_dead_nodes_and_identities_are_removed(rng):
    g = OpGraph()
    x = g.input((None, 4))
    g.add_node("relu", {"x": x})  # read by nobody
    d = g.add_node("dropout", {"input": x, "p": 0.5, "training": False})
    g.set_outputs(g.add_node("sigmoid", {"x": d}))
    fuse.simplify(g)
    assert [n.op for n in g.nodes] == ["sigmoid"] and g.nodes[0].inputs == [x]


@pytest.mark.parametrize("fused", [True, False])
def test_lowering_with_a_host_node_equals_the_graph_run_op_by_op(rng, fused):
    g = conv_bn_graph(rng)
    x = randn(rng, 3, 6, 9, 7)
    expected = run(g, [x])[0]
    fuse.simplify(g, fuse=fused)
    compiled = inference.CompiledModel(inference._lower(g, 3, "auto"), g, (3, 6, 9, 7), fused, True)
    ops_run = [n["op"] for n in compiled.nodes]
    assert "host:tanh" in ops_run and ops_run.index("host:tanh") == (2 if fused else 5)
    assert len(compiled._plans) == 2  # the engine runs before and after the host node
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-4, atol=1e-4)
    out = np.empty((3, 3), np.float32)
    assert compiled(x, out=out) is out and np.allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert "host:tanh [block.act]" in compiled.summary()
    with pytest.raises(ValueError, match="larger than the compiled batch"):
        compiled(randn(rng, 4, 6, 9, 7))
    with pytest.raises(ValueError, match="dimension 2"):
        compiled(randn(rng, 3, 6, 8, 7))
    with pytest.raises(ValueError, match="4-D"):
        compiled(randn(rng, 3, 6, 9))
    with pytest.raises(TypeError, match="float32"):
        compiled(np.array([["a"]]))
    assert compiled(x[:0]).shape == (0, 3)


def test_a_host_node_inside_a_residual_branch_runs_the_segment_on_the_host(rng):
    """Cutting at the host node would leave an engine segment with two live inputs: those
    nodes run op by op instead, and the result is still right."""
    g = OpGraph()
    x = g.input((None, 4, 6, 6))
    a = g.add_node("conv2d", {"input": x, "weight": randn(rng, 4, 4, 3, 3), "padding": 1})
    t = g.add_node("tanh", {"x": a})  # an op the engine lacks
    s = g.add_node("add", {"a": t, "b": a})
    g.set_outputs(g.add_node("relu", {"x": s}))
    xv = randn(rng, 2, 4, 6, 6)
    expected = run(g, [xv])[0]
    fuse.simplify(g)
    compiled = inference.CompiledModel(inference._lower(g, 2, "auto"), g, (2, 4, 6, 6), True, True)
    assert [n["op"] for n in compiled.nodes] == ["conv", "host:tanh", "host:add"]
    np.testing.assert_allclose(compiled(xv), expected, rtol=1e-5, atol=1e-5)


def test_folded_weights_equal_conv_then_affine(rng):
    g = OpGraph()
    x = g.input((None, 3, 5, 5))
    c = g.add_node("conv2d", {"input": x, "weight": randn(rng, 70, 3, 3, 3), "bias": randn(rng, 70)})
    scale, shift = rng.uniform(0.5, 2, 70), rng.standard_normal(70)
    c.node.epilogue.append(("scale_shift", scale, shift))
    w, b, rest = fuse.folded_weights(c.node)
    assert rest == [] and w.dtype == np.float32
    xv = randn(rng, 1, 3, 5, 5)
    y = ops.conv2d(xv, w, b)
    ref = ops.conv2d(xv, c.node.args["weight"], c.node.args["bias"]).astype(np.float64)
    ref = ref * scale[:, None, None] + shift[:, None, None]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_reshapes_around_a_batch_norm_of_a_2d_value_go_so_it_folds(rng):
    """BatchNorm1d may run as reshape (N, C) -> (N, C, 1, 1), batch_norm, reshape back."""
    g = OpGraph()
    x = g.input((None, 7))
    y = g.add_node("linear", {"input": x, "weight": randn(rng, 5, 7), "bias": randn(rng, 5)})
    r = g.add_node("reshape", {"input": y, "shape": (-1, 5, 1, 1)})
    b = g.add_node("batch_norm", {"input": r, "running_mean": randn(rng, 5),
                                  "running_var": rng.uniform(0.5, 2, 5).astype(np.float32)})
    g.set_outputs(g.add_node("reshape", {"input": b, "shape": (-1, 5)}))
    xv = randn(rng, 3, 7)
    expected = run(g, [xv])[0]
    fuse.simplify(g)
    assert [n.op for n in g.nodes] == ["linear"] and g.nodes[0].epilogue[0][0] == "scale_shift"
    np.testing.assert_allclose(run(g, [xv])[0], expected, rtol=1e-5, atol=1e-5)


def test_per_channel_arithmetic_with_constants_folds_like_a_batch_norm(rng):
    """x * c, x + c, x - c, x / c with c a number or one value per channel are channel
    affines: folded into the conv before them, or an engine channel_affine node."""
    g = OpGraph()
    x = g.input((None, 4, 5, 5))
    y = g.add_node("conv2d", {"input": x, "weight": randn(rng, 4, 4, 3, 3), "padding": 1})
    y = g.add_node("mul", {"a": y, "b": rng.uniform(0.5, 2, (4, 1, 1)).astype(np.float32)})
    y = g.add_node("add", {"a": 0.25, "b": y})
    y = g.add_node("sub", {"a": y, "b": randn(rng, 1, 4, 1, 1)})
    y = g.add_node("div", {"a": y, "b": 2.0})
    y = g.add_node("relu", {"x": y})
    z = g.add_node("sub", {"a": 1.0, "b": x})                             # 1 - x: scale -1
    z = g.add_node("mul", {"a": z, "b": rng.uniform(0.5, 2, (1, 5)).astype(np.float32)})  # per column: no
    w = g.add_node("div", {"a": 2.0, "b": g.add_node("add", {"a": x, "b": 3.0})})  # 2 / x: not affine
    g.set_outputs(g.add_node("add", {"a": g.add_node("add", {"a": y, "b": z}), "b": w}))
    xv = randn(rng, 2, 4, 5, 5)
    expected = run(g, [xv])[0]
    fuse.simplify(g)
    assert [n.op for n in g.nodes] == ["conv2d", "sub", "mul", "add", "div", "add", "add"]
    assert [s[0] for s in g.nodes[0].epilogue] == ["scale_shift", "relu"]
    compiled = inference.CompiledModel(inference._lower(g, 2, "auto"), g, (2, 4, 5, 5), True, True)
    assert [n["op"] for n in compiled.nodes] == ["conv", "channel_affine", "host:mul", "channel_affine",
                                                 "host:div", "host:add", "host:add"]
    np.testing.assert_allclose(compiled(xv), expected, rtol=1e-4, atol=1e-4)


def test_a_run_with_two_results_is_cut_into_engine_pieces(rng):
    """conv a -> conv b, with a and b both read by host nodes: one plan cannot return both,
    so the run becomes two plans (one per result) instead of running on the host."""
    g = OpGraph()
    x = g.input((None, 3, 6, 6))
    a = g.add_node("conv2d", {"input": x, "weight": randn(rng, 4, 3, 3, 3), "padding": 1})
    b = g.add_node("conv2d", {"input": a, "weight": randn(rng, 4, 4, 1, 1)})
    t = g.add_node("tanh", {"x": b})
    g.set_outputs(g.add_node("mul", {"a": t, "b": a}))
    xv = randn(rng, 2, 3, 6, 6)
    expected = run(g, [xv])[0]
    fuse.simplify(g)
    compiled = inference.CompiledModel(inference._lower(g, 2, "auto"), g, (2, 3, 6, 6), True, True)
    assert [n["op"] for n in compiled.nodes] == ["conv", "conv", "host:tanh", "host:mul"]
    assert len(compiled._plans) == 2
    np.testing.assert_allclose(compiled(xv), expected, rtol=1e-5, atol=1e-5)
