"""Multipart uploads streamed to disk as they arrive, with a hard size limit.

Why not Starlette's `request.form()`: it spools to the system temp dir, has no limit on the
whole body, and a content hash would need a second pass over the file. Here each file part
goes straight into a file under a per-request folder in ORIGINMARK_SPOOL_DIR while its
SHA-256 and first bytes (for sniffing the media type) are taken on the way, so:

- memory stays flat whatever the upload size (one network chunk at a time);
- the limit counts the bytes actually received, so a missing or lying Content-Length
  changes nothing; past the limit the answer is 413;
- the content hash the verify cache needs is ready when the upload is, with no re-read
  (hashing a 64 KiB chunk takes ~30 µs, so it is done inline rather than paying a
  thread hand-off per chunk);
- only the fields an endpoint declares are accepted (an unknown or repeated field is a 422),
  and text fields are capped in size;
- everything written lives in one folder that `UploadSpool` removes when the request ends,
  whatever happened; a folder left by a process that died (kill -9, out of memory, power cut)
  is removed by the next process to use the spool (app/spool.py `remove_abandoned_spools`);
- a full disk (ENOSPC, EDQUOT) is a 507 with the JSON error shape, the partial file deleted
  at once so that other requests get the space back.

After an error the rest of the body is still read (and dropped), up to the size limit plus
a small allowance, so that a client that sends the whole body before reading the answer
sees the JSON error instead of a reset connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.api.error_responses import ApiError, insufficient_storage, malformed_body, payload_too_large, unprocessable
from app.spool import SpoolFolder, is_disk_full, safe_filename

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # defined for type checkers only

SNIFF_BYTES = 16 * 1024  # what signer/ and verifier/ read to recognise a format
DEFAULT_MAX_TEXT_BYTES = 4096  # per text field; the signer caps generator/title text far below
DRAIN_ALLOWANCE_BYTES = 1024 * 1024  # read past an error this far, so the client sees the answer
log = logging.getLogger("originmark.api")


@dataclass(frozen=True, slots=True, kw_only=True)
class FormSpec:
    """The fields one endpoint accepts."""

    file_fields: frozenset[str]
    text_fields: frozenset[str]
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES

    @property
    def accepted(self) -> str:
        return ", ".join(sorted(self.file_fields | self.text_fields))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedFile:
    """One uploaded file, complete on disk."""

    field: str
    path: Path
    size: int
    sha256: str
    head: bytes  # the first SNIFF_BYTES bytes
    client_filename: str | None  # as sent (hostile text: use safe_filename before showing it)


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadForm:
    files: Mapping[str, ReceivedFile]
    fields: Mapping[str, str]

    def text(self, name: str) -> str | None:
        return self.fields.get(name)

    def required_text(self, name: str) -> str:
        value = self.fields.get(name)
        if value is None:
            raise unprocessable("missing_field", f"the form field {name!r} is required", field=name)
        return value

    def required_file(self, name: str) -> ReceivedFile:
        received = self.files.get(name)
        if received is None:
            raise unprocessable(
                "missing_file",
                f"send the media as the multipart file field {name!r} (curl -F {name}=@FILE)",
                field=name,
            )
        return _not_empty(received)

    def optional_file(self, name: str) -> ReceivedFile | None:
        received = self.files.get(name)
        return None if received is None else _not_empty(received)


def _not_empty(received: ReceivedFile) -> ReceivedFile:
    if received.size == 0:
        raise unprocessable("empty_file", f"the file in {received.field!r} is empty", field=received.field)
    return received


class UploadSpool(SpoolFolder):
    """A per-request folder for uploads and outputs (app/spool.py: removed on exit, whatever
    happened; one left by a process that died is swept by the next); a full disk is a 507."""

    def _disk_full(self, error: OSError) -> None:
        _raise_if_disk_full(error)


class _FilePart:
    __slots__ = ("field", "path", "client_filename", "stream", "digest", "size", "head")

    def __init__(self, *, field: str, path: Path, client_filename: str | None) -> None:
        self.field = field
        self.path = path
        self.client_filename = client_filename
        try:
            self.stream: BinaryIO = open(path, "xb")  # closed by finish() or abandon()
        except OSError as error:
            _raise_if_disk_full(error)  # no inode left
            raise
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, data: memoryview) -> None:
        if len(self.head) < SNIFF_BYTES:
            self.head += bytes(data[: SNIFF_BYTES - len(self.head)])
        self.digest.update(data)
        try:
            self.stream.write(data)
        except OSError as error:
            _raise_if_disk_full(error)
            raise
        self.size += len(data)

    def finish(self) -> ReceivedFile:
        try:
            self.stream.close()  # the last buffered bytes reach the disk here
        except OSError as error:
            _raise_if_disk_full(error)
            raise
        return ReceivedFile(
            field=self.field,
            path=self.path,
            size=self.size,
            sha256=self.digest.hexdigest(),
            head=self.head,
            client_filename=self.client_filename,
        )

    def abandon(self) -> None:
        # The request has failed: give the space back now (a full disk is shared by all requests).
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _raise_if_disk_full(error: OSError) -> None:
    if is_disk_full(error):
        raise insufficient_storage("the upload") from error


class _FormCollector:
    """python-multipart callbacks that write file parts to disk and keep text parts in memory."""

    def __init__(self, *, spec: FormSpec, spool: UploadSpool) -> None:
        self._spec = spec
        self._spool = spool
        self.files: dict[str, ReceivedFile] = {}
        self.fields: dict[str, str] = {}
        self.ended = False
        self._seen: set[str] = set()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition: bytes | None = None
        self._file: _FilePart | None = None
        self._text_name: str | None = None
        self._text = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_end": self._on_end,
        }

    def abandon(self) -> None:
        if self._file is not None:
            self._file.abandon()
            self._file = None

    def _on_part_begin(self) -> None:
        self._disposition = None
        self._file = None
        self._text_name = None
        self._text = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if self._disposition is None or raw_name is None:
            raise malformed_body("a multipart part has no Content-Disposition name")
        name = raw_name.decode("utf-8", "replace")
        if name not in self._spec.file_fields and name not in self._spec.text_fields:
            shown = name if len(name) <= 64 else name[:64] + "..."
            raise unprocessable(
                "unknown_field",
                f"unknown form field {shown!r}; this endpoint accepts: {self._spec.accepted}",
                field=name,
            )
        if name in self._seen:
            raise unprocessable("duplicate_field", f"the form field {name!r} was sent more than once", field=name)
        self._seen.add(name)
        if name in self._spec.file_fields:
            raw_filename = options.get(b"filename")
            client_filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
            folder = self._spool.folder(name)
            path = folder / safe_filename(client_filename, fallback=name)
            self._file = _FilePart(field=name, path=path, client_filename=client_filename)
        else:
            self._text_name = name

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(memoryview(data)[start:end])
            return
        self._text += data[start:end]
        if len(self._text) > self._spec.max_text_bytes:
            raise unprocessable(
                "field_too_long",
                f"the form field {self._text_name!r} is over {self._spec.max_text_bytes} bytes",
                field=self._text_name,
            )

    def _on_part_end(self) -> None:
        if self._file is not None:
            received = self._file.finish()
            self.files[received.field] = received
            self._file = None
            return
        assert self._text_name is not None
        try:
            self.fields[self._text_name] = self._text.decode("utf-8")
        except UnicodeDecodeError:
            raise unprocessable(
                "invalid_text", f"the form field {self._text_name!r} is not UTF-8 text", field=self._text_name
            ) from None

    def _on_end(self) -> None:
        self.ended = True


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)


async def _drain(request: Request, max_bytes: int) -> None:
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes + DRAIN_ALLOWANCE_BYTES:
                return
    except ClientDisconnect:
        return


async def receive_form(request: Request, *, spec: FormSpec, spool: UploadSpool, max_bytes: int) -> UploadForm:
    """Read the request's multipart body into `spool`; raise ApiError (400/413/415/422) when it is wrong."""
    content_type = request.headers.get("content-type")
    declared = _declared_length(request)
    if declared is not None and declared > max_bytes + DRAIN_ALLOWANCE_BYTES:
        raise payload_too_large(max_bytes)  # not worth reading just to refuse it
    if content_type is None and declared in (None, 0):
        return UploadForm(files={}, fields={})  # no body at all: the route reports what is missing
    kind, options = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded":
        # A form without files (e.g. the file was forgotten): say that, not "wrong encoding".
        await _drain(request, max_bytes)
        raise unprocessable(
            "missing_file",
            "the form carries no file: send multipart/form-data with the media in the 'file' field",
            field="file",
        )
    if kind != b"multipart/form-data":
        await _drain(request, max_bytes)
        raise ApiError(
            415,
            "unsupported_content_type",
            "send the request body as multipart/form-data (e.g. curl -F file=@photo.jpg)",
            extra={"supported": ["multipart/form-data"]},
        )
    boundary = options.get(b"boundary")
    if not boundary:
        await _drain(request, max_bytes)
        raise malformed_body("the multipart/form-data Content-Type has no boundary")

    collector = _FormCollector(spec=spec, spool=spool)
    parser = MultipartParser(boundary, collector.callbacks())
    problem: ApiError | None = None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes and (problem is None or problem.status != 413):
                problem = payload_too_large(max_bytes)
                collector.abandon()
            if problem is not None:
                if received > max_bytes + DRAIN_ALLOWANCE_BYTES:
                    break
                continue
            try:
                parser.write(chunk)
            except ApiError as error:
                problem = error
                collector.abandon()
            except FormParserError:
                problem = malformed_body("the multipart body is malformed")
                collector.abandon()
    except ClientDisconnect:
        collector.abandon()
        raise problem or malformed_body("the client disconnected before the upload was complete") from None
    except BaseException:
        collector.abandon()
        raise
    if problem is not None:
        raise problem
    if not collector.ended:
        collector.abandon()
        raise malformed_body("the multipart body ended before its closing boundary")
    return UploadForm(files=collector.files, fields=collector.fields)


async def receive_body(request: Request, *, spool: UploadSpool, max_bytes: int, field: str = "body") -> ReceivedFile:
    """Read a raw request body (an asset sent as itself, e.g. image/jpeg) into `spool`, under the same
    bounds as a multipart upload: 413 past `max_bytes` counted as it arrives, 400 when the client
    disconnects, 507 on a full disk, 422 `empty_file` for no body. The caller checks Content-Type."""
    declared = _declared_length(request)
    if declared is not None and declared > max_bytes + DRAIN_ALLOWANCE_BYTES:
        raise payload_too_large(max_bytes)  # not worth reading just to refuse it
    part = _FilePart(field=field, path=spool.folder("body") / "asset", client_filename=None)
    too_large: ApiError | None = None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if too_large is None and received > max_bytes:
                too_large = payload_too_large(max_bytes)
                part.abandon()
            if too_large is not None:
                if received > max_bytes + DRAIN_ALLOWANCE_BYTES:
                    break
                continue  # read on (dropped), so the client sees the answer
            part.write(memoryview(chunk))
    except ClientDisconnect:
        part.abandon()
        raise too_large or malformed_body("the client disconnected before the body was complete") from None
    except BaseException:
        part.abandon()
        raise
    if too_large is not None:
        raise too_large
    return _not_empty(part.finish())
