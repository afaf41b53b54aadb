"""The errors of the `verify --server` client (`app.cli.remote`), apart from the client itself.

`verify_cmd` catches these on every run, local ones included; the client module imports httpx
and the codec, which a local `verify` never needs (start-up time).
"""

from __future__ import annotations


class RemoteVerifyError(Exception):
    """Base of the client's errors; `message` is a sentence for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceUnusable(RemoteVerifyError):
    """No file can be verified with this server URL and key: stop the batch."""


class FileRejected(RemoteVerifyError):
    """The server refused this file for what it is (size, media type, form)."""


class FileNotVerified(RemoteVerifyError):
    """The service failed on this file; it was not checked."""
