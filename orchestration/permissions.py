"""The files cdp writes hold personal data: they are for their owner only.

`restrict()` runs first in every cdp process: the `cdp` command and the Dagster code location
(orchestration/code_location.py, which `dagster dev` and run workers import). It sets the
umask, which dbt, Dagster and every other child inherit, so new files are 0600 and new
folders 0700. A umask does not change what already exists, so it also closes the project's
own folders (below) when they allow more, with everything in them: once, for folders made
before. A place the user names (CDP_DUCKDB_PATH, DAGSTER_HOME, --landing, --out,
CDP_QUALITY_DOCS_DIR) keeps the permissions it has; what cdp creates in it is owner-only.

CDP_UMASK (octal, default 077) shares them: 027 lets the files' group read them.
"""

from __future__ import annotations

import os
import stat

from orchestration.warehouse import PROJECT_DIR

DEFAULT_UMASK = 0o077
# The folders cdp writes in the project by default: the DuckDB warehouse, run and dbt logs,
# dbt's target, the Dagster instance, Data Docs, the demo, the landing folder, file syncs.
OWN_FOLDERS = (
    "warehouse",
    "logs",
    "target",
    ".dagster",
    "quality_docs",
    "demo",
    "landing",
    "exports",
)


def umask_setting() -> int:
    raw = os.environ.get("CDP_UMASK", "").strip()
    if not raw:
        return DEFAULT_UMASK
    try:
        mask = int(raw, 8)
    except ValueError:
        mask = -1
    if not 0 <= mask <= 0o777:
        raise ValueError(f"CDP_UMASK must be an octal mask such as 077 or 027, got {raw!r}")
    return mask


def restrict() -> int:
    """Set the process umask and close the project's own folders; returns the mask."""
    mask = umask_setting()
    os.umask(mask)
    for name in OWN_FOLDERS:
        close(PROJECT_DIR / name, mask)
    return mask


def close(folder: os.PathLike, mask: int) -> None:
    """Take the bits of `mask` off `folder` and everything in it, when the folder has any.
    Symbolic links and what other users own are left alone."""
    try:
        st = os.lstat(folder)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode) or not st.st_mode & mask or st.st_uid != os.getuid():
        return
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            _take_off(os.path.join(root, name), mask)
    _take_off(folder, mask)  # last: while it is open, a concurrent start sees it still to do


def _take_off(path: str, mask: int) -> None:
    try:
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & mask and st.st_uid == os.getuid():
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~mask)
    except OSError:  # removed meanwhile (another run's temporary file)
        pass
