"""The RFC 3161 token in a COSE_Sign1's unprotected header, where C2PA puts a manifest's time-stamp.

The header is CBOR (RFC 8949); only the subset a COSE header uses is decoded here (no
indefinite lengths), within counts of items and nesting, and a byte string comes out as a view
of the data, not a copy (a signature box holds kilobytes of padding). C2PA writes the token as
`sigTst` (v1, legacy) or `sigTst2` (v2): {"tstTokens": [{"val": TimeStampToken}]}. A header
that holds both, several tokens, or a duplicated map key has no one reading: NotOneToken.
"""

from __future__ import annotations

from typing import Any

_MAX_CBOR_ITEMS = 10_000  # CBOR items decoded in one signature's header
_MAX_DEPTH = 16
_TOKEN_HEADERS = ("sigTst", "sigTst2")
_COSE_SIGN1_TAG = 18


class NotOneToken(Exception):
    """The signature is not a COSE_Sign1 read here, or its header has no one token."""


class _Cbor:
    """Byte strings come out as views of the data (a signature box holds kilobytes of padding)."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._position = 0
        self._items = _MAX_CBOR_ITEMS

    def _take(self, count: int) -> memoryview:
        end = self._position + count
        if count < 0 or end > len(self._data):
            raise NotOneToken
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def _argument(self, info: int) -> int:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self._take(1 << (info - 24)), "big")
        raise NotOneToken  # indefinite lengths and reserved values: not in a COSE header we read

    def item(self, depth: int = 0) -> Any:
        self._items -= 1
        if self._items < 0 or depth > _MAX_DEPTH:
            raise NotOneToken
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            simple = {20: False, 21: True, 22: None, 23: None}
            if info in simple:
                return simple[info]
            if info in (25, 26, 27):
                self._take(1 << (info - 24))
                return None  # a float: no header value read here is one
            raise NotOneToken
        value = self._argument(info)
        if major == 0:
            return value
        if major == 1:
            return -1 - value
        if major == 2:
            return self._take(value)
        if major == 3:
            try:
                return bytes(self._take(value)).decode("utf-8")
            except UnicodeDecodeError:
                raise NotOneToken from None
        if major == 4:
            return [self.item(depth + 1) for _ in range(self._bounded(value))]
        if major == 5:
            result: dict[Any, Any] = {}
            for _ in range(self._bounded(value)):
                key = self.item(depth + 1)
                key = bytes(key) if isinstance(key, memoryview) else key
                if isinstance(key, (list, dict)) or key in result:
                    raise NotOneToken  # a duplicate key has two readings
                result[key] = self.item(depth + 1)
            return result
        return _Tagged(value, self.item(depth + 1))  # major 6

    def _bounded(self, count: int) -> int:
        if count > self._items:
            raise NotOneToken
        return count


class _Tagged:
    __slots__ = ("tag", "value")

    def __init__(self, tag: int, value: Any) -> None:
        self.tag = tag
        self.value = value


def token_in_signature(cose: memoryview) -> memoryview | None:
    """The one RFC 3161 token of a COSE_Sign1's unprotected header (a view of `cose`); None when it has none."""
    decoder = _Cbor(cose)
    sign1 = decoder.item()
    if isinstance(sign1, _Tagged):
        if sign1.tag != _COSE_SIGN1_TAG:
            raise NotOneToken
        sign1 = sign1.value
    if not isinstance(sign1, list) or len(sign1) != 4 or not isinstance(sign1[1], dict):
        raise NotOneToken
    containers = [sign1[1][name] for name in _TOKEN_HEADERS if name in sign1[1]]
    if not containers:
        return None
    if len(containers) != 1 or not isinstance(containers[0], dict):
        raise NotOneToken
    tokens = containers[0].get("tstTokens")
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], dict):
        raise NotOneToken
    value = tokens[0].get("val")
    if not isinstance(value, memoryview):
        raise NotOneToken
    return value
