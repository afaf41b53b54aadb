"""The HTTP client behind `originmark verify --server`: each file is one POST /v1/verify.

Each file is sent as the raw request body (docs/api.md, "Raw-body uploads"): `Content-Type` is
its media type, sniffed from its first bytes (`verifier.media_type`, as the server does; bytes
of no known type go as application/octet-stream and the server answers 415), `Content-Length`
its size. The body is streamed from the open file 64 KiB at a time, so memory does not grow
with file size. The server answers `{"media_id", "sha256", "verdict", "label", "cached"}`; the
verdict and label are decoded with `app.codec`, the codec the server encoded them with, so the
records printed are the ones a local `verify` prints for the same bytes and trust setup.

What can go wrong, and what the batch does about it (`verify_cmd` acts on these types):

- `ServiceUnusable` — the same for every file, so the batch stops (exit 2) with one message
  instead of N identical records: the server cannot be reached (refused, DNS, TLS, connect
  timeout), the key is refused (401) or lacks the `verify` scope (403), or the URL is not an
  originmark API (404/405, a redirect, an answer that is not its JSON). Checked once before any
  file is sent (`check_access`, where a 5xx stops it too) and again on every answer: a key
  revoked mid-batch stops it.
- `FileRejected` — the server read this file and refused it (413 over its upload limit, 415 not
  a media type it verifies, 400/422): the file's `error` record with the server's reason. Like a
  local `error` verdict for unsupported media, it does not change the exit status.
- `FileNotVerified` — the service failed on this file (5xx, a timeout, the connection lost, an
  answer that cannot be decoded, still busy after the retries below): the file's `error`
  record, and exit status 2 like a path that could not be read, because the file was not
  checked.

Retries, all bounded: a connection the server closed before answering is tried once more (see
`_post`); a 429, or a 503 that says when to come back (Retry-After), is sent again after the
wait the server asked for (at most `MAX_RETRY_AFTER_SECONDS`; without a Retry-After, a 429 waits
1, 2, 4 s), up to `ATTEMPTS_WHEN_BUSY` sends per file. The wait holds back every request of the
batch, not just the refused one (`_Backoff`): a 429 says the key or the client is over a rate,
and the other requests in flight would only be refused too. Otherwise a re-run is the retry,
and a cheap one: the server answers files it has verified before from its store.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import httpx
from pydantic import ValidationError

# RemoteVerifyError: re-exported, the base of the client's errors.
from app.cli.remote_errors import FileNotVerified, FileRejected, RemoteVerifyError, ServiceUnusable  # noqa: F401
from app.codec import label_from_json, verdict_from_json
from verifier.label_types import Label
from verifier.media_type import sniff_file_media_type
from verifier.verdict import Verdict

VERIFY_PATH = "/v1/verify"
# Connecting is quick or never; reading waits while the server queues and verifies the file
# (its own per-file limit is 30 s by default, behind other uploads); writing a large file to a
# slow link takes a while too.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=300.0, pool=None)
_REASON_CHARS = 500  # a server's message is quoted, but a misbehaving one cannot flood the output
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ATTEMPTS_AFTER_DISCONNECT = 2
ATTEMPTS_WHEN_BUSY = 4  # sends of one file answered 429 (or 503 with Retry-After) at most
MAX_RETRY_AFTER_SECONDS = 60.0  # a longer wait asked for: the file's error record, not a stalled batch
_BUSY_FIRST_WAIT_SECONDS = 1.0  # a 429 without Retry-After: 1, 2, 4 s
_CHUNK_BYTES = 64 * 1024
_UNKNOWN_MEDIA_TYPE = "application/octet-stream"  # the server sniffs the bytes and answers 415


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteVerdict:
    verdict: Verdict
    label: Label
    cached: bool  # answered from the server's store (same bytes, same trust configuration)


def parse_server_url(text: str) -> httpx.URL:
    """The service's base URL (`http(s)://host[:port][/prefix]`); ValueError says what is wrong."""
    try:
        url = httpx.URL(text.strip())
    except httpx.InvalidURL as error:
        raise ValueError(f"not a URL: {error}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("give the service's base URL, such as http://127.0.0.1:8000")
    if url.query or url.fragment:
        raise ValueError("the base URL takes no query or fragment")
    return url.copy_with(path=url.path.rstrip("/") or "/")


def clean_api_key(text: str) -> str:
    """The key as sent in the header (surrounding whitespace dropped); ValueError if it cannot be one."""
    key = text.strip()
    if not key:
        raise ValueError("the API key is empty")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise ValueError("an API key is one word of printable ASCII, as `originmark apikey create` prints it")
    return key


def sends_key_in_clear(url: httpx.URL) -> bool:
    """Plain HTTP to another host: the API key crosses the network readable by anyone on the path."""
    return url.scheme == "http" and url.host not in _LOOPBACK_HOSTS


def server_and_key(
    server_url: str, api_key: str | None, *, scope: str, warn: Callable[[str], None]
) -> tuple[httpx.URL, str]:
    """The checked base URL and API key for `--server` (`api_key` None: none given nor set), or
    ValueError naming the option (`--server` / `--api-key`) and what is wrong; `warn` is told when the
    key would cross the network in clear."""
    try:
        url = parse_server_url(server_url)
    except ValueError as problem:
        raise ValueError(f"--server: {problem}") from None
    if not api_key:
        raise ValueError(f"--api-key: give an API key with the {scope} scope (or set ORIGINMARK_API_KEY)")
    try:
        key = clean_api_key(api_key)
    except ValueError as problem:
        raise ValueError(f"--api-key: {problem}") from None
    if sends_key_in_clear(url):
        warn(f"warning: the API key is sent to {url.host} over plain HTTP; use https:// beyond this machine")
    return url, key


class VerifyClient:
    """Verifies files with a running originmark service; thread-safe (one connection per job)."""

    def __init__(
        self, *, server_url: httpx.URL, api_key: str, concurrency: int, timeout: httpx.Timeout = DEFAULT_TIMEOUT
    ) -> None:
        self._server = str(server_url).rstrip("/")
        self._endpoint = self._server + VERIFY_PATH
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,  # a redirect means a wrong URL; following it could send the key elsewhere
        )
        self._backoff = _Backoff()

    def __enter__(self) -> VerifyClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def stop(self) -> None:
        """The batch is over (interrupted, or the reader went away): waits end now and no file is sent
        again or anew; a file then gets FileNotVerified. A request under way is not cut short."""
        self._backoff.stop()

    def check_access(self) -> None:
        """Raise ServiceUnusable unless the server is reachable and takes the key for verifying.

        Sends POST /v1/verify with an empty raw body (the form every file is sent in): the key is
        checked before the body is read, so a usable key is answered 422 (`empty_file`) and nothing
        is verified or stored; a refused key gets its 401 or 403 before any file is uploaded.
        """
        try:
            response = self._send(b"", {"Content-Type": _UNKNOWN_MEDIA_TYPE})
        except FileNotVerified as failure:  # a timeout or lost connection before any file: stop here
            raise ServiceUnusable(f"{self._server}: {failure.message}") from None
        if response.status_code == 422 and _error_code(response) is not None:
            return
        _raise_if_unusable(response, server=self._server)
        if response.status_code == 429 or response.status_code >= 500:  # its database is down, a proxy has no backend
            raise ServiceUnusable(
                f"{self._server} cannot verify now ({status_line(response)}): {server_reason(response)}"
            )
        raise ServiceUnusable(
            f"{self._server} did not answer like an originmark service "
            f"(an empty POST {VERIFY_PATH} got {status_line(response)})"
        )

    def verify_file(self, path: Path) -> RemoteVerdict:
        """The server's verdict and label for the file at `path` (OSError if it cannot be read)."""
        with open(path, "rb") as media:
            body = _FileBody(media)
            headers = {"Content-Type": sniff_file_media_type(media) or _UNKNOWN_MEDIA_TYPE}
            response = self._send(body, {**headers, "Content-Length": str(body.size)})
        _raise_if_unusable(response, server=self._server)
        if response.status_code == 429 or response.status_code >= 500:
            what = "was too busy for" if response.status_code in (429, 503) else "failed on"
            raise FileNotVerified(
                f"the server {what} this file ({status_line(response)}{_retry_note(response)}): "
                f"{server_reason(response)}"
            )
        if response.status_code != 200:
            raise FileRejected(f"the server refused the file ({status_line(response)}): {server_reason(response)}")
        return _decode_answer(response)

    def _send(self, body: bytes | _FileBody, headers: dict[str, str]) -> httpx.Response:
        """POST `body`; sent again after the wait a 429 (or a 503 with Retry-After) asks for."""
        for attempt in range(1, ATTEMPTS_WHEN_BUSY + 1):
            self._backoff.wait()
            if self._backoff.stopped:
                raise FileNotVerified("not sent: the batch was stopped")
            response = self._post(content=body, files=None, headers=headers)
            wait = _busy_wait(response, attempt)
            if wait is None or attempt == ATTEMPTS_WHEN_BUSY:
                return response
            self._backoff.hold(wait)
        raise AssertionError("unreachable")

    def _post(
        self, *, content: bytes | _FileBody | None, files: dict | None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        for attempt in range(1, _ATTEMPTS_AFTER_DISCONNECT + 1):
            try:
                return self._client.post(self._endpoint, content=content, files=files, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as error:
                raise ServiceUnusable(
                    f"cannot reach the originmark service at {self._server}: {_transport_reason(error)}"
                ) from None
            except httpx.TimeoutException as error:
                raise FileNotVerified(f"the server did not answer in time ({type(error).__name__})") from None
            except httpx.RemoteProtocolError as error:
                # "Server disconnected without sending a response": usually a kept-alive connection
                # the server closed (its idle timeout) just as the request went out. Verifying is
                # idempotent and the body is read again from the file's start, so try once more.
                if attempt == _ATTEMPTS_AFTER_DISCONNECT:
                    raise FileNotVerified(_lost_connection(error)) from None
            except httpx.TransportError as error:
                raise FileNotVerified(_lost_connection(error)) from None
            except httpx.DecodingError as error:  # a body its Content-Encoding does not describe (a proxy's)
                raise FileNotVerified(f"the server's answer could not be decoded: {error}"[:_REASON_CHARS]) from None
        raise AssertionError("unreachable")


class _FileBody:
    """A file as a request body: exactly the `size` bytes it had when opened (its Content-Length),
    from its start on every send (a retry sends it whole again), 64 KiB at a time."""

    def __init__(self, media: BinaryIO) -> None:
        self._media = media
        self.size = os.fstat(media.fileno()).st_size

    def __iter__(self) -> Iterator[bytes]:
        self._media.seek(0)
        left = self.size
        while left > 0:
            chunk = self._media.read(min(_CHUNK_BYTES, left))
            if not chunk:  # shorter than its Content-Length: the server would wait for the rest
                raise OSError(f"the file shrank while it was being sent ({left} of {self.size} bytes missing)")
            left -= len(chunk)
            yield chunk


class _Backoff:
    """When the next request of the batch may go: a 429 holds back every sender (thread-safe);
    once stopped, nobody waits any more (a stopped batch must not sit out a 60 s Retry-After)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resume_at = 0.0  # time.monotonic()
        self._stopped = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        self._stopped.set()

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def wait(self) -> None:
        """Until the batch may send again, or it is stopped."""
        while not self._stopped.is_set():
            with self._lock:
                remaining = self._resume_at - time.monotonic()
            if remaining <= 0:
                return
            self._stopped.wait(remaining)


def _busy_wait(response: httpx.Response, attempt: int) -> float | None:
    """Seconds to wait before sending again, when the server is busy and says (or, for 429, implies)
    it will take the file later; None when this answer is not retried."""
    if response.status_code not in (429, 503):
        return None
    asked = _retry_after_seconds(response.headers.get("retry-after"))
    if asked is None:
        return _BUSY_FIRST_WAIT_SECONDS * 2 ** (attempt - 1) if response.status_code == 429 else None
    return asked if asked <= MAX_RETRY_AFTER_SECONDS else None


def _retry_note(response: httpx.Response) -> str:
    """What was done about a busy answer: sent again as often as allowed, or a wait too long to take."""
    if _busy_wait(response, 1) is not None:
        return f"; sent {ATTEMPTS_WHEN_BUSY} times"
    asked = _retry_after_seconds(response.headers.get("retry-after"))
    if asked is not None:
        return f"; it asked to wait {asked:.0f} s, over the {MAX_RETRY_AFTER_SECONDS:.0f} s this command waits"
    return ""


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP date (RFC 9110 10.2.3); None if absent or malformed."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):  # ASCII digits only: str.isdigit() takes '²' and '١' too
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _raise_if_unusable(response: httpx.Response, *, server: str) -> None:
    status = response.status_code
    if status == 401:
        raise ServiceUnusable(f"the server refused the API key ({status_line(response)}): {server_reason(response)}")
    if status == 403:
        raise ServiceUnusable(
            f"the API key may not verify ({status_line(response)}): {server_reason(response)}; "
            "create one with `originmark apikey create --name NAME --scopes verify`"
        )
    if 300 <= status < 400:
        where = response.headers.get("location", "elsewhere")
        raise ServiceUnusable(f"{server} redirects {VERIFY_PATH} to {where[:200]}: give that base URL with --server")
    # A proxy's own 413 or 429 (an HTML page, not the API's JSON error) is about the request, not the URL.
    if status in (404, 405) or (status < 500 and _error_code(response) is None and status not in (200, 413, 429)):
        raise ServiceUnusable(
            f"{server} is not an originmark service (POST {VERIFY_PATH} got {status_line(response)}); "
            "give the base URL `originmark serve` listens on"
        )


def _decode_answer(response: httpx.Response) -> RemoteVerdict:
    try:
        body = response.json()
        verdict = verdict_from_json(json.dumps(body["verdict"]))
        label = label_from_json(json.dumps(body["label"]))
        cached = body.get("cached") is True
    except (ValueError, KeyError, TypeError, ValidationError) as error:
        # ValidationError: a server of another version whose verdict fields differ from ours.
        raise FileNotVerified(f"the server's answer could not be read ({type(error).__name__})") from None
    return RemoteVerdict(verdict=verdict, label=label, cached=cached)


def _error_member(response: httpx.Response) -> dict | None:
    """The `error` object of the API's JSON error shape, or None for any other body."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _error_code(response: httpx.Response) -> str | None:
    error = _error_member(response)
    code = error.get("code") if error is not None else None
    return code if isinstance(code, str) else None


def server_reason(response: httpx.Response) -> str:
    """The server's own sentence for an error answer (with what it supports, for a 415)."""
    error = _error_member(response)
    message = error.get("message") if error is not None else None
    if error is None or not isinstance(message, str) or not message:
        return response.reason_phrase or "no reason given"
    supported = error.get("supported")
    if isinstance(supported, list) and supported:
        message += f" (supported: {', '.join(map(str, supported))})"
    return message[:_REASON_CHARS]


def status_line(response: httpx.Response) -> str:
    code = _error_code(response)
    return f"HTTP {response.status_code} {code}" if code else f"HTTP {response.status_code}"


def _lost_connection(error: httpx.TransportError) -> str:
    return f"the connection to the server was lost: {_transport_reason(error)}"


def _transport_reason(error: httpx.TransportError) -> str:
    # httpx wraps the OS error; its text ("[Errno 111] Connection refused") is what a user recognises.
    return str(error) or type(error).__name__
