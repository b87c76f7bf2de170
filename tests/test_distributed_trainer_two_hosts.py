"""The multi-machine path on one machine: two "hosts" are two network namespaces joined by
a veth pair (10.R.S.1 and 10.R.S.2), one rank in each, talking over Open MPI's TCP
transport only (--mca btl tcp,self, on the veth subnet). mpiexec runs in host A's
namespace with a hostfile naming both addresses; it starts the remote daemon through
`prte_ssh_agent`, set to a small script that runs the command in host B's namespace (with
its own hostname, as another machine would have) instead of ssh. The distributed Trainer
trained this way must equal one process with the twice-as-large batch.

Needs root, `ip netns` (iproute2) and `unshare`; skipped otherwise."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from mpi_launch import WORKER, mpiexec_path, require_mpi, run

AGENT = """#!/bin/sh
# Open MPI's remote launcher (instead of ssh): $1 is the host, the rest the command.
host=$1; shift
echo "$host" >> {log}
case $host in
  {ip_a}) ns={ns_a};;
  {ip_b}) ns={ns_b};;
  *) echo "agent: unknown host $host" >&2; exit 1;;
esac
exec ip netns exec $ns unshare --uts sh -c "hostname host-$ns; $*"
"""


def _sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20)


@pytest.fixture
def two_hosts(tmp_path):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        pytest.skip("needs ip (iproute2) and unshare (util-linux)")
    require_mpi()
    tag = f"{os.getpid() % 100000}"
    ns_a, ns_b = f"cnn{tag}a", f"cnn{tag}b"
    subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    ip_a, ip_b = f"{subnet}.1", f"{subnet}.2"
    r = _sh("ip", "netns", "add", ns_a)
    if r.returncode != 0:
        pytest.skip(f"ip netns add is not permitted here: {r.stderr.strip()}")
    try:
        steps = [("netns", "add", ns_b),
                 ("link", "add", f"v{tag}a", "type", "veth", "peer", "name", f"v{tag}b"),
                 ("link", "set", f"v{tag}a", "netns", ns_a), ("link", "set", f"v{tag}b", "netns", ns_b),
                 ("-n", ns_a, "addr", "add", f"{ip_a}/24", "dev", f"v{tag}a"),
                 ("-n", ns_b, "addr", "add", f"{ip_b}/24", "dev", f"v{tag}b"),
                 ("-n", ns_a, "link", "set", f"v{tag}a", "up"), ("-n", ns_b, "link", "set", f"v{tag}b", "up"),
                 ("-n", ns_a, "link", "set", "lo", "up"), ("-n", ns_b, "link", "set", "lo", "up")]
        for step in steps:
            r = _sh("ip", *step)
            if r.returncode != 0:
                pytest.skip(f"ip {' '.join(step)} failed: {r.stderr.strip()}")
        r = _sh("ip", "netns", "exec", ns_b, "unshare", "--uts", "true")  # what the agent will do
        if r.returncode != 0:
            pytest.skip(f"ip netns exec / unshare --uts are not permitted here: {r.stderr.strip()}")
        log = tmp_path / "agent.log"
        agent = tmp_path / "agent.sh"
        agent.write_text(AGENT.format(log=log, ip_a=ip_a, ip_b=ip_b, ns_a=ns_a, ns_b=ns_b))
        agent.chmod(0o755)
        hosts = tmp_path / "hostfile"
        hosts.write_text(f"{ip_a} slots=1\n{ip_b} slots=1\n")
        yield dict(ns_a=ns_a, subnet=f"{subnet}.0/24", agent=str(agent), hostfile=str(hosts), log=log, ip_b=ip_b)
    finally:
        for ns in (ns_a, ns_b):
            _sh("ip", "netns", "del", ns)  # takes the veth pair with it


def _launch(h):
    """mpiexec in host A's namespace, the hostfile naming both hosts, TCP only."""
    cmd = ["ip", "netns", "exec", h["ns_a"], mpiexec_path(), "--hostfile", h["hostfile"], "-n", "2",
           "--prtemca", "prte_ssh_agent", h["agent"],
           "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", h["subnet"]]
    if os.geteuid() == 0:
        cmd.insert(5, "--allow-run-as-root")
    return cmd


def test_two_hosts_over_tcp_equal_one_process(tmp_path, two_hosts):
    h = two_hosts
    r = run(_launch(h) + [sys.executable, WORKER, "train", str(tmp_path / "two.npz"), "--batch-size", "4"],
            timeout=90)
    assert r.returncode == 0, r.stderr
    assert h["log"].read_text().split() == [h["ip_b"]]  # the second rank was started on "host B"
    r1 = run([sys.executable, WORKER, "train", str(tmp_path / "one.npz"), "--batch-size", "8", "--no-distributed"])
    assert r1.returncode == 0, r1.stderr
    two, one = np.load(tmp_path / "two.npz"), np.load(tmp_path / "one.npz")
    for k in two.files:
        if k.startswith("arr_"):
            rel = float(np.abs(two[k] - one[k]).max() / np.abs(one[k]).max())
            assert rel <= 2e-6, f"{k}: {rel:.3g}"


@pytest.mark.parametrize("ulfm", [False, True])
def test_a_rank_killed_on_the_other_host_ends_the_job(tmp_path, two_hosts, ulfm):
    """Rank 1 (on host B) kills itself at its third batch: the job ends non-zero within 30 s.
    Over TCP, rank 0 usually sees the broken connection before the launcher reports the
    death, and Open MPI's own message then names the peer's host ("Peer host: host-...")
    or only says "Socket closed". With `--mca mpi_ft_enable 1` (ULFM) the failure reaches
    Python as MPI_ERR_PROC_FAILED and the excepthook names the dead rank."""
    cmd = _launch(two_hosts) + (["--mca", "mpi_ft_enable", "1"] if ulfm else [])
    t0 = time.monotonic()
    r = run(cmd + [sys.executable, WORKER, "fail-kill", str(tmp_path / "w.npz")], timeout=60)
    assert time.monotonic() - t0 < 30
    assert r.returncode != 0, r.stderr
    if ulfm:
        assert "rank 0 failed: rank 1 died (MPI_ERR_PROC_FAILED)" in r.stderr or \
            ("rank 1" in r.stderr and "signal 9" in r.stderr), r.stderr
