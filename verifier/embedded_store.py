"""Cuts the manifest store (its JUMBF bytes, as `application/c2pa`) out of an asset's container.

The engine's Reader validates an asset's store but never hands its bytes out, and the manifest
repository keeps the store itself (a platform that keeps what it verified: issue 14). Only the
containers originmark keeps verified stores of are read:

- JPEG (C2PA 2.x §A.3.1, JPEG XT / ISO 19566-5): APP11 segments before the first SOS, each
  `FF EB Lp`, then CI "JP", En (box instance, 2 bytes), Z (sequence number from 1, 4 bytes), then
  the superbox's LBox and TBox (and XLBox) repeated in every segment, then the next part of the
  superbox's content. Parts are joined by Z for the instance whose superbox is a C2PA store.
- PNG (§A.3.3): a `caBX` chunk whose data is the store.
- ISO BMFF (MP4, MOV, HEIF, AVIF; §A.3.5): a top-level `uuid` box with the C2PA extended type, then
  version and flags (4 bytes), the purpose ("manifest", NUL-terminated), an 8-byte offset to the
  Merkle box, then the store.

An upload is hostile: no length in it is trusted (each is checked against what is left of its
parent and of the file), at most MAX_SEGMENTS segments, chunks or boxes are looked at, and a store
over MAX_STORE_BYTES is not cut out. Anything malformed is None, never an exception. This runs in
a verifier worker (verifier/isolation.py, `manifest_store_of`), under its memory and time limits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

MAX_STORE_BYTES = 64 * 1024 * 1024
MAX_SEGMENTS = 100_000  # JPEG segments, PNG chunks or top-level BMFF boxes looked at
_MAX_JPEG_PARTS = 4096  # APP11 segments of one store: 4096 × 64 KiB is over MAX_STORE_BYTES

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_C2PA_BMFF_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_BMFF_TYPES = ("video/mp4", "video/quicktime", "image/heic", "image/heif", "image/avif")
_STORE_DESCRIPTION_TYPE = bytes.fromhex("6332706100110010800000aa00389b71")  # "c2pa"


def embedded_manifest_store(path: Path, media_type: str) -> bytes | None:
    """The C2PA manifest store embedded in the file at `path` (of `media_type`), or None when it
    has none, it is malformed, or it is over MAX_STORE_BYTES."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if media_type == "image/jpeg":
                store = _jpeg_store(file, size)
            elif media_type == "image/png":
                store = _png_store(file, size)
            elif media_type in _BMFF_TYPES:
                store = _bmff_store(file, size)
            else:
                return None
    except OSError:
        return None
    if store is None or not _is_store(store):
        return None
    return store


def _is_store(data: bytes) -> bool:
    """One JUMBF superbox exactly (its length is the data's), described as a C2PA store."""
    if len(data) < 8 + 8 + 17:
        return False
    size = int.from_bytes(data[:4], "big")
    header = 8
    if size == 1:
        size, header = int.from_bytes(data[8:16], "big"), 16
    if data[4:8] != b"jumb" or size != len(data) or len(data) < header + 8 + 17:
        return False
    description = data[header : header + 8 + 16]
    return description[4:8] == b"jumd" and description[8:24] == _STORE_DESCRIPTION_TYPE


def _read_exact(file: BinaryIO, count: int) -> bytes | None:
    data = file.read(count)
    return data if len(data) == count else None


def _jpeg_store(file: BinaryIO, size: int) -> bytes | None:
    if _read_exact(file, 2) != b"\xff\xd8":
        return None
    parts: dict[int, dict[int, bytes]] = {}  # En -> Z -> the part of the superbox's content
    headers: dict[int, bytes] = {}  # En -> its superbox header (LBox, TBox, XLBox)
    total = 0
    for _ in range(MAX_SEGMENTS):
        marker = _read_exact(file, 2)
        if marker is None or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:  # fill byte: the marker follows
            file.seek(-1, os.SEEK_CUR)
            continue
        if kind in (0xD9, 0xDA):  # EOI, SOS: the metadata segments are over
            break
        if 0xD0 <= kind <= 0xD7 or kind == 0x01:  # markers without a length
            continue
        length_bytes = _read_exact(file, 2)
        if length_bytes is None:
            return None
        length = int.from_bytes(length_bytes, "big")
        if length < 2 or file.tell() + length - 2 > size:
            return None
        if kind != 0xEB:
            file.seek(length - 2, os.SEEK_CUR)
            continue
        payload = _read_exact(file, length - 2)
        if payload is None:
            return None
        if len(payload) < 16 or payload[:2] != b"JP":
            continue  # an APP11 segment of something else
        instance = int.from_bytes(payload[2:4], "big")
        sequence = int.from_bytes(payload[4:8], "big")
        box_header_size = 16 if int.from_bytes(payload[8:12], "big") == 1 else 8
        if len(payload) < 8 + box_header_size:
            return None
        header, part = payload[8 : 8 + box_header_size], payload[8 + box_header_size :]
        if headers.setdefault(instance, header) != header:
            return None  # the segments of one box must repeat its header
        by_sequence = parts.setdefault(instance, {})
        if sequence in by_sequence or len(by_sequence) >= _MAX_JPEG_PARTS:
            return None
        total += len(part)
        if total > MAX_STORE_BYTES:
            return None
        by_sequence[sequence] = part
    else:
        return None
    for instance, by_sequence in sorted(parts.items()):
        if sorted(by_sequence) != list(range(1, len(by_sequence) + 1)):
            continue  # a part missing: not this instance
        store = headers[instance] + b"".join(by_sequence[z] for z in sorted(by_sequence))
        if _is_store(store):
            return store
    return None


def _png_store(file: BinaryIO, size: int) -> bytes | None:
    if _read_exact(file, 8) != _PNG_SIGNATURE:
        return None
    for _ in range(MAX_SEGMENTS):
        head = _read_exact(file, 8)
        if head is None:
            return None
        length, kind = int.from_bytes(head[:4], "big"), head[4:]
        if length > 2**31 - 1 or file.tell() + length + 4 > size:
            return None
        if kind == b"caBX":
            if length > MAX_STORE_BYTES:
                return None
            return _read_exact(file, length)
        if kind == b"IEND":
            return None
        file.seek(length + 4, os.SEEK_CUR)  # the data, then the CRC
    return None


def _bmff_store(file: BinaryIO, size: int) -> bytes | None:
    position = 0
    for _ in range(MAX_SEGMENTS):
        if position + 8 > size:
            return None
        file.seek(position)
        head = _read_exact(file, 8)
        if head is None:
            return None
        box_size, kind, header = int.from_bytes(head[:4], "big"), head[4:], 8
        if box_size == 1:
            large = _read_exact(file, 8)
            if large is None:
                return None
            box_size, header = int.from_bytes(large, "big"), 16
        elif box_size == 0:
            box_size = size - position
        if box_size < header or position + box_size > size:
            return None
        if kind == b"uuid" and box_size >= header + 16:
            store = _c2pa_uuid_box(file, box_size - header)
            if store is not None:
                return store
        position += box_size
    return None


def _c2pa_uuid_box(file: BinaryIO, content_size: int) -> bytes | None:
    """The store of a C2PA `uuid` box whose purpose is "manifest" (file positioned at its content)."""
    if _read_exact(file, 16) != _C2PA_BMFF_UUID:
        return None
    rest = content_size - 16
    # version and flags, then the purpose: short ("manifest", "merkle"), so a bounded read finds its NUL.
    start = _read_exact(file, min(rest, 4 + 64))
    if start is None:
        return None
    end = start.find(b"\x00", 4)
    if end < 0 or start[4:end] != b"manifest":
        return None
    offset = end + 1 + 8  # past the NUL and the Merkle offset
    length = rest - offset
    if length <= 0 or length > MAX_STORE_BYTES:
        return None
    file.seek(offset - len(start), os.SEEK_CUR)
    return _read_exact(file, length)
