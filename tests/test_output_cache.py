"""The output cache (cpp/bindings/output_cache.h): the memory of large outputs is reused
for the next output of the same size instead of going back to malloc, so a training step
does not fault its arrays in again every time; what an idle process keeps is bounded."""
import os
import platform
import resource
import subprocess
import sys

import numpy as np
import pytest

import cnnnative
from cnnnative import _core, ops

BIG = (64, 32, 14, 14)  # 1.6 MB: above the 256 KB the cache starts at


def _address(a):
    return a.__array_interface__["data"][0]


def test_a_freed_large_output_is_reused_for_the_next_of_its_size(rng):
    _core.output_cache_clear()  # earlier tests may have filled it to its bound: then nothing more is kept
    x = rng.standard_normal(BIG).astype(np.float32)
    w = rng.standard_normal((32, 32, 1, 1)).astype(np.float32)
    y = ops.conv2d(x, w)
    where = _address(y)
    assert where % 64 == 0  # aligned like every new output
    before = _core.output_cache_bytes()
    del y
    assert _core.output_cache_bytes() >= before + 4 * int(np.prod(BIG))
    y2 = ops.conv2d(x, w)
    assert _address(y2) == where
    np.testing.assert_allclose(y2, np.einsum("kc,nchw->nkhw", w[:, :, 0, 0], x), rtol=1e-4, atol=1e-4)


def test_the_cache_is_bounded_and_can_be_emptied(rng):
    _core.output_cache_clear()
    assert _core.output_cache_bytes() == 0
    x = np.ones((1, 1, 1024, 1024), np.float32)  # 4 MB outputs
    outs = [ops.conv2d(x, np.ones((16, 1, 1, 1), np.float32)) for _ in range(6)]  # 64 MB each
    del outs
    assert 0 < _core.output_cache_bytes() <= 256 << 20
    _core.output_cache_clear()
    assert _core.output_cache_bytes() == 0


def test_small_outputs_stay_with_numpy():
    y = ops.relu(np.ones(1000, np.float32))
    assert y.base is None or isinstance(y.base, np.ndarray)


@pytest.mark.skipif(platform.system() != "Linux", reason="page fault counts from getrusage on Linux")
def test_training_steps_do_not_fault_their_arrays_back_in():
    # Before the cache: about 2,700 minor faults per seed_mnist_net step at batch 64 (the
    # freed top of the heap went back to the kernel every step).
    code = """
import resource, numpy as np, cnnnative as cn
from cnnnative import models, nn, optim
cn.set_num_threads(1)
rng = np.random.default_rng(0)
x = rng.random((64, 1, 28, 28), dtype=np.float32); y = rng.integers(0, 10, 64)
nn.init.manual_seed(0)
m = models.seed_mnist_net()
tr = cn.Trainer(m, optim.SGD(m, lr=0.01, momentum=0.9), quiet=True)
for _ in range(4):
    tr.step(x, y)
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    tr.step(x, y)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 5)
"""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(cnnnative.__file__)) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 500, out.stdout
