"""Tracing (cnnnative.ir.trace) and compile() of modules written with ops: the graph
recorded from forward, the layer path of each node and in errors, the dynamic batch,
training flags restored, and compiled == eager (engine segments and host nodes)."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from cnnnative.inference import trace
from cnnnative.ir.trace import TraceError
from cnnnative.ir.trace import trace as trace_module


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


class ConvBlock(nn.Module):
    """conv -> eval batch norm -> relu -> tanh, written with ops (no layer classes)."""

    def __init__(self, rng, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(randn(rng, cout, cin, 3, 3) * 0.3)
        self.bias = nn.Parameter(randn(rng, cout))
        self.register_buffer("mean", randn(rng, cout) * 0.2)
        self.register_buffer("var", rng.uniform(0.5, 2, cout).astype(np.float32))

    def forward(self, x):
        y = ops.conv2d(x, self.weight, self.bias, 1, 1)
        y = ops.batch_norm(y, self.mean, self.var, None, None, False)
        return ops.tanh(ops.relu(y))


class Net(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.block = ConvBlock(rng, 3, 6)
        self.head = nn.Parameter(randn(rng, 4, 6 * 4 * 4) * 0.1)

    def forward(self, x):
        y = ops.max_pool2d(self.block(x), 2)
        y = y.reshape(y.shape[0], -1)  # traced at batch 1: recorded as (-1, 96)
        return ops.linear(y, self.head)


def eager(model, x):
    model.eval()
    with cn.no_grad():
        return np.asarray(model(cn.Tensor(x)))


def test_trace_records_ops_with_layer_paths_and_a_dynamic_batch(rng):
    m = Net(rng)
    g = trace_module(m, [(5, 3, 8, 8)])
    assert [n.op for n in g.nodes] == ["conv2d", "batch_norm", "relu", "tanh", "max_pool2d", "reshape", "linear"]
    assert [n.scope for n in g.nodes][:4] == ["block"] * 4 and g.nodes[4].scope == ""
    assert g.nodes[5].args["shape"] == (-1, 96)
    assert g.inputs[0].shape == (None, 3, 8, 8) and g.outputs[0].shape == (None, 4)
    # Parameters are held by reference (never copied) as params of the nodes.
    assert g.nodes[0].params["weight"] is m.block.weight.data
    assert g.nodes[1].params["running_mean"] is m.block.mean


def test_compiled_equals_eager_with_a_host_node(rng):
    m = Net(rng)
    x = randn(rng, 3, 3, 8, 8)
    expected = eager(m, x)
    c = cn.compile(m, x.shape, poison=True)
    ran = [n["op"] for n in c.nodes]
    assert ran == ["conv", "host:tanh", "max_pool", "flatten", "linear"]
    assert c.nodes[0]["activation"] == "relu"  # BatchNorm folded, ReLU fused
    np.testing.assert_allclose(c(x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c(x[:1]), expected[:1], rtol=1e-4, atol=1e-5)
    assert "host:tanh [block]" in c.summary()


def test_training_flags_are_restored_and_parameters_untouched(rng):
    m = Net(rng)
    m.train()
    m.block.eval()  # a mixed state must come back as it was
    before = {k: v.copy() for k, v in m.state_dict().items()}
    cn.compile(m, (2, 3, 8, 8))
    assert m.training and not m.block.training
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert "forward" not in m.__dict__ and "forward" not in m.block.__dict__


def test_compiled_model_keeps_its_own_copy_of_host_node_parameters(rng):
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.full((4,), 2.0, np.float32))

        def forward(self, x):
            return ops.layer_norm(x, (4,), self.w)  # a host node with a parameter
    m = Scale()
    c = cn.compile(m, (2, 4))
    x = randn(rng, 2, 4)
    y = c(x)
    m.w.data[...] = 5.0
    np.testing.assert_array_equal(c(x), y)


def test_errors_while_tracing_name_the_layer(rng):
    m = Net(rng)
    with pytest.raises(ValueError, match=r"compile\(\): layer 'block' \(ConvBlock\).*channels"):
        cn.compile(m, (1, 4, 8, 8))
    with pytest.raises(TypeError, match="cannot trace"):
        cn.compile(object(), (1, 3, 8, 8))
    with pytest.raises(OverflowError):
        cn.compile(m, (2**40, 3, 2**20, 2**20))


def test_an_output_not_made_by_ops_is_refused(rng):
    class Numpy(nn.Module):
        def forward(self, x):
            return np.tanh(np.asarray(x))  # leaves the ops: nothing to record
    with pytest.raises(TraceError, match="not computed by cnnnative.ops"):
        cn.compile(Numpy(), (1, 4))


def test_unused_branches_are_dropped_and_multiple_outputs_traced(rng):
    class TwoHeads(nn.Module):
        def forward(self, x):
            ops.sigmoid(x)  # computed and thrown away
            return ops.relu(x), ops.tanh(x)
    g = trace_module(TwoHeads(), [(1, 5)])
    assert [n.op for n in g.nodes] == ["relu", "tanh"] and len(g.outputs) == 2
    with pytest.raises(ValueError, match="one batched array"):
        cn.compile(TwoHeads(), (1, 5))


def test_fuse_false_keeps_every_op(rng):
    m = Net(rng)
    g = trace(m, (2, 3, 8, 8), fuse=False)
    assert [n.op for n in g.nodes] == ["conv2d", "batch_norm", "relu", "tanh", "max_pool2d", "reshape", "linear"]
    x = randn(rng, 2, 3, 8, 8)
    c = cn.compile(m, x.shape, fuse=False)
    assert [n["op"] for n in c.nodes] == ["conv", "channel_affine", "activation", "host:tanh", "max_pool",
                                          "flatten", "linear"]
    np.testing.assert_allclose(c(x), eager(m, x), rtol=1e-4, atol=1e-5)


def test_an_op_across_the_batch_dim_is_refused_naming_the_layer(rng):
    class MergeBatch(nn.Module):
        def forward(self, x):
            return ops.relu(x).reshape(-1)  # all samples in one row: no dynamic batch
    with pytest.raises(TraceError, match=r"^compile\(\): layer '0', op reshape: cannot reshape \(None, 4\)"):
        cn.compile(nn.Sequential(MergeBatch()), (2, 4))


def test_graph_and_module_resnet18_compile_to_the_same_plan():
    """The nn.Graph ResNet-18 and the module-class one trace to the same ops, so the
    engine plan is the same."""
    from cnnnative import models
    shape = (1, 3, 64, 64)
    a = cn.compile(models.resnet18(input_size=64), shape)
    b = cn.compile(models.resnet18_module(), shape)
    plan = [(n["op"], n.get("method"), n["activation"], n.get("residual")) for n in a.nodes]
    assert plan == [(n["op"], n.get("method"), n["activation"], n.get("residual")) for n in b.nodes]
    assert sum(r for *_, r in plan if r) == 8 and a.arena_bytes == b.arena_bytes


def test_in_place_activations_are_traced():
    """ReLU(inplace=True) & co. write their input's array when nothing records; while a
    trace runs they call their op, so the graph has them (seed_mnist_net compiled without
    its ReLUs before)."""
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.ReLU6(inplace=True),
                      nn.LeakyReLU(0.1, inplace=True))
    g = trace_module(m, [(1, 1, 5, 5)])
    assert [n.op for n in g.nodes] == ["conv2d", "relu", "relu6", "leaky_relu"]


def test_an_op_with_several_outputs_compiles(rng):
    class Shuffle(nn.Module):
        """split the channels, swap the halves, concatenate (a channel shuffle)."""

        def forward(self, x):
            a, b = ops.split(ops.relu(x), 2, 1)
            return ops.cat([b, a], 1)
    x = randn(rng, 2, 4, 3, 3)
    c = cn.compile(Shuffle(), x.shape, poison=True)
    assert [n["op"] for n in c.nodes] == ["activation", "host:split", "host:cat"]
    np.testing.assert_array_equal(c(x), np.concatenate([np.maximum(x[:, 2:], 0), np.maximum(x[:, :2], 0)], 1))
