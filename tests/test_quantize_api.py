"""cnnnative.quantize's API: the report, fp32_layers by name, calibration data as an array
or an iterable of batches, concat / average pooling / unfused add graphs, clear errors for
bad input, and the same int8 results under every ISA (the integer path is exact)."""
import numpy as np
import pytest

import cnnnative
from cnnnative import nn, ops


class Branchy(nn.Module):
    """Two conv branches concatenated, an average pool, an unfused add, a classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.mix = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, 5)

    def forward(self, x):
        x = ops.relu(self.stem(x))
        y = ops.cat([ops.relu(self.a(x)), ops.relu6(self.b(x))], 1)
        y = self.pool(y)
        z = ops.sigmoid(self.mix(y))  # no int8 output stage for sigmoid: fp32
        return self.fc(ops.flatten(ops.add(z, y), 1))


@pytest.fixture(scope="module")
def setup():
    nn.init.manual_seed(1)
    model = Branchy()
    model.eval()
    x = np.random.default_rng(0).normal(size=(24, 3, 8, 8)).astype(np.float32)
    return model, x


def test_report_and_branchy_graph(setup):
    model, x = setup
    qm = cnnnative.quantize(model, x[:16], input_shape=(8, 3, 8, 8))
    y = cnnnative.compile(model, (8, 3, 8, 8))(x[16:])
    yq = qm(x[16:])
    assert yq.shape == y.shape == (8, 5) and yq.dtype == np.float32
    assert np.abs(yq - y).max() < 0.05 * np.abs(y).max()
    modes = {r["layer"]: (r["mode"], r["reason"]) for r in qm.layers}
    assert modes["stem"][0] == "fp32" and "first" in modes["stem"][1]
    assert modes["fc"][0] == "fp32" and "last" in modes["fc"][1]
    assert modes["a"][0] == modes["b"][0] == "int8"
    assert modes["mix"] == ("fp32", "activation sigmoid has no int8 output stage")
    ops_by_mode = {(r["op"], r["mode"]) for r in qm.layers}
    assert ("cat", "int8") in ops_by_mode and ("avg_pool2d", "int8") in ops_by_mode
    assert ("add", "fp32") in ops_by_mode
    text = qm.report()
    assert "2 of 5 conv/linear layers in int8" in text
    assert "fp32_layers (first layer)" in text and "no int8 kernel for add" in text
    assert "in scale" in text and "w scale" in text and "-> uint8 scale" in text
    nodes = [n["op"] for n in qm.nodes]
    assert nodes.count("conv_int8") == 2 and "concat_u8" in nodes and "avg_pool_u8" in nodes
    assert "quantize" in nodes and "dequantize" not in nodes  # the pool dequantizes for its fp32 readers
    assert [r["output"] for r in qm.layers if r["op"] == "avg_pool2d"] == ["float32"]
    assert "QuantizedModel" in qm.summary() and "QuantizedModel" in repr(qm)


def test_fp32_layers_by_name_and_all_int8(setup):
    model, x = setup
    qm = cnnnative.quantize(model, x[:16], input_shape=(8, 3, 8, 8), fp32_layers=("b",))
    modes = {r["layer"]: r["mode"] for r in qm.layers if r["op"] in ("conv2d", "linear")}
    assert modes == {"stem": "int8", "a": "int8", "b": "fp32", "mix": "fp32", "fc": "int8"}
    qm = cnnnative.quantize(model, x[:16], input_shape=(8, 3, 8, 8), fp32_layers=())
    assert qm.layers[0]["mode"] == "int8" and qm.nodes[0]["op"] == "quantize"


def test_calibration_data_forms(setup):
    model, x = setup
    a = cnnnative.quantize(model, x[:16], input_shape=(8, 3, 8, 8))
    b = cnnnative.quantize(model, iter([x[:5], x[5:16]]), input_shape=(8, 3, 8, 8))
    c = cnnnative.quantize(model, [x[i:i + 4] for i in range(0, 16, 4)])  # input_shape from the first batch
    assert c.input_shape == (4, 3, 8, 8)
    np.testing.assert_array_equal(a(x[16:]), b(x[16:]))  # same ranges: same model
    np.testing.assert_array_equal(a(x[16:20]), c(x[16:20]))


def test_bad_input(setup):
    model, x = setup
    with pytest.raises(ValueError, match="calibration_data is empty"):
        cnnnative.quantize(model, np.zeros((0, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="calibration_data is empty"):
        cnnnative.quantize(model, [])
    with pytest.raises(ValueError, match=r"calibration batch has shape \(4, 3, 9, 9\).*\(N, 3, 8, 8\)"):
        cnnnative.quantize(model, np.zeros((4, 3, 9, 9), np.float32), input_shape=(1, 3, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        cnnnative.quantize(model, np.full((2, 3, 8, 8), np.nan, np.float32))
    with pytest.raises(ValueError, match="method must be one of"):
        cnnnative.quantize(model, x, method="mse")
    with pytest.raises(TypeError, match="not a CompiledModel"):
        cnnnative.quantize(cnnnative.compile(model, (1, 3, 8, 8)), x)
    with pytest.raises(TypeError, match="iterable"):
        cnnnative.quantize(model, 3.5)
    qm = cnnnative.quantize(model, x[:4], input_shape=(2, 3, 8, 8))
    with pytest.raises(ValueError, match="larger than the compiled batch"):
        qm(x[:3])
    with pytest.raises(ValueError):
        qm(x[:2, :, :4])


def test_host_node_model_is_refused():
    class WithTanh(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return ops.flatten(ops.tanh(self.c(x)), 1)

    with pytest.raises(ValueError, match="runs on the host"):
        cnnnative.quantize(WithTanh(), np.zeros((2, 3, 8, 8), np.float32))


def test_same_int8_result_under_every_isa():
    """With every layer in int8 the output is a function of exact integer sums, so the
    model built once gives the same bits under every ISA (run-time dispatch; fp32 layers
    would differ by float rounding)."""
    nn.init.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1, groups=16),
                          nn.ReLU6(), nn.MaxPool2d(2), nn.Conv2d(16, 24, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(24, 7))
    model.eval()
    x = np.random.default_rng(0).normal(size=(12, 3, 10, 10)).astype(np.float32)
    qm = cnnnative.quantize(model, x[:8], input_shape=(4, 3, 10, 10), fp32_layers=())
    assert all(r["mode"] == "int8" for r in qm.layers if r["op"] in ("conv2d", "linear"))
    want = qm(x[8:])
    start = cnnnative.get_isa()
    try:
        for isa in ("scalar", "avx2", "avx512"):
            try:
                cnnnative.set_isa(isa)
            except ValueError:
                continue  # this CPU lacks it
            np.testing.assert_array_equal(qm(x[8:]), want, err_msg=isa)
    finally:
        cnnnative.set_isa(start)
    threads = cnnnative.get_num_threads()
    try:
        for n in (1, 2, 3):  # the work split changes, the integers do not
            cnnnative.set_num_threads(n)
            np.testing.assert_array_equal(qm(x[8:]), want, err_msg=f"{n} threads")
    finally:
        cnnnative.set_num_threads(threads)


def test_poisoned_arena_gives_the_same_result(setup):
    """The uint8 buffers share the arena with float ones: a run that NaN-fills (0xFF-fills
    uint8) every dead buffer must give the same output, so no node reads freed bytes."""
    model, x = setup
    for fp32_layers in (("first", "last"), ()):
        qm = cnnnative.quantize(model, x[:16], input_shape=(8, 3, 8, 8), fp32_layers=fp32_layers)
        plan = qm._steps[0].plan
        np.testing.assert_array_equal(plan.run(x[16:], True), qm(x[16:]))
