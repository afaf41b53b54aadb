"""Turns c2pa's exceptions into originmark's (signer/errors.py): the only place that inspects them."""

from __future__ import annotations

import c2pa

from signer.errors import EngineRejected, SigningError, TimeStampUnavailable, UnsupportedFormat

# The engine reports a failed RFC 3161 request as a Signature error whose text names the
# HTTP transport; there is no separate error kind for it in c2pa-python 0.38.1.
_TIME_STAMP_WORDS = ("http", "timestamp", "time stamp", "time-stamp", "tsa")


def translate_engine_error(
    error: Exception, *, subject: str, time_stamp_url: str | None, supported: tuple[str, ...]
) -> SigningError:
    """A SigningError for `error` raised by c2pa while signing `subject` (a file name or 'the probe')."""
    engine_message = str(error)
    if isinstance(error, c2pa.C2paError.Signature) and time_stamp_url:
        if any(word in engine_message.lower() for word in _TIME_STAMP_WORDS):
            return TimeStampUnavailable(
                f"the time-stamping authority {time_stamp_url} did not answer for {subject}: {engine_message}. "
                "Check the URL and the network, or unset ORIGINMARK_TIME_STAMP_URL to sign without a time-stamp",
                engine_message=engine_message,
            )
    if isinstance(error, c2pa.C2paError.NotSupported):
        return UnsupportedFormat(f"the engine cannot sign {subject}", supported=supported)
    if isinstance(error, c2pa.C2paError):
        return EngineRejected(
            f"the C2PA engine could not sign {subject}: {engine_message}", engine_message=engine_message
        )
    return EngineRejected(f"signing {subject} failed: {error}", engine_message=engine_message)
