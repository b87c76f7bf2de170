"""Threads: fork safety, the start count read at import, the wait setting, and that no
OpenMP runtime is loaded.

Every scenario runs in a fresh interpreter under a timeout, so a regression that hangs
(a forked child waiting for worker threads it does not have) fails instead of stalling CI.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TIMEOUT = 120
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__import__("cnnnative").__file__)))
AFFINITY = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PYTHON_DIR, env.get("PYTHONPATH")]))
    env.update(changes)
    return env


def _run(code, tmp_path=None, env=None, **kwargs):
    """Runs `code` in a new interpreter (as a script file when tmp_path is given, which
    multiprocessing's spawn needs); returns the CompletedProcess."""
    code = textwrap.dedent(code)
    if tmp_path is not None:
        script = tmp_path / "scenario.py"
        script.write_text(code)
        args = [sys.executable, str(script)]
    else:
        args = [sys.executable, "-c", code]
    return subprocess.run(args, env=env or _env(), capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


def _json_result(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Data, a conv, and a waitpid that kills a hung child (so the test fails, not hangs).
_SETUP = """
    import json, os, sys, threading, time, warnings
    import numpy as np
    import cnnnative as cn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 24, 24), dtype=np.float32)
    w = rng.standard_normal((16, 8, 3, 3), dtype=np.float32)

    def conv():
        return cn.ops.conv2d(x, w, padding=1)

    def train_losses():
        # Three SGD steps of digits_net: conv, pool, batch norm, linear, loss, optimizer.
        cn.nn.init.manual_seed(0)
        model = cn.models.digits_net()
        trainer = cn.Trainer(model, cn.optim.SGD(model, lr=0.05, momentum=0.9), seed=0, quiet=True)
        images = np.random.default_rng(1).random((32, 1, 8, 8), dtype=np.float32)
        labels = np.arange(32) % 10
        return [trainer.step(images, labels) for _ in range(3)]

    def wait_or_kill(pid, seconds):
        # The child's exit status, or None after killing a child that hangs.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.01)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return None
"""
# A multi-threaded conv and training start the thread team's workers from the main thread.
_WARM = """
    cn.set_num_threads(2)
    expected = conv()
    expected_losses = train_losses()
    assert cn._core._parallel_team_size() == 2
"""
_PARENT = _SETUP + _WARM


def test_forked_child_runs_kernels_on_all_threads_and_never_hangs():
    # The parent's workers do not exist in the child: its first region starts a fresh team,
    # from the thread that forked as from any other, with the full count.
    proc = _run(_PARENT + """
    r, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        result = {}
        try:
            result["first_conv_ok"] = bool(np.allclose(conv(), expected, rtol=1e-5, atol=1e-4))
            result["train_ok"] = bool(np.allclose(train_losses(), expected_losses, rtol=1e-4))
            result["team"] = cn._core._parallel_team_size()
            result["threads"] = cn.get_num_threads()
            result["source"] = cn.info()["threads_source"]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cn.set_num_threads(2)
            result["warning"] = " ".join(str(c.message) for c in caught)
            result["team_after_set"] = cn._core._parallel_team_size()
            result["conv_after_set_ok"] = bool(np.allclose(conv(), expected, rtol=1e-5, atol=1e-4))
            seen = {}
            def worker():
                seen["team"] = cn._core._parallel_team_size()
                seen["threads"] = cn.get_num_threads()
                seen["conv_ok"] = bool(np.allclose(conv(), expected, rtol=1e-5, atol=1e-4))
            t = threading.Thread(target=worker)
            t.start()
            t.join()
            result["new_thread"] = seen
        finally:
            os.write(wr, json.dumps(result).encode())
            os._exit(0)
    os.close(wr)
    code = wait_or_kill(pid, 60)
    print(json.dumps({"exit": code, "child": json.loads(os.read(r, 1 << 16) or b"{}")}))
    """)
    out = _json_result(proc)
    assert out["exit"] == 0, f"the forked child hung or failed: {out}"
    child = out["child"]
    assert child["first_conv_ok"] and child["train_ok"] and child["conv_after_set_ok"]
    assert child["team"] == 2 and child["threads"] == 2 and child["team_after_set"] == 2
    assert child["source"] == "set_num_threads"
    assert child["warning"] == ""
    assert child["new_thread"] == {"team": 2, "threads": 2, "conv_ok": True}


def test_parent_keeps_its_threads_after_fork():
    proc = _run(_PARENT + """
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    assert wait_or_kill(pid, 60) == 0
    print(json.dumps({"team": cn._core._parallel_team_size(), "threads": cn.get_num_threads(),
                      "source": cn.info()["threads_source"]}))
    """)
    assert _json_result(proc) == {"team": 2, "threads": 2, "source": "set_num_threads"}


def test_grandchild_forked_from_a_child_thread_never_hangs():
    # The child's new thread opens a team, then forks: the grandchild starts one afresh.
    proc = _run(_PARENT + """
    pid = os.fork()
    if pid == 0:
        status = {}
        def worker():
            conv()
            g = os.fork()
            if g == 0:
                ok = np.allclose(conv(), expected, rtol=1e-5, atol=1e-4) and cn._core._parallel_team_size() == 2
                os._exit(0 if ok else 3)
            status["grandchild"] = wait_or_kill(g, 60)
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        os._exit(0 if status.get("grandchild") == 0 else 4)
    print(json.dumps({"exit": wait_or_kill(pid, 90)}))
    """)
    assert _json_result(proc) == {"exit": 0}


def test_child_forked_before_any_team_keeps_its_threads():
    proc = _run(_SETUP + """
    cn.set_num_threads(2)
    pid = os.fork()
    if pid == 0:
        ok = cn._core._parallel_team_size() == 2 and cn.get_num_threads() == 2
        os._exit(0 if ok else 3)
    print(json.dumps({"exit": wait_or_kill(pid, 60)}))
    """)
    assert _json_result(proc) == {"exit": 0}


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_workers_run_kernels(tmp_path, method):
    proc = _run(_SETUP + f"""
    import multiprocessing as mp

    def work(seed):
        return float(conv().sum()), cn.get_num_threads()

    if __name__ == "__main__":
        cn.set_num_threads(2)
        expected = conv()
        with mp.get_context("{method}").Pool(2) as pool:
            rows = pool.map_async(work, range(4)).get(timeout=60)
        print(json.dumps({{"sums_ok": all(abs(s - float(expected.sum())) < 1e-2 * (1 + abs(s)) for s, _ in rows),
                          "threads": sorted({{t for _, t in rows}})}}))
    """, tmp_path=tmp_path)
    out = _json_result(proc)
    assert out["sums_ok"]
    # Forked workers keep the parent's count (and start a fresh team); spawned and
    # forkserver ones start afresh from the environment.
    assert out["threads"] == ([2] if method == "fork" else [AFFINITY])


# ---- the start count: OMP_NUM_THREADS, else the CPU affinity, read at import ----------

_SETTINGS = """
import json, cnnnative as cn
print(json.dumps({"threads": cn.get_num_threads(), "source": cn.info()["threads_source"]}))
"""


@pytest.mark.parametrize("value, expected", [("3", 3), (" 5 ", 5), ("2,1", 2)])
def test_omp_num_threads_sets_the_start_count(value, expected):
    proc = _run(_SETTINGS, env=_env(OMP_NUM_THREADS=value))
    assert _json_result(proc) == {"threads": expected, "source": "OMP_NUM_THREADS"}
    assert "Warning" not in proc.stderr


@pytest.mark.parametrize("value", ["abc", "0", "1.5", "4097", ",3"])
def test_bad_omp_num_threads_warns_and_uses_the_cpu_count(value):
    proc = _run("import warnings; warnings.simplefilter('always')\n" + _SETTINGS,
                env=_env(OMP_NUM_THREADS=value))
    assert _json_result(proc) == {"threads": AFFINITY, "source": "CPU affinity"}
    assert "RuntimeWarning" in proc.stderr
    assert f"OMP_NUM_THREADS='{value}' is not a thread count from 1 to 4096" in proc.stderr


def test_blank_omp_num_threads_counts_as_unset():
    proc = _run(_SETTINGS, env=_env(OMP_NUM_THREADS=" "))
    assert _json_result(proc) == {"threads": AFFINITY, "source": "CPU affinity"}
    assert "Warning" not in proc.stderr


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_start_count_is_the_cpus_this_process_may_use():
    one_cpu = min(os.sched_getaffinity(0))
    proc = _run(_SETTINGS, preexec_fn=lambda: os.sched_setaffinity(0, {one_cpu}))
    assert _json_result(proc) == {"threads": 1, "source": "CPU affinity"}


def test_set_num_threads_is_reported_as_the_source():
    proc = _run("import cnnnative as cn; cn.set_num_threads(1)\n" + _SETTINGS)
    assert _json_result(proc) == {"threads": 1, "source": "set_num_threads"}


def test_openmp_thread_setting_before_import_is_ignored():
    # Another library (torch.set_num_threads, below) may call omp_set_num_threads(1) in
    # libgomp before cnnnative loads; that must not make cnnnative single-threaded.
    proc = _run("import ctypes, ctypes.util\n"
                "gomp = ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1')\n"
                "gomp.omp_set_num_threads(1)\n"
                "assert gomp.omp_get_max_threads() == 1\n" + _SETTINGS, env=_env(OMP_NUM_THREADS="3"))
    assert _json_result(proc) == {"threads": 3, "source": "OMP_NUM_THREADS"}


def test_torch_set_num_threads_before_import_is_ignored():
    pytest.importorskip("torch")
    proc = _run("import torch; torch.set_num_threads(1)\n" + _SETTINGS, env=_env(OMP_NUM_THREADS="3"))
    assert _json_result(proc) == {"threads": 3, "source": "OMP_NUM_THREADS"}


# ---- the wait setting: the team's default, or the user's variables -------------------

_POLICY = """
import json, os, cnnnative as cn
info = cn.info()
print(json.dumps({"policy": info["wait_policy"], "source": info["wait_policy_source"],
                  "left_in_environ": os.environ.get("OMP_WAIT_POLICY")}))
"""


def test_default_wait_setting_leaves_the_environment_alone():
    # OMP_DISPLAY_ENV makes an OpenMP runtime print its settings when it loads: none does.
    proc = _run(_POLICY, env=_env(OMP_DISPLAY_ENV="verbose"))
    assert _json_result(proc) == {"policy": "short spin, then yield, then sleep", "source": "cnnnative default",
                                  "left_in_environ": None}
    assert "OPENMP DISPLAY ENVIRONMENT" not in proc.stderr


@pytest.mark.parametrize("name, value", [("OMP_WAIT_POLICY", "passive"), ("OMP_WAIT_POLICY", "active"),
                                         ("GOMP_SPINCOUNT", "1000"), ("CNNNATIVE_SPIN_US", "50")])
def test_users_wait_policy_is_kept_and_reported(name, value):
    proc = _run(_POLICY, env=_env(**{name: value}))
    out = _json_result(proc)
    assert (out["policy"], out["source"]) == (f"{name}={value}", "environment")
    assert out["left_in_environ"] == (value if name == "OMP_WAIT_POLICY" else None)


def test_libgomp_loaded_first_changes_nothing():
    # cnnnative does not use libgomp, so another library having loaded it first is harmless.
    proc = _run("import ctypes, ctypes.util; ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1')\n"
                + _POLICY)
    out = _json_result(proc)
    assert (out["policy"], out["source"]) == ("short spin, then yield, then sleep", "cnnnative default")


def test_cli_info_shows_threads_and_wait_policy():
    proc = subprocess.run([sys.executable, "-m", "cnnnative", "info"], env=_env(OMP_WAIT_POLICY="passive"),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["wait_policy"] == "OMP_WAIT_POLICY=passive"
    assert info["wait_policy_source"] == "environment"
    assert info["threads_source"] == "CPU affinity"
    assert info["openmp"] is False


# ---- no OpenMP runtime: not linked, not loaded --------------------------------------

_OPENMP_RUNTIMES = ("libgomp", "libomp", "libiomp")


def test_no_openmp_runtime_is_loaded():
    # In a fresh interpreter (torch, imported by other tests, brings its own libgomp):
    # import, run threaded kernels and a training step, then look at what is mapped.
    proc = _run(_SETUP + """
    cn.set_num_threads(2)
    conv()
    train_losses()
    with open("/proc/self/maps") as f:
        names = sorted({line.split()[-1] for line in f if ".so" in line})
    print(json.dumps(names))
    """)
    names = _json_result(proc)
    assert any("_core" in n for n in names)
    assert not [n for n in names if any(r in os.path.basename(n) for r in _OPENMP_RUNTIMES)]


@pytest.mark.skipif(not shutil.which("ldd"), reason="needs ldd")
def test_built_libraries_do_not_link_an_openmp_runtime():
    import cnnnative as cn
    from cnnnative import _core
    libs = [_core.__file__]
    shared = os.path.join(cn.get_library_dir(), "libcnnnative.so")
    if os.path.exists(shared):
        libs.append(shared)
    for lib in libs:
        out = subprocess.run(["ldd", lib], capture_output=True, text=True, timeout=TIMEOUT).stdout
        # ldd worked (libc is always there; libstdc++ is not in a portable wheel, which links it in)
        assert "libc.so" in out or "not a dynamic" in out, out
        assert not any(r in out for r in _OPENMP_RUNTIMES), f"{lib} links an OpenMP runtime:\n{out}"


# Two threads pinned to one CPU: every region's worker waits for the caller's core, the
# textbook busy machine (a scenario's first lines, for _run).
_PINNED_TWO_THREADS = """
        import json, os
        import numpy as np
        import cnnnative as cn
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        cn.set_num_threads(2)
        rng = np.random.default_rng(0)
"""


def test_team_backs_off_to_one_thread_when_its_cores_are_taken():
    # Two threads pinned to one CPU: every region's worker waits for the caller's core, the
    # textbook busy machine. The team must notice (events), run kernels on the caller alone
    # for a while (solo_us_left), keep the results exact, and open the full team again for a
    # caller that asks past the back-off (parallel_team_size ignores it). Turned off, it
    # never backs off.
    proc = _run(_PINNED_TWO_THREADS + """
        a = rng.standard_normal((256, 256)).astype(np.float32)
        b = rng.standard_normal((256, 256)).astype(np.float32)
        want = a.astype(np.float64) @ b.astype(np.float64)
        ok = True
        for _ in range(200):
            ok = ok and bool(np.allclose(cn.ops.gemm(a, b), want, rtol=1e-4, atol=1e-3))
        state = cn.info()["team_backoff"]
        team = cn._core._parallel_team_size()
        cn._core._set_team_contention_backoff(False)
        off = cn._core.team_contention()
        before = off["events"]
        for _ in range(50):
            cn.ops.gemm(a, b)
        print(json.dumps({"ok": ok, "state": state, "team": team, "off": off,
                          "events_while_off": cn._core.team_contention()["events"] - before}))
    """)
    out = _json_result(proc)
    assert out["ok"]
    assert out["state"]["enabled"] and out["state"]["events"] >= 1, out
    assert out["team"] == 2
    assert out["off"] == {"events": out["off"]["events"], "solo_us_left": 0, "enabled": False}
    assert out["events_while_off"] == 0


def test_team_backoff_can_be_turned_off_from_the_environment():
    proc = _run("""
        import json, cnnnative as cn
        print(json.dumps(cn.info()["team_backoff"]))
    """, env=_env(CNNNATIVE_TEAM_BACKOFF="0"))
    assert _json_result(proc) == {"events": 0, "solo_us_left": 0, "enabled": False}


def test_weight_gradients_and_winograd_give_the_same_bits_backed_off_or_not():
    # The conv weight gradients' per-slot partial sums run in parts fixed by the plan (one
    # per configured thread), and the Winograd convolution computes each output on one
    # member, so they may back off too: pinned to one CPU with 2 threads, every call must
    # give the bits of a call made with the back-off off (the full team).
    proc = _run(_PINNED_TWO_THREADS + """
        from cnnnative import ops
        x = rng.standard_normal((8, 6, 14, 14)).astype(np.float32)      # LeNet conv2: stacked
        dy = rng.standard_normal((8, 16, 10, 10)).astype(np.float32)    # images, per-slot sums
        x3 = rng.standard_normal((4, 3, 6, 7, 8)).astype(np.float32)    # Conv3d, vol2col units
        dy3 = rng.standard_normal((4, 5, 4, 5, 6)).astype(np.float32)
        x1 = rng.standard_normal((1, 8, 40, 40)).astype(np.float32)     # one image: threaded
        dy1 = rng.standard_normal((1, 4, 38, 38)).astype(np.float32)    # dot products
        xw = rng.standard_normal((2, 32, 20, 20)).astype(np.float32)    # Winograd forward: both
        ww = rng.standard_normal((48, 32, 3, 3)).astype(np.float32)     # schedules
        xb = rng.standard_normal((1, 64, 12, 12)).astype(np.float32)
        wb = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
        run = lambda: (ops.conv2d_weight(x, (16, 6, 5, 5), dy), ops.conv3d_weight(x3, (5, 3, 3, 3, 3), dy3),
                       ops.conv2d_weight(x1, (4, 8, 3, 3), dy1), ops.conv2d(xw, ww, padding=1, algo="winograd"),
                       ops.conv2d(xb, wb, padding=1, algo="winograd"))
        cn._core._set_team_contention_backoff(False)
        want = run()
        cn._core._set_team_contention_backoff(True)
        a = rng.standard_normal((256, 256)).astype(np.float32)  # GEMMs keep the back-off engaged
        same = True
        for _ in range(60):
            for _ in range(4):
                cn.ops.gemm(a, a)
            same = same and all(np.array_equal(u, v) for u, v in zip(run(), want))
        print(json.dumps({"same": same, "state": cn.info()["team_backoff"]}))
    """)
    out = _json_result(proc)
    assert out["same"], out
    assert out["state"]["events"] >= 1, out  # the back-off did run regions alone


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_gemm_gives_the_same_bits_on_any_team(isa):
    # The SGEMM's regions are run_team (the busy-machine back-off may run them on
    # one thread): so its results must not depend on the team size.
    import cnnnative as cn
    from cnnnative import ops
    if isa not in cn.info()["isas_available"]:
        pytest.skip(f"{isa} not available here")
    before = cn.get_isa()
    cn._core.set_isa(isa)
    try:
        rng = np.random.default_rng(0)
        for m, k, n in [(1, 1025, 1), (3, 64, 513), (17, 300, 33), (64, 5, 128), (100, 1025, 7), (257, 64, 16)]:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            out = {}
            for threads in (1, 2):
                cn.set_num_threads(threads)
                out[threads] = (ops.gemm(a, b), ops.linear(a, b.T.copy(), None))
            for x, y in zip(out[1], out[2]):
                np.testing.assert_array_equal(x, y)
    finally:
        cn._core.set_isa(before)
        cn.set_num_threads(AFFINITY)
