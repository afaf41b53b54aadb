"""Webhook signatures: how originmark signs a delivery, and how a receiver checks one.

The scheme (the one Stripe made common; Standard Webhooks and others are close cousins):

    Originmark-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

`body` is the request body exactly as received (bytes, before any JSON parsing), `t` the
sending time. Signing the time with the body lets a receiver refuse a captured delivery replayed
later (`tolerance_seconds`); comparing in constant time keeps the MAC from leaking byte by byte.
A header may carry several `v1=` values (a receiver accepts any): room for a secret rotation.

Standard library only, so a receiver can copy this file as is.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time

SIGNATURE_HEADER = "Originmark-Signature"
TIMESTAMP_HEADER = "Originmark-Timestamp"  # the same `t`, for receivers that log it; the signed one is in the signature
DELIVERY_HEADER = "Originmark-Delivery"  # one id per delivery, the same on its retries: deduplicate on it
EVENT_HEADER = "Originmark-Event"  # job.succeeded | job.failed (also in the body)

DEFAULT_TOLERANCE_SECONDS = 300  # a retry is signed afresh, so only clock skew and transit count here
_SCHEME = "v1"


class SignatureCheck(enum.StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"  # no parseable t= and v1= in the header
    MISMATCH = "mismatch"  # no v1 matches: another secret, or the body (or t) was changed
    STALE = "stale"  # authentic, but signed outside the tolerance: possibly a replay


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def compute_signature(secret: str | bytes, *, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>." + body`."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(_secret_bytes(secret), message, hashlib.sha256).hexdigest()


def signature_header_for_secrets(secrets: list[str | bytes], *, timestamp: int, body: bytes) -> str:
    """One `v1=` per secret (the current one first): a receiver may check with either during a rotation."""
    signatures = ",".join(
        f"{_SCHEME}={compute_signature(secret, timestamp=timestamp, body=body)}" for secret in secrets
    )
    return f"t={int(timestamp)},{signatures}"


def signature_header(secret: str | bytes, *, timestamp: int, body: bytes) -> str:
    """The Originmark-Signature value for `body` sent at `timestamp`."""
    return signature_header_for_secrets([secret], timestamp=timestamp, body=body)


def verify_signature(
    *,
    secret: str | bytes,
    body: bytes,
    header: str | None,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> SignatureCheck:
    """Check a received Originmark-Signature header against the raw `body`.

    Only `SignatureCheck.VALID` means the delivery came from a holder of `secret`, unchanged, and
    recently. The MAC is checked before the time, so STALE always means "authentic but old"."""
    if not header:
        return SignatureCheck.MALFORMED
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == _SCHEME and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return SignatureCheck.MALFORMED
    expected = compute_signature(secret, timestamp=timestamp, body=body).encode("ascii")
    # Every candidate is compared (no early exit on the first match), each in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        return SignatureCheck.MISMATCH
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return SignatureCheck.STALE
    return SignatureCheck.VALID
