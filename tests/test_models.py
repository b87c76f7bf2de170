"""Model builders: shapes and sizes, and seed_mnist_net's forward and backward equal to
PyTorch's with the same weights."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, ops


@pytest.mark.parametrize("name,kw,inp,params", [
    ("seed_mnist_net", {}, (1, 28, 28), 32 * 9 + 32 + 32 * 32 * 9 + 32 + 1568 * 500 + 500 + 5010),
    ("seed_mnist_net", dict(in_channels=3, num_classes=7, input_size=32), (3, 32, 32), None),
    ("digits_net", {}, (1, 8, 8), None),
    ("lenet5", {}, (1, 28, 28), 61706),  # the classic LeNet-5 count with full C3
    ("lenet5", dict(input_size=32), (1, 32, 32), 61706),
    ("vgg_small", {}, (3, 32, 32), None),
    ("all_conv_net", dict(in_channels=1, input_size=28), (1, 28, 28), None),
])
def test_builders_shapes(name, kw, inp, params):
    m = models.build(name, **kw)
    assert m.output_shape(inp) == (kw.get("num_classes", 10),)
    if params is not None:
        assert m.num_parameters() == params
    assert m.spec == {"builder": name, "kwargs": kw}


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="too small"):
        models.seed_mnist_net(input_size=3)
    with pytest.raises(ValueError, match="unknown model"):
        models.build("resnet1000")
    with pytest.raises(ValueError, match="Sequential layer 0"):
        models.seed_mnist_net(in_channels=3).output_shape((1, 28, 28))


def _torch_seed_mnist_net(torch):
    tn = torch.nn
    return tn.Sequential(tn.Conv2d(1, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                         tn.Conv2d(32, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                         tn.Flatten(), tn.Linear(1568, 500), tn.ReLU(), tn.Linear(500, 10))


@pytest.mark.skipif(not all(callable(getattr(ops, n, None)) for n in (
    "conv2d", "max_pool2d", "linear", "linear_backward", "cross_entropy", "cross_entropy_backward")),
    reason="ops not all merged yet")
@pytest.mark.parametrize("batch", [1, 5])
def test_seed_mnist_net_matches_pytorch(rng, batch, isa):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = _torch_seed_mnist_net(torch)
    m = models.seed_mnist_net()
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    m.train()
    xt = cn.Tensor(x, requires_grad=True)
    out_t = m(xt)
    out = out_t.numpy()
    tx = torch.tensor(x, requires_grad=True)
    tout = tm(tx)
    # Sums of up to 1568 float32 products in both: agree to ~1e-5 relative.
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    loss = ops.cross_entropy(out, y)
    tloss = torch.nn.functional.cross_entropy(tout, torch.tensor(y))
    assert abs(loss - tloss.item()) < 1e-5
    m.zero_grad()
    out_t.backward(ops.cross_entropy_backward(out, y))
    tloss.backward()
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-3, atol=1e-4 * np.abs(tx.grad.numpy()).max())
    tgrads = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    for k, p in m.named_parameters():
        scale = np.abs(tgrads[k]).max()
        assert scale > 0
        np.testing.assert_allclose(p.grad, tgrads[k], rtol=1e-3, atol=1e-4 * scale, err_msg=k)


def _torch_resnet(torch, in_channels, num_classes, layers, width):
    """A torchvision-style ResNet (same module names), written here so the test needs
    only torch."""
    tn = torch.nn

    class Block(tn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(cout)
            self.conv2 = tn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tn.Sequential(tn.Conv2d(cin, cout, 1, stride, bias=False), tn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Net(tn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.bn1 = tn.BatchNorm2d(width)
            cin = width
            for s, n in enumerate(layers):
                cout = width * 2 ** s
                blocks = []
                for b in range(n):
                    blocks.append(Block(cin, cout, 2 if s > 0 and b == 0 else 1))
                    cin = cout
                setattr(self, f"layer{s + 1}", tn.Sequential(*blocks))
            self.fc = tn.Linear(cin, num_classes)
            self.n = len(layers)

        def forward(self, x):
            x = tn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
            for s in range(self.n):
                x = getattr(self, f"layer{s + 1}")(x)
            return self.fc(x.mean(dim=(2, 3)))

    return Net()


def test_resnet18_has_torchvision_names_and_size():
    g = models.resnet18()
    assert g.output_shape((3, 224, 224)) == (1000,)
    assert g.num_parameters() == 11689512  # torchvision.models.resnet18's count
    keys = list(g.state_dict())
    assert len(keys) == 122 and keys[:2] == ["conv1.weight", "bn1.weight"]
    assert "layer2.0.downsample.1.running_var" in keys and keys[-2:] == ["fc.weight", "fc.bias"]


@pytest.mark.skipif(not all(callable(getattr(ops, n, None)) for n in (
    "conv2d", "batch_norm_forward", "max_pool2d", "global_avg_pool2d", "add_relu", "linear")),
    reason="ops not all merged yet")
def test_resnet_graph_matches_pytorch_forward_and_backward(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = _torch_resnet(torch, 3, 5, (1, 2), 4)
    g = models.graph_resnet(3, 5, 20, layers=(1, 2), width=4)
    tsd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert list(g.state_dict()) == list(tsd)
    g.load_state_dict(tsd)
    x = rng.standard_normal((3, 3, 20, 20)).astype(np.float32)
    for training in (False, True):
        g.train(training)
        tm.train(training)
        xt = cn.Tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        out = g.forward(xt)
        tout = tm(tx)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-3, atol=1e-4)
    gy = rng.standard_normal(out.shape).astype(np.float32)
    g.zero_grad()
    out.backward(gy)
    tout.backward(torch.tensor(gy))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-3, atol=1e-3 * np.abs(tx.grad.numpy()).max())
    tgrads = dict(tm.named_parameters())
    for k, p in g.named_parameters():
        ref = tgrads[k].grad.numpy()
        scale = np.abs(ref).max()
        assert scale > 0, k
        # BatchNorm in training mode over 3x10x10 and smaller planes: float32 sums in a
        # different order; 1e-3 of the largest entry.
        np.testing.assert_allclose(p.grad, ref, rtol=1e-3, atol=1e-3 * scale, err_msg=k)
    for k, v in tm.state_dict().items():  # running statistics updated alike
        if "running" in k:
            np.testing.assert_allclose(g.state_dict()[k], v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
