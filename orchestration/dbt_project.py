"""The dbt project as Dagster sees it. Kept apart so the manifest can be prepared first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestration.warehouse import PROJECT_DIR

# dbt as `cdp-dbt`, which ends with the process that starts it (orchestration/processes.py);
# plain dbt where the installed scripts predate it
_DBT_TIED = Path(sys.executable).with_name("cdp-dbt")
DBT_EXECUTABLE = str(_DBT_TIED if _DBT_TIED.exists() else _DBT_TIED.with_name("dbt"))
MANIFEST = PROJECT_DIR / "target" / "manifest.json"
DBT_LOG = PROJECT_DIR / "logs" / "dbt.log"  # where dbt writes its log (dbt's default)
PARTIAL_PARSE = "partial_parse.msgpack"  # dbt's own file name
# dbt_project.yml's model, macro, seed and test paths, and the project files (not all of
# tests/, where pytest writes its caches)
_WATCHED = ("models", "macros", "seeds", "tests/data_tests", "dbt_project.yml", "profiles.yml")


def __getattr__(name: str):
    """`dbt_project` (a dagster_dbt DbtProject) is made on first use, so the commands that only
    need the manifest (`cdp sync`, `cdp syncs`) do not import Dagster."""
    if name == "dbt_project":
        from dagster_dbt import DbtProject

        # the target is the run's (DbtCliResource(target=...)); parsing needs none
        project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR)
        globals()["dbt_project"] = project
        return project
    raise AttributeError(name)


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _WATCHED:
        path = PROJECT_DIR / name
        files = [path] if path.is_file() else path.rglob("*") if path.exists() else []
        for f in files:
            if f.is_file():
                newest = max(newest, f.stat().st_mtime)
    return newest


def _dbt_env() -> dict[str, str]:
    """This process's environment with the profile's variables for its settings (the same
    as at run time, or dbt parses everything again)."""
    import os

    from orchestration.settings import Settings

    return {**os.environ, **Settings.resolve().warehouse.dbt_env()}


def ensure_manifest(force: bool = False) -> Path:
    """Run `dbt parse` when the manifest is missing or older than the project's files
    (the generated macros of orchestration/dbt_inputs.py are written first)."""
    from orchestration.dbt_inputs import write as write_generated_macros

    write_generated_macros(PROJECT_DIR)
    if force or not MANIFEST.exists() or MANIFEST.stat().st_mtime < _newest_source_mtime():
        proc = subprocess.run(
            [
                DBT_EXECUTABLE,
                "parse",
                "--quiet",
                "--log-format",
                "json",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
            ],
            capture_output=True,
            text=True,
            cwd=PROJECT_DIR,
            env=_dbt_env(),
        )
        if proc.returncode != 0:
            raise RuntimeError(_parse_failure(proc.stdout + proc.stderr))
    return MANIFEST


def keep_partial_parse(target_path: Path) -> None:
    """Make an invocation's parse the project's: dagster-dbt gives each invocation a target
    folder of its own, seeded with target/partial_parse.msgpack, which dbt reuses only for the
    same profile. Written back (atomically), the next build of the same warehouse skips the
    full parse (3 s on this project) and a run's second build reuses its first one's."""
    import os
    import shutil

    parsed = target_path / PARTIAL_PARSE
    if not parsed.is_file() or target_path.resolve() == MANIFEST.parent.resolve():
        return
    tmp = MANIFEST.parent / f".{PARTIAL_PARSE}.{os.getpid()}"
    try:
        shutil.copyfile(parsed, tmp)
        os.replace(tmp, MANIFEST.parent / PARTIAL_PARSE)
    finally:
        tmp.unlink(missing_ok=True)


def _parse_failure(output: str) -> str:
    """dbt's errors from its JSON log lines, as a failed build reports them (each with its
    model, file and message); dbt's last line when it wrote none."""
    import json

    from orchestration.run_report import DbtErrors

    errors = DbtErrors()
    lines = output.strip().splitlines()
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            errors.observe(event)
    if errors:
        return errors.report("parse", DBT_LOG)
    return "dbt parse failed: " + (lines[-1] if lines else "no output")


def rebuildable_incremental_models() -> dict[str, str]:
    """The incremental models a full refresh rebuilds to the same rows (tag `incremental`;
    append-only logs such as customer_id_history are not tagged): model name -> schema.table."""
    from orchestration import manifest

    return manifest.read(ensure_manifest()).rebuildable_incremental_models()


def full_refresh_stamps() -> dict[str, list[str]]:
    """schema.table -> the columns a full refresh of that incremental model sets otherwise."""
    from orchestration import manifest

    return manifest.read(ensure_manifest()).full_refresh_stamps()


LIVE_TARGET_PATH = PROJECT_DIR / "target" / "live"  # in-process dbt's artefacts, apart
_parsed: dict[str, tuple[float, object]] = {}  # dbt target -> (sources' mtime, Manifest)


def run_in_process(args: list[str], target: str, callbacks=()):
    """dbt in this process (for a loop that builds every few seconds: no interpreter start,
    no import of dbt and no parse per build, about 7 s of each `dbt` started as a program).
    The project is parsed once per process and target, again when a project file changes;
    artefacts go to target/live. Returns dbt's dbtRunnerResult."""
    from dbt.cli.main import dbtRunner

    common = ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
              "--target", target, "--target-path", str(LIVE_TARGET_PATH)]  # fmt: skip
    newest = _newest_source_mtime()
    known = _parsed.get(target)
    if known is None or known[0] < newest:
        parsed = dbtRunner().invoke(["parse", "--quiet", *common])
        if not parsed.success:
            return parsed
        _parsed[target] = known = (newest, parsed.result)
    return dbtRunner(manifest=known[1], callbacks=list(callbacks)).invoke([*args, *common])
