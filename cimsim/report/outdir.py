"""An output folder a command writes into: locked for the command's life, its outputs
written to a staging folder and swapped in together.

- Lock: an exclusive flock on the folder itself (no lock file to go stale; the kernel drops
  it when the process ends, however it ends). A second command into a locked folder is
  refused at once with a clear message.
- Staging: every output (report.json, CSVs, PNGs and the manifest) is first written into
  a fresh OUT/.cimsim-stage-<random suffix> folder. A full disk or any error there leaves
  the folder as it was.
- Commit: the complete staging folder is renamed to OUT/.cimsim-commit (one atomic
  rename: from then on the new outputs are the folder's), then its files are moved in and
  the stale files of the earlier run removed. A kill during those moves leaves the commit
  folder, which the next command into OUT (any of run, plot, compare, the API's write)
  finishes before it does anything else: a reader never finds a mix that stays.
- Stale staging folders and temp files of killed commands are removed under the lock.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ..errors import ConfigError
from .manifest import MANIFEST, listed, write_manifest

STAGE_PREFIX = ".cimsim-stage-"
COMMIT = ".cimsim-commit"


def _lock(fd: int) -> bool:
    """Take an exclusive lock without waiting; False if another process holds it."""
    try:
        import fcntl
    except ImportError:            # not POSIX: no lock (documented in docs/design.md)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return True                # a file system without locks: go on unlocked


def finish_commit(out: Path) -> None:
    """Move a committed output set into `out` (stale files of the earlier run removed first,
    the manifest last), then drop the commit folder. Nothing to do without one."""
    commit = out / COMMIT
    if not commit.is_dir():
        return
    new = set(listed(commit))
    for name in sorted(set(listed(out)) - new):
        p = out / name
        if p.is_file() and not p.is_symlink():
            p.unlink()
    files = sorted(p for p in commit.iterdir() if p.name != MANIFEST)
    for p in [*files, commit / MANIFEST]:
        if p.exists():
            os.replace(p, out / p.name)
    shutil.rmtree(commit, ignore_errors=True)


TEMP_FILE = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9._-]*\.(json|csv|png|txt|npz)\.[A-Za-z0-9_]{8}\.tmp")


def clean_stale(out: Path) -> None:
    """Remove the staging folders and temp files of commands that were killed (only names
    cimsim makes: .cimsim-stage-*, and util.atomic_write's .NAME.<8 random characters>.tmp)."""
    for p in out.iterdir():
        if p.is_symlink():
            continue
        if p.name.startswith(STAGE_PREFIX) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif TEMP_FILE.fullmatch(p.name) and p.is_file():
            p.unlink(missing_ok=True)


class OutputFolder:
    """`with OutputFolder(path) as out:` creates (if needed) and locks the folder, finishes an
    interrupted commit and cleans stale temp files; `out.stage()` gives a folder to write
    outputs into, `write_staged` commits them and moves them in. A folder this command
    created and left empty is removed on exit."""

    def __init__(self, path: str | Path, what: str = "--out") -> None:
        self.path = Path(path)
        self.what = what
        self.fd: int | None = None
        self.created = False

    def __enter__(self) -> OutputFolder:
        out = self.path
        if out.exists() and not out.is_dir():
            raise ConfigError(self.what, str(out), "an output folder (this path is a file)")
        self.created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=out, prefix=".cimsim-probe-")
            os.close(fd)
            os.unlink(probe)
            self.fd = os.open(out, os.O_RDONLY)
        except OSError as e:
            raise ConfigError(self.what, str(out), "a folder cimsim can create and write to",
                              note=e.strerror or str(e)) from None
        if not _lock(self.fd):
            os.close(self.fd)
            self.fd = None
            raise ConfigError(self.what, str(out), "a folder no other cimsim command is writing to",
                              note="another run, plot or sweep has it open; wait for it or choose "
                                   "another --out")
        try:
            finish_commit(out)
            clean_stale(out)
        except OSError as e:
            self._release()
            raise ConfigError(self.what, str(out), "a folder whose earlier outputs cimsim can tidy",
                              note=e.strerror or str(e)) from None
        return self

    def stage(self) -> Path:
        """A fresh staging folder inside the output folder (same file system: renames)."""
        return Path(tempfile.mkdtemp(dir=self.path, prefix=STAGE_PREFIX))

    def commit(self, stage: Path, replace: bool) -> list[str]:
        """Make the staged files the folder's outputs (one rename). replace=True (a run): files
        an earlier run listed and this one did not write will go; replace=False (cimsim plot):
        the list grows. Returns the stale names; finish_commit then moves the files in."""
        names = sorted(p.name for p in stage.iterdir())
        old = listed(self.path)
        keep = names if replace else sorted(set(names) | set(old))
        write_manifest(stage, keep)
        stale = sorted(n for n in set(old) - set(keep) if (self.path / n).is_file())
        shutil.rmtree(self.path / COMMIT, ignore_errors=True)
        os.rename(stage, self.path / COMMIT)
        return stale

    def _release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)           # drops the lock
            self.fd = None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for p in self.path.glob(STAGE_PREFIX + "*"):    # a failed command's staging folder
            shutil.rmtree(p, ignore_errors=True)
        self._release()
        if self.created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()           # leave no empty folder behind a refused or failed run


def write_staged(out: OutputFolder, write: Callable[[Path], list[Path]],
                 replace: bool) -> tuple[list[Path], list[str]]:
    """Run write(stage) -> paths written in a staging folder, then commit them; returns the
    final paths and the stale names removed. An OSError (a full disk, a quota) is one clear
    error, with the folder's earlier outputs as they were."""
    stage = out.stage()
    try:
        staged = write(stage)
        stale = out.commit(stage, replace)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise ConfigError(out.what, str(out.path), "a folder with room for the outputs",
                          note=f"{e.strerror or e}; its earlier outputs are as they were") from None
    try:
        finish_commit(out.path)
    except OSError as e:
        raise ConfigError(out.what, str(out.path), "a folder cimsim can move its outputs into",
                          note=f"{e.strerror or e}; the new outputs wait in {COMMIT} and the next "
                               "cimsim command into this folder moves them in") from None
    return [out.path / Path(p).name for p in staged], stale
