"""Real Trusted files whose unsigned time-stamp token was edited, made on the fly (nothing committed).

A manifest's RFC 3161 token sits in its COSE_Sign1's unprotected header, which the claim
signature does not cover, and the token's certificate list and signer identifier are not
signed by the time-stamping authority either: anyone can edit them in a Trusted file. These
helpers rewrite the token of one manifest of `ocsp.jpg` (two manifests, legacy `sigTst` tokens,
DigiCert's authority) keeping every length outside the token the same (the COSE header's `pad`
absorbs the difference), so the JPEG's segments stay where they were and the engine still reads
the file. Written independently of verifier/time_stamp_token*.py (a plain TLV walk), so a bug
there does not hide here.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OCSP_JPEG = "c2pa-rs/sdk/tests/fixtures/ocsp.jpg"
OCSP_ACTIVE = "adobe:urn:uuid:f3a46a78-8103-4e04-9f98-abcf03ebab19"
OCSP_PARENT = "urn:uuid:83875007-1e81-4027-847f-4137f13027db"


def tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 128:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def children(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, whole element, content) of each DER element in `data`."""
    found, position = [], 0
    while position < len(data):
        tag, length, header = data[position], data[position + 1], 2
        if length & 0x80:
            count = length & 0x7F
            length, header = int.from_bytes(data[position + 2 : position + 2 + count], "big"), 2 + count
        end = position + header + length
        found.append((tag, data[position:end], data[position + header : end]))
        position = end
    return found


def jpeg_store(data: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """The store of a JPEG written by c2pa-rs (one instance, Z in order) and where each part of it is."""
    store, places, position, first = b"", [], 2, True
    while data[position + 1] != 0xDA:
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if data[position + 1] == 0xEB and data[position + 4 : position + 6] == b"JP":
            start = position + 4 + 8 + (0 if first else 8)
            store += data[start : position + 2 + length]
            places.append((start, position + 2 + length))
            first = False
        position += 2 + length
    return store, places


def with_store(data: bytes, store: bytes) -> bytes:
    """The JPEG with its store's bytes replaced by `store` (same length), segment by segment."""
    old, places = jpeg_store(data)
    assert len(store) == len(old)
    out, offset = bytearray(data), 0
    for start, end in places:
        out[start:end] = store[offset : offset + end - start]
        offset += end - start
    return bytes(out)


def _token_span(store: bytes, label: str) -> tuple[int, int]:
    """Where the manifest's token (the `val` byte string of its `sigTst`) is in the store."""
    manifest = store.index(label.encode() + b"\x00")
    head = store.index(b"\x63val\x59", manifest) + 4  # text "val", then a byte string with a 2-byte length
    length = int.from_bytes(store[head + 1 : head + 3], "big")
    return head + 3, head + 3 + length


def replace_token(store: bytes, label: str, token: bytes) -> bytes:
    """The store with the manifest's token replaced, its COSE header's `pad` shortened or grown to match."""
    start, end = _token_span(store, label)
    assert store[start - 3] == 0x59
    edited = store[: start - 3] + b"\x59" + len(token).to_bytes(2, "big") + token + store[end:]
    delta = len(token) - (end - start)
    pad = edited.index(b"\x63pad\x59", store.index(label.encode() + b"\x00")) + 4
    size = int.from_bytes(edited[pad + 1 : pad + 3], "big")
    assert size >= delta, "the pad is too short for this edit"
    rebuilt = edited[:pad] + b"\x59" + (size - delta).to_bytes(2, "big") + edited[pad + 3 + size - (size - delta) :]
    assert len(rebuilt) == len(store)
    return rebuilt


def token_of(store: bytes, label: str) -> bytes:
    start, end = _token_span(store, label)
    return store[start:end]


def _signed_data(token: bytes) -> tuple[bytes, bytes, bytes, list[tuple[int, bytes, bytes]]]:
    """(status, content type OID, whole ContentInfo, SignedData's fields) of a TimeStampResp."""
    ((_, _, response),) = children(token)
    (_, status, _), (_, _, content_info) = children(response)
    (_, oid, _), (_, _, explicit) = children(content_info)
    ((_, _, signed_data),) = children(explicit)
    return status, oid, content_info, children(signed_data)


def _response(status: bytes, oid: bytes, fields: list[bytes]) -> bytes:
    return tlv(0x30, status + tlv(0x30, oid + tlv(0xA0, tlv(0x30, b"".join(fields)))))


def _duplicate_extensions(certificate: bytes) -> bytes:
    """The certificate with its extensions listed twice (its signature no longer matches: never checked here)."""
    (_, _, content), *_ = children(certificate)
    tbs, *rest = children(content)
    fields = children(tbs[2])
    extensions = children(fields[-1][2])[0][2]
    new_tbs = tlv(0x30, b"".join(field[1] for field in fields[:-1]) + tlv(0xA3, tlv(0x30, extensions * 2)))
    return tlv(0x30, new_tbs + b"".join(each[1] for each in rest))


def key_identifier_swap(token: bytes, *, duplicate_extension: bool = False) -> bytes:
    """The token with its signer named by key identifier as c2pa-rs compares it (the whole DER value
    of the authority certificate's extension: 04 14 <id>), and a self-made certificate added whose
    key identifier is that DER value, issued by another name than the authority's.

    c2pa-rs still finds and validates the real certificate; a reader comparing the bare identifier
    would take the added one (whose issuer is on another trust list)."""
    status, oid, _, fields = _signed_data(token)
    certificates_field = next(field for field in fields[3:] if field[0] == 0xA0)
    certificates = [each[1] for each in children(certificates_field[2])]
    ((_, _, info),) = children(fields[-1][2])
    info_fields = children(info)
    ((_, _, issuer_and_serial),) = [info_fields[1]]
    serial = int.from_bytes(children(issuer_and_serial)[1][2], "big")
    real = next(
        x509.load_der_x509_certificate(each)
        for each in certificates
        if x509.load_der_x509_certificate(each).serial_number == serial
    )
    key_id = real.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DigiCert, Inc."),
            x509.NameAttribute(NameOID.COMMON_NAME, "DigiCert RSA4096 TSA ICA for C2PA G1"),
        ]
    )
    when = datetime.datetime(2025, 1, 1)
    added = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(when)
        .not_valid_after(when + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectKeyIdentifier(tlv(0x04, key_id)), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    if duplicate_extension:
        added = _duplicate_extensions(added)
    new_info = tlv(0x30, info_fields[0][1] + tlv(0x80, tlv(0x04, key_id)) + b"".join(f[1] for f in info_fields[2:]))
    rebuilt = []
    for field in fields:
        if field is certificates_field:
            rebuilt.append(tlv(0xA0, b"".join(certificates) + added))
        elif field is fields[-1]:
            rebuilt.append(tlv(0x31, new_info))
        else:
            rebuilt.append(field[1])
    return _response(status, oid, rebuilt)


def key_identifier_swapped_jpeg(shared_dir: Path, out: Path, label: str, *, duplicate_extension: bool = False) -> Path:
    data = (shared_dir / "corpus" / OCSP_JPEG).read_bytes()
    store, _ = jpeg_store(data)
    token = key_identifier_swap(token_of(store, label), duplicate_extension=duplicate_extension)
    out.write_bytes(with_store(data, replace_token(store, label, token)))
    return out


def with_more_certificates(token: bytes, extra: int, *, crl_bytes: int = 0) -> bytes:
    """The token with `extra` copies of a certificate that is not its signer's added, and a
    `crls` field of `crl_bytes` (read by no one here) when asked: the signer is found as before."""
    status, oid, _, fields = _signed_data(token)
    certificates_field = next(field for field in fields[3:] if field[0] == 0xA0)
    certificates = [each[1] for each in children(certificates_field[2])]
    ((_, _, info),) = children(fields[-1][2])
    serial = children(children(info)[1][2])[1][1]
    other = next(each for each in certificates if serial not in each)
    rebuilt = []
    for field in fields:
        rebuilt.append(field[1])
        if field is certificates_field:
            rebuilt[-1] = tlv(0xA0, b"".join(certificates) + other * extra)
            if crl_bytes:
                rebuilt.append(tlv(0xA1, tlv(0x30, b"\x00" * crl_bytes)))
    return _response(status, oid, rebuilt)


def _box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def _superbox(content_type: bytes, label: str, *boxes: bytes) -> bytes:
    return _box(b"jumb", _box(b"jumd", content_type + b"\x03" + label.encode() + b"\x00") + b"".join(boxes))


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    size = next(size for size in (1, 2, 4, 8) if value < 1 << (8 * size))
    return bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[size]]) + value.to_bytes(size, "big")


def _cbor_text(text: str) -> bytes:
    return _cbor_head(3, len(text.encode())) + text.encode()


def _cbor_bytes(data: bytes) -> bytes:
    return _cbor_head(2, len(data)) + data


def store_with_tokens(tokens: dict[str, bytes]) -> bytes:
    """A manifest store (only what the token reader looks at) with one manifest per label, each
    signature's unprotected header holding the token as a legacy `sigTst`."""
    store_type = bytes.fromhex("6332706100110010800000aa00389b71")
    manifests = []
    for label, token in tokens.items():
        header = (
            _cbor_head(5, 1)
            + _cbor_text("sigTst")
            + _cbor_head(5, 1)
            + _cbor_text("tstTokens")
            + _cbor_head(4, 1)
            + _cbor_head(5, 1)
            + _cbor_text("val")
            + _cbor_bytes(token)
        )
        cose = b"\xd2" + _cbor_head(4, 4) + _cbor_bytes(b"") + header + b"\xf6" + _cbor_bytes(b"signature")
        signature = _superbox(bytes(16), "c2pa.signature", _box(b"cbor", cose))
        manifests.append(_superbox(bytes(16), label, signature))
    return _superbox(store_type, "c2pa", *manifests)


def certificate_count(token: bytes) -> int:
    _, _, _, fields = _signed_data(token)
    return len(children(next(field for field in fields[3:] if field[0] == 0xA0)[2]))
