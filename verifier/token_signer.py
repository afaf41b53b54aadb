"""The certificate of an RFC 3161 time-stamp token's signer: the time-stamping authority's.

A token is a CMS SignedData (RFC 5652), sometimes stored as the whole TimeStampResp. It is read
from its DER here, not by an X.509 library: authority certificates in the wild break that
library's rules (an underscore in a PrintableString), and the engine accepts them.

Exact or nothing (NotOneSigner otherwise): one signer, named by issuer and serial, and one
certificate that every reasonable comparison picks. c2pa-rs 0.91.3 (crypto/time_stamp/verify.rs)
takes the first certificate whose issuer equals the signer's as decoded and serial as a number;
a signer named by key identifier it compares with the extension's whole DER value (04 14 <id>),
and the token's certificates and signer identifier are signed by no one, so an edited file can
make another reading pick another certificate: such a token is left to the engine's crJSON.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from verifier.trust import CertificateFacts, DistinguishedName

# A token holds two to four certificates (the corpus: at most 3); decoding costs per certificate.
MAX_CERTIFICATES = 16
_MAX_ELEMENTS = 10_000  # DER elements in one constructed element
# Authorities remembered per process (the corpus: a handful); a token's certificates are a few KiB.
_REMEMBERED_SIGNERS = 32
_SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2


class NotOneSigner(Exception):
    """Not a token read here, or its signer's certificate has no one reading."""


def _der(data: bytes, position: int, end: int) -> tuple[int, int, int, int]:
    """(tag byte, content start, content end, the element's end) of the DER element at `position`."""
    if position + 2 > end:
        raise NotOneSigner
    tag = data[position]
    if tag & 0x1F == 0x1F:
        raise NotOneSigner  # high tag numbers: none in the structures read here
    length = data[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > end:
            raise NotOneSigner
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > end:
        raise NotOneSigner
    return tag, start, start + length, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    found: list[tuple[int, int, int, int]] = []
    position = start
    while position < end:
        if len(found) >= _MAX_ELEMENTS:
            raise NotOneSigner
        element = _der(data, position, end)
        found.append((element[0], position, element[1], element[2]))
        position = element[3]
    return found


_Name = tuple[tuple[bytes, str | bytes], ...]  # (attribute OID, value) in order


class _Candidate(NamedTuple):
    """A certificate of the token, as its tbsCertificate writes it (names as DER, read when compared)."""

    serial: bytes  # the INTEGER's content
    issuer: tuple[int, int]  # the Name's content: start, end in the token
    issuer_der: tuple[int, int]  # the whole Name element: start, end in the token
    subject: tuple[int, int]


def signer_certificate(token: bytes) -> CertificateFacts:
    """The facts of the certificate of the token's one signer (named by issuer and serial)."""
    tag, start, end, after = _der(token, 0, len(token))
    if tag != 0x30 or after != len(token):
        raise NotOneSigner
    content_info = _children(token, start, end)
    if len(content_info) == 2 and content_info[0][0] == 0x30 and content_info[1][0] == 0x30:
        # A whole TimeStampResp (PKIStatusInfo, then the token), as some signers store it.
        content_info = _children(token, content_info[1][2], content_info[1][3])
    if len(content_info) != 2 or content_info[0][0] != 0x06 or content_info[1][0] != 0xA0:
        raise NotOneSigner
    if token[content_info[0][2] : content_info[0][3]] != _SIGNED_DATA_OID:
        raise NotOneSigner
    signed_data_tag, signed_start, signed_end, _ = _der(token, content_info[1][2], content_info[1][3])
    if signed_data_tag != 0x30:
        raise NotOneSigner
    parts = _children(token, signed_start, signed_end)
    certificates = [part for part in parts[3:] if part[0] == 0xA0]
    signer_infos = parts[-1] if parts else None
    if len(certificates) != 1 or signer_infos is None or signer_infos[0] != 0x31:
        raise NotOneSigner
    infos = _children(token, signer_infos[2], signer_infos[3])
    if len(infos) != 1 or infos[0][0] != 0x30:
        raise NotOneSigner
    info = _children(token, infos[0][2], infos[0][3])
    if len(info) < 2:
        raise NotOneSigner
    sid_tag, _sid_position, sid_start, sid_end = info[1]
    if sid_tag != 0x30:  # a key identifier: see the module's docstring
        raise NotOneSigner
    certificates_content = token[certificates[0][2] : certificates[0][3]]
    facts = _signer_among(certificates_content, token[sid_start:sid_end])
    if facts is None:
        raise NotOneSigner
    return facts


@functools.lru_cache(maxsize=_REMEMBERED_SIGNERS)
def _signer_among(certificates: bytes, sid: bytes) -> CertificateFacts | None:
    """The facts of the one certificate among `certificates` (the content of the token's [0]
    field) that the signer named by `sid` (an IssuerAndSerialNumber's content) designates; None
    when there is no one reading.

    Remembered: an authority's tokens repeat its certificates and signer identifier from file to
    file, and these bytes alone decide the answer, so one decoding serves every later token of
    the same authority (issue 16: decoding the certificates was most of reading a token)."""
    try:
        return _decode_signer(certificates, sid)
    except NotOneSigner:
        return None


def _decode_signer(data: bytes, sid_content: bytes) -> CertificateFacts:
    choices = _children(data, 0, len(data))
    if len(choices) > MAX_CERTIFICATES:
        raise NotOneSigner
    candidates = []
    for cert_tag, _, cert_start, cert_end in choices:
        if cert_tag != 0x30:
            raise NotOneSigner  # another certificate choice (attribute certificates): the engine refuses the token
        tbs = _children(data, cert_start, cert_end)
        if not tbs or tbs[0][0] != 0x30:
            raise NotOneSigner
        fields = _children(data, tbs[0][2], tbs[0][3])
        fields = fields[1:] if fields and fields[0][0] == 0xA0 else fields  # [0] version
        # serialNumber, signature, issuer, validity, subject
        if len(fields) < 5 or fields[0][0] != 0x02 or fields[2][0] != 0x30 or fields[4][0] != 0x30:
            raise NotOneSigner
        candidates.append(
            _Candidate(
                serial=data[fields[0][2] : fields[0][3]],
                issuer=(fields[2][2], fields[2][3]),
                issuer_der=(fields[2][1], fields[2][3]),
                subject=(fields[4][2], fields[4][3]),
            )
        )
    sid = _children(sid_content, 0, len(sid_content))
    if len(sid) != 2 or sid[0][0] != 0x30 or sid[1][0] != 0x02:
        raise NotOneSigner
    issuer_der, serial = sid_content[sid[0][1] : sid[0][3]], sid_content[sid[1][2] : sid[1][3]]
    issuer = _name(sid_content, sid[0][2], sid[0][3])
    # Every reasonable reading must pick the same one certificate: the engine's (the first whose
    # issuer equals as decoded and serial as a number) lies between the loosest (names compared as
    # text, serials as numbers) and the strictest (the same bytes).
    loose = [
        each
        for each in candidates
        if int.from_bytes(each.serial, "big") == int.from_bytes(serial, "big") and _name(data, *each.issuer) == issuer
    ]
    if (
        len(loose) != 1
        or loose[0].serial != serial
        or data[loose[0].issuer_der[0] : loose[0].issuer_der[1]] != issuer_der
    ):
        raise NotOneSigner
    return _facts(data, loose[0])


# The string types read as text (others stay bytes: compared as written, never taken for a name).
_STRING_ENCODINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii"}  # UTF8String, PrintableString, IA5String


def _name(data: bytes, start: int, end: int) -> _Name:
    """A Name's content (RDNs of attribute OID and value) as comparable values: a signer names its
    certificate's issuer with the same attributes and text, not always in the same string types."""
    attributes: list[tuple[bytes, str | bytes]] = []
    for rdn_tag, _, rdn_start, rdn_end in _children(data, start, end):
        if rdn_tag != 0x31:
            raise NotOneSigner
        for tag, _, attribute_start, attribute_end in _children(data, rdn_start, rdn_end):
            parts = _children(data, attribute_start, attribute_end) if tag == 0x30 else []
            if len(parts) != 2 or parts[0][0] != 0x06:
                raise NotOneSigner
            value_tag, _, value_start, value_end = parts[1]
            raw = data[value_start:value_end]
            encoding = _STRING_ENCODINGS.get(value_tag)
            try:
                value: str | bytes = raw.decode(encoding) if encoding else bytes([value_tag]) + raw
            except UnicodeDecodeError:
                raise NotOneSigner from None
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
            raise NotOneSigner
        pairs[key] = value.strip()
    return DistinguishedName(frozenset(pairs.items()))


def _facts(token: bytes, certificate: _Candidate) -> CertificateFacts:
    return CertificateFacts(
        serial_number=int.from_bytes(certificate.serial, "big"),  # as crJSON's hex text reads
        issuer=_distinguished_name(_name(token, *certificate.issuer)),
        subject=_distinguished_name(_name(token, *certificate.subject)),
    )
