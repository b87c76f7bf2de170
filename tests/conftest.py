"""Shared test fixtures.

`isa` runs a test once per instruction set this CPU supports (scalar, avx2, avx512),
switching the core at run time; the original choice is restored afterwards.
Random data comes from `rng`, seeded per test and printed on failure. `nan_scratch`
(used by whole modules through `pytestmark`) fills every scratch buffer with NaN, so a
kernel reading workspace it never wrote fails.
"""
import os
import zlib

import numpy as np
import pytest

import cnnnative
from cnnnative import _core

ISAS = list(_core.available_isas())


@pytest.fixture(params=ISAS)
def isa(request):
    before = _core.get_isa()
    _core.set_isa(request.param)
    try:
        yield request.param
    finally:
        _core.set_isa(before)


@pytest.fixture
def nan_scratch():
    _core.set_scratch_nan(True)
    try:
        yield
    finally:
        _core.set_scratch_nan(False)


@pytest.fixture
def rng(request):
    # Seeded from the test's name so each test is reproducible on its own.
    seed = zlib.crc32(request.node.nodeid.encode()) ^ int(os.environ.get("CNNNATIVE_TEST_SEED", "0"))
    request.node.user_properties.append(("seed", seed))
    return np.random.default_rng(seed)


def pytest_report_header(config):
    info = cnnnative.info()
    return [f"cnnnative {info['version']}: isa={info['isa']} available={info['isas_available']} "
            f"threads={info['threads']}"]
