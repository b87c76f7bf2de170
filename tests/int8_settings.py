"""The int8 kernels the int8 tests run under: each ISA this CPU has, and under the avx2 ISA
each AVX2-class int8 GEMM kernel it can run (`_core.set_avx2_int8_kernel`): plain AVX2
(vpmaddwd), AVX-VNNI where the CPU has it, and the AVX-VNNI kernel's EVEX twin where the
CPU has AVX512-VNNI (the same ymm code, so machines without AVX-VNNI test it too).

A setting is "isa" or "isa/kernel". Modules take the `isa` fixture from here
(`from int8_settings import isa_with_int8_kernels  # noqa: F401`): it yields the ISA part,
so tests that compare `isa` to an ISA name keep working."""
import contextlib

import pytest

from cnnnative import _core

SETTINGS = []
for _isa in _core.available_isas():
    if _isa != "avx2":
        SETTINGS.append(_isa)
        continue
    SETTINGS.append("avx2/avx2")
    if _core.cpu_has_avx_vnni() and _core.avx_vnni_kernel_built():
        SETTINGS.append("avx2/avx_vnni")
    if _core.cpu_has_avx512_vnni():
        SETTINGS.append("avx2/avx_vnni_evex")


@contextlib.contextmanager
def int8_setting(setting):
    """Runs the block under `setting` ("isa" or "isa/kernel"), restoring both afterwards."""
    isa, _, kernel = setting.partition("/")
    isa_before, kernel_before = _core.get_isa(), _core.avx2_int8_kernel()
    _core.set_isa(isa)
    _core.set_avx2_int8_kernel(kernel or "auto")
    try:
        yield isa
    finally:
        _core.set_isa(isa_before)
        _core.set_avx2_int8_kernel(kernel_before)


@pytest.fixture(params=SETTINGS, name="isa")
def isa_with_int8_kernels(request):
    with int8_setting(request.param) as isa:
        yield isa
