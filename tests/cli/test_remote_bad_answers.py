"""`verify --server` given answers a proxy may make up: each fails the one file it was for
(FileNotVerified: an `error` record, exit 2), never the whole batch."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.cli.remote import VerifyClient
from app.cli.remote_errors import FileNotVerified

from .canned_server import answering


def _verify(url: httpx.URL, tmp_path: Path) -> None:
    media = tmp_path / "a.jpg"
    media.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    with VerifyClient(server_url=url, api_key="key", concurrency=1) as client:
        client.verify_file(media)


def test_a_retry_after_of_other_unicode_digits_is_no_wait_and_fails_the_file(tmp_path):
    """'²'.isdigit() is True, but it is no delay-seconds: a busy answer with it is taken as having none."""
    error = b'{"error": {"code": "busy", "message": "busy"}}'
    with answering(503, {"Content-Type": "application/json", "Retry-After": "²"}, error) as url:
        with pytest.raises(FileNotVerified, match="too busy"):
            _verify(url, tmp_path)


def test_a_body_that_cannot_be_decoded_fails_the_file(tmp_path):
    """A proxy that says gzip and sends something else: httpx's DecodingError is the file's failure."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with answering(200, headers, b"this is not gzip") as url:
        with pytest.raises(FileNotVerified, match="could not be decoded"):
            _verify(url, tmp_path)
