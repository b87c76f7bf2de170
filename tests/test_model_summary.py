"""model.summary(input_shape) / cnnnative.model_summary: per-op shapes, parameters (not
buffers), multiply-adds and FLOPs, memory (outputs, the lecture's count, measured backward
memory), receptive field and jump; VGG-16's and ResNet-50's standard figures; the
`cnnnative summary --model NAME` command."""
import json

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import cli, models, nn


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=2, dilation=2, bias=False)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.conv2(self.pool(self.relu(self.bn(self.conv1(x)))))
        return self.fc(self.drop(cn.ops.flatten(self.gap(x), 1)))


def test_rows_by_hand():
    model = Small()
    s = model.summary((3, 32, 32))
    rows = {r["layer"]: r for r in s["rows"]}
    assert list(rows) == ["conv1", "bn", "relu", "pool", "conv2", "gap", "", "fc"]
    c1, c2, fc = rows["conv1"], rows["conv2"], rows["fc"]
    assert c1["output_shape"] == (None, 8, 16, 16) and c1["params"] == 8 * 27 + 8
    assert c1["macs"] == 8 * 16 * 16 * 27 and c1["flops"] == 2 * c1["macs"] + 8 * 16 * 16
    assert rows["bn"]["params"] == 16                       # weight and bias; running statistics are buffers
    assert c2["params"] == 16 * 8 * 9 and c2["macs"] == 16 * 8 * 8 * 72 and fc["macs"] == 160
    assert s["totals"]["params"] == model.num_parameters() and s["totals"]["macs"] == c1["macs"] + c2["macs"] + 160
    # receptive field and jump: 3 (stride 2) -> pool 2x2 -> dilated 3x3 -> the whole image
    assert (c1["receptive_field"], c1["jump"]) == ((3, 3), (2, 2))
    assert rows["relu"]["receptive_field"] == (3, 3)
    assert (rows["pool"]["receptive_field"], rows["pool"]["jump"]) == ((5, 5), (4, 4))
    assert (c2["receptive_field"], c2["jump"]) == ((5 + 2 * 2 * 4,) * 2, (4, 4))
    assert rows["gap"]["receptive_field"] is None and fc["receptive_field"] is None
    # the lecture's count: input + each layer's output; in-place ReLU and flatten add nothing
    t = s["totals"]
    values = 3 * 32 * 32 + 8 * 16 * 16 * 2 + 8 * 8 * 8 + 16 * 8 * 8 + 16 + 10
    assert t["input_bytes"] == 4 * 3 * 32 * 32 and t["layer_outputs_bytes"] == 4 * values
    assert t["activation_bytes"] == sum(r["activation_bytes"] for r in s["rows"])
    text = str(s)
    assert "conv1" in text and f"{values} values" in text and "RF" in text and "kept for the backward" in text


def test_backward_memory_is_measured_and_changes_nothing():
    model = Small()
    model.bn.running_mean[:] = 0.5
    state = {k: v.copy() for k, v in model.state_dict().items()}
    rng_state = model.drop._rng.bit_generator.state
    model.eval()
    s = model.summary((3, 32, 32))
    assert not model.training and model.drop._rng.bit_generator.state == rng_state
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)   # BatchNorm statistics restored
    assert all(p.grad is None for p in model.parameters())
    rows = {r["layer"]: r for r in s["rows"]}
    saved = s["totals"]["saved_bytes"]
    # conv1 keeps the input image; the conv outputs are kept for BatchNorm / the next conv
    assert rows["conv1"]["saved_bytes"] >= 4 * (3 * 32 * 32 + 8 * 16 * 16)
    assert rows["conv2"]["saved_bytes"] >= 4 * 16 * 8 * 8
    assert sum(r["saved_bytes"] for r in s["rows"]) <= saved
    assert s["totals"]["layer_outputs_bytes"] * 0.8 < saved < 4 * s["totals"]["layer_outputs_bytes"]
    assert "saved_bytes" not in model.summary((3, 32, 32), backward=False)["totals"]


def test_receptive_field_is_where_the_input_gradient_reaches():
    """The field of the centre output equals the extent of its input gradient."""
    nn.init.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 2, 5, dilation=2), nn.Tanh(),
                          nn.Conv2d(2, 1, 3, stride=2))
    for p in model.parameters():
        p.data[...] = np.abs(p.data) + 0.1                  # all weights positive: no cancellation
    size = 64
    last = model.summary((1, size, size), backward=False)["rows"][-1]
    x = cn.Tensor(np.zeros((1, 1, size, size), np.float32), requires_grad=True)
    out = model(x)
    h, w = out.shape[2:]
    (g,) = cn.autograd.grad(out[:, :, h // 2, w // 2].sum(), [x])
    rows, cols = np.nonzero(np.asarray(g)[0, 0])
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == last["receptive_field"]
    assert last["jump"] == (4, 4)


def _vgg16_torchvision_layout():
    """VGG-16 (configuration D) with torchvision's module names: features / avgpool / classifier."""
    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], 3
            for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                    c = v
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                                            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))

        def forward(self, x):
            return self.classifier(cn.ops.flatten(self.avgpool(self.features(x)), 1))
    return VGG()


# The CS231n notes' VGG-16 table: input + 13 conv + 5 pool + 3 fc outputs = 15,237,608 values
# (61 MB of float32 per image; the notes' "24M x 4 bytes ~= 93MB" is not the sum of their rows).
# torchvision's VGG adds AdaptiveAvgPool2d((7, 7)): a new 7x7x512 tensor, 25,088 more values.
LECTURE_VALUES = 15_237_608


def _check_vgg16(s):
    t = s["totals"]
    assert t["params"] == 138_357_544                       # "138M parameters"
    assert t["macs"] == 15_470_264_320                      # 15.5 G multiply-adds at 224x224
    assert t["layer_outputs_bytes"] == 4 * (LECTURE_VALUES + 512 * 7 * 7)
    rows = {r["layer"]: r for r in s["rows"]}
    assert (rows["features.30"]["receptive_field"], rows["features.30"]["jump"]) == ((212, 212), (32, 32))
    assert rows["features.28"]["receptive_field"] == (196, 196)
    assert "138357544" in str(s)


@pytest.mark.slow
def test_vgg16_figures_in_torchvision_layout():
    _check_vgg16(_vgg16_torchvision_layout().summary((3, 224, 224), backward=False))


@pytest.mark.slow
def test_vgg16_builder_figures():
    if "vgg16" not in models.MODELS:
        pytest.skip("models.vgg16 has not landed yet")
    model = models.build("vgg16")
    s = model.summary((3, 224, 224))
    _check_vgg16(s)
    assert s["totals"]["saved_bytes"] > s["totals"]["layer_outputs_bytes"] * 0.9


@pytest.mark.slow
def test_resnet50_builder_figures():
    if "resnet50" not in models.MODELS:
        pytest.skip("models.resnet50 has not landed yet")
    s = models.build("resnet50").summary((3, 224, 224), backward=False)
    t = s["totals"]
    assert t["params"] == 25_557_032
    assert t["macs"] == 4_089_184_256                       # torchvision's "4.09 GFLOPS" (multiply-adds)
    convs = [r for r in s["rows"] if r["op"] == "conv2d"]
    assert convs[-1]["output_shape"] == (None, 2048, 7, 7)
    assert (convs[-1]["receptive_field"], convs[-1]["jump"]) == ((427, 427), (32, 32))


def test_cli_summary_of_a_zoo_model(capsys):
    assert cli.main(["summary", "--model", "digits_net"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("digits_net: input (1, 8, 8)") and "RF" in text and "kept for the backward" in text
    assert cli.main(["summary", "--model", "lenet5", "--input-shape", "1,32,32", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_shape"] == [1, 1, 32, 32] and doc["totals"]["params"] == models.build("lenet5").num_parameters()
    assert doc["rows"][0]["receptive_field"] == [5, 5]
    with pytest.raises(SystemExit, match="unknown model 'nope'"):
        cli.main(["summary", "--model", "nope"])
    with pytest.raises(SystemExit, match="an ONNX model .* or --model NAME"):
        cli.main(["summary"])
    with pytest.raises(SystemExit, match="not both"):
        cli.main(["summary", "m.onnx", "--model", "digits_net"])


def test_summary_keeps_the_buffer_arrays_themselves():
    model = Small()
    running = model.bn.running_mean
    model.summary((3, 16, 16))
    assert model.bn.running_mean is running and np.all(running == 0)
    assert int(model.bn.num_batches_tracked) == 0
