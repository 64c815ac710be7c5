"""Which landing files a load takes, and how it reads them.

A landing file is taken literally and only when it is safe to read:
- its name is a name, never a pattern (`tickets*.csv` is that one file; the readers see it
  through its open descriptor, so no glob or quoting applies to the path);
- it is a regular file inside the landing folder: a symbolic link, or a file reached
  through a linked folder, is refused without reading it, as are FIFOs and devices;
- it is complete: a file modified less than the settle period ago (dbt_project.yml
  `vars.cdp_loading.landing_settle_seconds`) is still being written. The load waits for it once, up to that
  period; one that is still changing is left for the next run. A file that changes while
  it is being loaded is rolled back and left for the next run too. A file whose name holds
  `PUBLISHED_WHOLE` was written and flushed elsewhere and moved in by one rename (the
  collector's, `cdp collect`): it is complete when it appears, and taken at once.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestration.sources import Table
from orchestration.warehouse import descriptor_path

PUBLISHED_WHOLE = "-collected-"


def published_whole(name: str) -> bool:
    """The file was moved into the landing folder complete (see the module's notes)."""
    return PUBLISHED_WHOLE in name


class Refused(Exception):
    """The file is not loaded; the message is one line, without the file's content."""


class StillWriting(Exception):
    """The file changed within the settle period: left for the next run."""


@dataclass
class OpenFile:
    """A landing file opened for reading; `reader_path` names its descriptor."""

    rel: str
    path: Path
    fd: int
    size: int
    mtime_ns: int
    inode: int

    @property
    def reader_path(self) -> Path:
        """A path that opens this very file (the inode that was checked), with no
        character a reader could take for a pattern."""
        named = descriptor_path(self.fd)
        return Path(named) if named else self._link()

    def _link(self) -> Path:  # systems without /proc: a plainly named link to the file
        if not hasattr(self, "_linked"):
            folder = Path(tempfile.mkdtemp(prefix="cdp-landing-"))
            self._linked = folder / f"file{Path(self.rel).suffix}"
            self._linked.symlink_to(self.path.resolve())
        return self._linked

    def changed(self) -> bool:
        """True when the file is no longer what was checked: other size or time, or the
        name now points to another file."""
        now = os.fstat(self.fd)
        try:
            named = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return True
        return (now.st_size, now.st_mtime_ns) != (self.size, self.mtime_ns) or (
            named.st_ino != self.inode
        )

    def close(self) -> None:
        if self.fd < 0:
            return
        os.close(self.fd)
        self.fd = -1
        linked = getattr(self, "_linked", None)
        if linked is not None:
            linked.unlink(missing_ok=True)
            linked.parent.rmdir()


def candidates(table: Table, landing_dir: Path) -> list[tuple[str, Path]]:
    """(landing path, path) of every entry matching the table's pattern, in name order.
    Folders are not files; everything else is a candidate, to be opened or refused."""
    found = []
    for path in landing_dir.glob(table.pattern):
        try:
            if stat.S_ISDIR(os.stat(path, follow_symlinks=False).st_mode):
                continue
        except OSError:
            pass  # gone, or unreadable: open() says which
        found.append((path.relative_to(landing_dir).as_posix(), path))
    return sorted(found)


def signature(path: Path) -> str:
    """What stands for the content of an entry that is not read (a link, a FIFO, an
    unreadable file): its kind, size and time, without following it."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return "missing"
    return f"entry:{stat.S_IFMT(st.st_mode):o}:{st.st_size}:{st.st_mtime_ns}"


def open_file(
    rel: str, path: Path, landing_dir: Path, settled: tuple[int, int] | None = None
) -> OpenFile:
    """Open a candidate for reading, or refuse it with a reason that shows no content.
    StillWriting when it is no longer as it was when it settled (`settled`)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError as exc:
        raise Refused(f"cannot read file ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise Refused(
            "a symbolic link; only regular files inside the landing folder are loaded "
            "(copy the file in, or remove the link)"
        )
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(Path(os.path.realpath(landing_dir))):
        raise Refused(
            "reached through a linked folder outside the landing folder; only regular files "
            "inside it are loaded"
        )
    if not stat.S_ISREG(info.st_mode):
        raise Refused("not a regular file (a FIFO, socket or device); nothing read from it")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Refused(f"cannot read file ({exc.strerror})") from None
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode) or opened.st_ino != info.st_ino:
        os.close(fd)
        raise Refused("replaced while it was being opened; tried again at the next run")
    if settled is not None and (opened.st_size, opened.st_mtime_ns) != settled:
        os.close(fd)
        raise StillWriting(rel)
    return OpenFile(rel, path, fd, opened.st_size, opened.st_mtime_ns, opened.st_ino)


def settle(found: list[tuple[str, Path]], seconds: float) -> tuple[list, list[str]]:
    """(complete, still being written) of the candidates, by their times (no file is held
    open meanwhile). Entries modified within `seconds` are waited for once, up to
    `seconds`; those that changed meanwhile are still being written. Complete entries
    come with the (size, mtime) they had, for open_file to compare."""

    def look(path: Path):
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    seen = [(rel, path, look(path)) for rel, path in found]
    times = [state[1] for _, path, state in seen
             if state is not None and not published_whole(path.name)]  # fmt: skip
    wait = seconds - (time.time_ns() - max(times)) / 1e9 if times and seconds > 0 else 0
    if wait <= 0:
        return seen, []
    time.sleep(min(wait, seconds))
    ready, writing = [], []
    for rel, path, state in seen:
        if state is not None and not published_whole(path.name) and look(path) != state:
            writing.append(rel)
        else:
            ready.append((rel, path, state))
    return ready, writing
