"""The busy-machine back-off must not change results.

While the thread team backs off (another process holds the cores, cpp/src/core/thread_pool.cc),
every run_team region runs on its caller alone with a team of 1; only run_team_no_backoff
regions (members' partial sums) keep the team. So every kernel behind run_team must give the
same bits on a team of 1 as on the full team. Each case here runs on 2 threads twice in one
process: with the back-off off (every region opens the full team, so 2 members split it),
then with every region that may back off forced onto the caller
(_set_team_always_backed_off), and the results must be bit-identical. Sizes are above each
kernel's threshold for opening a team.
"""
import numpy as np
import pytest

import cnnnative as cn
import cnnnative.nn.functional as F
from cnnnative import nn, ops

from thread_count import on_threads


def _full_team_and_backed_off(run):
    def both():
        cn._core._set_team_contention_backoff(False)
        try:
            full = run()
            cn._core._set_team_always_backed_off(True)
            alone = run()
        finally:
            cn._core._set_team_always_backed_off(False)
            cn._core._set_team_contention_backoff(True)
        return full, alone
    return on_threads(2, both)


def _assert_same_bits(full, alone):
    assert len(full) == len(alone)
    for i, (a, b) in enumerate(zip(full, alone)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, i
        assert np.array_equal(a, b, equal_nan=True), f"result {i} differs: max |diff| {np.nanmax(np.abs(a - b))}"


def _arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _conv2d_case(algo, x_shape, w_shape, stride=1, padding=1, groups=1, input_algo=None):
    def run():
        x, w = _arrays(0, x_shape, w_shape)
        y = ops.conv2d(x, w, stride=stride, padding=padding, groups=groups, algo=algo)
        dy = _arrays(1, y.shape)[0]
        return (y, ops.conv2d_input(x.shape, w, dy, stride=stride, padding=padding, groups=groups,
                                    algo=input_algo or algo),
                ops.conv2d_weight(x, w.shape, dy, stride=stride, padding=padding, groups=groups))
    return run


def _conv3d_case(x_shape, w_shape, groups=1, algo="auto"):
    def run():
        x, w = _arrays(2, x_shape, w_shape)
        y = ops.conv3d(x, w, padding=1, groups=groups, algo=algo)
        dy = _arrays(3, y.shape)[0]
        return (y, ops.conv3d_input(x.shape, w, dy, padding=1, groups=groups, algo=algo),
                ops.conv3d_weight(x, w.shape, dy, padding=1, groups=groups, algo=algo))
    return run


def _gradients(fn, *arrays):
    ts = [cn.Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = fn(*ts)
    (y * y).sum().backward()
    return [np.asarray(y.data if hasattr(y, "data") else y)] + [np.asarray(t.grad) for t in ts]


def _conv_transpose_case():
    x, w = _arrays(4, (4, 64, 8, 8), (64, 32, 4, 4))
    return _gradients(lambda a, b: F.conv_transpose2d(a, b, stride=2, padding=1), x, w)


def _train_steps(build, x_shape, classes, steps=3):
    def run():
        nn.init.manual_seed(0)
        model = build()
        opt = cn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(5)
        for _ in range(steps):
            x = rng.standard_normal(x_shape).astype(np.float32)
            y = rng.integers(0, classes, x_shape[0])
            opt.zero_grad()
            F.cross_entropy(model(cn.Tensor(x)), y).backward()
            opt.step()
        return [np.asarray(v) for v in model.state_dict().values()]
    return run


class _SmallNet(nn.Module):
    """Conv (GEMM), depthwise, pools and a batch-1 linear layer wide enough to split."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 64, 1)
        self.pool = nn.MaxPool2d(3, 2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 256)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.relu(self.pw(F.relu(self.dw(x))))
        x = self.gap(self.pool(x))
        return self.fc(x.flatten(1))


def _compiled_case(precision):
    def run():
        nn.init.manual_seed(1)
        model = _SmallNet().eval()
        x = _arrays(6, (1, 3, 56, 56))[0]
        if precision == "int8":
            calib = _arrays(7, (4, 3, 56, 56))[0]
            engine = cn.quantize(model, calib, input_shape=x.shape)
        else:
            engine = cn.compile(model, x.shape, precision=precision)
        return [np.asarray(engine(x))]
    return run


def _compiled_winograd_few_row_blocks():
    # K = 32: three row blocks of 12 output channels, handed out per (row block, tile block)
    # with prepared filters (winograd.cc), as DenseNet's 3x3 layers.
    nn.init.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(64, 32, 3, padding=1)).eval()
    x = _arrays(12, (1, 64, 40, 40))[0]
    engine = cn.compile(model, x.shape)
    assert engine.nodes[0]["method"] == "winograd", engine.nodes
    return [np.asarray(engine(x))]


_CASES = {
    "conv2d im2col": _conv2d_case("im2col", (2, 32, 28, 28), (48, 32, 3, 3)),
    "conv2d im2col stride 2": _conv2d_case("im2col", (2, 16, 33, 31), (32, 16, 3, 3), stride=2),
    "conv2d direct_smallc": _conv2d_case("direct_smallc", (2, 3, 64, 64), (32, 3, 3, 3), input_algo="auto"),
    "conv2d direct_smallc_wino": _conv2d_case("direct_smallc_wino", (2, 3, 64, 64), (32, 3, 3, 3),
                                              input_algo="auto"),
    "conv2d winograd": _conv2d_case("winograd", (2, 32, 20, 20), (48, 32, 3, 3)),
    "conv2d winograd1d": _conv2d_case("winograd1d", (2, 32, 1, 400), (48, 32, 1, 3), padding=(0, 1)),
    "conv2d fft": _conv2d_case("fft", (2, 16, 40, 40), (16, 16, 7, 7), padding=3),
    "conv2d depthwise": _conv2d_case("direct", (2, 64, 40, 40), (64, 1, 3, 3), groups=64),
    "conv3d gemm": _conv3d_case((2, 8, 10, 12, 12), (8, 8, 3, 3, 3), algo="gemm"),
    "conv3d direct": _conv3d_case((2, 8, 6, 10, 10), (32, 8, 3, 3, 3), algo="direct"),  # Kg >= 32
    "conv3d depthwise": _conv3d_case((2, 8, 10, 12, 12), (8, 1, 3, 3, 3), groups=8),
    "conv_transpose2d": _conv_transpose_case,
    "max_pool2d 3x3/2 unpadded": lambda: _gradients(lambda a: F.max_pool2d(a, 3, 2), *_arrays(8, (2, 32, 57, 57))),
    "batch_norm training": lambda: _gradients(lambda a: F.batch_norm(a, None, None, training=True),
                                              *_arrays(10, (8, 32, 28, 28))),
    "prelu": lambda: ops.prelu_backward(*_arrays(11, (3, 8, 47, 45), (3, 8, 47, 45), (8,))),
    "local_response_norm": lambda: _gradients(lambda a: F.local_response_norm(a, 5), *_arrays(9, (2, 16, 48, 48))),
    "train digits_net": _train_steps(lambda: cn.models.digits_net(), (32, 1, 8, 8), 10),
    "train seed_mnist_net": _train_steps(lambda: cn.models.seed_mnist_net(), (16, 1, 28, 28), 10, steps=2),
    "compiled fp32": _compiled_case("fp32"),
    "compiled winograd K=32": _compiled_winograd_few_row_blocks,
    "compiled int8": _compiled_case("int8"),
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_backed_off_regions_give_the_bits_of_the_full_team(name):
    full, alone = _full_team_and_backed_off(_CASES[name])
    _assert_same_bits(full, alone)


def test_bf16_engine_gives_the_same_bits_backed_off():
    if not cn._core.bf16_supported():
        pytest.skip("no bf16 on this CPU")
    full, alone = _full_team_and_backed_off(_compiled_case("bf16"))
    _assert_same_bits(full, alone)


def test_forcing_the_back_off_runs_regions_alone_and_is_undone():
    # The forced mode really takes effect (else the tests above compare the team with
    # itself): a run_team region asked for 2 threads gets a team of 1, a run_team_no_backoff
    # region still 2; lifted, both get 2 again.
    def sizes():
        cn._core._set_team_always_backed_off(True)
        try:
            forced = (cn._core._parallel_team_size(may_back_off=True), cn._core._parallel_team_size())
        finally:
            cn._core._set_team_always_backed_off(False)
        return forced, (cn._core._parallel_team_size(may_back_off=True), cn._core._parallel_team_size())
    assert on_threads(2, sizes) == ((1, 2), (2, 2))
