"""What cdp writes (landing files, warehouse, logs, dbt target, Dagster storage, Data Docs)
is readable by its owner only, whatever umask the shell that starts it has."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from support import CDP, PROJECT

from orchestration.permissions import close

SHELL_UMASK = 0o022  # the usual default: files 0644, folders 0755


def cdp(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "CDP_UMASK"}
    return subprocess.run(
        [CDP, *args],
        env={**environ, **env},
        capture_output=True,
        text=True,
        umask=SHELL_UMASK,
        timeout=400,
    )


def open_to_others(*roots: Path) -> list[str]:
    """Each path under `roots` (the roots included) that its group or others may read,
    write or enter."""
    found = []
    for root in roots:
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in paths:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(f"{stat.filemode(mode)} {path}")
    return found


@pytest.mark.slow
def test_generate_and_run_write_owner_only_files(tmp_path):
    landing = tmp_path / "landing"
    warehouse = tmp_path / "warehouse"
    home = tmp_path / "dagster_home"
    docs = tmp_path / "quality_docs"
    proc = cdp("generate", "--customers", "200", "--seed", "9", "--out", str(landing))
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = cdp(
        "run",
        "--landing",
        str(landing),
        CDP_DUCKDB_PATH=str(warehouse / "cdp.duckdb"),
        DAGSTER_HOME=str(home),
        CDP_QUALITY_DOCS="1",
        CDP_QUALITY_DOCS_DIR=str(docs),
        CDP_PREDICTIONS="0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = re.search(r"^run ([0-9a-f-]{36}) on", proc.stdout, re.M).group(1)
    run_log = Path(re.search(r"^dbt output: (\S+)", proc.stdout, re.M).group(1))
    # dagster-dbt's folders of this run in the project's target/ (dbt output, logs, results)
    dbt_runs = sorted((PROJECT / "target").glob(f"*-{run_id[:7]}-*"))
    assert len(dbt_runs) == 2, dbt_runs
    assert (warehouse / "cdp.duckdb").exists() and (docs / "gx").is_dir()
    assert list(home.rglob("compute_logs/*")), "no Dagster compute logs written"
    open_ = open_to_others(landing, warehouse, home, docs, run_log, *dbt_runs)
    assert not open_, "readable beyond the owner:\n" + "\n".join(open_[:30])
    for folder in ("logs", "target"):  # the project's own folders are closed
        assert not (PROJECT / folder).stat().st_mode & 0o077, folder


def test_cdp_umask_shares_with_the_group_and_rejects_nonsense(tmp_path):
    out = tmp_path / "landing"
    proc = cdp("generate", "--customers", "20", "--out", str(out), CDP_UMASK="027")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert {stat.S_IMODE(f.stat().st_mode) for f in out.rglob("*.csv")} == {0o640}
    proc = cdp("generate", "--customers", "20", "--out", str(out), CDP_UMASK="rw-------")
    assert proc.returncode == 1
    assert "CDP_UMASK must be an octal mask" in proc.stderr


def test_a_folder_made_before_is_closed_with_what_is_in_it(tmp_path):
    folder = tmp_path / "warehouse"
    (folder / "sub").mkdir(parents=True)
    for path, mode in ((folder / "cdp.duckdb", 0o644), (folder / "sub" / "x.log", 0o664)):
        path.write_text("personal data")
        path.chmod(mode)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not cdp's")
    elsewhere.chmod(0o644)
    (folder / "link").symlink_to(elsewhere)
    for path in (folder, folder / "sub"):
        path.chmod(0o755)
    close(folder, 0o077)
    assert not open_to_others(folder)
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644  # a link is not followed
    assert stat.S_IMODE((folder / "sub" / "x.log").stat().st_mode) == 0o600
    folder.chmod(0o750)  # shared with a group on purpose, under CDP_UMASK=027: left alone
    close(folder, 0o027)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
