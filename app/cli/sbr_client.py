"""The HTTP client behind `originmark sbr`: any C2PA Soft Binding Resolution API endpoint, ours or another's.

The endpoint is the API's base URL (ours: `http://host:port/sbr/v1`); the routes below it are the
specification's: `POST /matches/byContent` (the asset as the raw body, its media type as
Content-Type), `GET /matches/byBinding?alg=&value=`, `GET /manifests/{manifestId}`. Every failure
is an `SbrQueryFailed` with a sentence for the user (the server's own, when it gave one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import httpx

from app.cli.remote import DEFAULT_TIMEOUT, server_reason, status_line

_MAX_MATCHES = 1000  # a misbehaving server cannot flood the output
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # a manifest store is kilobytes; a long video's some megabytes
_MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a query result or an error: 100 matches are a few kilobytes


class SbrQueryFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class SbrMatch:
    manifest_id: str
    similarity_score: int | None  # optional in the specification
    endpoint: str | None  # where to fetch it, when not from the endpoint asked


class SbrClient:
    """One endpoint; `api_key` None sends no Authorization (an endpoint open to public reading)."""

    def __init__(
        self,
        *,
        endpoint: httpx.URL,
        api_key: str | None,
        tenant: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._endpoint = str(endpoint).rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Our own server's public reading names the tenant; another server ignores the parameter.
        self._params = {"tenant": tenant} if tenant else {}
        self._client = httpx.Client(headers=headers, timeout=timeout, follow_redirects=False)

    def __enter__(self) -> SbrClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._client.close()

    def by_content(self, path: Path, *, media_type: str, alg: str | None, max_results: int) -> list[SbrMatch]:
        params = {**self._params, "maxResults": str(max_results)}
        if alg:
            params["alg"] = alg
        with open(path, "rb") as asset:
            response = self._send(
                "POST", "/matches/byContent", params=params, content=asset, headers={"Content-Type": media_type}
            )
        return _matches(response)

    def by_binding(self, *, alg: str, value: str, max_results: int) -> list[SbrMatch]:
        params = {**self._params, "alg": alg, "value": value, "maxResults": str(max_results)}
        return _matches(self._send("GET", "/matches/byBinding", params=params))

    def manifest(self, manifest_id: str, *, active_only: bool) -> bytes:
        params = {**self._params, **({"returnActiveManifest": "true"} if active_only else {})}
        path = "/manifests/" + quote(manifest_id, safe=":")
        return self._send("GET", path, params=params, max_bytes=_MAX_MANIFEST_BYTES).content

    def _send(self, method: str, path: str, *, max_bytes: int = _MAX_ANSWER_BYTES, **options) -> httpx.Response:
        """The answer, read up to `max_bytes` (the endpoint may be anyone's: its size is not trusted)."""
        url = self._endpoint + path
        try:
            response = self._bounded(method, url, max_bytes=max_bytes, **options)
        except httpx.TimeoutException as error:
            raise SbrQueryFailed(f"{url}: no answer in time ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise SbrQueryFailed(f"cannot reach {self._endpoint}: {error or type(error).__name__}") from None
        if response.status_code == 200:
            return response
        if 300 <= response.status_code < 400:
            where = response.headers.get("location", "elsewhere")[:200]
            raise SbrQueryFailed(f"{url} redirects to {where}: give that endpoint with --endpoint")
        hint = {
            401: "; give an API key with --api-key (scope sbr on an originmark server)",
            403: "; the key lacks the scope (originmark: create one with --scopes sbr)",
            404: "" if path.startswith("/manifests/") else "; is --endpoint the API's base URL (ours ends in /sbr/v1)?",
        }.get(response.status_code, "")
        raise SbrQueryFailed(f"{method} {path} got {status_line(response)}: {server_reason(response)}{hint}")

    def _bounded(self, method: str, url: str, *, max_bytes: int, **options) -> httpx.Response:
        with self._client.stream(method, url, **options) as streamed:
            body = bytearray()
            for chunk in streamed.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise SbrQueryFailed(f"{url}: the answer is over {max_bytes} bytes; not read further")
            # The body is decoded already (iter_bytes): its encoding and length headers no longer apply.
            headers = [
                (name, value)
                for name, value in streamed.headers.multi_items()
                if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ]
            return httpx.Response(streamed.status_code, headers=headers, content=bytes(body), request=streamed.request)


def _matches(response: httpx.Response) -> list[SbrMatch]:
    try:
        body = response.json()
        matches = body["matches"]
        if not isinstance(matches, list):
            raise TypeError("matches is not a list")
        found = []
        for item in matches[:_MAX_MATCHES]:
            manifest_id = item["manifestId"]
            score = item.get("similarityScore")
            endpoint = item.get("endpoint")
            if not isinstance(manifest_id, str):
                raise TypeError("manifestId is not a string")
            found.append(
                SbrMatch(
                    manifest_id=manifest_id,
                    similarity_score=score if isinstance(score, int) and not isinstance(score, bool) else None,
                    endpoint=endpoint if isinstance(endpoint, str) else None,
                )
            )
    except (ValueError, KeyError, TypeError) as error:
        raise SbrQueryFailed(f"the answer is not a soft binding query result ({error})") from None
    return found
