"""Reads the active manifest's manifest label out of the manifest store bytes the engine returns,
and cuts the active manifest out of a store.

The engine hands back the JUMBF manifest store it embedded (or wrote as a sidecar); its
last manifest box is the active manifest (C2PA 2.x §11.1.4). Walking the boxes is cheaper
than re-reading the signed file with a Reader, which is the very verify-after-sign cost
the signer avoids.
"""

from __future__ import annotations

from verifier.jumbf import MANIFEST_TYPES, STORE_TYPE, boxes, description, first_box


def active_manifest_label(store: bytes) -> str | None:
    """The label (e.g. `urn:c2pa:...`) of the last manifest in a manifest store; None if malformed."""
    layout = _store_layout(store)
    if layout is None:
        return None
    _, children_start, end = layout
    manifest_label: str | None = None  # a manifest box's JUMBF label is its manifest label
    for box_type, start, box_end in boxes(store, children_start, end):
        if box_type != b"jumb":
            continue
        child = description(store, start, box_end)
        if child is not None and child.content_type in MANIFEST_TYPES and child.label is not None:
            manifest_label = child.label.decode("utf-8", "replace")
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
    for box_type, start, box_end in boxes(store, children_start, end):
        if box_type == b"jumb":
            child = description(store, start, box_end)
            if child is not None and child.content_type in MANIFEST_TYPES:
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
    top = first_box(store, 0, len(store))
    if top is None or top[0] != b"jumb":
        return None
    _, content_start, end = top
    store_description = description(store, content_start, end)
    if store_description is None or store_description.content_type != STORE_TYPE:
        return None
    return content_start, store_description.end, end
