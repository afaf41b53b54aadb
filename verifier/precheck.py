"""What is checked about a file before any engine sees it, without importing the engine.

The isolated verifier's owner checks a path here before it sends it to a worker (a directory, a
FIFO, an empty file or one over the size limit never reaches one), and the worker's `Verifier`
checks it again. No engine import: `originmark verify` runs these checks in a process that never
loads the engine (issue 13).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from verifier.hostile_text import clean_text
from verifier.verdict import Verdict, VerdictError, VerdictState


def check_digest(sha256: str) -> None:
    """Raise ValueError unless `sha256` is a SHA-256 digest as hashlib's hexdigest writes it."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"known_sha256 must be 64 lowercase hex digits, got {sha256[:80]!r}")


def precheck_file(path: Path, *, engine_version: str) -> Verdict | int:
    """An ERROR verdict for a path that is not a readable, non-empty regular file; else its size.

    Checked before anything opens the file: a directory, a FIFO (which would block
    a reader forever) or a device is reported, not read.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        return unreadable_verdict(error, size=0, engine_version=engine_version)
    if stat.S_ISDIR(info.st_mode):
        return _error(f"{_shown(path)} is a directory, not a file", size=0, engine_version=engine_version)
    if not stat.S_ISREG(info.st_mode):
        reason = f"{_shown(path)} is not a regular file (device, pipe or socket)"
        return _error(reason, size=0, engine_version=engine_version)
    if info.st_size == 0:
        return empty_verdict(engine_version=engine_version)
    return info.st_size


def empty_verdict(*, engine_version: str) -> Verdict:
    return _error("empty file: there is nothing to verify", size=0, engine_version=engine_version)


def unreadable_verdict(error: BaseException, *, size: int, engine_version: str) -> Verdict:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    reason = f"the file could not be read: {clean_text(reason, limit=500)}"
    return _error(reason, size=size, engine_version=engine_version)


def _error(reason: str, *, size: int, engine_version: str) -> Verdict:
    # The bytes were not read, so there is no content hash to report.
    return Verdict(
        state=VerdictState.ERROR,
        reason=reason,
        error_code=VerdictError.UNREADABLE,
        sha256="",
        size=size,
        engine_version=engine_version,
    )


def _shown(path: Path) -> str:
    return clean_text(str(path), limit=500) or "the path"
