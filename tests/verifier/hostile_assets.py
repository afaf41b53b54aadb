"""Hostile inputs for the isolation and network tests, made on the fly (nothing committed).

- `assertion_bomb()`: a ~0.9 MB JPEG whose manifest holds 5,000 small assertions. c2pa-rs
  0.91.3 validates a manifest in time quadratic in its assertion count (measured here on an
  idle machine: 2,000 -> 0.6 s, 4,000 -> 2.2 s, 8,000 -> 8.8 s), so this small file keeps the
  engine busy for over 3 s: a real time bomb; as a parent it makes signing spin as well.
- `big_svg()`: an SVG of N MB. The engine holds a whole SVG in memory (about twice its size
  in address space), so with a low memory limit it is a real memory bomb. No small input
  was found that makes c2pa-rs 0.91.3 *amplify* memory: crafted PNG/JPEG/BMFF/RIFF/TIFF
  size fields, a deflate bomb in a ZIP and Flate object streams in a PDF were all refused
  or bounded.
- `remote_manifest_asset()`: a JPEG whose credentials are only at a URL (XMP
  `dcterms:provenance`), with the manifest bytes to serve there.
- `Listener`: a loopback TCP server that counts connections and can answer HTTP.

Signed with the engine directly (tests may use c2pa): originmark's own signer writes only
the manifests it is meant to write.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import shutil
import socket
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import c2pa
from PIL import Image

from keys.devca import DevelopmentCredentials, create_development_credentials
from keys.loader import load_signing_key

MB = 1024 * 1024
BOMB_ASSERTIONS = 5000


@functools.cache
def _scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="originmark-hostile-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def bomb_credentials() -> DevelopmentCredentials:
    return create_development_credentials(_scratch() / "keys")


def small_jpeg(size: tuple[int, int] = (16, 16), color: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _engine_sign(definition: dict, *, remote_url: str | None = None) -> tuple[bytes, bytes]:
    """(signed asset, manifest store) for a 16x16 JPEG, signed by the engine with `definition`."""
    credentials = bomb_credentials()
    assert credentials.key_path is not None  # made without a key backend: the key is a file
    key = load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path)
    settings = {
        "verify": {"verify_after_sign": False, "remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": False}},
    }
    with (
        c2pa.Context.from_dict(settings) as context,
        c2pa.Signer.from_callback(key.sign, c2pa.C2paSigningAlg.ES256, key.chain_pem, None) as signer,
        c2pa.Builder(definition, context=context) as builder,
    ):
        if remote_url is not None:
            builder.set_no_embed()
            builder.set_remote_url(remote_url)
        output = io.BytesIO()
        manifest = builder.sign(signer, "image/jpeg", io.BytesIO(small_jpeg()), output)
    return output.getvalue(), manifest


_CREATED = {
    "label": "c2pa.actions.v2",
    "data": {
        "actions": [
            {
                "action": "c2pa.created",
                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
            }
        ]
    },
}


@functools.cache
def assertion_bomb() -> Path:
    """A small JPEG that keeps the engine busy for seconds (see the module docstring)."""
    assertions = [_CREATED] + [{"label": f"org.example.filler{i}", "data": {"n": i}} for i in range(BOMB_ASSERTIONS)]
    asset, _manifest = _engine_sign(
        {"claim_generator_info": [{"name": "bomb"}], "title": "bomb", "assertions": assertions}
    )
    path = _scratch() / "assertion-bomb.jpg"
    path.write_bytes(asset)
    return path


def big_svg(path: Path, megabytes: int) -> Path:
    """A valid SVG of `megabytes` MB (mostly one comment), written in 1 MB blocks."""
    block = b"x" * MB
    with open(path, "wb") as handle:
        handle.write(b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><!-- ')
        for _ in range(megabytes):
            handle.write(block)
        handle.write(b" --></svg>")
    return path


def remote_manifest_asset(url: str) -> tuple[bytes, bytes]:
    """(asset, manifest store): the asset names `url` as where its credentials are, and holds none."""
    return _engine_sign(
        {"claim_generator_info": [{"name": "remote test"}], "title": "remote", "assertions": [_CREATED]},
        remote_url=url,
    )


class Listener:
    """A loopback TCP server on a free port that counts the connections made to it.

    Not serving (the default), nothing accepts: `connections()` drains the backlog without
    blocking, so a connection that was made (even one the client gave up on) is counted and
    none can be missed by a race. Serving, a thread answers each connection with `reply`.
    """

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.setblocking(False)
        self.reply: bytes | None = None
        self.requests: list[bytes] = []
        self._accepted = 0
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def url(self, path: str = "/manifests/m.c2pa") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def connections(self) -> int:
        """Connections made so far (accepted by the server thread, or waiting in the backlog)."""
        if self._thread is None:
            while True:
                try:
                    connection, _address = self.socket.accept()
                except BlockingIOError:
                    break
                connection.close()
                self._accepted += 1
        return self._accepted

    def serve_http(self, body: bytes, *, status: str = "200 OK", headers: str = "") -> None:
        """From now on, answer every connection with this HTTP response."""
        self.reply = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/c2pa\r\nContent-Length: {len(body)}\r\n"
            f"{headers}Connection: close\r\n\r\n"
        ).encode() + body
        if self._thread is None:
            self.socket.setblocking(True)
            self._thread = threading.Thread(target=self._serve, name="test-listener", daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _address = self.socket.accept()
            except OSError:
                return  # closed
            self._accepted += 1
            with connection:
                connection.settimeout(5)
                try:
                    self.requests.append(connection.recv(65536))
                    if self.reply is not None:
                        connection.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        if self._thread is not None:
            self._thread.join(5)


@contextlib.contextmanager
def listening() -> Iterator[Listener]:
    listener = Listener()
    try:
        yield listener
    finally:
        listener.close()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
