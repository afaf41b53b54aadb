"""Multipart uploads streamed to disk as they arrive, with a hard size limit.

Why not Starlette's `request.form()`: it spools to the system temp dir, has no limit on the
whole body, and a content hash would need a second pass over the file. Here each file part
goes straight into a file under a per-request folder in ORIGINMARK_SPOOL_DIR while its
SHA-256 and first bytes (for sniffing the media type) are taken on the way, so:

- memory stays flat whatever the upload size (one network chunk at a time; a raw verify body held
  in memory instead is bounded per body and per process: app/api/held_bodies.py);
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

Raw-body uploads (`receive_upload`): POST /v1/sign and /v1/verify also take the media as the whole
request body, its media type as Content-Type (image/jpeg, video/mp4, ...; the way object stores
take a PUT), and the text fields as query parameters. Same limits, same spool, same hashing on
the way in, same field rules (unknown, repeated, over-long or non-UTF-8 fields are 422s), same
spool layout; it skips the multipart parser (~1 ms per 3 MB). The declared type only chooses this
form: the format is decided from the bytes, as for a multipart file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.api.error_responses import (
    ApiError,
    insufficient_storage,
    malformed_body,
    payload_too_large,
    unprocessable,
    unsupported_content_type,
)
from app.api.held_bodies import BodyMemory, Reservation
from app.spool import SpoolFolder, abandoned_spools_unswept, is_disk_full, safe_filename, sweep_abandoned_once

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # defined for type checkers only

SNIFF_BYTES = 16 * 1024  # what signer/ and verifier/ read to recognise a format
DEFAULT_MAX_TEXT_BYTES = 4096  # per text field; the signer caps generator/title text far below
MAX_REPEATS = 32  # values of one repeatable text field (FormSpec.repeatable_text_fields)
DRAIN_ALLOWANCE_BYTES = 1024 * 1024  # read past an error this far, so the client sees the answer
# The Content-Types that say "the body is the media itself" (a raw-body upload). Any image, video or
# audio type, and the documents and stores the verifier reads; octet-stream for clients that do not
# know the type. Only which form the body has: the bytes decide the format (sniffed, as for multipart).
RAW_BODY_TYPES = ("image/*", "video/*", "audio/*", "application/pdf", "application/c2pa", "application/octet-stream")
_RAW_BODY_MAJOR = (b"image", b"video", b"audio")
_RAW_BODY_EXACT = (b"application/pdf", b"application/c2pa", b"application/octet-stream")
RAW_FILENAME_PARAMETER = "filename"  # a raw body's file name (multipart's filename=): the default title
log = logging.getLogger("originmark.api")
_Received = TypeVar("_Received", "ReceivedFile", "HeldUpload")


@dataclass(frozen=True, slots=True, kw_only=True)
class FormSpec:
    """The fields one endpoint accepts."""

    file_fields: frozenset[str]
    text_fields: frozenset[str]
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
    # Raw-body uploads (receive_upload): the file field the body fills (None: multipart only), and
    # the query parameters the route itself reads (e.g. verify's `refresh`), allowed beside the fields.
    raw_file_field: str | None = None
    route_parameters: frozenset[str] = frozenset()
    # Text fields that may be sent more than once (multipart only; each value kept, in order, at most
    # MAX_REPEATS of them): UploadForm.texts. Every other field sent twice is a 422.
    repeatable_text_fields: frozenset[str] = frozenset()

    @property
    def accepted(self) -> str:
        return ", ".join(sorted(self.file_fields | self.text_fields))

    @property
    def accepted_in_query(self) -> str:
        return ", ".join(sorted(self.text_fields | self.route_parameters | {RAW_FILENAME_PARAMETER}))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedFile:
    """One uploaded file, complete on disk."""

    field: str
    path: Path
    size: int
    sha256: str
    head: bytes  # the first SNIFF_BYTES bytes
    client_filename: str | None  # as sent (hostile text: use safe_filename before showing it)

    def on_disk(self) -> Path:
        return self.path

    def in_memory(self) -> None:
        return None  # on disk only


class Upload(Protocol):
    """An uploaded file as a route uses it: on disk already (ReceivedFile) or held in memory
    until something must read it as a file (HeldUpload)."""

    @property
    def field(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def head(self) -> bytes: ...
    @property
    def client_filename(self) -> str | None: ...

    def on_disk(self) -> Path:
        """The file's path in the request's spool folder (blocking for a held upload: its bytes are
        written there on the first call; call it from a worker thread)."""
        ...

    def in_memory(self) -> Sequence[bytes] | None:
        """The bytes, in order, while the upload is held in memory (a verifier worker can read them
        without a file: IsolatedVerifier.verify_bytes); None once written out, or never held."""
        ...


class HeldUpload:
    """A raw-body upload held in memory under a BodyMemory reservation (app/api/held_bodies.py):
    its size, SHA-256 and head are known; its bytes reach the spool only when something must read
    them as a file (`on_disk`), and the reservation ends then or when the request's spool does."""

    __slots__ = ("field", "size", "sha256", "head", "client_filename", "_chunks", "_spool", "_filename", "_path")

    def __init__(
        self,
        *,
        field: str,
        size: int,
        sha256: str,
        head: bytes,
        client_filename: str | None,
        chunks: list[bytes],
        spool: UploadSpool,
    ) -> None:
        self.field = field
        self.size = size
        self.sha256 = sha256
        self.head = head
        self.client_filename = client_filename
        self._chunks = chunks  # the body as received: no copy is ever made of it
        self._spool = spool
        self._filename = safe_filename(client_filename, fallback=field)  # the layout _receive_raw spools to
        self._path: Path | None = None

    def on_disk(self) -> Path:
        if self._path is None:
            path = self._spool.folder(self.field) / self._filename
            try:
                with open(path, "xb") as stream:
                    stream.writelines(self._chunks)
            except OSError as error:
                with contextlib.suppress(OSError):
                    path.unlink()
                _raise_if_disk_full(error)
                raise
            self._path = path
            self._spool.release_memory()  # on disk now: the bytes in memory are no longer needed
        return self._path

    def in_memory(self) -> tuple[bytes, ...] | None:
        # A snapshot: the request's end clears the held list in place (UploadSpool.release_memory).
        chunks = tuple(self._chunks)
        return chunks if chunks and self._path is None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadForm:
    files: Mapping[str, ReceivedFile]
    fields: Mapping[str, str]
    raw_body: bool = False  # the media came as the request body, the fields as query parameters
    held: Mapping[str, HeldUpload] = dataclasses.field(default_factory=dict)  # raw bodies kept in memory
    repeated: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # FormSpec.repeatable_text_fields

    def text(self, name: str) -> str | None:
        return self.fields.get(name)

    def texts(self, name: str) -> tuple[str, ...]:
        """Every value of a repeatable text field, in the order sent (none: empty)."""
        return self.repeated.get(name, ())

    def required_text(self, name: str) -> str:
        value = self.fields.get(name)
        if value is None:
            where = "query parameter" if self.raw_body else "form field"
            raise unprocessable("missing_field", f"the {where} {name!r} is required", field=name)
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

    def required_upload(self, name: str) -> Upload:
        """As `required_file`, for a route that also takes an upload held in memory (receive_upload's `hold_in`)."""
        held = self.held.get(name)
        return self.required_file(name) if held is None else _not_empty(held)


def _not_empty(received: _Received) -> _Received:
    if received.size == 0:
        raise unprocessable("empty_file", f"the file in {received.field!r} is empty", field=received.field)
    return received


class UploadSpool(SpoolFolder):
    """A per-request folder for uploads and outputs (app/spool.py: removed on exit, whatever
    happened; one left by a process that died is swept by the next); a full disk is a 507. It also
    ends the request's hold on upload memory (a HeldUpload's reservation, app/api/held_bodies.py).

    The folder is made when first used (`folder`): a request whose upload is held in memory and
    answered from the store, or that fails before any file, makes none (no mkdir, lock, rmdir).

    Use it as `async with` (every route does): the folder is removed off the event loop, and the
    one-time sweep of abandoned folders runs off it too. Removing a directory can wait on the
    file system for milliseconds (2-3 ms per rmdir on the ext4 the benchmarks run on, for ~0.1 ms
    of CPU); on the event loop that wait stalls every other connection of the process. A route
    whose last step is a worker-thread call anyway passes `release` to it (it runs there, in the
    same hand-off: each hand-off costs more CPU than the removal itself); otherwise the exit removes
    the folder in a thread of its own. Shielded: a cancelled request (client gone) still removes
    its folder before it ends.
    """

    _released = False
    _held: list[bytes] | None = None
    _reservation: Reservation | None = None

    def _disk_full(self, error: OSError) -> None:
        _raise_if_disk_full(error)

    def folder(self, name: str) -> Path:
        if self.path is None:
            # Making the folder: one mkdir and a lock, ~0.08 ms (median of 500 on the benchmark
            # machine, loaded), less than the hand-off to a thread and back, so on the event loop.
            self.__enter__()
        return super().folder(name)

    def hold(self, chunks: list[bytes], reservation: Reservation) -> None:
        """Tie an upload held in memory (its chunk list) to this request: dropped, and the
        reservation given back, by `release_memory` or at the latest when the request ends."""
        self._held, self._reservation = chunks, reservation

    def release_memory(self) -> None:
        """Drop the held upload's bytes and give its reservation back (from any thread)."""
        held, self._held = self._held, None
        if held is not None:
            held.clear()
        reservation, self._reservation = self._reservation, None
        if reservation is not None:
            reservation.release()

    def release(self) -> None:
        """Remove the folder now (blocking: call it from a worker thread); the exit then does nothing."""
        if not self._released:
            self._released = True
            self.release_memory()
            self.__exit__(None, None, None)

    async def __aenter__(self) -> UploadSpool:
        if abandoned_spools_unswept(self._parent):
            # The process's first request sweeps the folders a dead process left: as many removals
            # as it left folders, so in a thread (once per process; __enter__ then finds it done).
            await anyio.to_thread.run_sync(sweep_abandoned_once, self._parent)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._released:
            return
        if self.path is None:
            self.release()  # no folder: nothing that could wait on the disk
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.release)


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

    def write(self, data: bytes | memoryview) -> None:
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
        self.repeated: dict[str, list[str]] = {}
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
        if name in self._spec.repeatable_text_fields:
            if len(self.repeated.get(name, ())) >= MAX_REPEATS:
                raise unprocessable(
                    "too_many_values", f"the form field {name!r} was sent over {MAX_REPEATS} times", field=name
                )
        elif name in self._seen:
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
            value = self._text.decode("utf-8")
        except UnicodeDecodeError:
            raise unprocessable(
                "invalid_text", f"the form field {self._text_name!r} is not UTF-8 text", field=self._text_name
            ) from None
        if self._text_name in self._spec.repeatable_text_fields:
            self.repeated.setdefault(self._text_name, []).append(value)
        else:
            self.fields[self._text_name] = value

    def _on_end(self) -> None:
        self.ended = True


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def _has_chunked_body(request: Request) -> bool:
    """A body without Content-Length (chunked): with no Content-Type it is no "empty request" but a
    body of unknown type, refused (415) and drained like any other, within the receive deadline."""
    return "transfer-encoding" in request.headers


async def refuse_query_parameters(request: Request, *, max_bytes: int) -> None:
    """For routes whose fields all travel in the body (the job routes): a field sent in the query
    would be dropped without a word (a `private` job signed shared), so any query parameter is a 422."""
    for name in request.query_params:
        await _drain(request, max_bytes)
        raise unprocessable(
            "misplaced_field",
            f"{name!r} was sent as a query parameter: this route takes its fields in the body "
            "(JSON, or multipart form fields)",
            field=name,
        )


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
    if content_type is None and declared in (None, 0) and not _has_chunked_body(request):
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
        raise unsupported_content_type(
            "send the request body as multipart/form-data (e.g. curl -F file=@photo.jpg)",
            supported=("multipart/form-data",),
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
    return UploadForm(
        files=collector.files,
        fields=collector.fields,
        repeated={name: tuple(values) for name, values in collector.repeated.items()},
    )


async def receive_upload(
    request: Request, *, spec: FormSpec, spool: UploadSpool, max_bytes: int, hold_in: BodyMemory | None = None
) -> UploadForm:
    """The upload of an endpoint that takes either form: the media as the raw request body (its media
    type as Content-Type, the fields as query parameters: `spec.raw_file_field`) or a multipart form.
    Raises ApiError (400/413/415/422) as `receive_form` does; 415 names both forms.

    `hold_in`: a raw body that fits this budget is held in memory (UploadForm.held, read it with
    `required_upload`) instead of spooled; any other upload is spooled as without it."""
    content_type = request.headers.get("content-type")
    kind = _media_type(content_type)
    if spec.raw_file_field is not None and _is_raw_body_type(kind):
        try:
            fields = query_fields(request, spec)
        except ApiError:
            await _drain(request, max_bytes)  # as after any upload error: the client sees the answer
            raise
        received = await _receive_raw(
            request,
            spool=spool,
            max_bytes=max_bytes,
            field=spec.raw_file_field,
            client_filename=request.query_params.get(RAW_FILENAME_PARAMETER),
            hold_in=hold_in,
        )
        if isinstance(received, HeldUpload):
            return UploadForm(files={}, held={received.field: received}, fields=fields, raw_body=True)
        return UploadForm(files={received.field: received}, fields=fields, raw_body=True)
    if kind in (b"multipart/form-data", b"application/x-www-form-urlencoded") or (
        content_type is None and _declared_length(request) in (None, 0) and not _has_chunked_body(request)
    ):
        try:
            _multipart_query_parameters(request, spec)
        except ApiError:
            await _drain(request, max_bytes)
            raise
        return await receive_form(request, spec=spec, spool=spool, max_bytes=max_bytes)
    await _drain(request, max_bytes)
    named = f"Content-Type {kind.decode('latin-1')!r}" if kind else "no Content-Type"
    raise unsupported_content_type(
        f"the request body has {named}: send the media itself as the body with its media type as Content-Type "
        "(curl -H 'Content-Type: image/jpeg' --data-binary @photo.jpg) and the fields as query parameters, "
        "or a multipart/form-data form (curl -F file=@photo.jpg)",
        supported=("multipart/form-data", *RAW_BODY_TYPES),
    )


def raw_body_openapi(
    *,
    file_description: str,
    required_fields: tuple[str, ...],
    fields: dict[str, dict[str, Any]],
    file_field: str,
    multipart_only: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI `openapi_extra` of an endpoint taking `receive_upload`'s two forms: the request
    body alternatives (multipart, or the media itself) and the fields as query parameters."""
    binary = {"type": "string", "format": "binary"}
    form = {
        "type": "object",
        "required": [file_field, *required_fields],
        "properties": {file_field: {**binary, "description": file_description}, **fields, **(multipart_only or {})},
    }
    raw = {**binary, "description": f"{file_description} The bytes decide the format; fields go in the query."}
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": "With the media as the raw request body: "
            + ("required. " if name in required_fields else "")
            + schema.get("description", "the form field of the same name.")
            + " With a multipart body send it as a form field instead (here it is a 422).",
        }
        for name, schema in fields.items()
    ]
    parameters.append(
        {
            "name": RAW_FILENAME_PARAMETER,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": DEFAULT_MAX_TEXT_BYTES},
            "description": "With the media as the raw request body: its file name (multipart's filename=), "
            "used as a multipart file's name is. With a multipart body the part's filename= names the file "
            "(here it is a 422).",
        }
    )
    return {
        "requestBody": {
            "required": True,
            "description": "Either a multipart/form-data form, or the media itself as the body with its media type "
            f"as Content-Type ({', '.join(RAW_BODY_TYPES)}) and the fields as query parameters. Same limits "
            "(ORIGINMARK_MAX_UPLOAD_BYTES, the receive deadline), same answers.",
            "content": {"multipart/form-data": {"schema": form}, **{kind: {"schema": raw} for kind in RAW_BODY_TYPES}},
        },
        "parameters": parameters,
    }


def _media_type(content_type: str | None) -> bytes:
    if content_type is None:
        return b""
    kind, _options = parse_options_header(content_type)
    return kind.lower()


def _is_raw_body_type(kind: bytes) -> bool:
    return kind.partition(b"/")[0] in _RAW_BODY_MAJOR or kind in _RAW_BODY_EXACT


def query_fields(request: Request, spec: FormSpec) -> dict[str, str]:
    """A raw-body upload's text fields, from the query string, under the multipart rules: only the
    declared fields (and the route's own parameters, which the route reads), each once, UTF-8, capped."""
    raw = request.scope.get("query_string", b"")
    try:
        # Strict UTF-8: a field that is no text is a 422, as in a multipart part (not U+FFFD).
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise unprocessable("invalid_text", "a query parameter is not UTF-8 text (percent-encode UTF-8)") from None
    fields: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in spec.file_fields:
            raise unprocessable(
                "unknown_field",
                f"{name!r} is a file: with the media as the request body, send the form as multipart/form-data "
                "to add it",
                field=name,
            )
        if name not in spec.text_fields and name not in spec.route_parameters and name != RAW_FILENAME_PARAMETER:
            shown = name if len(name) <= 64 else name[:64] + "..."
            raise unprocessable(
                "unknown_field",
                f"unknown query parameter {shown!r}; with the media as the request body this endpoint accepts: "
                f"{spec.accepted_in_query}",
                field=name,
            )
        if name in seen:
            raise unprocessable("duplicate_field", f"the query parameter {name!r} was sent more than once", field=name)
        seen.add(name)
        if len(value.encode("utf-8")) > spec.max_text_bytes:
            raise unprocessable(
                "field_too_long", f"the query parameter {name!r} is over {spec.max_text_bytes} bytes", field=name
            )
        if name in spec.text_fields:
            fields[name] = value
    return fields


def _multipart_query_parameters(request: Request, spec: FormSpec) -> None:
    """With a multipart body the fields are form fields and the file's name is its part's filename=:
    any query parameter but the route's own would be dropped without a word (a media id not
    recorded, a misspelt `refresh` not applied), so it is a 422, as with a raw body."""
    for name in request.query_params:
        if name in spec.route_parameters:
            continue
        if name in spec.text_fields:
            raise unprocessable(
                "misplaced_field",
                f"{name!r} was sent as a query parameter: with a multipart body send it as a form field "
                "(query parameters carry the fields when the media is the raw request body)",
                field=name,
            )
        shown = name if len(name) <= 64 else name[:64] + "..."
        own = sorted(spec.route_parameters)
        where = f"only {', '.join(own)} goes in the query" if own else "nothing goes in the query"
        raise unprocessable(
            "unknown_field",
            f"unknown query parameter {shown!r}: with a multipart body {where}; the fields "
            f"({spec.accepted}) are form fields and the file's name is its part's filename=",
            field=name,
        )


async def receive_body(request: Request, *, spool: UploadSpool, max_bytes: int, field: str = "body") -> ReceivedFile:
    """Read a raw request body (an asset sent as itself, e.g. image/jpeg) into `spool`, under the same
    bounds as a multipart upload: 413 past `max_bytes` counted as it arrives, 400 when the client
    disconnects, 507 on a full disk, 422 `empty_file` for no body. The caller checks Content-Type."""
    received = await _receive_raw(request, spool=spool, max_bytes=max_bytes, field=field, client_filename=None)
    assert isinstance(received, ReceivedFile)  # nothing is held without `hold_in`
    return received


async def _receive_raw(
    request: Request,
    *,
    spool: UploadSpool,
    max_bytes: int,
    field: str,
    client_filename: str | None,
    hold_in: BodyMemory | None = None,
) -> ReceivedFile | HeldUpload:
    declared = _declared_length(request)
    if declared is not None and declared > max_bytes + DRAIN_ALLOWANCE_BYTES:
        raise payload_too_large(max_bytes)  # not worth reading just to refuse it
    reservation = None
    # Held only with a Content-Length alone (no Transfer-Encoding beside it): the length the HTTP
    # parser enforces, so the body can never outgrow its reservation.
    if hold_in is not None and declared is not None and declared <= max_bytes and not _has_chunked_body(request):
        reservation = hold_in.reserve(declared)
    if reservation is not None:
        held = _HeldPart(limit=declared or 0)
        spool.hold(held.chunks, reservation)  # given back when the request ends, whatever happens
        await _read_raw(request, held, max_bytes=max_bytes)
        return _not_empty(
            HeldUpload(
                field=field,
                size=held.size,
                sha256=held.digest.hexdigest(),
                head=held.head,
                client_filename=client_filename,
                chunks=held.chunks,
                spool=spool,
            )
        )
    # The multipart layout (a sub-folder per file field, the client's name made safe), so that the
    # file is named, signed and titled alike in both forms.
    path = spool.folder(field) / safe_filename(client_filename, fallback=field)
    part = _FilePart(field=field, path=path, client_filename=client_filename)
    await _read_raw(request, part, max_bytes=max_bytes)
    return _not_empty(part.finish())


class _HeldPart:
    """A raw body received into memory (at most `limit` bytes: its reservation), hashed on the way
    in as a _FilePart is. The chunks are kept as the server delivered them: no copy."""

    __slots__ = ("chunks", "digest", "size", "head", "_limit")

    def __init__(self, *, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self._limit = limit

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self._limit:
            # The HTTP parser delivers no more than Content-Length says: a body over it is no
            # HTTP/1.1 a server accepts, and memory must not grow past the reservation.
            raise malformed_body("the request body is longer than its Content-Length")
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self.digest.update(data)
        self.chunks.append(data)
        self.size += len(data)

    def abandon(self) -> None:
        self.chunks.clear()


async def _read_raw(request: Request, part: _FilePart | _HeldPart, *, max_bytes: int) -> None:
    """Read the request body into `part` (413 past `max_bytes` counted as it arrives, the rest
    drained up to an allowance; 400 when the client disconnects); `part` is abandoned on any error."""
    too_large: ApiError | None = None
    received = 0
    receive = request.receive  # the ASGI messages themselves: no generator layer per chunk
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            if chunk:
                received += len(chunk)
                if too_large is None and received > max_bytes:
                    too_large = payload_too_large(max_bytes)
                    part.abandon()
                if too_large is None:
                    part.write(chunk)
                elif received > max_bytes + DRAIN_ALLOWANCE_BYTES:
                    break  # read on (dropped) up to here, so the client sees the answer
            if not message.get("more_body", False):
                break
    except ClientDisconnect:
        part.abandon()
        raise too_large or malformed_body("the client disconnected before the body was complete") from None
    except BaseException:
        part.abandon()
        raise
    if too_large is not None:
        raise too_large
