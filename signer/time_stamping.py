"""RFC 3161 time-stamps while signing: retries on a failing authority, and proof the output has one.

The engine asks the time-stamping authority (TSA) itself, once per signature, and fails
the signature when the TSA fails (measured with c2pa-rs 0.91.3 against tests/tsa: an HTTP
500, bytes that are not a TimeStampResp, a token for another nonce or another digest, a
rejection, a refused connection and a TSA that never answers all fail; none produced a
credential without a time-stamp). Its HTTP client gives a TSA `ENGINE_REQUEST_TIMEOUT_SECONDS`
per request, which no setting changes.

Two things are originmark's:
- `with_time_stamp_retries`: a failed time-stamp is retried a bounded number of times
  with a growing delay (a builder is single-use, so the whole signature is redone); then
  the last `TimeStampUnavailable` is raised, saying how many attempts were made.
- `store_has_time_stamp`: after the engine signs, the active manifest's COSE signature
  must carry a time-stamp token (`sigTst2` or `sigTst` in its unprotected header). If a
  future engine fell back silently, the output is refused rather than published.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from signer.errors import TimeStampUnavailable
from verifier.jumbf import MANIFEST_TYPES, STORE_TYPE, boxes, description, first_box

ENGINE_REQUEST_TIMEOUT_SECONDS = 30.0  # c2pa-rs 0.91.3's HTTP client default; measured: a silent TSA fails after 30.0 s
MAX_RETRIES = 10

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeStampRetries:
    """How often a failed time-stamp is retried: after `delay_seconds`, then twice that, and so on."""

    retries: int = 2
    delay_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= MAX_RETRIES:
            raise ValueError(f"time-stamp retries must be 0..{MAX_RETRIES}, got {self.retries!r}")
        if not 0 <= self.delay_seconds <= 60:
            raise ValueError(f"the time-stamp retry delay must be 0..60 s, got {self.delay_seconds!r}")

    def delays(self) -> tuple[float, ...]:
        return tuple(self.delay_seconds * 2**attempt for attempt in range(self.retries))

    def worst_case_seconds(self) -> float:
        """The longest a signature can spend on a TSA that never answers: every attempt times out."""
        return (self.retries + 1) * ENGINE_REQUEST_TIMEOUT_SECONDS + sum(self.delays())


def with_time_stamp_retries(
    attempt: Callable[[], T], *, retries: TimeStampRetries, sleep: Callable[[float], None] = time.sleep
) -> T:
    """`attempt()`, redone after each TimeStampUnavailable up to `retries.retries` times.

    Other errors are not retried: they are about the file or the credentials, not the TSA.
    """
    delays = retries.delays()
    for number in range(len(delays) + 1):
        try:
            return attempt()
        except TimeStampUnavailable as error:
            if number == len(delays):
                if number == 0:
                    raise
                raise TimeStampUnavailable(
                    f"{error.message} (gave up after {number + 1} attempts)", engine_message=error.engine_message
                ) from error
            sleep(delays[number])
    raise AssertionError("unreachable")  # pragma: no cover


# --- does the signature carry a time-stamp? ---------------------------------------------------

_SIGNATURE_TYPE = bytes.fromhex("6332637300110010800000aa00389b71")  # JUMBF content type "c2cs": claim signature
_TIME_STAMP_KEYS = ("sigTst2", "sigTst")  # C2PA 2.x v2 time-stamps, and the 1.x form
_COSE_SIGN1_TAG = 18
_MAX_CBOR_DEPTH = 16


class _Malformed(Exception):
    pass


def store_has_time_stamp(store: bytes) -> bool:
    """Whether the active (last) manifest's signature has a non-empty time-stamp token.

    A bounded walk of the store the engine returned (boxes, then the COSE_Sign1 header):
    no engine call, no read of the asset. False also when the structure cannot be read,
    so a signer that cannot confirm the time-stamp refuses the output.
    """
    try:
        signature = _active_signature(store)
        return signature is not None and _cose_has_time_stamp(signature)
    except (_Malformed, IndexError, ValueError):
        return False


def _active_signature(store: bytes) -> bytes | None:
    top = first_box(store, 0, len(store))
    if top is None or top.kind != b"jumb":
        return None
    store_description = description(store, top.start, top.end)
    if store_description is None or store_description.content_type != STORE_TYPE:
        return None
    manifest = None
    for box in boxes(store, store_description.end, top.end):
        if box.kind == b"jumb":
            child = description(store, box.start, box.end)
            if child is not None and child.content_type in MANIFEST_TYPES:
                manifest = (child.end, box.end)
    if manifest is None:
        return None
    for box in boxes(store, *manifest):
        if box.kind != b"jumb":
            continue
        child = description(store, box.start, box.end)
        if child is None or child.content_type != _SIGNATURE_TYPE:
            continue
        for inner in boxes(store, child.end, box.end):
            if inner.kind == b"cbor":
                return store[inner.start : inner.end]
    return None


def _cose_has_time_stamp(data: bytes) -> bool:
    """COSE_Sign1 = [protected: bstr, unprotected: map, payload, signature]; look in the map."""
    major, argument, position = _head(data, 0)
    if major == 6:  # tagged (COSE_Sign1_Tagged is tag 18)
        if argument != _COSE_SIGN1_TAG:
            return False
        major, argument, position = _head(data, position)
    if major != 4 or argument != 4:
        return False
    position = _skip(data, position, 0)  # the protected header
    major, entries, position = _head(data, position)
    if major != 5:
        return False
    for _ in range(entries):
        key_start = position
        position = _skip(data, position, 0)
        value_start = position
        position = _skip(data, position, 0)
        if _text_at(data, key_start) in _TIME_STAMP_KEYS and _has_token(data, value_start):
            return True
    return False


def _text_at(data: bytes, position: int) -> str | None:
    major, length, body = _head(data, position)
    return data[body : body + length].decode("utf-8", "replace") if major == 3 else None


def _has_token(data: bytes, position: int) -> bool:
    """{"tstTokens": [{"val": bstr}, ...]} with at least one non-empty `val`."""
    major, entries, position = _head(data, position)
    if major != 5:
        return False
    for _ in range(entries):
        key = _text_at(data, position)
        position = _skip(data, position, 0)
        if key != "tstTokens":
            position = _skip(data, position, 0)
            continue
        major, tokens, position = _head(data, position)
        if major != 4:
            return False
        for _ in range(tokens):
            major, fields, position = _head(data, position)
            if major != 5:
                return False
            for _ in range(fields):
                field = _text_at(data, position)
                position = _skip(data, position, 0)
                value_major, value_length, _body = _head(data, position)
                if field == "val" and value_major == 2 and value_length > 0:
                    return True
                position = _skip(data, position, 0)
        return False
    return False


def _head(data: bytes, position: int) -> tuple[int, int, int]:
    """(major type, argument, position after the head); indefinite lengths are refused."""
    initial = data[position]
    major, info = initial >> 5, initial & 0x1F
    position += 1
    if info < 24:
        return major, info, position
    if info > 27:
        raise _Malformed("indefinite length or reserved value")
    size = 1 << (info - 24)
    if position + size > len(data):
        raise _Malformed("truncated")
    return major, int.from_bytes(data[position : position + size], "big"), position + size


def _skip(data: bytes, position: int, depth: int) -> int:
    """The position after the CBOR item at `position` (bounded in depth and by the data's length)."""
    if depth > _MAX_CBOR_DEPTH:
        raise _Malformed("nested too deeply")
    major, argument, position = _head(data, position)
    if major in (2, 3):
        if position + argument > len(data):
            raise _Malformed("truncated")
        return position + argument
    if major in (4, 5):
        items = argument * (2 if major == 5 else 1)
        if items > len(data) - position:
            raise _Malformed("more items than bytes")
        for _ in range(items):
            position = _skip(data, position, depth + 1)
        return position
    if major == 6:
        return _skip(data, position, depth + 1)
    return position  # integers and simple values: the head was all of it
