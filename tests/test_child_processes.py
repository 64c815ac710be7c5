"""The processes `cdp` starts end with it, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import CDP, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process tree in /proc"),
]


def processes() -> dict[int, tuple[int, int, str, str]]:
    """pid -> (parent pid, start time, state, command line) of every process."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes()
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(b")", 1)[1].split()
        found[int(entry.name)] = (
            int(fields[1]),
            int(fields[19]),
            fields[0].decode(),
            cmdline.replace(b"\0", b" ").decode(errors="replace").strip(),
        )
    return found


def descendants(root: int) -> dict[tuple[int, int], str]:
    """(pid, start time) -> command line of every process below `root`."""
    procs = processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_) in procs.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        tree[(pid, procs[pid][1])] = procs[pid][3]
        todo.extend(children.get(pid, []))
    return tree


def still_running(tree: dict[tuple[int, int], str]) -> dict[tuple[int, int], str]:
    """The processes of `tree` that still run (same pid and start time, not a zombie)."""
    procs = processes()
    return {
        (pid, start): cmd
        for (pid, start), cmd in tree.items()
        if pid in procs and procs[pid][1] == start and procs[pid][2] != "Z"
    }


def assert_tree_ends(tree: dict[tuple[int, int], str], seconds: float, what: str) -> None:
    """Every process of `tree` has ended within `seconds` of `what` being killed."""
    deadline = time.monotonic() + seconds
    while still_running(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = still_running(tree)
    assert not left, f"still running after {what} was killed:\n" + "\n".join(
        f"{pid}: {cmd[:200]}" for (pid, _), cmd in left.items()
    )


def holds_open(pid: int, path: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


def wait_for_dbt_build(cdp: subprocess.Popen, warehouse: Path, timeout: float = 300) -> int:
    """The pid of the `dbt build` below `cdp` once it has the warehouse file open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert cdp.poll() is None, f"cdp run ended (exit {cdp.returncode}) before dbt built"
        for (pid, _), cmd in descendants(cdp.pid).items():
            if "dbt" in cmd and " build " in f"{cmd} " and holds_open(pid, warehouse):
                return pid
        time.sleep(0.1)
    raise AssertionError("no dbt build with the warehouse open within the time allowed")


def test_killing_cdp_run_ends_dbt_and_frees_the_warehouse(tmp_path):
    landing = tmp_path / "landing"
    subprocess.run(
        [CDP, "generate", "--customers", "300", "--seed", "5", "--out", str(landing)],
        check=True,
        capture_output=True,
    )
    warehouse = tmp_path / "warehouse" / "cdp.duckdb"
    env = {
        **os.environ,
        "CDP_DUCKDB_PATH": str(warehouse),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "CDP_PREDICTIONS": "0",
    }
    cdp = subprocess.Popen(
        [CDP, "run", "--landing", str(landing)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tree: dict[tuple[int, int], str] = {}
    try:
        wait_for_dbt_build(cdp, warehouse)
        tree = descendants(cdp.pid)
        cdp.send_signal(signal.SIGKILL)
        cdp.wait()
        assert_tree_ends(tree, 5, "cdp run")
        import duckdb

        con = duckdb.connect(str(warehouse))  # for writing: fails while another process holds it
        try:
            con.execute("create table lock_probe as select 1 as one")
        finally:
            con.close()
    finally:
        if cdp.poll() is None:
            cdp.kill()
            cdp.wait()
        for pid, _ in still_running(tree):  # started by this test: leave nothing behind
            os.kill(pid, signal.SIGKILL)


def test_killing_cdp_ui_stops_the_dagster_ui(tmp_path):
    env = {
        **os.environ,
        "CDP_DUCKDB_PATH": str(tmp_path / "warehouse" / "cdp.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    ui = subprocess.Popen(
        [CDP, "ui", "--port", str(free_port())],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tree: dict[tuple[int, int], str] = {}
    try:
        deadline = time.monotonic() + 180
        while not any("dagster_webserver" in cmd for cmd in descendants(ui.pid).values()):
            assert ui.poll() is None, f"cdp ui ended (exit {ui.returncode})"
            assert time.monotonic() < deadline, "the Dagster webserver did not start"
            time.sleep(0.2)
        tree = descendants(ui.pid)
        ui.send_signal(signal.SIGKILL)
        ui.wait()
        assert_tree_ends(tree, 30, "cdp ui")  # stopped as Ctrl-C stops it: TERM, then KILL
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
        for pid, _ in still_running(tree):  # started by this test: leave nothing behind
            os.kill(pid, signal.SIGKILL)
