"""tests/capi/capi_test.c under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer
(tools/asan-capi). With build/asan holding the fully instrumented libcnnnative.so
(tools/asan-capi or tools/sanitize built it; or CNNNATIVE_TEST_ASAN=1 to build it, minutes)
the full mode runs; else, in a checkout with tools/dev-build's build or pip install .'s
build directory (CI's clean clone), the quick mode (the C API and the plan loader
instrumented, the engine not; objects cached in build/); else it skips (an installed wheel
has no sources to instrument)."""
from __future__ import annotations

import glob
import os
import subprocess

import pytest

from capi_support import ROOT, require_c_api, require_compiler


def sanitizers_available(cc: str) -> bool:
    r = subprocess.run([cc, "-fsanitize=address,undefined", "-x", "c", "-", "-o", os.devnull],
                       input="int main(void) { return 0; }\n", capture_output=True, text=True)
    return r.returncode == 0


def test_c_api_under_asan():
    require_c_api()
    cc = require_compiler("c")
    if not sanitizers_available(cc):
        pytest.skip(f"{cc} cannot link -fsanitize=address,undefined")
    full = os.path.exists(os.path.join(ROOT, "build", "asan", "libcnnnative.so")) or \
        os.environ.get("CNNNATIVE_TEST_ASAN") == "1"
    engine_objects = os.path.exists(os.path.join(ROOT, "build", "dev", "build.ninja")) or \
        bool(glob.glob(os.path.join(ROOT, "build", "*", "libcnnnative_core.a")))
    if not full and not engine_objects:
        pytest.skip("no engine build to link the quick mode against (tools/dev-build's build/dev, or pip "
                    "install .'s build/<wheel tag>), and no build/asan")
    cmd = [os.path.join(ROOT, "tools", "asan-capi")] + ([] if full else ["--quick"])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-8000:]
    assert "asan-capi: no reports" in r.stdout
