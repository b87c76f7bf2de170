"""cnnnative.profiling: per-node times of a compiled model, and the warning when the thread
team's busy-machine back-off ran nodes on one thread meanwhile."""
import itertools
import warnings

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, profiling

from thread_count import on_threads


def _compiled():
    nn.init.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 10)).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    return cn.compile(model, x.shape), x


def test_profile_rows_cover_the_model_and_their_shares_add_up():
    compiled, x = _compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no back-off warning on one thread
        rows = on_threads(1, lambda: profiling.profile(compiled, x, repeats=3, warmup=1))
    assert [r["op"] for r in rows] == ["conv", "max_pool", "flatten", "linear"]  # ReLU fused into the conv
    assert rows[0]["method"].endswith("+relu") and rows[0]["output_shape"] == (8, 16, 16)
    assert all(r["ms"] >= 0 for r in rows)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    text = profiling.format_profile(rows)
    assert "total" in text and "conv" in text


def test_profile_warns_when_the_team_backed_off_meanwhile(monkeypatch):
    compiled, x = _compiled()
    counter = itertools.count()
    real = cn._core.team_contention
    monkeypatch.setattr(cn._core, "team_contention", lambda: {**real(), "events": next(counter)})
    with pytest.warns(RuntimeWarning, match="backed off 1 time"):
        on_threads(2, lambda: profiling.profile(compiled, x, repeats=2, warmup=1))
