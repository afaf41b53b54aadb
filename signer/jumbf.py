"""Reads the active manifest's manifest label out of the manifest store bytes the engine returns.

The engine hands back the JUMBF manifest store it embedded (or wrote as a sidecar); its
last manifest box is the active manifest (C2PA 2.x §11.1.4). Walking the boxes is cheaper
than re-reading the signed file with a Reader, which is the very verify-after-sign cost
the signer avoids.
"""

from __future__ import annotations

from collections.abc import Iterator

# JUMBF description box content types (ISO 19566-5), C2PA's 16-byte UUIDs.
_STORE_TYPE = bytes.fromhex("6332706100110010800000aa00389b71")  # "c2pa"
_MANIFEST_TYPES = {
    bytes.fromhex("63326d6100110010800000aa00389b71"),  # "c2ma": standard manifest
    bytes.fromhex("6332756d00110010800000aa00389b71"),  # "c2um": update manifest
}
_LABEL_PRESENT = 0x02


def active_manifest_label(store: bytes) -> str | None:
    """The label (e.g. `urn:c2pa:...`) of the last manifest in a manifest store; None if malformed."""
    top = _first_box(store, 0, len(store))
    if top is None or top[0] != b"jumb":
        return None
    _, content_start, end = top
    description = _description(store, content_start, end)
    if description is None or description[0] != _STORE_TYPE:
        return None
    manifest_label: str | None = None  # a manifest box's JUMBF label is its manifest label
    for box_type, start, box_end in _boxes(store, description[2], end):
        if box_type != b"jumb":
            continue
        child = _description(store, start, box_end)
        if child is not None and child[0] in _MANIFEST_TYPES and child[1] is not None:
            manifest_label = child[1]
    return manifest_label


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, content start, box end) for each box in data[start:end]."""
    position = start
    while position + 8 <= end:
        box = _first_box(data, position, end)
        if box is None:
            return
        yield box
        position = box[2]


def _first_box(data: bytes, position: int, end: int) -> tuple[bytes, int, int] | None:
    if position + 8 > end:
        return None
    size = int.from_bytes(data[position : position + 4], "big")
    box_type = bytes(data[position + 4 : position + 8])
    header = 8
    if size == 1:  # 64-bit size follows
        if position + 16 > end:
            return None
        size = int.from_bytes(data[position + 8 : position + 16], "big")
        header = 16
    elif size == 0:  # box runs to the end
        size = end - position
    if size < header or position + size > end:
        return None
    return box_type, position + header, position + size


def _description(data: bytes, start: int, end: int) -> tuple[bytes, str | None, int] | None:
    """(content type UUID, JUMBF box label, end of the description box) of a superbox's first child."""
    box = _first_box(data, start, end)
    if box is None or box[0] != b"jumd" or box[1] + 17 > box[2]:
        return None
    _, content, box_end = box
    content_type = bytes(data[content : content + 16])
    toggles = data[content + 16]
    box_label = None
    if toggles & _LABEL_PRESENT:
        box_label_end = data.find(b"\x00", content + 17, box_end)
        if box_label_end < 0:
            return None
        box_label = data[content + 17 : box_label_end].decode("utf-8", "replace")
    return content_type, box_label, box_end
