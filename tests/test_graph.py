"""Graph builder: shape inference and its errors, whole-graph gradients (add, add-relu,
concat, fan-out) by central differences, release of intermediates, ResNet / Inception /
DenseNet blocks.

The Graph has no hand-written backward any more: its forward calls the layers and ops,
and autograd differentiates that run. The gradient tests below therefore run forward on
a recording `cn.Tensor` and call `backward` on the output (they called `Graph.backward`
before the op graph replaced it)."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops


def needs(*names):
    missing = [n for n in names if not callable(getattr(ops, n, None))]
    return pytest.mark.skipif(bool(missing), reason=f"ops not merged yet: {missing}")


CONV_OPS = ("conv2d", "conv2d_input", "conv2d_weight", "relu", "relu_backward", "add", "add_relu")


def small_dag():
    """input -> conv a -> relu b; b fans out to conv c and conv d (fan-out of 3);
    e = add_relu(c, d); f = concat(e, b); out = conv(f) + b's 1x1 projection."""
    g = nn.Graph()
    x = g.input((2, 5, 4))
    a = g.add_node(nn.Conv2d(2, 3, 3, padding=1), x, name="a")
    b = g.add_node(nn.Tanh(), a, name="b")
    c = g.add_node(nn.Conv2d(3, 3, 3, padding=1), b, name="c")
    d = g.add_node(nn.Conv2d(3, 3, 1), b, name="d")
    e = g.add(c, d, name="e")
    f = g.concat([e, b], name="f")
    h = g.add_node(nn.Conv2d(6, 3, 3, padding=1), f, name="h")
    out = g.add(h, b, name="out")
    g.output(out)
    return g


@needs(*CONV_OPS, "tanh", "tanh_backward")
def test_whole_graph_gradients_by_central_differences(rng, isa):
    """Every parameter and the input, through add, concat and a three-way fan-out."""
    g = small_dag()
    g.train()
    x = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    r = rng.standard_normal((2, 3, 5, 4))

    def f():
        with cn.no_grad():
            return float(np.sum(np.asarray(g(x), np.float64) * r))

    g.zero_grad()
    xt = cn.Tensor(x, requires_grad=True)
    y = g(xt)
    assert y.shape == (2, 3, 5, 4)
    y.backward(r.astype(np.float32))
    targets = [("input", x, xt.grad)] + [(n, p.data, p.grad) for n, p in g.named_parameters()]
    assert [n for n, *_ in targets][1:] == ["a.weight", "a.bias", "c.weight", "c.bias", "d.weight",
                                            "d.bias", "h.weight", "h.bias"]
    h = 1e-2  # float32 kernels: big step; tolerance relative to the largest gradient entry
    for name, arr, grad in targets:
        assert grad is not None and np.abs(grad).max() > 0, f"{name}: zero gradient"
        flat = arr.reshape(-1)
        for i in rng.choice(flat.size, size=min(8, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + h
            fp = f()
            flat[i] = old - h
            fm = f()
            flat[i] = old
            num = (fp - fm) / (2 * h)
            assert abs(num - grad.reshape(-1)[i]) <= 3e-2 * np.abs(grad).max() + 1e-3, (name, i, num)


@needs(*CONV_OPS)
def test_add_relu_node_gradient(rng):
    g = nn.Graph()
    x = g.input((3, 4, 4))
    a = g.add_node(nn.Conv2d(3, 3, 1, bias=False), x)
    s = g.add(a, x, relu=True)
    g.output(s)
    w = g.conv2d1.weight.data
    xv = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    xt = cn.Tensor(xv, requires_grad=True)
    y = g(xt)
    ref = np.maximum(np.einsum("kc,nchw->nkhw", w[:, :, 0, 0].astype(np.float64), xv) + xv, 0)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-5, atol=1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    mask = (ref > 0) * gy
    ref_gx = mask + np.einsum("kc,nkhw->nchw", w[:, :, 0, 0].astype(np.float64), mask)
    np.testing.assert_allclose(xt.grad, ref_gx, rtol=1e-4, atol=1e-4)


def test_shape_inference_and_errors_name_nodes_and_sizes():
    g = nn.Graph()
    x = g.input((3, 8, 8), name="img")
    a = g.add_node(nn.Conv2d(3, 4, 3, padding=1), x, name="conv_a")
    b = g.add_node(nn.Conv2d(3, 4, 3), x, name="conv_b")
    assert a.shape == (4, 8, 8) and b.shape == (4, 6, 6)
    with pytest.raises(ValueError, match=r"'conv_a' is \(4, 8, 8\).*'conv_b' is \(4, 6, 6\)"):
        g.add(a, b)
    with pytest.raises(ValueError, match=r"concat.*'conv_a' is \(4, 8, 8\).*'conv_b' is \(4, 6, 6\)"):
        g.concat([a, b])
    with pytest.raises(ValueError, match=r"'bad'.*Conv2d.*'conv_a'.*\(4, 8, 8\).*expected 5 channels"):
        g.add_node(nn.Conv2d(5, 2, 1), a, name="bad")
    with pytest.raises(ValueError, match=r"Linear"):
        g.add_node(nn.Linear(10, 2), a)
    with pytest.raises(ValueError, match="already exists"):
        g.add_node(nn.ReLU(), a, name="conv_a")
    conv = nn.Conv2d(4, 4, 1)
    g.add_node(conv, a)
    with pytest.raises(ValueError, match="already in this graph"):
        g.add_node(conv, a)
    other = nn.Graph().input((3, 8, 8))
    with pytest.raises(TypeError, match="Node of this graph"):
        g.add_node(nn.ReLU(), other)
    c = g.concat([a, a, b if False else a])
    assert c.shape == (12, 8, 8)
    with pytest.raises(RuntimeError, match="no output"):
        g.forward(np.zeros((1, 3, 8, 8), np.float32))
    g.output(c)
    with pytest.raises(ValueError, match=r"'img'.*\(3, 8, 8\).*\(1, 3, 7, 8\)"):
        g.forward(np.zeros((1, 3, 7, 8), np.float32))
    assert g.output_shape((3, 8, 8)) == (12, 8, 8)


def test_sequential_shape_errors_name_the_layer():
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(99, 2))
    with pytest.raises(ValueError, match=r"layer 2 \(Linear\).*\(144,\)"):
        m.output_shape((1, 8, 8))


@needs("relu", "relu_backward", "conv2d")
def test_eval_mode_releases_intermediates(rng):
    g = nn.Graph()
    x = g.input((2, 4, 4))
    h = x
    for _ in range(12):
        h = g.add_node(nn.ReLU(), h)
    g.output(h)
    g.eval()
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    y = g.forward(x)
    assert g.peak_live <= 2  # a chain holds at most the producer and its consumer
    assert type(y) is np.ndarray  # nothing recorded: no layer kept anything for a backward
    g.train()
    # Recording, each ReLU's output stays alive for its backward (held by the graph).
    xt = cn.Tensor(x, requires_grad=True)
    y = g.forward(xt)
    outs, node = 0, y.grad_fn
    while node is not None:
        outs += 1
        node = node.parents[0].grad_fn
    assert outs == 12


def resnet_basic_block(g, x, c, name):
    a = g.add_node(nn.Conv2d(c, c, 3, padding=1, bias=False), x, name=f"{name}_conv1")
    a = g.add_node(nn.BatchNorm2d(c), a, name=f"{name}_bn1")
    a = g.add_node(nn.ReLU(), a, name=f"{name}_relu")
    a = g.add_node(nn.Conv2d(c, c, 3, padding=1, bias=False), a, name=f"{name}_conv2")
    a = g.add_node(nn.BatchNorm2d(c), a, name=f"{name}_bn2")
    return g.add(a, x, relu=True, name=f"{name}_out")


def inception_block(g, x, c):
    b1 = g.add_node(nn.Conv2d(c, 4, 1), x)
    b2 = g.add_node(nn.Conv2d(3, 6, 3, padding=1), g.add_node(nn.Conv2d(c, 3, 1), x))
    b3 = g.add_node(nn.Conv2d(c, 2, 5, padding=2), x)
    b4 = g.add_node(nn.Conv2d(c, 2, 1), g.add_node(nn.MaxPool2d(3, 1, 1), x))
    return g.concat([b1, b2, b3, b4])


def dense_block(g, x, growth, layers):
    feats = [x]
    for _ in range(layers):
        inp = g.concat(feats) if len(feats) > 1 else x
        y = g.add_node(nn.ReLU(), g.add_node(nn.Conv2d(inp.shape[0], growth, 3, padding=1), inp))
        feats.append(y)
    return g.concat(feats)


def test_resnet_inception_densenet_blocks_build_with_shapes():
    g = nn.Graph()
    x = g.input((8, 10, 10))
    r = resnet_basic_block(g, x, 8, "block1")
    i = inception_block(g, r, 8)
    assert i.shape == (14, 10, 10)
    d = dense_block(g, i, growth=4, layers=3)
    assert d.shape == (14 + 12, 10, 10)
    out = g.add_node(nn.Flatten(), g.add_node(nn.GlobalAvgPool2d(), d))
    g.output(g.add_node(nn.Linear(26, 5), out))
    assert g.output_shape((8, 10, 10)) == (5,)
    assert "block1_conv1.weight" in g.state_dict() and "block1_bn1.running_mean" in g.state_dict()


@needs("conv2d", "conv2d_input", "conv2d_weight", "relu", "relu_backward", "add", "add_relu",
       "batch_norm_forward", "batch_norm_backward", "max_pool2d", "max_pool2d_backward",
       "global_avg_pool2d", "global_avg_pool2d_backward", "linear", "linear_backward")
def test_blocks_forward_backward_run(rng):
    g = nn.Graph()
    x = g.input((8, 6, 6))
    d = dense_block(g, inception_block(g, resnet_basic_block(g, x, 8, "r"), 8), 4, 2)
    g.output(g.add_node(nn.Linear(22, 3), g.add_node(nn.Flatten(), g.add_node(nn.GlobalAvgPool2d(), d))))
    g.train()
    xt = cn.Tensor(rng.standard_normal((2, 8, 6, 6)).astype(np.float32), requires_grad=True)
    y = g(xt)
    assert y.shape == (2, 3)
    y.backward(np.ones(y.shape, np.float32))
    assert xt.grad.shape == (2, 8, 6, 6) and np.abs(xt.grad).max() > 0
    assert all(p.grad is not None for p in g.parameters())


@needs("relu", "relu_backward", "add")
def test_multiple_outputs_and_unused_gradient(rng):
    g = nn.Graph()
    x = g.input((3,))
    a = g.add_node(nn.ReLU(), x)
    b = g.add_node(nn.Tanh(), x)
    g.output(a, b)
    xv = rng.standard_normal((4, 3)).astype(np.float32)
    xt = cn.Tensor(xv, requires_grad=True)
    ya, yb = g.forward(xt)
    (gx,) = cn.autograd.grad([ya, yb], [xt], grad_outputs=[np.ones(ya.shape, np.float32),
                                                         np.zeros(yb.shape, np.float32)])
    np.testing.assert_allclose(gx, (xv > 0).astype(np.float32), atol=1e-6)
    # An input that does not require grad gets none (this was needs_input_grad = False).
    xt = cn.Tensor(xv)
    ya, yb = g.forward(xt)
    assert xt.grad is None and not ya.requires_grad


# -- the Graph as a builder of the op graph (cnnnative.ir) ------------------------------------

@needs("mul", "cat", "split", "transpose", "getitem", "leaky_relu")
def test_op_nodes_infer_shapes_with_broadcasting_and_any_axis():
    g = nn.Graph()
    x = g.input((4, 6, 6), name="x")
    s = g.input((4, 1, 1), name="scale")
    m = g.mul(x, s, name="scaled")                      # broadcasting
    assert m.shape == (4, 6, 6)
    assert g.add(m, g.input((4, 1, 6), name="row")).shape == (4, 6, 6)
    assert g.mul(x, np.ones(6, np.float32)).shape == (4, 6, 6)  # a constant operand
    assert g.concat([x, m], dim=3).shape == (4, 6, 12)  # any axis
    a, b = g.split(x, [1, 3], dim=1)
    assert (a.shape, b.shape) == ((1, 6, 6), (3, 6, 6))
    assert g.reshape(x, (4, 36)).shape == (4, 36)
    assert g.transpose(x, 2, 3).shape == (4, 6, 6) and g.transpose(x, 1, 2).shape == (6, 4, 6)
    assert g.slice(x, 2, 1, 5, 2).shape == (4, 2, 6)
    assert g.call_op("leaky_relu", x, 0.2).shape == (4, 6, 6)
    with pytest.raises(ValueError, match=r"'x' is \(4, 6, 6\).*'bad_row' is \(5,\)"):
        g.add(x, g.input((5,), name="bad_row"))  # (N, 4, 6, 6) + (N, 5): no broadcasting
    with pytest.raises(ValueError, match=r"split.*do not add up"):
        g.split(x, [1, 2], dim=1)
    with pytest.raises(ValueError, match="batch dim"):
        g.transpose(x, 0, 1)
    with pytest.raises(ValueError, match="batch dim"):
        g.slice(x, 0, 1)
    with pytest.raises(ValueError, match="per sample 144 elements"):
        g.reshape(x, (5, 5))


@needs("mul", "cat", "split", "transpose", "getitem", "add")
def test_multiple_inputs_and_outputs_run_and_differentiate(rng):
    g = nn.Graph()
    x = g.input((3, 4), name="x")
    w = g.input((1, 4), name="w")
    y = g.mul(x, w)
    left, right = g.split(y, [1, 2], dim=1)
    z = g.transpose(g.concat([right, g.slice(x, 1, 1, 3)], dim=2), 1, 2)
    g.output(left, z)
    assert left.shape == (1, 4) and z.shape == (8, 2)
    xv, wv = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 1, 4)).astype(np.float32)
    out_left, out_z = g.forward(xv, wv)
    np.testing.assert_allclose(out_left, (xv * wv)[:, :1], rtol=1e-6)
    expected_z = np.concatenate([(xv * wv)[:, 1:], xv[:, 1:3]], axis=2).transpose(0, 2, 1)
    np.testing.assert_allclose(out_z, expected_z, rtol=1e-6)
    xt, wt = cn.Tensor(xv, requires_grad=True), cn.Tensor(wv, requires_grad=True)
    a, _ = g.forward(xt, wt)
    a.backward(np.ones(a.shape, np.float32))
    np.testing.assert_allclose(wt.grad, xv[:, :1], rtol=1e-6)
    np.testing.assert_allclose(xt.grad[:, :1], np.broadcast_to(wv, (2, 1, 4)), rtol=1e-6)
    assert not xt.grad[:, 1:].any()
