"""cnnnative.adversarial attacks: the input gradient (against torch), the geometry (PGD
stays in the eps ball and the valid range, L2 projection against a numpy reference, FGSM
is eps * sign(gradient)), targeted attacks raise the target's probability, the model's
mode and BatchNorm statistics are left alone, seeds repeat, and bad arguments fail
clearly. Small untrained models: no training here (see test_adversarial_training.py)."""
import numpy as np
import pytest

import cnnnative
from cnnnative import adversarial as adv
from cnnnative import models, nn, ops


def digits_model(seed=0):
    nn.init.manual_seed(seed)
    return models.digits_net()


def bn_model(seed=0):
    nn.init.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 10))


def batch(seed=0, n=8):
    r = np.random.default_rng(seed)
    return r.uniform(0, 1, (n, 1, 8, 8)).astype(np.float32), r.integers(0, 10, n)


def probs(model, x):
    return ops.softmax(adv.predict_logits(model, x), 1)


def test_input_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    model = digits_model()
    model.eval()
    x, y = batch()
    g = adv.input_gradient(model, x, y)
    tn = torch.nn
    t = tn.Sequential(tn.Conv2d(1, 32, 3, padding=1), tn.ReLU(), tn.Conv2d(32, 32, 3, padding=1), tn.ReLU(),
                      tn.MaxPool2d(2), tn.Flatten(), tn.Linear(512, 128), tn.ReLU(), tn.Linear(128, 10))
    t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in model.state_dict().items()})
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(t(xt), torch.tensor(y), reduction="sum").backward()
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-4, atol=1e-5 * np.abs(g).max())
    assert all(p.grad is None for p in model.parameters())  # parameters' .grad untouched


def test_fgsm_is_eps_times_gradient_sign():
    model = digits_model()
    model.eval()
    x, y = batch()
    x = 0.25 + 0.5 * x  # inside [eps, 1 - eps]: no clipping
    g = adv.input_gradient(model, x, y)
    np.testing.assert_allclose(adv.fgsm(model, x, y, eps=0.1) - x, 0.1 * np.sign(g), atol=1e-6)
    np.testing.assert_allclose(adv.fgsm(model, x, y, eps=0.1, targeted=True) - x, -0.1 * np.sign(g), atol=1e-6)
    d2 = adv.fgsm(model, x, y, eps=0.5, norm=2) - x
    unit = g / np.sqrt((g.astype(np.float64) ** 2).sum(axis=(1, 2, 3), keepdims=True))
    np.testing.assert_allclose(d2, 0.5 * unit, atol=1e-6)


def test_untargeted_attacks_raise_the_loss():
    model = digits_model()
    x, y = batch()
    before = float(ops.cross_entropy(adv.predict_logits(model, x), y))
    for attack in (adv.fgsm(model, x, y, eps=0.05), adv.pgd(model, x, y, eps=0.05, steps=5, seed=0),
                   adv.iterative_fgsm(model, x, y, eps=0.05, steps=5), adv.pgd(model, x, y, eps=0.5, norm=2, seed=0)):
        assert float(ops.cross_entropy(adv.predict_logits(model, attack), y)) > before


@pytest.mark.parametrize("norm,eps", [("inf", 0.1), (2, 0.7)])
def test_pgd_stays_in_the_eps_ball_and_the_valid_range(norm, eps):
    model = digits_model(1)
    x, y = batch(1)
    x[:, :, :2] = 0.0  # pixels at the range's edges: clipping must hold them in
    x[:, :, -2:] = 1.0
    for clip in ((0.0, 1.0), (-0.5, 1.5)):
        for random_start in (True, False):
            xa = adv.pgd(model, x, y, eps=eps, steps=6, alpha=eps / 2, norm=norm, random_start=random_start,
                         clip=clip, seed=3)
            d = (xa - x).reshape(len(x), -1).astype(np.float64)
            assert xa.dtype == np.float32 and xa.shape == x.shape
            assert xa.min() >= clip[0] and xa.max() <= clip[1]
            if norm == "inf":
                assert np.abs(d).max() <= eps + 1e-6
            else:
                assert np.sqrt((d ** 2).sum(axis=1)).max() <= eps * (1 + 1e-5)
            assert np.abs(d).max() > 0.5 * eps if norm == "inf" else True  # it moved


def test_l2_projection_against_numpy():
    r = np.random.default_rng(0)
    delta = r.normal(size=(6, 2, 3, 3)).astype(np.float32)
    delta[1] *= 1e-3       # inside the ball: unchanged
    delta[2] = 0.0         # zero: stays zero
    eps = 0.8
    expected = []
    for d in delta.astype(np.float64):
        n = np.linalg.norm(d.ravel())
        expected.append(d if n <= eps else d * eps / n)
    got = adv.project(delta, eps, norm=2)
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got[1], delta[1])
    np.testing.assert_array_equal(adv.project(delta, 0.3, "inf"), np.clip(delta, -0.3, 0.3))


def test_targeted_attacks_raise_the_target_probability():
    model = digits_model(2)
    x, _ = batch(2, n=10)
    target = 7
    p0 = probs(model, x)[:, target]
    for xa in (adv.fgsm(model, x, target, eps=0.05, targeted=True),
               adv.pgd(model, x, np.full(10, target), eps=0.1, steps=10, targeted=True, seed=0),
               adv.pgd(model, x, target, eps=1.0, steps=10, norm=2, targeted=True, seed=0)):
        p1 = probs(model, xa)[:, target]
        assert (p1 > p0).all(), (p0, p1)


def test_mode_and_batchnorm_statistics_are_left_alone():
    model = bn_model()
    x, y = batch(3)
    model.train()
    state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    adv.pgd(model, x, y, eps=0.1, steps=3, seed=0)
    assert model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), state[k], err_msg=k)
    model.eval()
    adv.fgsm(model, x, y, eps=0.1)
    assert not model.training


def test_seeded_random_start_repeats():
    model = digits_model()
    x, y = batch()
    a = adv.pgd(model, x, y, eps=0.1, steps=2, seed=5)
    np.testing.assert_array_equal(a, adv.pgd(model, x, y, eps=0.1, steps=2, seed=5))
    assert not np.array_equal(a, adv.pgd(model, x, y, eps=0.1, steps=2, seed=6))
    np.testing.assert_array_equal(adv.pgd(model, x, y, eps=0.0), x)


def test_labels_default_to_the_model_predictions():
    model = digits_model()
    x, _ = batch()
    pred = adv.predict_logits(model, x).argmax(axis=1)
    np.testing.assert_array_equal(adv.fgsm(model, x, eps=0.1), adv.fgsm(model, x, pred, eps=0.1))


def test_works_under_no_grad_and_on_tensors():
    model = digits_model()
    x, y = batch()
    expected = adv.fgsm(model, x, y, eps=0.1)
    with cnnnative.no_grad():
        np.testing.assert_array_equal(adv.fgsm(model, cnnnative.Tensor(x), y, eps=0.1), expected)


def test_robust_accuracy():
    model = digits_model()
    x, y = batch(n=12)
    clean = np.mean(adv.predict_logits(model, x).argmax(axis=1) == y)
    assert adv.robust_accuracy(model, (x, y), None) == pytest.approx(clean)
    calls = []

    def identity(m, xb, yb, scale=1):
        calls.append(len(xb))
        return xb * scale
    assert adv.robust_accuracy(model, (x, y), identity, batch_size=5, scale=1) == pytest.approx(clean)
    assert calls == [5, 5, 2]
    pred = adv.predict_logits(model, x).argmax(axis=1)
    assert adv.robust_accuracy(model, (x, pred), "pgd", eps=0.3, steps=5, seed=0) < 1.0
    with pytest.raises(ValueError, match="unknown attack"):
        adv.robust_accuracy(model, (x, y), "deepfool")
    with pytest.raises(ValueError, match="without an attack"):
        adv.robust_accuracy(model, (x, y), None, eps=0.1)


def test_bad_arguments():
    model = digits_model()
    x, y = batch()
    with pytest.raises(ValueError, match="norm"):
        adv.fgsm(model, x, y, eps=0.1, norm=1)
    with pytest.raises(ValueError, match="outside clip"):
        adv.fgsm(model, x * 2, y, eps=0.1)
    adv.fgsm(model, x * 2, y, eps=0.1, clip=None)  # no range: fine
    with pytest.raises(ValueError, match="eps"):
        adv.pgd(model, x, y, eps=-0.1)
    with pytest.raises(ValueError, match="steps"):
        adv.pgd(model, x, y, eps=0.1, steps=0)
    with pytest.raises(ValueError, match="targeted attack needs y"):
        adv.pgd(model, x, eps=0.1, targeted=True)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        adv.fgsm(model, x, y[:3], eps=0.1)
    with pytest.raises(TypeError, match="integer class"):
        adv.fgsm(model, x, y.astype(np.float32), eps=0.1)
    with pytest.raises(ValueError, match="min < max"):
        adv.fgsm(model, x, y, eps=0.1, clip=(1, 0))
    with pytest.raises(ValueError, match="non-empty batch"):
        adv.fgsm(model, x[:0], y[:0], eps=0.1)
