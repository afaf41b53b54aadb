"""Remote manifests: fetched only from hosts an operator allowlisted, and only by originmark.

An asset may carry its Content Credentials at a URL instead of inside the file (C2PA
"remote manifest": the XMP `dcterms:provenance` of the asset). That URL is chosen by
whoever made the file — for an upload, by the uploader — so fetching it would let an
upload make the server contact any address (an internal service, a cloud metadata
endpoint, a tracker). The engine's own fetching is therefore always off
(`TrustPolicy.engine_settings`), and so is OCSP.

c2pa-python 0.38.1 exposes no HTTP resolver hook (the native library has one, the binding
does not wrap it), and the engine's switch is global: on, it fetches any URL and follows
redirects. So originmark fetches itself, and only what the policy allows:

- the URL is the one the engine names when it refuses to fetch (so it is exactly the
  reference the engine found, in whatever format), and must be http(s) without userinfo;
- its host (and port, when the entry names one) must be on the operator's allowlist;
- no redirects, one GET, a size cap and a deadline for the whole exchange;
- the bytes go to the engine as `manifest_data`, and it validates them against the asset
  like embedded credentials (a manifest for other content fails its hash check).

Anything else, including a URL that cannot be parsed, is not fetched: the failure mode is
"not fetched", never "fetched from somewhere else".
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import http.client

_REMOTE_MARKER = "must fetch remote manifests from url "
_HOSTNAME = re.compile(r"^[a-z0-9.-]{1,253}$")  # urlsplit lower-cases it
_READ_CHUNK = 64 * 1024

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # real manifest stores are KBs to a few MB (thumbnails)


class RemoteManifestUnavailable(Exception):
    """An allowlisted remote manifest could not be fetched (the message says why, for a verdict)."""


def remote_manifest_url(engine_message: str) -> str | None:
    """The URL in the engine's "must fetch remote manifests from url URL" refusal, else None."""
    if _REMOTE_MARKER not in engine_message:
        return None
    url = engine_message.split(_REMOTE_MARKER, 1)[1].strip()
    return url or None


@dataclass(frozen=True, slots=True)
class _HostEntry:
    host: str  # lower case, no trailing dot; IPv6 without brackets
    port: int | None  # None: any port

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and (self.port is None or self.port == port)


def _parse_entry(entry: str) -> _HostEntry:
    text = entry.strip()
    problem = f"remote fetch host {entry!r} is not a host or host:port (e.g. manifests.example.com or 10.0.0.5:8443)"
    try:
        parts = urlsplit("//" + text)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(problem) from None
    if not host or "@" in text or parts.path or parts.query or parts.fragment:
        raise ValueError(problem)
    if not _HOSTNAME.match(host):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(problem) from None
    return _HostEntry(host=host.rstrip("."), port=port)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteManifestPolicy:
    """Which remote manifest hosts may be fetched, and the bounds of one fetch.

    Build with `RemoteManifestPolicy.from_hosts(...)`; an empty allowlist (`NO_REMOTE_FETCH`)
    fetches nothing. Plain data, so it travels to the isolated verifier's workers.
    """

    hosts: tuple[_HostEntry, ...] = ()
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS  # the whole exchange, connect to last byte
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        if not (self.timeout_seconds > 0 and math.isfinite(self.timeout_seconds)):
            raise ValueError(f"timeout_seconds must be a positive number, got {self.timeout_seconds!r}")
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes!r}")

    @classmethod
    def from_hosts(
        cls,
        entries: list[str] | tuple[str, ...],
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> RemoteManifestPolicy:
        """`entries`: "host" (any port) or "host:port"; blank entries are ignored, bad ones raise ValueError."""
        parsed = tuple(dict.fromkeys(_parse_entry(e) for e in entries if e.strip()))
        return cls(hosts=parsed, timeout_seconds=timeout_seconds, max_bytes=max_bytes)

    @property
    def enabled(self) -> bool:
        return bool(self.hosts)

    @property
    def host_names(self) -> tuple[str, ...]:
        """The allowlist as configured (for logs and fingerprints)."""
        return tuple(e.shown for e in self.hosts)

    def allows(self, url: str) -> bool:
        """Whether `url` is an http(s) URL without credentials on an allowlisted host (and port)."""
        target = _target(url)
        if target is None:
            return False
        _scheme, host, port, _path = target
        return any(entry.matches(host, port) for entry in self.hosts)

    def fetch(self, url: str) -> bytes:
        """GET `url` (which must be allowed): the body of a 200 answer, within the bounds.

        Raises RemoteManifestUnavailable for anything else; never follows a redirect.
        """
        target = _target(url)
        if target is None or not self.allows(url):
            raise RemoteManifestUnavailable("its host is not on the allowlist")  # callers check first
        # Imported here: every verifier imports this module, and most never fetch (issue 13: ~10 ms).
        import http.client

        scheme, host, port, path = target
        deadline = time.monotonic() + self.timeout_seconds
        connection_class = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = connection_class(host, port, timeout=self.timeout_seconds)
        try:
            connection.request(
                "GET",
                path,
                headers={"Accept": "application/c2pa, application/octet-stream;q=0.5", "User-Agent": "originmark"},
            )
            response = connection.getresponse()
            if response.status != 200:
                # A redirect is refused too: its target was not checked against the allowlist.
                raise RemoteManifestUnavailable(f"the server answered HTTP {response.status}, not 200")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise RemoteManifestUnavailable(f"it is larger than the limit of {self.max_bytes} bytes")
            return _read_bounded(response, limit=self.max_bytes, deadline=deadline, timeout=self.timeout_seconds)
        except (OSError, http.client.HTTPException) as error:
            raise RemoteManifestUnavailable(f"the request failed ({type(error).__name__})") from None
        finally:
            connection.close()


NO_REMOTE_FETCH = RemoteManifestPolicy()


def _target(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path-and-query) of an http(s) URL without userinfo, else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None  # no whitespace or control characters in a request line
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.rstrip(".").lower(), port or default_port, path


def _read_bounded(response: http.client.HTTPResponse, *, limit: int, deadline: float, timeout: float) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise RemoteManifestUnavailable(f"it did not arrive within {timeout:g} s")
        chunk = response.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise RemoteManifestUnavailable(f"it is larger than the limit of {limit} bytes")
        chunks.append(chunk)
