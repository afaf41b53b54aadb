"""Turns c2pa's exceptions into originmark's (signer/errors.py): the only place that inspects them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import c2pa

from signer.errors import EngineRejected, SigningError, TimeStampUnavailable, UnsupportedFormat

# The engine reports a failed RFC 3161 request as a Signature error carrying c2pa-rs's
# TimeStampError text; there is no separate error kind for it in c2pa-python 0.38.1.
# Measured against tests/tsa: an HTTP error or a refused / timed-out connection ("service
# responded with an HTTP error", "underlying http resolver"), a reply that is not a
# TimeStampResp ("decode error (...)"), a token for another nonce ("nonce mismatch") or
# digest ("time stamp does not match data"). A failing signing key gives other words
# ("COSE signature invalid", "invalid signature value"), so it is not mistaken for a TSA.
_TIME_STAMP_WORDS = (
    "http",
    "timestamp",
    "time stamp",
    "time-stamp",
    "tsa",
    "nonce mismatch",
    "decode error",
    "unable to complete",
)


def translate_engine_error(
    error: Exception, *, subject: str, time_stamp_url: str | None, supported: tuple[str, ...]
) -> SigningError:
    """A SigningError for `error` raised by c2pa while signing `subject` (a file name or 'the probe')."""
    engine_message = str(error)
    if isinstance(error, c2pa.C2paError.Signature) and time_stamp_url:
        if any(word in engine_message.lower() for word in _TIME_STAMP_WORDS):
            shown_url = redacted_url(time_stamp_url)
            engine_message = engine_message.replace(time_stamp_url, shown_url)  # the engine quotes the URL
            return TimeStampUnavailable(
                f"the time-stamping authority {shown_url} gave no usable time-stamp for {subject}: "
                f"{engine_message}. Nothing was signed without one; check the URL and the network, or unset "
                "ORIGINMARK_TIME_STAMP_URL to sign without a time-stamp",
                engine_message=engine_message,
            )
    if isinstance(error, c2pa.C2paError.NotSupported):
        return UnsupportedFormat(f"the engine cannot sign {subject}", supported=supported)
    if isinstance(error, c2pa.C2paError):
        return EngineRejected(
            f"the C2PA engine could not sign {subject}: {engine_message}", engine_message=engine_message
        )
    return EngineRejected(f"signing {subject} failed: {error}", engine_message=engine_message)


def redacted_url(url: str) -> str:
    """`url` without a user name and password (some TSAs take them in the URL): safe for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(the configured time-stamping URL)"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
