"""The cache sizes the GEMM blocking is sized for (cnnnative/cpu_caches.h): read from
cpuid on Intel and AMD alike, sane, and the scaling rule of the tuned block sizes."""
import cnnnative
from cnnnative import _core


def test_caches_are_reported_and_sane():
    c = cnnnative.info()["caches"]
    assert c["source"] in ("cpuid", "sysconf", "default")
    assert 8 << 10 <= c["l1d"] <= 1 << 20
    assert 128 << 10 <= c["l2"] <= 64 << 20
    assert c["l3"] >= 0


def test_blocks_tuned_for_1mib_scale_with_l2_within_half_and_double():
    # The reference L2 keeps the tuned size exactly (the AMD Zen 4/5 tuning holds there).
    assert _core._scale_to_l2(336, 14, 1 << 20) == 336
    assert _core._scale_to_l2(240, 6, 1 << 20) == 240
    # Emerald Rapids' 2 MiB L2: twice the rows; a 1.25 MiB L2: 1.25x rounded to the tile.
    assert _core._scale_to_l2(336, 14, 2 << 20) == 672
    assert _core._scale_to_l2(336, 14, 1280 << 10) == 420
    # Half at most down (512 KiB and 256 KiB L2), twice at most up (a 4 MiB L2).
    assert _core._scale_to_l2(144, 6, 512 << 10) == 72
    assert _core._scale_to_l2(144, 6, 256 << 10) == 72
    assert _core._scale_to_l2(336, 14, 4 << 20) == 672
    # Never below one tile.
    assert _core._scale_to_l2(14, 14, 256 << 10) == 14
