"""cnnnative.visualize: Grad-CAM finds the object a small trained net detects, saliency is
the input gradient (checked by finite differences), SmoothGrad is the mean of seeded noisy
saliencies, class-model visualisation raises the class score, filter grids share one scale,
layers are captured by name, and `cnnnative explain` writes a PNG end to end."""
import json
import struct
import sys
import zlib

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import cli, data, nn, optim
from cnnnative import visualize as vz

SIZE, SIDE = 20, 5


def _squares(n, rng):
    """Noise images (n, 1, 20, 20); label 1 ones carry a bright 5x5 square at `boxes`."""
    x = (0.2 * rng.standard_normal((n, 1, SIZE, SIZE))).astype(np.float32)
    y = rng.integers(0, 2, n)
    boxes = rng.integers(0, SIZE - SIDE + 1, (n, 2))
    for i in np.flatnonzero(y):
        r, c = boxes[i]
        x[i, 0, r:r + SIDE, c:c + SIDE] += 1.0
    return x, y, boxes


@pytest.fixture(scope="module")
def detector():
    """A small conv net trained here (~150 SGD steps) to tell images with a square from without."""
    nn.init.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 2))
    rng = np.random.default_rng(0)
    opt = optim.SGD(model, lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(150):
        x, y, _ = _squares(32, rng)
        loss = loss_fn(model(cn.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y, boxes = _squares(64, np.random.default_rng(1))
    with cn.no_grad():
        assert (np.asarray(model(x)).argmax(1) == y).mean() > 0.95
    model.train()  # the functions must switch to eval themselves
    keep = np.flatnonzero(y)[:6]
    return model, x[keep], boxes[keep]


def _inside(maps, boxes, margin=1):
    """Share of each map's total inside its square grown by `margin` pixels."""
    out = []
    for m, (r, c) in zip(maps, boxes):
        window = m[max(r - margin, 0):r + SIDE + margin, max(c - margin, 0):c + SIDE + margin]
        out.append(window.sum() / m.sum())
    return np.array(out)


def test_grad_cam_highlights_the_square(detector):
    model, x, boxes = detector
    before = [p.grad for p in model.parameters()]
    cam = vz.grad_cam(model, x, layer="4", target=1)
    assert cam.shape == (len(x), SIZE, SIZE) and cam.min() >= 0 and np.allclose(cam.max(axis=(1, 2)), 1)
    area = (SIDE + 2) ** 2 / SIZE ** 2                       # 12% of the image
    assert np.all(_inside(cam, boxes) > 0.6), _inside(cam, boxes)   # most heat on the square
    for m, (r, c) in zip(cam, boxes):                        # the hottest pixel lies on it
        i, j = np.unravel_index(np.argmax(m), m.shape)
        assert r - 1 <= i <= r + SIDE and c - 1 <= j <= c + SIDE
    assert _inside(cam, boxes).mean() > 4 * area
    assert model.training and [p.grad for p in model.parameters()] == before  # mode back, no .grad
    small = vz.grad_cam(model, x, layer="4", target=1, upsample=False)
    assert small.shape == (len(x), SIZE // 2, SIZE // 2)
    # default target: the top class, which is 1 for these images
    np.testing.assert_allclose(vz.grad_cam(model, x, layer="4"), cam, rtol=1e-5, atol=1e-6)


def test_grad_cam_refuses_bad_layers(detector):
    model, x, _ = detector
    with pytest.raises(ValueError, match="'nope' is not a module.*0, 1, 2"):
        vz.grad_cam(model, x, layer="nope")
    with pytest.raises(ValueError, match=r"feature maps \(N, C, h, w\)"):
        vz.grad_cam(model, x, layer="6")                     # Flatten: (N, 8)
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 2\)"):
        vz.grad_cam(model, x, layer="4", target=2)


def test_saliency_is_the_finite_difference_input_gradient(rng):
    nn.init.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    target = np.array([1, 3])
    g = vz.input_gradient(model, x, target)
    eps = 1e-2
    numeric = np.zeros_like(g)
    with cn.no_grad():
        for idx in np.ndindex(*x.shape):
            plus, minus = x.copy(), x.copy()
            plus[idx] += eps
            minus[idx] -= eps
            n = idx[0]
            numeric[idx] = (np.asarray(model(plus))[n, target[n]] - np.asarray(model(minus))[n, target[n]]) / (2 * eps)
    np.testing.assert_allclose(g, numeric, atol=2e-3 * np.abs(numeric).max())
    np.testing.assert_array_equal(vz.saliency(model, x, target), np.abs(g).max(axis=1))
    assert all(p.grad is None for p in model.parameters())


def test_smoothgrad_is_the_mean_of_seeded_noisy_saliencies(detector):
    model, x, _ = detector
    x = x[:3]
    got = vz.smoothgrad(model, x, target=1, samples=5, noise=0.2, seed=7)
    rng = np.random.default_rng(7)
    sigma = 0.2 * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    expected = np.mean([vz.saliency(model, x + sigma[:, None, None, None].astype(np.float32)
                                    * rng.standard_normal(x.shape).astype(np.float32), 1)
                        for _ in range(5)], axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got, vz.smoothgrad(model, x, target=1, samples=5, noise=0.2, seed=7))
    assert not np.allclose(got, vz.smoothgrad(model, x, target=1, samples=5, noise=0.2, seed=8))
    np.testing.assert_allclose(vz.smoothgrad(model, x, target=1, samples=2, noise=0.0),
                               vz.saliency(model, x, 1), rtol=1e-6)
    with pytest.raises(ValueError, match="samples"):
        vz.smoothgrad(model, x, samples=0)


def test_class_model_raises_the_class_score(detector):
    model, _, _ = detector
    image, scores = vz.class_model(model, 1, (1, SIZE, SIZE), steps=15, lr=0.5, history=True)
    assert image.shape == (1, SIZE, SIZE) and len(scores) == 16
    assert scores[-1] > scores[0] + 1 and np.all(np.diff(scores) > 0)
    with cn.no_grad():
        model.eval()
        assert np.asarray(model(image[None]))[0].argmax() == 1   # the image now reads as class 1
        model.train()
    # a stronger L2 penalty keeps the image smaller
    strong = vz.class_model(model, 1, (1, SIZE, SIZE), steps=15, lr=0.5, weight_decay=0.5)
    assert np.linalg.norm(strong) < np.linalg.norm(image)
    with pytest.raises(ValueError, match="input_shape"):
        vz.class_model(model, 1, (SIZE, SIZE))


def test_filter_grid_shares_one_scale():
    w = np.linspace(-2, 1, 5 * 3 * 3 * 3, dtype=np.float32).reshape(5, 3, 3, 3)
    g = vz.filter_grid(w)                                    # 3 columns, 2 rows of 3x3 RGB tiles
    assert g.image.shape == (2 * 4 + 1, 3 * 4 + 1, 3) and (g.vmin, g.vmax) == (-2.0, 2.0)
    np.testing.assert_allclose(g.image[1:4, 5:8], (np.transpose(w[1], (1, 2, 0)) + 2) / 4)
    assert g.image[0].min() == 1.0 and g.image.min() >= 0 and g.image.max() <= 1
    g = vz.filter_grid(w, ncols=5, symmetric=False)
    assert g.image.shape == (5, 21, 3) and (g.vmin, g.vmax) == (-2.0, 1.0)
    assert g.image[1:4, 1:4].min() == 0.0 and g.image[1:4, 17:20].max() == 1.0
    grey = vz.filter_grid(np.ones((4, 2, 5, 5), np.float32) * np.arange(4, dtype=np.float32)[:, None, None, None])
    assert grey.image.shape == (2 * 6 + 1, 2 * 6 + 1) and grey.vmax == 3.0
    np.testing.assert_allclose(grey.image[1:6, 1:6], 0.5)    # weight 0: mid-grey
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.Conv2d(1, 6, 3))
    assert vz.filter_grid(model).image.shape == (2 * 4 + 1, 3 * 4 + 1)   # the first conv
    with pytest.raises(ValueError, match="no layer with a 4-D"):
        vz.filter_grid(nn.Sequential(nn.Linear(2, 2)))


def test_feature_maps_and_capture_by_name(detector):
    model, x, _ = detector
    maps = vz.feature_maps(model, x[0], "1")
    with cn.no_grad():
        expected = np.maximum(np.asarray(model[0](x[:1])), 0)[0]
    assert maps.shape == (8, SIZE, SIZE)
    np.testing.assert_allclose(maps, expected, rtol=1e-6)
    assert vz.feature_maps(model, x[:2], "2").shape == (2, 8, SIZE // 2, SIZE // 2)
    with vz.capture(model, ["0", "4"]) as cap:
        with cn.no_grad():
            model(x[:2])
    assert cap["0"].shape == (2, 8, SIZE, SIZE) and cap["4"].shape == (2, 8, SIZE // 2, SIZE // 2)
    assert all("forward" not in m.__dict__ for m in model.modules())   # hooks removed
    with pytest.raises(ValueError, match="'7.1' is not a module"):
        vz.feature_maps(model, x[0], "7.1")


def _read_png(path):
    """(width, height, colour type, pixel rows) of an 8-bit PNG written with filter 0."""
    blob = open(path, "rb").read()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, colour = struct.unpack(">IIBB", blob[16:26])
    idat = b"".join(blob[i + 8:i + 8 + struct.unpack(">I", blob[i:i + 4])[0]]
                    for i in range(8, len(blob)) if blob[i + 4:i + 8] == b"IDAT")
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, -1)
    assert depth == 8 and np.all(rows[:, 0] == 0)
    return w, h, colour, rows[:, 1:]


def test_write_png_and_overlay(tmp_path):
    rgb = np.random.default_rng(0).random((5, 7, 3))
    w, h, colour, rows = _read_png(vz.write_png(tmp_path / "a.png", rgb))
    assert (w, h, colour) == (7, 5, 2)
    np.testing.assert_array_equal(rows.reshape(5, 7, 3), np.round(rgb * 255).astype(np.uint8))
    assert _read_png(vz.write_png(tmp_path / "g.png", np.zeros((3, 4))))[:3] == (4, 3, 0)
    heat = np.linspace(0, 1, 12).reshape(3, 4)
    out = vz.overlay(np.ones((1, 3, 4)), heat)
    assert out.shape == (3, 4, 3) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="heat map of shape"):
        vz.overlay(np.ones((1, 3, 4)), heat.T)


def test_plots_need_matplotlib_and_say_so(monkeypatch):
    w = np.ones((4, 1, 3, 3), np.float32)
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figures = [vz.plot_filters(w), vz.plot_heatmap(np.ones((1, 4, 4)), np.zeros((4, 4))),
               vz.plot_feature_maps(np.ones((3, 4, 4)))]
    assert [len(f.axes) for f in figures] == [2, 3, 2]      # each image with its colour bar
    for f in figures:
        plt.close(f)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="needs matplotlib"):
        vz.plot_filters(w)
    assert vz.filter_grid(w).image.shape == (9, 9)           # the arrays need no matplotlib


def test_cli_explain_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    threads = cn.get_num_threads()
    try:
        assert cli.main(["train", "--epochs", "3", "--limit", "512", "--no-plots", "--quiet",
                         "--out", str(run)]) == 0
    finally:
        cn.set_num_threads(threads)
    capsys.readouterr()
    images = data.load_digits("test").images[:3, 0]          # uint8 0..16, like training
    np.save(tmp_path / "digits.npy", images)
    for method in ("gradcam", "saliency", "smoothgrad"):
        out = tmp_path / f"{method}.png"
        assert cli.main(["explain", str(run / "model.npz"), str(tmp_path / "digits.npy"), "--index", "1",
                         "--method", method, "--out", str(out), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["method"] == method and 0 <= doc["class"] < 10 and doc["out"] == str(out)
        w, h, colour, _ = _read_png(out)
        assert colour == 2 and h >= 8 * 20 and w > 3 * h      # input | heat | overlay, enlarged
    assert doc["layer"] is None
    assert cli.main(["explain", str(run / "model.npz"), str(tmp_path / "digits.npy"), "--class", "7",
                     "--layer", "0", "--out", str(tmp_path / "c.png")]) == 0
    assert "class 7" in (text := capsys.readouterr().out) and "at layer 0" in text
    with pytest.raises(SystemExit, match="--class 12: the model has classes 0..9"):
        cli.main(["explain", str(run / "model.npz"), str(tmp_path / "digits.npy"), "--class", "12"])
    with pytest.raises(SystemExit, match="layer 'x' is not a module"):
        cli.main(["explain", str(run / "model.npz"), str(tmp_path / "digits.npy"), "--layer", "x"])
    with pytest.raises(SystemExit, match="--layer applies to --method gradcam"):
        cli.main(["explain", str(run / "model.npz"), str(tmp_path / "digits.npy"), "--layer", "0",
                  "--method", "saliency"])
    # a PNG image (read with Pillow or matplotlib), grey, at full intensity 1.0
    try:
        import PIL  # noqa: F401
    except ImportError:
        pytest.importorskip("matplotlib")
    png = vz.write_png(tmp_path / "digit.png", images[0] / 16.0)
    assert cli.main(["explain", str(run / "model.npz"), png, "--out", str(tmp_path / "p.png")]) == 0
    assert _read_png(tmp_path / "p.png")[2] == 2


def test_reading_png_without_pillow_or_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    path = vz.write_png(tmp_path / "a.png", np.zeros((4, 4)))
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.image", None)
    with pytest.raises(ImportError, match="needs Pillow or matplotlib.*or save the image as a .npy"):
        vz.read_image(path)
    np.save(tmp_path / "a.npy", np.ones((2, 2)))
    assert vz.read_image(tmp_path / "a.npy").shape == (2, 2)
