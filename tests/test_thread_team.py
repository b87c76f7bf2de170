"""The inference kernels' own thread team (cpp/include/cnnnative/thread_pool.h): how idle
members wait (and where that setting comes from), fork, concurrent callers, and results
that do not depend on the team or its waiting.

Scenarios that could hang run in a fresh interpreter under a timeout (as in test_threads.py).
"""
import threading

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core
from test_threads import _SETUP, _env, _json_result, _run


def _small_net():
    cn.nn.init.manual_seed(0)
    return cn.models.build("resnet18", num_classes=10).eval()


@pytest.fixture
def two_threads():
    before = cn.get_num_threads()
    cn.set_num_threads(2)
    yield
    cn.set_num_threads(before)


@pytest.fixture
def restore_wait():
    s = _core.thread_settings()
    yield
    _core._set_team_wait(s["team_spin_us"], s["team_yield_us"])


def test_default_waiting_is_a_short_spin_then_yield():
    proc = _run("import json, cnnnative as cn; print(json.dumps(cn._core.thread_settings()))")
    s = _json_result(proc)
    assert (s["team_spin_us"], s["team_yield_us"], s["team_wait_source"]) == (10, 90, "cnnnative default")


@pytest.mark.parametrize("env,expected", [
    ({"OMP_WAIT_POLICY": "passive"}, (0, 0, "OMP_WAIT_POLICY=passive")),
    ({"OMP_WAIT_POLICY": "active"}, (200, 1000000, "OMP_WAIT_POLICY=active")),
    ({"GOMP_SPINCOUNT": "3000"}, (30, 0, "GOMP_SPINCOUNT")),
    ({"CNNNATIVE_SPIN_US": "0"}, (0, 0, "CNNNATIVE_SPIN_US")),
    ({"CNNNATIVE_SPIN_US": "500", "OMP_WAIT_POLICY": "passive"}, (10, 490, "CNNNATIVE_SPIN_US")),
])
def test_users_settings_choose_the_waiting(env, expected):
    proc = _run("import json, cnnnative as cn; print(json.dumps(cn._core.thread_settings()))", env=_env(**env))
    s = _json_result(proc)
    assert (s["team_spin_us"], s["team_yield_us"], s["team_wait_source"]) == expected


def test_info_reports_the_team_waiting():
    assert "then sleep" in cn.info()["team_wait"]


@pytest.mark.parametrize("spin,yield_", [(0, 0), (10, 90), (1000, 0)])
def test_results_do_not_depend_on_the_waiting(two_threads, restore_wait, spin, yield_):
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    model = _small_net()
    cn.set_num_threads(1)
    expected = cn.compile(model, x.shape)(x)
    cn.set_num_threads(2)
    _core._set_team_wait(spin, yield_)
    compiled = cn.compile(model, x.shape)
    for _ in range(3):
        np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)


def test_concurrent_callers_get_the_same_outputs(two_threads):
    """Four Python threads run one compiled plan at once: one holds the team, the others run
    their kernels alone (thread_pool.h); every output equals the single call's."""
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    compiled = cn.compile(_small_net(), x.shape)
    expected = compiled(x)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(compiled(x))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 20
    for y in results:
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_forked_child_runs_the_team_and_never_hangs():
    """The parent's team members do not exist in a forked child: the child starts a new team
    (with the full count, here 2 threads) and gets the same result."""
    code = _SETUP + """
    cn.set_num_threads(2)
    cn.nn.init.manual_seed(0)
    model = cn.models.build("resnet18", num_classes=10).eval()
    xi = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    compiled = cn.compile(model, xi.shape)
    parent = compiled(xi)

    def child_work():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            ok = bool(np.allclose(compiled(xi), parent, rtol=1e-5, atol=1e-5))
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
        os.close(w)
        code = wait_or_kill(pid, 60)
        return code, os.read(r, 1)

    out = {}
    t = threading.Thread(target=lambda: out.update(result=child_work()))
    t.start(); t.join()
    code, ok = out["result"]
    print(json.dumps({"code": code, "ok": ok.decode()}))
    """
    result = _json_result(_run(code))
    assert result == {"code": 0, "ok": "1"}
