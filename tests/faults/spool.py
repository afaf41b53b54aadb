"""What a server left in its spool folder, and an upload held open so that it leaves something."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from keys.atomic_file import TEMP_PREFIX


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolContents:
    folders: tuple[str, ...]  # request folders (names)
    partial_outputs: tuple[Path, ...]  # signed outputs still under their temporary name
    complete_outputs: dict[Path, bytes]  # files under their final name in a `signed/` folder, with their bytes

    @property
    def summary(self) -> str:
        return (
            f"{len(self.folders)} request folders, {len(self.partial_outputs)} temporary outputs, "
            f"{len(self.complete_outputs)} renamed outputs"
        )


def spool_contents(spool_dir: Path) -> SpoolContents:
    folders = tuple(sorted(p.name for p in spool_dir.iterdir() if p.is_dir()))
    partial, complete = [], {}
    for output in spool_dir.glob("*/signed/*"):
        if output.name.startswith(TEMP_PREFIX):  # signed bytes being written, before the rename
            partial.append(output)
        else:
            complete[output] = output.read_bytes()
    return SpoolContents(folders=folders, partial_outputs=tuple(partial), complete_outputs=complete)


@contextlib.contextmanager
def stalled_sign_upload(base_url: str, token: str, *, file_name: str, data: bytes, sent: int) -> Iterator[None]:
    """A POST /v1/sign whose body stops after `sent` bytes of the file: the server holds a half-received upload."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="generator"\r\n\r\nStalled Diffusion\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = base_url.removeprefix("http://").split(":")
    request = (
        f"POST /v1/sign HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + len(data) + len(tail)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request + head + data[:sent])
        yield


def wait_for_file(pattern: str, folder: Path, *, seconds: float = 15) -> Path:
    """The first file matching `pattern` under `folder` that has bytes in it (bounded wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for found in folder.glob(pattern):
            with contextlib.suppress(OSError):
                if found.stat().st_size > 0:
                    return found
        time.sleep(0.02)
    raise AssertionError(f"no {pattern} appeared in {folder} within {seconds} s")
