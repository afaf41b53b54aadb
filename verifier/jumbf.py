"""Walks JUMBF boxes (ISO 19566-5), the structure of a C2PA manifest store.

One walker for the readers of store bytes: the signer's (signer/jumbf.py: the active manifest's
label, the active manifest alone; signer/time_stamping.py: whether its signature has a
time-stamp) and the verifier's (verifier/time_stamp_token.py: each manifest's signature box). Bytes may come from an upload: every length is checked against
its parent and a box that does not fit is None, never an exception; what a reader does with
one (stop, or refuse the whole store) is its own choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

# Description box content types: C2PA's 16-byte UUIDs.
STORE_TYPE = bytes.fromhex("6332706100110010800000aa00389b71")  # "c2pa": the manifest store
MANIFEST_TYPES = frozenset(
    {
        bytes.fromhex("63326d6100110010800000aa00389b71"),  # "c2ma": standard manifest
        bytes.fromhex("6332756d00110010800000aa00389b71"),  # "c2um": update manifest
    }
)
_LABEL_PRESENT = 0x02  # in a description's toggles


class Box(NamedTuple):
    kind: bytes  # the box type, e.g. b"jumb"
    start: int  # where its content starts
    end: int  # where the box ends


class Description(NamedTuple):
    """A superbox's `jumd` description box, its first child."""

    content_type: bytes  # 16 bytes (a UUID)
    label: bytes | None  # as written (a reader decodes it its own way); None when absent
    end: int  # where the description box ends: the superbox's other boxes follow


def first_box(data: bytes, position: int, end: int) -> Box | None:
    """The box at `position`, or None when its header or its length does not fit in data[:end]."""
    if position + 8 > end:
        return None
    size = int.from_bytes(data[position : position + 4], "big")
    kind = bytes(data[position + 4 : position + 8])
    header = 8
    if size == 1:  # a 64-bit length follows
        if position + 16 > end:
            return None
        size, header = int.from_bytes(data[position + 8 : position + 16], "big"), 16
    elif size == 0:  # the box runs to the end
        size = end - position
    if size < header or position + size > end:
        return None
    return Box(kind, position + header, position + size)


def boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    """The boxes in data[start:end], up to the first one that does not fit (the caller compares
    the last one's end with `end` when it must know all were read)."""
    position = start
    while position + 8 <= end:
        box = first_box(data, position, end)
        if box is None:
            return
        yield box
        position = box.end


def description(data: bytes, start: int, end: int) -> Description | None:
    """The description box of the superbox whose content is data[start:end]; None when its first
    box is no well-formed `jumd` (too short, or a label without its NUL)."""
    box = first_box(data, start, end)
    if box is None or box.kind != b"jumd" or box.start + 17 > box.end:
        return None
    label = None
    if data[box.start + 16] & _LABEL_PRESENT:
        terminator = data.find(b"\x00", box.start + 17, box.end)
        if terminator < 0:
            return None
        label = bytes(data[box.start + 17 : terminator])
    return Description(bytes(data[box.start : box.start + 16]), label, box.end)
