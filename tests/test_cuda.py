"""The CUDA backend's import safety, build and API shape: these run everywhere.

On a machine without a GPU (this one, CI) the backend must import, say it is unavailable
and why, and refuse work with a clear error; when nvcc and a GPU driver were present at
build time the extension must exist. GPU numerics live in test_cuda_ops.py (skipped
without a GPU).
"""
import inspect
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import cnnnative
import cnnnative.cuda as cc
from cnnnative import ops


def test_import_always_works_and_reports_state():
    assert isinstance(cc.is_built(), bool)
    assert isinstance(cc.is_available(), bool)
    reason = cc.why_unavailable()
    assert isinstance(reason, str)
    # Available exactly when there is no reason against it.
    assert cc.is_available() == (reason == "")
    if not cc.is_built():
        assert not cc.is_available()
        assert "without the CUDA backend" in reason


def test_info_reports_cuda():
    info = cnnnative.info()
    assert info["cuda_built"] == cc.is_built()
    assert info["cuda_available"] == cc.is_available()
    assert info["cuda_reason"] == cc.why_unavailable()


def _nvcc_present():
    # What CMake's check_language(CUDA) looks for: nvcc on PATH (or CUDACXX).
    return shutil.which("nvcc") is not None or bool(os.environ.get("CUDACXX"))


def _gpu_driver_present():
    # What cuda/CMakeLists.txt's AUTO looks for besides nvcc: the driver's libcuda.so.1, a
    # GPU device node, or nvidia-smi.
    return (cc._driver_present() or os.path.exists("/dev/nvidia0") or os.path.exists("/dev/dxg")
            or shutil.which("nvidia-smi") is not None)


def _build_info():
    return cnnnative._core.build_info()


@pytest.mark.skipif(_build_info().get("cuda_option", "").upper() == "OFF",
                    reason="built with CNNNATIVE_CUDA=OFF: the CUDA extension was deliberately not built")
def test_extension_built_when_nvcc_exists():
    # How the package was built is recorded in the binary at build time (CMake's resolved
    # CNNNATIVE_CUDA and whether it built _cuda): the environment at test time may differ.
    build = _build_info()
    assert "cuda_option" in build and "cuda_built" in build, build
    if build["cuda_built"]:
        assert cc.is_built(), f"the build made cnnnative._cuda but it does not import: {cc.why_unavailable()}"
    elif _nvcc_present() and (_gpu_driver_present() or build["cuda_option"].upper() == "ON"):
        pytest.fail(f"nvcc and a GPU driver are here and CNNNATIVE_CUDA={build['cuda_option']}, but the build "
                    "did not find them: rebuild (or build with CNNNATIVE_CUDA=OFF to mean it)")
    else:
        pytest.skip("no nvcc or no GPU driver when the package was built, nor now: AUTO builds the "
                    "CUDA extension only where it can run (CNNNATIVE_CUDA=ON builds it anyway)")


def test_no_driver_is_not_called_an_old_driver():
    runtime = "cudaGetDeviceCount failed: cudaErrorInsufficientDriver (CUDA driver version is insufficient)"
    assert cc._explain(runtime, driver_present=False).startswith("no NVIDIA driver found")
    assert cc._explain(runtime, driver_present=True) == runtime  # a real old driver: keep the runtime's word
    assert cc._explain("no CUDA device found", driver_present=False) == "no CUDA device found"


@pytest.mark.skipif(cc.is_available(), reason="a GPU is present: the no-GPU behaviour cannot be observed")
def test_no_gpu_is_a_clear_error():
    reason = cc.why_unavailable()
    assert reason  # says why, e.g. "cudaGetDeviceCount failed: cudaErrorNoDevice ..."
    if cc.is_built():
        assert "cuda" in reason.lower() or "device" in reason.lower()
        assert cc.device_count() == 0 or "capability" in reason
    for call in (lambda: cc.from_numpy(np.zeros(3, np.float32)), lambda: cc.empty((2, 2)),
                 lambda: cc.zeros(4), cc.synchronize,
                 lambda: cc.ops.relu(np.zeros(3, np.float32))):
        with pytest.raises(RuntimeError, match="CUDA backend unavailable"):
            call()
    # Harmless calls stay harmless.
    cc.empty_cache()
    assert set(cc.memory_stats()) == {"in_use_bytes", "cached_bytes", "peak_in_use_bytes", "device_mallocs"}


def test_import_in_a_fresh_process_without_gpu_env():
    # CUDA_VISIBLE_DEVICES="" hides every GPU: importing and asking must still work.
    code = ("import cnnnative, cnnnative.cuda as c; print(c.is_available()); "
            "print(repr(c.why_unavailable())); print(cnnnative.info()['cuda_available'])")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "False" and lines[2] == "False"
    assert lines[1] not in ("''", '""')


# The GPU functional API mirrors cnnnative.ops: same names, same parameter names in the same
# order, so code (and the layers) can switch device without changing calls.
def test_cuda_ops_mirror_cpu_signatures():
    checked = 0
    for name in cc.ops.__all__:
        cpu = getattr(ops, name, None)
        if not callable(cpu):
            continue  # the CPU area has not landed this op (yet)
        gpu = getattr(cc.ops, name)
        cpu_params = [p.name for p in inspect.signature(cpu).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        gpu_params = [p.name for p in inspect.signature(gpu).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert gpu_params[:len(cpu_params)] == cpu_params, (name, cpu_params, gpu_params)
        # Keyword-only parameters too: the layers pass them (ReLU(inplace=True) calls
        # ops.relu(x, out=...) even with out=None), so a GPU op without one is a TypeError.
        cpu_kw = {p.name for p in inspect.signature(cpu).parameters.values() if p.kind == p.KEYWORD_ONLY}
        gpu_all = inspect.signature(gpu).parameters
        assert cpu_kw <= set(gpu_all) or any(p.kind == p.VAR_KEYWORD for p in gpu_all.values()), \
            (name, sorted(cpu_kw - set(gpu_all)))
        checked += 1
    assert checked >= 20


def test_every_public_cuda_op_has_a_docstring():
    for name in cc.ops.__all__:
        assert getattr(cc.ops, name).__doc__, name


# --- integration: ops dispatch, Module.to, Trainer, CLI ------------------------------------

def test_ops_dispatch_leaves_numpy_calls_alone():
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(ops.relu(x), [[0.0, 2.0]])
    assert inspect.signature(ops.conv2d) == inspect.signature(ops.conv.conv2d)


def test_module_to_cpu_is_a_no_op_and_cuda_needs_a_gpu():
    model = cnnnative.models.build("digits_net")
    before = [p.data for p in model.parameters()]
    assert model.to("cpu") is model and model.device == "cpu"
    assert all(a is b for a, b in zip(before, (p.data for p in model.parameters())))
    with pytest.raises(ValueError, match="device"):
        model.to("tpu")
    if not cc.is_available():
        with pytest.raises(RuntimeError, match="CUDA backend unavailable"):
            model.to("cuda")
        assert model.device == "cpu"  # nothing moved


@pytest.mark.skipif(cc.is_available(), reason="a GPU is present")
def test_cli_train_device_cuda_fails_clearly_without_gpu(capsys):
    from cnnnative import cli
    with pytest.raises(SystemExit, match="CUDA backend unavailable"):
        cli.main(["train", "--device", "cuda", "--epochs", "1", "--quiet", "--no-plots"])
