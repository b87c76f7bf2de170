"""A short libFuzzer run of the plan loader (fuzz/plan_loader_fuzzer.cc, built with ASan
and UBSan by tools/fuzz-plan-loader): no crash, no sanitizer report, no leak in 8 s.

Skips when clang's libFuzzer is not installed, or the fuzzer has not been built (its
sanitized build of the engine takes minutes: run `tools/fuzz-plan-loader build`, or set
CNNNATIVE_FUZZ_BUILD=1 to let this test build it)."""
import glob
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUZZER = ROOT / "build" / "fuzz" / "plan_loader_fuzzer"


def _have_libfuzzer():
    return shutil.which("clang++") is not None and bool(glob.glob("/usr/lib/llvm-*/lib/clang/*/lib/linux/"
                                                                 "libclang_rt.fuzzer-x86_64.a"))


@pytest.mark.skipif(not _have_libfuzzer(), reason="clang with libFuzzer is not installed")
def test_plan_loader_fuzz_smoke(tmp_path):
    if os.environ.get("CNNNATIVE_FUZZ_BUILD") == "1":
        subprocess.run([str(ROOT / "tools" / "fuzz-plan-loader"), "build"], check=True, cwd=ROOT)
    if not FUZZER.exists():
        pytest.skip("the fuzzer is not built: tools/fuzz-plan-loader build (or CNNNATIVE_FUZZ_BUILD=1)")
    import cnnnative as cn
    from plan_file_nets import NETS, build
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in NETS:  # the seeds: small plans that together use every op
        model, shape = build(name)
        cn.export_plan(model, corpus / f"{name}.cnn", (1, *shape[1:]))
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run([str(FUZZER), str(work), str(corpus), "-max_total_time=8", "-max_len=65536",
                          # No RSS limit: a child's peak RSS starts at its parent's (after
                          # thousands of tests, pytest's is over 2 GB); any one allocation
                          # over 2 GB still fails the run.
                          "-rss_limit_mb=0", "-malloc_limit_mb=2048", "-timeout=10", f"-artifact_prefix={tmp_path}/",
                          "-print_final_stats=1"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1",
                              "ASAN_OPTIONS": "detect_leaks=1:allocator_may_return_null=1"})
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert "ERROR" not in log and "runtime error" not in log, log[-4000:]
    execs = [line for line in log.splitlines() if line.startswith("stat::number_of_executed_units")]
    assert execs and int(execs[0].split(":")[-1]) > 100, log[-2000:]
