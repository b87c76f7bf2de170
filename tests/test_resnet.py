"""ResNet-18/34/20 and the inverted-residual block: torchvision names, shapes, gradients,
and compile() equal to the uncompiled model and to PyTorch for the same state_dict.

Tolerances: compiled vs uncompiled differ only in float32 rounding order (BN folded into
the weights, Winograd F(4x4) vs im2col); over ResNet-18's depth that stays below 1e-4
of the output's scale (measured ~1e-6). Against PyTorch (oneDNN, float32) the same bound.
"""
import numpy as np
import pytest

import cnnnative
from cnnnative import nn
from cnnnative.resnet import BasicBlock, inverted_residual, resnet18, resnet20, resnet34
from bn_stats import randomize_bn

TOL = 1e-4



def assert_close(a, b, tol=TOL):
    scale = float(np.abs(b).max())
    assert scale > 0
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


def test_torchvision_names_and_sizes():
    m = resnet18()
    keys = list(m.state_dict())
    for k in ["conv1.weight", "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
              "layer1.1.bn2.bias", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_mean",
              "layer4.1.conv2.weight", "fc.weight", "fc.bias"]:
        assert k in keys, k
    assert "layer1.0.downsample.0.weight" not in keys
    assert m.num_parameters() == 11_689_512  # torchvision's resnet18
    assert resnet34().num_parameters() == 21_797_672
    assert m.output_shape((3, 224, 224)) == (1000,)
    r20 = resnet20()
    assert r20.num_parameters() < 300_000
    assert r20.output_shape((3, 32, 32)) == (10,)


@pytest.mark.parametrize("batch", [1, 3])
def test_resnet20_compiled_equals_uncompiled(rng, batch):
    m = resnet20(num_classes=7)
    randomize_bn(m, rng)
    m.eval()
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    expected = m(x)
    for algo in ("auto", "gemm"):
        c = cnnnative.compile(m, x.shape, algo=algo, poison=True)
        assert [n["op"] for n in c.nodes].count("conv") == 21
        assert_close(c(x), expected)
    unfused = cnnnative.compile(m, x.shape, fuse=False)
    np.testing.assert_allclose(c(x), unfused(x), rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("inp,oup,stride,expand", [(8, 8, 1, 6), (8, 12, 2, 6), (5, 5, 1, 1), (6, 7, 1, 3)])
def test_inverted_residual_compiled_equals_uncompiled(rng, inp, oup, stride, expand):
    block = inverted_residual(inp, oup, stride, expand)
    randomize_bn(block, rng)
    block.eval()
    x = rng.standard_normal((2, inp, 9, 11)).astype(np.float32)
    expected = block(x)
    c = cnnnative.compile(block, x.shape, poison=True)
    methods = [n.get("method") for n in c.nodes if n["op"] == "conv"]
    assert "depthwise" in methods
    assert any(n["activation"] == "relu6" for n in c.nodes)
    assert_close(c(x), expected)
    assert block.use_res_connect == (stride == 1 and inp == oup)


def _loss_grad_check(module, x, rng, eps=2e-3):
    """Directional finite difference of sum(y * r) along a random direction d, against
    <grad_x, d> from backward. The layers compute in float32 (rounding ~1e-6 of f, so
    ~1e-3 after dividing by 2*eps) and ReLU kinks inside +-eps add a little more: 2e-2
    relative agreement. Weights come from the test's seeded rng, not the global one, so
    the check does not depend on which tests ran before."""
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.data.shape) * 0.5
    module.train()
    xt = cnnnative.Tensor(x, requires_grad=True)
    y = module(xt)
    r = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(r)
    gx = xt.grad
    assert gx is not None and np.abs(gx).max() > 0
    d = rng.standard_normal(x.shape).astype(np.float32)

    def f(z):
        with cnnnative.no_grad():
            return float(np.sum(np.asarray(module(z), dtype=np.float64) * r))
    fd = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
    an = float(np.sum(gx.astype(np.float64) * d))
    assert abs(fd - an) <= 2e-2 * max(1.0, abs(an)), (fd, an)
    grads = [p.grad for p in module.parameters()]
    assert all(g is not None for g in grads) and any(np.abs(g).max() > 0 for g in grads)


def test_basic_block_and_inverted_residual_gradients(rng):
    down = nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False), nn.BatchNorm2d(6))
    block = BasicBlock(4, 6, stride=2, downsample=down)
    x = rng.standard_normal((2, 4, 6, 5)).astype(np.float32)
    # BatchNorm in training mode uses batch statistics, which the FD also sees.
    _loss_grad_check(block, x, rng)
    _loss_grad_check(BasicBlock(3, 3), rng.standard_normal((2, 3, 5, 5)).astype(np.float32), rng)
    _loss_grad_check(inverted_residual(4, 4, 1, 2), rng.standard_normal((2, 4, 5, 5)).astype(np.float32), rng)


def test_graph_model_compiles(rng):
    g = nn.Graph()
    x = g.input((3, 8, 8))
    a = g.add_node(nn.Conv2d(3, 16, 3, padding=1), x, name="c1")
    a = g.add_node(nn.BatchNorm2d(16), a, name="b1")
    b = g.add_node(nn.Conv2d(16, 16, 3, padding=1), a, name="c2")
    s = g.add(b, a, relu=True)
    cat = g.concat([s, a])
    g.output(g.add_node(nn.Flatten(), g.add_node(nn.GlobalAvgPool2d(), cat)))
    randomize_bn(g, rng)
    g.eval()
    xin = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    c = cnnnative.compile(g, xin.shape, poison=True)
    assert any(n["op"] == "conv" and n["residual"] for n in c.nodes)
    assert_close(c(xin), g(xin))


# -- against PyTorch ---------------------------------------------------------------------------

def _torch_resnet18():
    torch = pytest.importorskip("torch")
    from cnnnative.torch_reference import resnet18 as torch_resnet18
    return torch, torch_resnet18()


def test_resnet18_compiled_equals_uncompiled_and_pytorch(rng):
    torch, tm = _torch_resnet18()
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    m = resnet18()
    m.load_state_dict(sd)  # strict: every torchvision name matches
    m.eval()
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    ours = m(x)
    compiled = cnnnative.compile(m, x.shape, poison=True)
    got = compiled(x)
    assert_close(ours, expected)
    assert_close(got, expected)
    assert_close(got, ours)
    # The torch module itself compiles too (traced by class and attribute names).
    assert_close(cnnnative.compile(tm, x.shape)(x), expected)


def test_models_graph_resnet_compiles(rng):
    """cnnnative.models' Graph-built ResNet compiles through the nn.Graph rule."""
    from cnnnative import models

    if not hasattr(models, "resnet18"):
        pytest.skip("cnnnative.models has no resnet18")
    m = models.resnet18(num_classes=10, input_size=32)
    randomize_bn(m, rng)
    m.eval()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    c = cnnnative.compile(m, x.shape, poison=True)
    assert sum(1 for n in c.nodes if n["op"] == "conv" and n["residual"]) == 8
    assert_close(c(x), m(x))
