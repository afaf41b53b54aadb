"""The HTTP client behind `originmark verify --server`: each file is one POST /v1/verify.

Files are streamed from disk (httpx reads the open file 64 KiB at a time), so memory does not
grow with file size. The server answers `{"media_id", "sha256", "verdict", "label", "cached"}`;
the verdict and label are decoded with `app.codec`, the codec the server encoded them with, so
the records printed are the ones a local `verify` prints for the same bytes and trust setup.

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
  answer that cannot be decoded): the file's `error` record, and exit status 2 like a path that
  could not be read, because the file was not checked. The only retry is one for a connection
  the server closed before answering (see `_post`); otherwise a re-run is the retry, and a cheap
  one: the server answers files it has verified before from its store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import ValidationError

# RemoteVerifyError: re-exported, the base of the client's errors.
from app.cli.remote_errors import FileNotVerified, FileRejected, RemoteVerifyError, ServiceUnusable  # noqa: F401
from app.codec import label_from_json, verdict_from_json
from verifier.label_types import Label
from verifier.verdict import Verdict

VERIFY_PATH = "/v1/verify"
# Connecting is quick or never; reading waits while the server queues and verifies the file
# (its own per-file limit is 30 s by default, behind other uploads); writing a large file to a
# slow link takes a while too.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=300.0, pool=None)
_REASON_CHARS = 500  # a server's message is quoted, but a misbehaving one cannot flood the output
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ATTEMPTS_AFTER_DISCONNECT = 2


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

    def __enter__(self) -> VerifyClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def check_access(self) -> None:
        """Raise ServiceUnusable unless the server is reachable and takes the key for verifying.

        Sends POST /v1/verify with an empty body: the key is checked before the body is read, so
        a usable key is answered 422 (`missing_file`) and nothing is verified or stored; a
        refused key gets its 401 or 403 before any file is uploaded.
        """
        try:
            response = self._post(content=b"", files=None)
        except FileNotVerified as failure:  # a timeout or lost connection before any file: stop here
            raise ServiceUnusable(f"{self._server}: {failure.message}") from None
        if response.status_code == 422 and _error_code(response) is not None:
            return
        _raise_if_unusable(response, server=self._server)
        if response.status_code >= 500:  # e.g. its database is down, or a proxy has no backend
            raise ServiceUnusable(
                f"{self._server} cannot verify now ({status_line(response)}): {server_reason(response)}"
            )
        raise ServiceUnusable(
            f"{self._server} did not answer like an originmark service "
            f"(an empty POST {VERIFY_PATH} got {status_line(response)})"
        )

    def verify_file(self, path: Path) -> RemoteVerdict:
        """The server's verdict and label for the file at `path` (OSError if it cannot be opened)."""
        with open(path, "rb") as media:
            # application/octet-stream: the server sniffs the type from the bytes, not from the name.
            form = {"file": (_form_filename(path), media, "application/octet-stream")}
            response = self._post(content=None, files=form)
        _raise_if_unusable(response, server=self._server)
        if response.status_code >= 500:
            raise FileNotVerified(
                f"the server failed on this file ({status_line(response)}): {server_reason(response)}"
            )
        if response.status_code != 200:
            raise FileRejected(f"the server refused the file ({status_line(response)}): {server_reason(response)}")
        return _decode_answer(response)

    def _post(self, *, content: bytes | None, files: dict | None) -> httpx.Response:
        for attempt in range(1, _ATTEMPTS_AFTER_DISCONNECT + 1):
            try:
                return self._client.post(self._endpoint, content=content, files=files)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as error:
                raise ServiceUnusable(
                    f"cannot reach the originmark service at {self._server}: {_transport_reason(error)}"
                ) from None
            except httpx.TimeoutException as error:
                raise FileNotVerified(f"the server did not answer in time ({type(error).__name__})") from None
            except httpx.RemoteProtocolError as error:
                # "Server disconnected without sending a response": usually a kept-alive connection
                # the server closed (its idle timeout) just as the request went out. Verifying is
                # idempotent and httpx re-reads the file from its start, so try once more.
                if attempt == _ATTEMPTS_AFTER_DISCONNECT:
                    raise FileNotVerified(_lost_connection(error)) from None
            except httpx.TransportError as error:
                raise FileNotVerified(_lost_connection(error)) from None
        raise AssertionError("unreachable")


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
    if status in (404, 405) or (status < 500 and _error_code(response) is None and status != 200):
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


def _form_filename(path: Path) -> str:
    # The server ignores the name but logs may show it; undecodable bytes become \\udcXX text.
    return path.name.encode("utf-8", "backslashreplace").decode("utf-8")
