"""The spool: private, per-request (or per-job) folders under ORIGINMARK_SPOOL_DIR, and the file
names written in them. One mechanism for the HTTP uploads (app/api/uploads.py) and the job
workers' object copies (app/objects/transfer.py).

- `SpoolFolder`: a folder (mode 0700, from mkdtemp) removed with everything in it when the
  block ends, whatever happened. It is flock()ed while in use; the kernel drops that lock when
  the process dies, however it dies, so a folder whose lock can be taken is abandoned: the first
  SpoolFolder of each process sweeps those away (`remove_abandoned_spools`) before it makes its
  own, whichever process (server or job worker) left them.
  (This rule won over the job workers' former plain mkdtemp+rmtree folder, which a killed worker
  left behind for ever: the stricter behaviour, same removal on a normal exit.)
- `safe_filename`: a name from outside (a client's upload name, an object key's last segment)
  made into a harmless plain file name.

Errors are OSError; each caller says what a full disk means to its own caller (`is_disk_full`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

SPOOL_PREFIX = "originmark-spool-"
# What mkdtemp makes of the prefix: only such names are ever swept (the spool may be /tmp).
_SPOOL_NAME = re.compile(r"originmark-spool-[a-z0-9_]{8}")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
MAX_FILENAME = 120
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._ ()+-]")
log = logging.getLogger("originmark.spool")


def spool_root(spool_dir: Path | None) -> Path:
    """The folder the spool folders are made in: ORIGINMARK_SPOOL_DIR, else the system temp dir."""
    return spool_dir if spool_dir is not None else Path(tempfile.gettempdir())


def is_disk_full(error: OSError) -> bool:
    return error.errno in _DISK_FULL


def safe_filename(name: str | None, *, fallback: str) -> str:
    """A plain file name derived from `name` (hostile text: a client's, an object key's).

    The one rule (it replaced two): the last path segment only (after "/" or "\\": never a
    folder); letters, digits and "._ ()+-" (anything else becomes "_": spaces and brackets stay
    because people's file names have them and the name becomes an engine's title); no leading
    dots or spaces (never hidden, never "." or ".."), no trailing spaces; at most MAX_FILENAME
    characters, the end kept so that the extension survives; `fallback` when nothing is left.
    For naming a file in a private spool folder or showing it, never for finding a file.
    """
    last = re.split(r"[/\\]", name or "")[-1]
    cleaned = _UNSAFE_FILENAME_CHARS.sub("_", last)[-MAX_FILENAME:].lstrip(". ").rstrip()
    return cleaned or fallback


class SpoolFolder:
    """A private folder for one request's or one job's files; removed on exit, whatever happened.

    `with SpoolFolder(spool_dir) as spool:` ... `spool.path`, `spool.folder(name)`. OSError when
    the folder cannot be made (see `is_disk_full`).
    """

    def __init__(self, spool_dir: Path | None) -> None:
        self._parent = spool_dir
        self.path: Path | None = None
        self._lock: int | None = None

    def __enter__(self):  # the subclass's own type (UploadSpool)
        sweep_abandoned_once(self._parent)
        try:
            while True:
                path = Path(tempfile.mkdtemp(prefix=SPOOL_PREFIX, dir=self._parent))
                lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
                with contextlib.suppress(OSError):  # a file system without flock: never swept, still removed on exit
                    fcntl.flock(lock, fcntl.LOCK_EX)
                if os.fstat(lock).st_nlink > 0:
                    break
                os.close(lock)  # a sweep took the new folder before it was locked: make another
        except OSError as error:
            self._disk_full(error)
            raise
        self.path, self._lock = path, lock
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)  # after the removal: a sweep never sees the folder unlocked
            self._lock = None

    def folder(self, name: str) -> Path:
        assert self.path is not None, "use SpoolFolder as a context manager"
        folder = self.path / name
        try:
            folder.mkdir(exist_ok=True)
        except OSError as error:
            self._disk_full(error)
            raise
        return folder

    def _disk_full(self, error: OSError) -> None:
        """Raise what a full disk means to this folder's user; by default the OSError stands."""


_swept: set[Path | None] = set()
_sweep_guard = threading.Lock()


def abandoned_spools_unswept(spool_dir: Path | None) -> bool:
    """Whether this process has not yet swept `spool_dir` (its first SpoolFolder there will)."""
    return spool_dir not in _swept


def sweep_abandoned_once(spool_dir: Path | None) -> None:
    """`remove_abandoned_spools(spool_dir)` the first time this process asks; then nothing."""
    with _sweep_guard:
        if spool_dir in _swept:
            return
        _swept.add(spool_dir)
    remove_abandoned_spools(spool_dir)


def remove_abandoned_spools(spool_dir: Path | None) -> int:
    """Delete the spool folders in `spool_dir` that no living process holds; returns how many.

    Safe while other processes use the same spool: a folder in use is locked. Only names
    SpoolFolder makes, owned by this user, are looked at; symbolic links are never followed.
    """
    parent = spool_root(spool_dir)
    try:
        entries = [entry for entry in os.scandir(parent) if _SPOOL_NAME.fullmatch(entry.name)]
    except OSError:
        return 0  # a missing spool folder: creating the request folder will say so
    removed = 0
    for entry in entries:
        try:
            lock = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # not a folder, or gone already (a request that just ended)
        if os.fstat(lock).st_uid != os.getuid():
            os.close(lock)  # another user's (a shared /tmp): not ours to judge
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)  # in use (or no flock here: then it cannot be told apart, so it stays)
            continue
        try:
            if os.fstat(lock).st_nlink > 0:  # not removed by its owner a moment ago
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        finally:
            os.close(lock)
    if removed:
        log.warning("removed %d spool folder(s) abandoned in %s by a process that died", removed, parent)
    return removed
