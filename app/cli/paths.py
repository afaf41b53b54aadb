"""Turns the paths given on the command line into the files to verify, lazily and in a stable order.

Rules (they are the CLI's documented behaviour):
- Paths given on the command line keep their order; a folder's entries are visited in sorted name
  order, depth first, so the same tree always yields the same sequence.
- A folder without `-r` contributes its direct files only; its subfolders are counted in
  `skipped_folders` so the caller can say that `-r` would include them.
- With `-r`, symbolic links to folders are followed, but within one command-line folder a folder
  already visited (same device and inode) is never entered twice: no symlink loop, no file listed
  twice through two links. (Each command-line path is walked on its own: naming a folder twice
  lists it twice, as asked.)
- Anything that cannot become a file to verify (missing path, broken link, unreadable folder,
  FIFO/socket/device) is an `InputProblem`: the batch goes on and reports it per path.
The walk never builds the whole list: a million-file tree streams.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class InputFile:
    """A regular file (or a link to one) to verify."""

    path: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class InputProblem:
    """A path that cannot be verified, with the reason in words a user can act on."""

    path: Path
    reason: str


InputItem = InputFile | InputProblem


def _os_error_reason(error: OSError) -> str:
    # strerror is the OS's own short text ("No such file or directory"); the path is shown separately.
    return error.strerror or error.__class__.__name__


class InputWalker:
    """Iterate once over the files named by `paths`; read `skipped_folders` afterwards."""

    def __init__(self, *, paths: list[Path], recursive: bool) -> None:
        self._paths = list(paths)
        self._recursive = recursive
        self._visited_folders: set[tuple[int, int]] = set()
        self.skipped_folders = 0  # subfolders not entered because -r was not given

    def __iter__(self) -> Iterator[InputItem]:
        for path in self._paths:
            yield from self._expand_argument(path)

    def _expand_argument(self, path: Path) -> Iterator[InputItem]:
        try:
            status = path.stat()  # follows links: a link named on the command line is what the user meant
        except OSError as error:
            if path.is_symlink():
                yield InputProblem(path=path, reason="broken symbolic link")
            else:
                yield InputProblem(path=path, reason=_os_error_reason(error))
            return
        if stat.S_ISDIR(status.st_mode):
            yield from self._walk_folder(path, status)
        elif stat.S_ISREG(status.st_mode):
            yield InputFile(path=path)
        else:
            yield InputProblem(path=path, reason="not a regular file (FIFO, socket or device)")

    def _walk_folder(self, root: Path, root_status: os.stat_result) -> Iterator[InputItem]:
        self._visited_folders = {(root_status.st_dev, root_status.st_ino)}
        # An explicit stack of sorted listings instead of recursion: depth is unbounded on disk.
        stack: list[Iterator[os.DirEntry[str]]] = []
        listing = self._sorted_listing(root)
        if isinstance(listing, InputProblem):
            yield listing
            return
        stack.append(iter(listing))
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            classified = self._classify(entry)
            if not isinstance(classified, os.stat_result):
                yield classified
                continue
            if not self._recursive:
                self.skipped_folders += 1
                continue
            identity = (classified.st_dev, classified.st_ino)
            if identity in self._visited_folders:
                continue  # a symlink loop, or a second link to a folder already walked
            self._visited_folders.add(identity)
            listing = self._sorted_listing(Path(entry.path))
            if isinstance(listing, InputProblem):
                yield listing
            else:
                stack.append(iter(listing))

    @staticmethod
    def _sorted_listing(folder: Path) -> list[os.DirEntry[str]] | InputProblem:
        # One folder's entries are held at a time (not the tree), sorted for a stable order.
        try:
            with os.scandir(folder) as entries:
                return sorted(entries, key=lambda entry: entry.name)
        except OSError as error:
            return InputProblem(path=folder, reason=f"cannot list folder: {_os_error_reason(error)}")

    @staticmethod
    def _classify(entry: os.DirEntry[str]) -> InputItem | os.stat_result:
        """The item to yield for a file or a problem; the folder's status for a folder to enter."""
        path = Path(entry.path)
        try:
            status = entry.stat()  # follows links
        except OSError as error:
            reason = "broken symbolic link" if entry.is_symlink() else _os_error_reason(error)
            return InputProblem(path=path, reason=reason)
        if stat.S_ISDIR(status.st_mode):
            return status
        if stat.S_ISREG(status.st_mode):
            return InputFile(path=path)
        return InputProblem(path=path, reason="not a regular file (FIFO, socket or device)")
