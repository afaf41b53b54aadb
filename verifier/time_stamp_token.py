"""The time-stamping authority's certificate of each manifest, read from the manifest store's bytes.

Why: naming the list a trusted time-stamp's authority is on (`TrustPolicy.attribute_time_stamp`)
needs the authority certificate's issuer when the engine's words name no time-stamping list (a
legacy `sigTst` token: 126 of the 132 tokens in the shared corpus's 100 single-store files,
2026-12-07, the other 6 being `sigTst2`; or a signer list). The engine
gives it only in its crJSON, which costs about a fifth of a whole read (measured over the corpus,
issue 16). The certificate is in the store the engine just read: each manifest's `c2pa.signature`
box holds a COSE_Sign1 whose unprotected header carries the RFC 3161 token (`sigTst` or
`sigTst2`: {"tstTokens": [{"val": TimeStampToken}]}), a CMS SignedData whose signer's
certificate is the authority's.

Exact or nothing: a manifest is answered only when there is one reading (one manifest with the
label, one signature box, one token, one signer, its certificate among the token's by issuer and
serial, read the same by every reasonable comparison). Anything else (a malformed or unusual
structure, a limit reached) is left out, and the caller asks the engine's crJSON as before: all
132 corpus tokens are answered. Bytes come from the asset: every
length is checked against its parent, nesting and counts are bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from verifier.trust import CertificateFacts, DistinguishedName

_MAX_BOXES = 10_000  # JUMBF boxes looked at in one store
_MAX_CBOR_ITEMS = 10_000  # CBOR items decoded in one signature's header
_MAX_DEPTH = 16
# A token is a few kilobytes with two to four certificates (the corpus: at most 3, under 8 KiB);
# beyond these the engine's crJSON answers, so a crafted store cannot make us parse for long.
_MAX_TOKEN_BYTES = 64 * 1024
_MAX_CERTIFICATES = 16
_SIGNATURE_LABEL = "c2pa.signature"
_ASSERTIONS_LABEL = "c2pa.assertions"
_TIME_STAMP_ASSERTION = "c2pa.time-stamp"  # with an instance suffix (`__2`) when there are several
_TOKEN_HEADERS = ("sigTst", "sigTst2")
_COSE_SIGN1_TAG = 18
_SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2


class _Malformed(Exception):
    """Not a structure read here: the manifest is left to the engine's crJSON."""


# --- JUMBF (ISO 19566-5) ---


def _boxes(data: bytes, start: int, end: int, budget: list[int]) -> Iterator[tuple[bytes, int, int]]:
    """(type, content start, content end) of each box in data[start:end]."""
    position = start
    while position < end:
        budget[0] -= 1
        if budget[0] < 0 or position + 8 > end:
            raise _Malformed
        size = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        header = 8
        if size == 1:
            if position + 16 > end:
                raise _Malformed
            size, header = int.from_bytes(data[position + 8 : position + 16], "big"), 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise _Malformed
        yield kind, position + header, position + size
        position += size


def _superbox(data: bytes, start: int, end: int, budget: list[int]) -> tuple[str | None, list[tuple[bytes, int, int]]]:
    """A `jumb` superbox's label (from its `jumd` description) and its other boxes."""
    children = list(_boxes(data, start, end, budget))
    if not children or children[0][0] != b"jumd":
        raise _Malformed
    _, description, description_end = children[0]
    if description + 17 > description_end:
        raise _Malformed
    label = None
    if data[description + 16] & 0x02:  # the label is present, NUL-terminated
        terminator = data.find(b"\x00", description + 17, description_end)
        if terminator < 0:
            raise _Malformed
        try:
            label = data[description + 17 : terminator].decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed from None
    return label, children[1:]


def _signatures(store: bytes) -> dict[str, tuple[int, int] | None]:
    """Per manifest label: where its COSE_Sign1 is in the store; None for a label that is not one
    unambiguous manifest. Box headers only: no signature is decoded here."""
    budget = [_MAX_BOXES]
    top = list(_boxes(store, 0, len(store), budget))
    if len(top) != 1 or top[0][0] != b"jumb":
        raise _Malformed
    _, manifests = _superbox(store, top[0][1], top[0][2], budget)
    found: dict[str, tuple[int, int] | None] = {}
    for kind, start, end in manifests:
        if kind != b"jumb":
            continue
        label, children = _superbox(store, start, end, budget)
        if label is None:
            continue
        signatures = []
        for child_kind, child_start, child_end in children:
            if child_kind != b"jumb":
                continue
            child_label, contents = _superbox(store, child_start, child_end, budget)
            if child_label == _ASSERTIONS_LABEL and _has_time_stamp_assertion(store, contents, budget):
                raise _Malformed  # the engine may report that assertion's token for a manifest instead
            if child_label == _SIGNATURE_LABEL:
                signatures.append([(s, e) for k, s, e in contents if k == b"cbor"])
        one = signatures[0][0] if len(signatures) == 1 and len(signatures[0]) == 1 else None
        found[label] = None if label in found else one
    return found


def _has_time_stamp_assertion(store: bytes, assertions: list[tuple[bytes, int, int]], budget: list[int]) -> bool:
    """Whether a manifest's assertion store holds a `c2pa.time-stamp` assertion (C2PA 2.x: tokens
    for other manifests, which the engine may validate and report in place of their own)."""
    for kind, start, end in assertions:
        if kind == b"jumb":
            label, _ = _superbox(store, start, end, budget)
            if label is not None and label.split("__", 1)[0] == _TIME_STAMP_ASSERTION:
                return True
    return False


# --- CBOR (RFC 8949), the subset a COSE header uses ---


class _Cbor:
    """Byte strings come out as views of the data (a signature box holds kilobytes of padding)."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._position = 0
        self._items = _MAX_CBOR_ITEMS

    def _take(self, count: int) -> memoryview:
        end = self._position + count
        if count < 0 or end > len(self._data):
            raise _Malformed
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def _argument(self, info: int) -> int:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self._take(1 << (info - 24)), "big")
        raise _Malformed  # indefinite lengths and reserved values: not in a COSE header we read

    def item(self, depth: int = 0) -> Any:
        self._items -= 1
        if self._items < 0 or depth > _MAX_DEPTH:
            raise _Malformed
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            simple = {20: False, 21: True, 22: None, 23: None}
            if info in simple:
                return simple[info]
            if info in (25, 26, 27):
                self._take(1 << (info - 24))
                return None  # a float: no header value read here is one
            raise _Malformed
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
                raise _Malformed from None
        if major == 4:
            return [self.item(depth + 1) for _ in range(self._bounded(value))]
        if major == 5:
            result: dict[Any, Any] = {}
            for _ in range(self._bounded(value)):
                key = self.item(depth + 1)
                key = bytes(key) if isinstance(key, memoryview) else key
                if isinstance(key, (list, dict)) or key in result:
                    raise _Malformed  # a duplicate key has two readings
                result[key] = self.item(depth + 1)
            return result
        return _Tagged(value, self.item(depth + 1))  # major 6

    def _bounded(self, count: int) -> int:
        if count > self._items:
            raise _Malformed
        return count


class _Tagged:
    __slots__ = ("tag", "value")

    def __init__(self, tag: int, value: Any) -> None:
        self.tag = tag
        self.value = value


def _token(cose: memoryview) -> bytes | None:
    """The one RFC 3161 token of a COSE_Sign1's unprotected header; None when it has none."""
    decoder = _Cbor(cose)
    sign1 = decoder.item()
    if isinstance(sign1, _Tagged):
        if sign1.tag != _COSE_SIGN1_TAG:
            raise _Malformed
        sign1 = sign1.value
    if not isinstance(sign1, list) or len(sign1) != 4 or not isinstance(sign1[1], dict):
        raise _Malformed
    containers = [sign1[1][name] for name in _TOKEN_HEADERS if name in sign1[1]]
    if not containers:
        return None
    if len(containers) != 1 or not isinstance(containers[0], dict):
        raise _Malformed
    tokens = containers[0].get("tstTokens")
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], dict):
        raise _Malformed
    value = tokens[0].get("val")
    if not isinstance(value, memoryview) or len(value) > _MAX_TOKEN_BYTES:
        raise _Malformed
    return bytes(value)


# --- DER (the CMS SignedData of a time-stamp token, RFC 5652 / RFC 3161) ---


def _der(data: bytes, position: int, end: int) -> tuple[int, int, int, int]:
    """(tag byte, content start, content end, the element's end) of the DER element at `position`."""
    if position + 2 > end:
        raise _Malformed
    tag = data[position]
    if tag & 0x1F == 0x1F:
        raise _Malformed  # high tag numbers: none in the structures read here
    length = data[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > end:
            raise _Malformed
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > end:
        raise _Malformed
    return tag, start, start + length, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    found: list[tuple[int, int, int, int]] = []
    position = start
    while position < end:
        if len(found) >= _MAX_BOXES:
            raise _Malformed
        element = _der(data, position, end)
        found.append((element[0], position, element[1], element[2]))
        position = element[3]
    return found


_Name = tuple[tuple[bytes, str | bytes], ...]  # (attribute OID, value) in order


class _Candidate(NamedTuple):
    """A certificate of the token, as its tbsCertificate writes it (names as DER, read when compared)."""

    der: bytes
    serial: bytes  # the INTEGER's content
    issuer: tuple[int, int]  # the Name's content: start, end in the token
    issuer_der: tuple[int, int]  # the whole Name element: start, end in the token
    subject: tuple[int, int]


def _signer_certificate(token: bytes) -> CertificateFacts:
    """The facts of the certificate of the token's one signer (named by issuer and serial)."""
    tag, start, end, after = _der(token, 0, len(token))
    if tag != 0x30 or after != len(token):
        raise _Malformed
    content_info = _children(token, start, end)
    if len(content_info) == 2 and content_info[0][0] == 0x30 and content_info[1][0] == 0x30:
        # A whole TimeStampResp (PKIStatusInfo, then the token), as some signers store it.
        content_info = _children(token, content_info[1][2], content_info[1][3])
    if len(content_info) != 2 or content_info[0][0] != 0x06 or content_info[1][0] != 0xA0:
        raise _Malformed
    if token[content_info[0][2] : content_info[0][3]] != _SIGNED_DATA_OID:
        raise _Malformed
    signed_data_tag, signed_start, signed_end, _ = _der(token, content_info[1][2], content_info[1][3])
    if signed_data_tag != 0x30:
        raise _Malformed
    parts = _children(token, signed_start, signed_end)
    certificates = [part for part in parts[3:] if part[0] == 0xA0]
    signer_infos = parts[-1] if parts else None
    if len(certificates) != 1 or signer_infos is None or signer_infos[0] != 0x31:
        raise _Malformed
    infos = _children(token, signer_infos[2], signer_infos[3])
    if len(infos) != 1 or infos[0][0] != 0x30:
        raise _Malformed
    info = _children(token, infos[0][2], infos[0][3])
    if len(info) < 2:
        raise _Malformed
    sid_tag, _sid_position, sid_start, sid_end = info[1]
    choices = _children(token, certificates[0][2], certificates[0][3])
    if len(choices) > _MAX_CERTIFICATES:
        raise _Malformed
    # Read from the DER, not by an X.509 library: TSA certificates in the wild break its rules
    # (an underscore in a PrintableString), and the engine accepts them.
    candidates = []
    for cert_tag, cert_position, cert_start, cert_end in choices:
        if cert_tag != 0x30:
            raise _Malformed  # another certificate choice (attribute certificates): the engine refuses the token
        tbs = _children(token, cert_start, cert_end)
        if not tbs or tbs[0][0] != 0x30:
            raise _Malformed
        fields = _children(token, tbs[0][2], tbs[0][3])
        fields = fields[1:] if fields and fields[0][0] == 0xA0 else fields  # [0] version
        # serialNumber, signature, issuer, validity, subject
        if len(fields) < 5 or fields[0][0] != 0x02 or fields[2][0] != 0x30 or fields[4][0] != 0x30:
            raise _Malformed
        candidates.append(
            _Candidate(
                der=token[cert_position:cert_end],
                serial=token[fields[0][2] : fields[0][3]],
                issuer=(fields[2][2], fields[2][3]),
                issuer_der=(fields[2][1], fields[2][3]),
                subject=(fields[4][2], fields[4][3]),
            )
        )
    # Only a signer named by issuer and serial: c2pa-rs compares a key identifier with the whole
    # DER value of the certificate's extension (04 14 <id>), not the identifier RFC 5652 means,
    # and the token's certificates and signer identifier are signed by nobody, so an edited file
    # could make another comparison pick another certificate than the one the engine validated.
    if sid_tag != 0x30:
        raise _Malformed
    sid = _children(token, sid_start, sid_end)
    if len(sid) != 2 or sid[0][0] != 0x30 or sid[1][0] != 0x02:
        raise _Malformed
    issuer_der, serial = token[sid[0][1] : sid[0][3]], token[sid[1][2] : sid[1][3]]
    issuer = _name(token, sid[0][2], sid[0][3])
    # Every reasonable reading must pick the same one certificate: the engine's (the first whose
    # issuer equals as decoded and serial as a number) lies between the loosest (names compared as
    # text, serials as numbers) and the strictest (the same bytes).
    loose = [
        each
        for each in candidates
        if int.from_bytes(each.serial, "big") == int.from_bytes(serial, "big") and _name(token, *each.issuer) == issuer
    ]
    if (
        len(loose) != 1
        or loose[0].serial != serial
        or token[loose[0].issuer_der[0] : loose[0].issuer_der[1]] != issuer_der
    ):
        raise _Malformed
    matching = loose
    return _facts(token, matching[0])


# The string types read as text (others stay bytes: compared as written, never taken for a name).
_STRING_ENCODINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii"}  # UTF8String, PrintableString, IA5String


def _name(data: bytes, start: int, end: int) -> _Name:
    """A Name's content (RDNs of attribute OID and value) as comparable values: a signer names its
    certificate's issuer with the same attributes and text, not always in the same string types."""
    attributes: list[tuple[bytes, str | bytes]] = []
    for rdn_tag, _, rdn_start, rdn_end in _children(data, start, end):
        if rdn_tag != 0x31:
            raise _Malformed
        for tag, _, attribute_start, attribute_end in _children(data, rdn_start, rdn_end):
            parts = _children(data, attribute_start, attribute_end) if tag == 0x30 else []
            if len(parts) != 2 or parts[0][0] != 0x06:
                raise _Malformed
            value_tag, _, value_start, value_end = parts[1]
            raw = data[value_start:value_end]
            encoding = _STRING_ENCODINGS.get(value_tag)
            try:
                value: str | bytes = raw.decode(encoding) if encoding else bytes([value_tag]) + raw
            except UnicodeDecodeError:
                raise _Malformed from None
            attributes.append((data[parts[0][2] : parts[0][3]], value))
    return tuple(attributes)


# The name attributes trust attribution compares (verifier/trust.py), by OID.
_COMPARED_ATTRIBUTES = {
    bytes.fromhex("550406"): "C",
    bytes.fromhex("550408"): "ST",
    bytes.fromhex("550407"): "L",
    bytes.fromhex("55040a"): "O",
    bytes.fromhex("55040b"): "OU",
    bytes.fromhex("550403"): "CN",
}


def _distinguished_name(name: _Name) -> DistinguishedName:
    """As the engine's crJSON reports it: one value per attribute. A compared attribute given twice
    (two OUs) or in a string type other than UTF-8, Printable or IA5 has no one reading here."""
    pairs = {}
    for oid, value in name:
        key = _COMPARED_ATTRIBUTES.get(oid)
        if key is None:
            continue
        if key in pairs or not isinstance(value, str):
            raise _Malformed
        pairs[key] = value.strip()
    return DistinguishedName(frozenset(pairs.items()))


def _facts(token: bytes, certificate: _Candidate) -> CertificateFacts:
    return CertificateFacts(
        serial_number=int.from_bytes(certificate.serial, "big"),  # as crJSON's hex text reads
        issuer=_distinguished_name(_name(token, *certificate.issuer)),
        subject=_distinguished_name(_name(token, *certificate.subject)),
    )


class TimeStampTokens:
    """The time-stamp tokens of a store's manifests: the store's boxes are walked once, and a
    manifest's token is decoded only when its authority is asked for, once."""

    def __init__(self, store: bytes) -> None:
        self._store = store
        try:
            self._signatures = _signatures(store)
        except _Malformed:
            self._signatures = {}  # a store that is not one JUMBF superbox answers nothing
        self._answers: dict[str, CertificateFacts | None] = {}

    @property
    def labels(self) -> frozenset[str]:
        """The manifest labels of the store that have one signature box."""
        return frozenset(label for label, span in self._signatures.items() if span is not None)

    def authority(self, manifest_label: str) -> CertificateFacts | None:
        """The manifest's time-stamping authority certificate, where it has exactly one reading;
        None is to be asked of the engine's crJSON (no token, or a structure not read here)."""
        if manifest_label not in self._answers:
            self._answers[manifest_label] = self._read(manifest_label)
        return self._answers[manifest_label]

    def _read(self, manifest_label: str) -> CertificateFacts | None:
        span = self._signatures.get(manifest_label)
        if span is None:
            return None
        try:
            token = _token(memoryview(self._store)[span[0] : span[1]])
            return None if token is None else _signer_certificate(token)
        except _Malformed:
            return None
