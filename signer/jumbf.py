"""Reads the active manifest's manifest label out of the manifest store bytes the engine returns,
and cuts the active manifest out of a store.

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
    layout = _store_layout(store)
    if layout is None:
        return None
    _, children_start, end = layout
    manifest_label: str | None = None  # a manifest box's JUMBF label is its manifest label
    for box_type, start, box_end in _boxes(store, children_start, end):
        if box_type != b"jumb":
            continue
        child = _description(store, start, box_end)
        if child is not None and child[0] in _MANIFEST_TYPES and child[1] is not None:
            manifest_label = child[1]
    return manifest_label


def active_manifest_store(store: bytes) -> bytes | None:
    """A manifest store holding only the active (last) manifest of `store`; None if malformed.

    For the Soft Binding Resolution API's `returnActiveManifest`: the engine has no call that
    writes part of a store, but a store is a JUMBF superbox (its description box, then one
    superbox per manifest), so the active manifest's box is copied whole, bytes unchanged (its
    signature covers its own claim only), behind the store's description box in a new superbox.
    The ingredient manifests it refers to are left out: that is what "only the active manifest" means.
    """
    layout = _store_layout(store)
    if layout is None:
        return None
    content_start, children_start, end = layout
    active: tuple[int, int] | None = None
    position = children_start
    for box_type, start, box_end in _boxes(store, children_start, end):
        if box_type == b"jumb":
            child = _description(store, start, box_end)
            if child is not None and child[0] in _MANIFEST_TYPES:
                active = (position, box_end)
        position = box_end
    if active is None:
        return None
    content = store[content_start:children_start] + store[active[0] : active[1]]
    if 8 + len(content) < 2**32:
        return (8 + len(content)).to_bytes(4, "big") + b"jumb" + content
    return (1).to_bytes(4, "big") + b"jumb" + (16 + len(content)).to_bytes(8, "big") + content


def _store_layout(store: bytes) -> tuple[int, int, int] | None:
    """(start of the store superbox's content, of its children after the description box, its end)."""
    top = _first_box(store, 0, len(store))
    if top is None or top[0] != b"jumb":
        return None
    _, content_start, end = top
    description = _description(store, content_start, end)
    if description is None or description[0] != _STORE_TYPE:
        return None
    return content_start, description[2], end


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
