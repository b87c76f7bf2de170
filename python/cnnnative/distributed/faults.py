"""Faults in a multi-rank job: no rank may wait forever for a peer that has failed.

What ends a job, and how (all tested in tests/test_distributed_trainer_faults.py):

- A rank whose process dies (killed, segfault, os._exit): Open MPI's mpiexec notices the
  exit and kills the other ranks itself, exit status non-zero, naming the rank
  ("prterun noticed that process rank 1 ... exited on signal 9"). Over TCP a peer may
  see the broken connection first (Open MPI then names the dead rank's host); started with
  `--mca mpi_ft_enable 1`, the peer gets MPI_ERR_PROC_FAILED and the hook names the rank.
- A rank that raises: the Python interpreter would run MPI_Finalize at exit and wait there
  for the others, who wait in their next collective for it: a silent hang. The hook that
  `install_excepthook` sets prints "rank N failed: <error>" with the traceback and calls
  MPI_Abort, which ends every rank at once (mpi4py's `python -m mpi4py` does the same).
- A rank that stops answering without dying (stopped, deadlocked, a host cut off the
  network): nothing notices. `Watchdog(timeout)` guards the collectives the Trainer waits
  in; one that has not finished after `timeout` seconds aborts the job with a message.
- Errors every rank detects together (ranks disagree on hyper-parameters, a checkpoint
  that fails to load or save) raise `DistributedError` on every rank at once; only rank 0
  prints it, and every rank exits with status 1 normally (no abort needed).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback

__all__ = ["DistributedError", "install_excepthook", "fail", "Watchdog", "agree", "WATCHDOG_EXIT"]

# Exit status of a job the watchdog aborted (not 124, which timeout(1) uses).
WATCHDOG_EXIT = 3


class DistributedError(RuntimeError):
    """An error every rank raised together (a collective check failed): printed by rank 0."""

    all_ranks = True


def _write(text: str) -> None:
    try:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _abort(comm, code: int) -> None:
    """MPI_Abort (ends every rank), or this process alone when there is no MPI."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        comm.abort(code)
    finally:
        os._exit(code)  # abort returned or raised: end this process at least


_installed = {}


def install_excepthook(comm) -> None:
    """Make an unhandled exception on this rank end the whole job promptly: print
    "rank N failed: Type: message" and the traceback to stderr, then MPI_Abort (exit
    status 1). A DistributedError (raised by every rank together) is printed by rank 0
    only and ends the ranks normally (exit status 1). Does nothing for a one-rank job.
    Installed by Trainer(distributed=...) and `cnnnative train --distributed`."""
    if comm.size <= 1 or _installed.get("comm") is comm:
        return
    previous = sys.excepthook

    def hook(etype, value, tb):
        if issubclass(etype, SystemExit):  # sys.exit() from the main program: not a failure
            return previous(etype, value, tb)
        if getattr(value, "all_ranks", False):
            if comm.rank == 0:
                _write(f"{etype.__name__}: {value}")
            return  # every rank is here: the interpreter exits with status 1, MPI finalises
        text = "".join(traceback.format_exception(etype, value, tb))
        dead = _failed_peers(comm, value)
        if dead:
            _write(f"rank {comm.rank} failed: rank{'s' if len(dead) > 1 else ''} {', '.join(map(str, dead))} "
                   f"died (MPI_ERR_PROC_FAILED)\n{text}rank {comm.rank}: aborting the job (MPI_Abort)")
            _abort(comm, 1)
        _write(f"rank {comm.rank} failed: {etype.__name__}: {value}\n{text}"
               f"rank {comm.rank}: aborting the job (MPI_Abort)")
        _abort(comm, 1)

    sys.excepthook = hook
    _installed["comm"] = comm


def _failed_peers(comm, error) -> list:
    """The ranks MPI reports dead when `error` (or an exception it was raised from) is
    mpi4py's MPI_ERR_PROC_FAILED: Open MPI raises it, instead of ending the job from
    inside, when started with `--mca mpi_ft_enable 1` (ULFM). [] otherwise."""
    mpi = getattr(comm, "MPI", None)
    seen = 0
    while error is not None and seen < 10:
        if mpi is not None and isinstance(error, mpi.Exception) and \
                error.Get_error_class() == getattr(mpi, "ERR_PROC_FAILED", None):
            try:
                failed = comm.comm.Get_failed()
                ranks = mpi.Group.Translate_ranks(failed, list(range(failed.Get_size())), comm.comm.Get_group())
                return sorted(int(r) for r in ranks if r != mpi.UNDEFINED)
            except Exception:  # noqa: BLE001 -- an MPI without ULFM's Get_failed: say nothing more
                return []
        error, seen = error.__cause__ or error.__context__, seen + 1
    return []


def fail(comm, message: str, code: int = 1) -> None:
    """End the job after an error on this rank: print `message` (one line, already naming
    the rank) and abort every rank (a one-rank job just exits)."""
    _write(message)
    if comm.size > 1:
        _abort(comm, code)
    sys.exit(code)


def agree(comm, fn, what: str):
    """Run fn() on every rank and make the outcome collective: when it raised on any rank,
    every rank raises DistributedError naming the ranks and the first error (so nobody is
    left waiting in the next collective). Returns fn()'s result otherwise."""
    try:
        result, error = fn(), None
    except Exception as e:  # noqa: BLE001 -- reported on every rank below
        result, error = None, f"{type(e).__name__}: {e}"
    if comm.size == 1:
        if error is not None:
            raise DistributedError(f"{what} failed: {error}")
        return result
    errors = comm.all_gather_object(error)
    bad = [r for r, e in enumerate(errors) if e is not None]
    if bad:
        raise DistributedError(f"{what} failed on rank{'s' if len(bad) > 1 else ''} "
                               f"{', '.join(map(str, bad))}: rank {bad[0]}: {errors[bad[0]]}")
    return result


class Watchdog:
    """Abort the job when a guarded collective takes longer than `timeout` seconds (a peer
    stopped, deadlocked or cut off: MPI itself would wait forever). One daemon thread per
    watchdog; guarding costs two attribute writes.

        dog = Watchdog(comm, timeout=300)
        with dog.guard("gradient all-reduce"):
            ...  # collectives
    """

    def __init__(self, comm, timeout: float | None):
        if timeout is not None:
            timeout = float(timeout)
            if not timeout > 0:
                raise ValueError(f"Watchdog: timeout must be a positive number of seconds, got {timeout}")
        self.comm, self.timeout = comm, timeout
        self._deadline, self._what = None, ""
        self._thread = None
        if timeout is not None:
            self._thread = threading.Thread(target=self._watch, name="cnnnative-watchdog", daemon=True)
            self._thread.start()

    def arm(self, what: str) -> None:
        """Start (or restart) the clock for `what`; disarm() stops it (guard() does both)."""
        if self.timeout is not None:
            self._what = what
            self._deadline = time.monotonic() + self.timeout

    def disarm(self) -> None:
        self._deadline = None

    @contextlib.contextmanager
    def guard(self, what: str):
        if self.timeout is None or self._deadline is not None:  # off, or nested in a guard
            yield
            return
        self._what = what
        self._deadline = time.monotonic() + self.timeout
        try:
            yield
        finally:
            self._deadline = None

    def _watch(self):
        tick = min(1.0, self.timeout / 10)
        while True:
            time.sleep(tick)
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                _write(f"rank {self.comm.rank} failed: {self._what} did not finish within {self.timeout:g} s "
                       "(another rank is stopped, deadlocked or unreachable); aborting the job (MPI_Abort)")
                _abort(self.comm, WATCHDOG_EXIT)
