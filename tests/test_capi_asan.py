"""tests/capi/capi_test.c under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer
(tools/asan-capi). Building the engine with sanitizers takes minutes, so this runs when
build/asan already holds the instrumented libcnnnative.so (tools/asan-capi or tools/sanitize
built it) or when CNNNATIVE_TEST_ASAN=1 asks for the build; it skips otherwise."""
from __future__ import annotations

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
    built = os.path.exists(os.path.join(ROOT, "build", "asan", "libcnnnative.so"))
    if not built and os.environ.get("CNNNATIVE_TEST_ASAN") != "1":
        pytest.skip("no instrumented build in build/asan: run tools/asan-capi (or set CNNNATIVE_TEST_ASAN=1)")
    r = subprocess.run([os.path.join(ROOT, "tools", "asan-capi")], capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-8000:]
    assert "asan-capi: no reports" in r.stdout
