"""Replacing a file whole: readers, and the disk after a crash, see the old bytes or the new ones.

Domain-free: no project imports, and failures are raised as `AtomicWriteFailed` naming the
step, for the caller to turn into its own domain error (keys/identities.py: IdentityProblem;
signer/output.py: DestinationUnwritable, OutputStorageFull). It lives in keys/ because keys/
imports nothing else from the project, so keys/ and signer/ (which already imports keys/)
can both use it without an import circle.

The rules:
- The temporary file is in the destination's own folder (a rename is atomic only within one
  file system), under a fixed-length name `.originmark-<16 hex>.part`, so a destination name
  near the file system's length limit cannot push it over.
- It is created exclusively with the caller's `mode` (as for os.open: the umask applies), so
  it never has wider permissions than the final file, not even for a moment.
- The file is fsynced before the rename and the folder after it: once the call returns, the
  new bytes survive a crash; before it returns, a crash leaves the old file. `durable=False`
  skips the two fsyncs (all else holds) for a file that need not outlive a crash: one written
  into a request's spool folder, streamed back and deleted within the request, where each
  fsync is only a wait on the disk (milliseconds per signature).
- The file remembers its first failed write or flush. It is never renamed into place after
  one, even when the caller swallowed the error (the C2PA engine turns its write callback's
  OSError into a vague "Io: Other", or drops it in the final flush); and that failure is what
  is reported, whatever the caller raised instead.
- On any failure the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

TEMP_PREFIX = ".originmark-"
TEMP_SUFFIX = ".part"
ORDINARY_FILE_MODE = 0o666  # minus the umask: what any new file gets (e.g. 0o644 under umask 022)


class AtomicWriteStep(enum.Enum):
    """Which step failed; the destination is unchanged after any of them except FOLDER_SYNC."""

    CREATE = "create"  # the temporary file: a missing or read-only folder
    WRITE = "write"  # writing, flushing or fsyncing the temporary file: a full disk above all
    RENAME = "rename"  # moving it over the destination
    FOLDER_SYNC = "folder sync"  # the new file is in place, but the rename may not survive a crash


class AtomicWriteFailed(Exception):
    """An atomic replacement failed at `step`; `cause` is the operating system's error."""

    def __init__(self, destination: Path, step: AtomicWriteStep, cause: OSError) -> None:
        super().__init__(destination, step, cause)
        self.destination = destination
        self.step = step
        self.cause = cause

    def __str__(self) -> str:
        return f"cannot {self.step.value} {self.destination}: {self.cause.strerror or self.cause}"


class AtomicFile(io.BufferedRandom):
    """The temporary file being written: read/write, seekable, and it remembers its first failed write."""

    write_error: OSError | None = None

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except OSError as error:
            self.write_error = self.write_error or error
            raise

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as error:
            self.write_error = self.write_error or error
            raise


@contextlib.contextmanager
def atomic_file(destination: Path, *, mode: int, durable: bool = True) -> Iterator[AtomicFile]:
    """Yield the temporary file; on a clean exit it replaces `destination`, else it is removed."""
    temporary = destination.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
    try:
        descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except OSError as error:
        raise AtomicWriteFailed(destination, AtomicWriteStep.CREATE, error) from error
    renamed = False
    try:
        try:
            stream = AtomicFile(io.FileIO(descriptor, "r+"))
        except BaseException:
            os.close(descriptor)
            raise
        try:
            try:
                yield stream
            except Exception as error:
                if stream.write_error is not None:  # whatever the caller made of it, this is the cause
                    raise AtomicWriteFailed(destination, AtomicWriteStep.WRITE, stream.write_error) from error
                raise
            _flush_to_disk(stream, destination, durable=durable)
        except BaseException:
            # Closing flushes what is buffered, which may fail again: the first failure is the one to report.
            with contextlib.suppress(OSError):
                stream.close()
            raise
        stream.close()  # flushed and fsynced above: nothing left that could fail
        try:
            os.replace(temporary, destination)
        except OSError as error:
            raise AtomicWriteFailed(destination, AtomicWriteStep.RENAME, error) from error
        renamed = True
        if durable:
            _sync_folder(destination)
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()


def write_atomically(destination: Path, data: bytes, *, mode: int) -> None:
    """Replace `destination` with `data` (see the module docstring for the rules)."""
    with atomic_file(destination, mode=mode) as stream:
        stream.write(data)


def _flush_to_disk(stream: AtomicFile, destination: Path, *, durable: bool) -> None:
    try:
        if stream.write_error is None:
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
    except OSError as error:
        raise AtomicWriteFailed(destination, AtomicWriteStep.WRITE, error) from error
    if stream.write_error is not None:  # a failed write the caller did not notice
        raise AtomicWriteFailed(destination, AtomicWriteStep.WRITE, stream.write_error) from stream.write_error


def _sync_folder(destination: Path) -> None:
    try:
        descriptor = os.open(destination.parent, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        if error.errno == errno.EINVAL:  # this file system cannot sync a folder: nothing more to do
            return
        raise AtomicWriteFailed(destination, AtomicWriteStep.FOLDER_SYNC, error) from error
