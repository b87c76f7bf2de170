"""Recovery after a crash: `cnnnative train --distributed --save-every 1` on 2 ranks, rank 1
killed (SIGKILL) in epoch 3: the job ends non-zero within 30 s, the checkpoint of epoch 2
is complete (no temporary files left beside it), and `--resume` on one rank finishes the
run."""
import json
import os
import sys
import time

import cnnnative
from mpi_launch import WORKER, mpirun, require_mpi, run


def test_killed_job_resumes_from_the_last_checkpoint(tmp_path):
    require_mpi()
    out = tmp_path / "run"
    args = ["train", "--limit", "48", "--epochs", "4", "--no-plots", "--json", "--schedule", "none",
            "--out", str(out)]
    t0 = time.monotonic()
    r = mpirun(2, [WORKER, "cli-kill", "15", *args, "--distributed", "--save-every", "1",
                   "--batch-size", "4"], timeout=60)
    assert time.monotonic() - t0 < 30
    assert r.returncode != 0 and "signal 9" in r.stderr, r.stderr
    assert sorted(os.listdir(out)) == ["model.npz"]  # 6 steps per epoch: killed in epoch 3
    ck = cnnnative.io.load(out / "model.npz")
    assert ck["meta"]["extra"]["epoch"] == 2 and ck["meta"]["extra"]["global_batch_size"] == 8
    r = run([sys.executable, "-m", "cnnnative", *args, "--resume", str(out / "model.npz")])  # no --batch-size
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["batch_size"] == 8  # the global batch kept on one rank
    assert cnnnative.io.load(out / "model.npz")["meta"]["extra"]["epoch"] == 4
