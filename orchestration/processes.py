"""Child processes that end with the process that started them.

A process killed with SIGKILL runs no clean-up, so its children would run on as orphans: a
dbt build that keeps writing and holds the DuckDB file lock, a Dagster UI still serving.
Each child cdp starts is tied to its parent instead:

- dbt (run by dagster-dbt in `cdp run`, `cdp demo` and Dagster run workers, and `dbt parse`
  before them) starts as `cdp-dbt`: it asks Linux to send it SIGKILL when its parent ends
  (prctl PR_SET_PDEATHSIG, kept across exec), then runs dbt in the same process. The kernel
  ties the signal to the thread that started the child: dagster-dbt starts dbt from the
  step's thread (the main thread of `cdp run`, of a run worker or of a step process) and
  reads dbt's output on it until dbt exits, so that thread outlives dbt.
- `dagster dev` (`cdp ui`) runs in a process group of its own, watched by a small process
  that, when `cdp ui` ends however it ends, stops the group as Ctrl-C does.

Elsewhere than Linux `cdp-dbt` is plain dbt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent ends (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return  # not armed: the process runs as plain dbt would
    if os.getppid() != parent:  # the parent ended before the signal was armed
        os.kill(os.getpid(), sig)


def dbt_main() -> None:
    """`cdp-dbt`: dbt, ended by the kernel when the process that started it ends."""
    die_with_parent()
    from dbt.cli.main import cli

    sys.exit(cli())


def stop_group(pgid: int, grace: float) -> None:
    """SIGTERM to process group `pgid`, then SIGKILL to what is left after `grace` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_running(pgid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _group_running(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting to be reaped do not)."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def watch_group(pgid: int, grace: float) -> subprocess.Popen:
    """Start a watcher that stops process group `pgid` (`stop_group`) once this process ends,
    however it ends: it waits for the end of a pipe that only this process writes to. Keep
    the returned Popen (its stdin) open for as long as the group should live."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.processes", str(pgid), str(grace)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )


def _watch(pgid: int, grace: float) -> None:
    # Ctrl-C and a closed terminal reach this process too: the cdp process it watches handles
    # them and stops the group itself; this one waits for that process to end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.stdin.buffer.read()
    stop_group(pgid, grace)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), float(sys.argv[2]))
