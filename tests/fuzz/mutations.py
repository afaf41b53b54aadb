"""Structure-aware mutations of real media files, for the fuzz suite.

One mutation generator, two drivers: hypothesis (the pytest runs, derandomized in CI) and
`random.Random` (`RandomChooser`, for exploring outside pytest, e.g. signing mutated files
in-process). Both reach it through a `Chooser`, so a case is described the same way by either.

The mutations aim where parsers break: the container structure (JPEG segments, PNG chunks,
ISO-BMFF / JUMBF boxes, RIFF chunks) and its length fields, CBOR heads inside the
manifest, and the manifest bytes themselves (JUMBF, `c2pa` labels), rather than the pixel
data a C2PA reader never parses.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

T = TypeVar("T")

MAX_OUTPUT_BYTES = 6 * 1024 * 1024  # a mutation that would grow a file past this is cut back
# Tags that mark the manifest store (JUMBF boxes and description labels, PNG/RIFF chunk ids).
MANIFEST_MARKERS = (b"jumb", b"jumd", b"c2pa", b"c2ma", b"c2cl", b"c2cs", b"c2as", b"cbor", b"json", b"caBX", b"C2PA")
_INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
# BMFF / JUMBF containers whose payload is itself a sequence of boxes.
_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"jumb", b"dinf", b"edts", b"moof", b"traf"}


class Chooser(Protocol):
    """Where a mutation's choices come from (hypothesis data or a seeded RNG)."""

    def integer(self, low: int, high: int) -> int: ...  # inclusive bounds

    def choice(self, options: Sequence[T]) -> T: ...

    def blob(self, max_size: int) -> bytes: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]

    def blob(self, max_size: int) -> bytes:
        return self._rng.randbytes(self._rng.randint(0, max_size))


class HypothesisChooser:
    def __init__(self, data) -> None:  # hypothesis.strategies.DataObject
        from hypothesis import strategies as st

        self._data = data
        self._st = st

    def integer(self, low: int, high: int) -> int:
        return self._data.draw(self._st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self._data.draw(self._st.sampled_from(options))

    def blob(self, max_size: int) -> bytes:
        return self._data.draw(self._st.binary(max_size=max_size))


# --- structure ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LengthField:
    offset: int
    width: int  # bytes
    byteorder: Literal["big", "little"]


@dataclass(frozen=True, slots=True)
class Segment:
    start: int
    end: int
    kind: str  # e.g. "jpeg:APP11", "png:caBX", "box:jumb", "riff:C2PA"
    length: LengthField | None = None


def segments(data: bytes) -> list[Segment]:
    """The container's segments, best effort (a malformed file yields what could be read)."""
    found: list[Segment] = []
    try:
        if data.startswith(b"\xff\xd8"):
            found = _jpeg_segments(data)
        elif data.startswith(b"\x89PNG\r\n\x1a\n"):
            found = _png_segments(data)
        elif data.startswith(b"RIFF"):
            found = _riff_segments(data, 12, len(data))
        elif data[4:8] in (b"ftyp", b"jumb", b"moov", b"styp", b"uuid", b"free"):
            found = _boxes(data, 0, len(data), depth=0)
    except (IndexError, struct.error, ValueError):
        pass
    # A manifest split over several JPEG segments, or embedded in a PDF or TIFF, is found by its tags.
    starts = {segment.start for segment in found}
    return found + [segment for segment in _scanned_boxes(data) if segment.start not in starts]


def _jpeg_segments(data: bytes) -> list[Segment]:
    found = [Segment(0, 2, "jpeg:SOI")]
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: the entropy-coded data follows, up to EOI
            found.append(Segment(position, len(data), "jpeg:scan", LengthField(position + 2, 2, "big")))
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        end = min(position + 2 + length, len(data))
        found.append(Segment(position, end, f"jpeg:{_jpeg_name(marker)}", LengthField(position + 2, 2, "big")))
        if marker == 0xEB and data[position + 4 : position + 6] == b"JP":
            # APP11 carries JUMBF after the CI "JP", a box instance (2) and a sequence number (4).
            found.append(Segment(position + 6, position + 12, "jpeg:APP11-JP-header"))
            found += _boxes(data, position + 12, end, depth=1)
        position = end
    return found


def _jpeg_name(marker: int) -> str:
    if 0xE0 <= marker <= 0xEF:
        return f"APP{marker - 0xE0}"
    return {0xDB: "DQT", 0xC4: "DHT", 0xC0: "SOF0", 0xC2: "SOF2", 0xFE: "COM", 0xDD: "DRI"}.get(marker, f"{marker:02X}")


def _png_segments(data: bytes) -> list[Segment]:
    found = [Segment(0, 8, "png:signature")]
    position = 8
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8].decode("latin-1")
        end = min(position + 12 + length, len(data))
        found.append(Segment(position, end, f"png:{kind}", LengthField(position, 4, "big")))
        if kind == "caBX":
            found += _boxes(data, position + 8, end - 4, depth=1)
        position = end
    return found


def _riff_segments(data: bytes, start: int, stop: int, *, depth: int = 0) -> list[Segment]:
    found = [Segment(0, 12, "riff:header", LengthField(4, 4, "little"))] if depth == 0 else []
    position = start
    while position + 8 <= stop and depth < 8:
        kind = data[position : position + 4]
        length = int.from_bytes(data[position + 4 : position + 8], "little")
        end = min(position + 8 + length + (length & 1), stop)
        name = kind.decode("latin-1")
        found.append(Segment(position, end, f"riff:{name}", LengthField(position + 4, 4, "little")))
        if kind == b"LIST":
            found += _riff_segments(data, position + 12, end, depth=depth + 1)
        elif kind == b"C2PA":
            found += _boxes(data, position + 8, end, depth=1)
        position = end
    return found


def _boxes(data: bytes, start: int, stop: int, *, depth: int) -> list[Segment]:
    """ISO-BMFF / JUMBF boxes between `start` and `stop`, into known containers."""
    found: list[Segment] = []
    position = start
    while position + 8 <= stop and depth < 8:
        size = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        length = LengthField(position, 4, "big")
        header = 8
        if size == 1 and position + 16 <= stop:
            size = int.from_bytes(data[position + 8 : position + 16], "big")
            length = LengthField(position + 8, 8, "big")
            header = 16
        elif size == 0:
            size = stop - position
        if size < header or not all(32 <= b < 127 for b in kind):
            break
        end = min(position + size, stop)
        found.append(Segment(position, end, f"box:{kind.decode('latin-1')}", length))
        if kind in _CONTAINER_BOXES:
            found += _boxes(data, position + header, end, depth=depth + 1)
        elif kind == b"meta":  # a full box: version and flags, then boxes (HEIF, AVIF)
            found += _boxes(data, position + header + 4, end, depth=depth + 1)
        elif kind == b"uuid":  # C2PA in BMFF: uuid(16) version/flags(4) purpose\0 offset(8) JUMBF
            payload = data[position + header + 20 : end]
            zero = payload.find(b"\0")
            if zero >= 0:
                found += _boxes(data, position + header + 20 + zero + 9, end, depth=depth + 1)
        position = end
    return found


def _scanned_boxes(data: bytes) -> list[Segment]:
    """Box headers found by their tag anywhere (PDF, TIFF, SVG, ... embed JUMBF in their own ways)."""
    found: list[Segment] = []
    for marker in (b"jumb", b"jumd", b"cbor", b"json"):
        start = data.find(marker)
        while start >= 4 and len(found) < 64:
            size = int.from_bytes(data[start - 4 : start], "big")
            if 8 <= size <= len(data) - start + 4:
                found.append(
                    Segment(start - 4, start - 4 + size, f"box:{marker.decode()}", LengthField(start - 4, 4, "big"))
                )
            start = data.find(marker, start + 1)
    return found


def manifest_offsets(data: bytes) -> list[int]:
    """Offsets of manifest markers: mutations near them reach the C2PA parser, not the pixels."""
    offsets: list[int] = []
    for marker in MANIFEST_MARKERS:
        start = data.find(marker)
        while start >= 0 and len(offsets) < 512:
            offsets.append(start)
            start = data.find(marker, start + 1)
    return sorted(offsets)


def cbor_length_heads(data: bytes, segs: list[Segment]) -> list[LengthField]:
    """CBOR heads with a 1/2/4/8-byte length (byte/text strings, arrays, maps) inside `cbor` boxes."""
    heads: list[LengthField] = []
    for segment in segs:
        if segment.kind != "box:cbor":
            continue
        for offset in range(segment.start + 8, min(segment.end, segment.start + 8 + 4096)):
            initial = data[offset]
            major, info = initial >> 5, initial & 0x1F
            if major in (2, 3, 4, 5) and 24 <= info <= 27:
                heads.append(LengthField(offset + 1, 1 << (info - 24), "big"))
                if len(heads) >= 256:
                    return heads
    return heads


# --- mutations -----------------------------------------------------------------------------

Mutation = Callable[[bytes, "Context"], tuple[bytes, str]]


@dataclass(frozen=True, slots=True)
class Context:
    chooser: Chooser
    donor: bytes  # another corpus file, for splices


def _position(data: bytes, ctx: Context) -> int:
    """Anywhere in the file, or (more often) close to a manifest marker."""
    offsets = manifest_offsets(data) if len(data) else []
    if offsets and ctx.chooser.integer(0, 3):
        return min(max(ctx.chooser.choice(offsets) + ctx.chooser.integer(-16, 64), 0), max(len(data) - 1, 0))
    return ctx.chooser.integer(0, max(len(data) - 1, 0))


def flip_bits(data: bytes, ctx: Context) -> tuple[bytes, str]:
    if not data:
        return data, "flip (empty)"
    out = bytearray(data)
    position = _position(data, ctx)
    count = ctx.chooser.integer(1, 8)
    for index in range(count):
        where = min(position + index, len(out) - 1)
        out[where] ^= 1 << ctx.chooser.integer(0, 7)
    return bytes(out), f"flip {count} bit(s) at {position}"


def set_bytes(data: bytes, ctx: Context) -> tuple[bytes, str]:
    if not data:
        return data, "set (empty)"
    out = bytearray(data)
    position = _position(data, ctx)
    value = ctx.chooser.choice(_INTERESTING_BYTES)
    count = ctx.chooser.integer(1, 4)
    out[position : position + count] = bytes([value]) * len(out[position : position + count])
    return bytes(out), f"set {count} byte(s) at {position} to {value:#04x}"


def truncate(data: bytes, ctx: Context) -> tuple[bytes, str]:
    segs = segments(data)
    if segs and ctx.chooser.integer(0, 1):
        segment = ctx.chooser.choice(segs)
        keep = min(max(ctx.chooser.choice((segment.start, segment.end)) + ctx.chooser.integer(-8, 8), 0), len(data))
    else:
        keep = ctx.chooser.integer(0, len(data))
    return data[:keep], f"truncate to {keep} of {len(data)}"


def corrupt_length(data: bytes, ctx: Context) -> tuple[bytes, str]:
    segs = [s for s in segments(data) if s.length is not None]
    fields = [(s.kind, s.length) for s in segs if s.length is not None]
    fields += [("cbor", f) for f in cbor_length_heads(data, segs)]
    if not fields:
        return set_bytes(data, ctx)
    kind, field = ctx.chooser.choice(fields)
    if field.offset + field.width > len(data):
        return data, f"length of {kind} (out of file)"
    current = int.from_bytes(data[field.offset : field.offset + field.width], field.byteorder)
    top = (1 << (8 * field.width)) - 1
    value = ctx.chooser.choice(
        (
            0,
            1,
            2,
            7,
            8,
            9,
            16,
            current - 1,
            current + 1,
            current * 2,
            current // 2,
            len(data),
            top,
            top // 2,
            top // 2 + 1,
        )
    )
    value = max(0, min(value, top))
    out = data[: field.offset] + value.to_bytes(field.width, field.byteorder) + data[field.offset + field.width :]
    return out, f"length of {kind} at {field.offset}: {current} -> {value}"


def duplicate_segment(data: bytes, ctx: Context) -> tuple[bytes, str]:
    segs = segments(data)
    if not segs:
        return _duplicate_range(data, ctx)
    segment = ctx.chooser.choice(segs)
    times = ctx.chooser.choice((1, 1, 2, 16, 200))
    piece = data[segment.start : segment.end]
    if len(piece) * times + len(data) > MAX_OUTPUT_BYTES:
        times = 1
    return data[: segment.end] + piece * times + data[segment.end :], f"duplicate {segment.kind} x{times}"


def _duplicate_range(data: bytes, ctx: Context) -> tuple[bytes, str]:
    start = _position(data, ctx)
    end = min(start + ctx.chooser.integer(1, 4096), len(data))
    return data[:end] + data[start:end] + data[end:], f"duplicate bytes {start}:{end}"


def delete_segment(data: bytes, ctx: Context) -> tuple[bytes, str]:
    segs = segments(data)
    if not segs:
        start = _position(data, ctx)
        end = min(start + ctx.chooser.integer(1, 4096), len(data))
        return data[:start] + data[end:], f"delete bytes {start}:{end}"
    segment = ctx.chooser.choice(segs)
    return data[: segment.start] + data[segment.end :], f"delete {segment.kind}"


def swap_segments(data: bytes, ctx: Context) -> tuple[bytes, str]:
    segs = segments(data)
    pairs = [(a, b) for a, b in itertools.pairwise(segs) if a.end == b.start]
    if not pairs:
        return duplicate_segment(data, ctx)
    a, b = ctx.chooser.choice(pairs)
    return (
        data[: a.start] + data[b.start : b.end] + data[a.start : a.end] + data[b.end :],
        f"swap {a.kind} and {b.kind}",
    )


def splice(data: bytes, ctx: Context) -> tuple[bytes, str]:
    """Insert or overwrite with a piece of another file (often its manifest)."""
    donor = ctx.donor or data
    donor_segments = [s for s in segments(donor) if s.kind.startswith(("box:", "jpeg:APP11", "png:caBX", "riff:C2PA"))]
    if donor_segments and ctx.chooser.integer(0, 1):
        piece_segment = ctx.chooser.choice(donor_segments)
        piece = donor[piece_segment.start : piece_segment.end]
        what = piece_segment.kind
    else:
        start = ctx.chooser.integer(0, max(len(donor) - 1, 0))
        piece = donor[start : start + ctx.chooser.integer(1, 65536)]
        what = f"donor bytes at {start}"
    position = _position(data, ctx) if data else 0
    if ctx.chooser.integer(0, 1):
        return data[:position] + piece + data[position:], f"insert {what} ({len(piece)} B) at {position}"
    return data[:position] + piece + data[position + len(piece) :], f"overwrite at {position} with {what}"


def insert_random(data: bytes, ctx: Context) -> tuple[bytes, str]:
    position = _position(data, ctx) if data else 0
    blob = ctx.chooser.blob(64)
    return data[:position] + blob + data[position:], f"insert {len(blob)} random byte(s) at {position}"


MUTATIONS: tuple[Mutation, ...] = (
    flip_bits,
    set_bytes,
    truncate,
    corrupt_length,
    corrupt_length,  # length fields are where parsers break most: weighted up
    duplicate_segment,
    delete_segment,
    swap_segments,
    splice,
    insert_random,
)


def mutate(seed: bytes, *, donor: bytes, chooser: Chooser, max_steps: int = 4) -> tuple[bytes, list[str]]:
    """`seed` after 1..max_steps mutations, and what was done."""
    ctx = Context(chooser=chooser, donor=donor)
    data = seed
    steps = []
    # Mostly one mutation: a file broken in one place gets past the outer parsers more often.
    for _ in range(min(chooser.choice((1, 1, 1, 2, 2, 3, 4)), max_steps)):
        mutation = chooser.choice(MUTATIONS)
        data, step = mutation(data, ctx)
        steps.append(step)
        if len(data) > MAX_OUTPUT_BYTES:
            data = data[:MAX_OUTPUT_BYTES]
            steps.append(f"cut to {MAX_OUTPUT_BYTES}")
    return data, steps


# --- inputs made from nothing: empty, tiny, and huge declared lengths ----------------------

_FTYP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def _jumbf(lbox: int, body: bytes = b"") -> bytes:
    description = b"\x00\x00\x00\x1djumd" + b"c2pa\x00\x11\x00\x10\x80\x00\xaa\x00\x38\x9b\x71\x03" + b"c2pa\x00"
    return struct.pack(">I", lbox) + b"jumb" + description + body


SPECIAL_INPUTS: dict[str, bytes] = {
    "empty": b"",
    "one byte": b"\xff",
    "jpeg SOI only": b"\xff\xd8",
    "jpeg SOI + EOI": b"\xff\xd8\xff\xd9",
    "png signature only": b"\x89PNG\r\n\x1a\n",
    "ftyp only": _FTYP,
    "riff webp header only": b"RIFF\x04\x00\x00\x00WEBP",
    "pdf header only": b"%PDF-1.7\n",
    # Declared lengths far past the end of the file.
    "jpeg APP11 0xFFFF with JUMBF LBox 0xFFFFFFFF": b"\xff\xd8\xff\xeb\xff\xffJP\x00\x01\x00\x00\x00\x01"
    + _jumbf(0xFFFFFFFF)
    + b"\xff\xd9",
    "jpeg APP11 length 0": b"\xff\xd8\xff\xeb\x00\x00JP\x00\x01\x00\x00\x00\x01" + _jumbf(64),
    "png caBX 0x7FFFFFFF": b"\x89PNG\r\n\x1a\n"
    + b"\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    + b"\x7f\xff\xff\xffcaBX"
    + _jumbf(0xFFFFFFF0),
    "bmff uuid largesize 2^63": _FTYP + b"\x00\x00\x00\x01uuid" + struct.pack(">Q", 1 << 63) + _C2PA_UUID,
    "bmff moov size 0xFFFFFFFF": _FTYP + b"\xff\xff\xff\xffmoov\x00\x00\x00\x08trak",
    "riff webp 0xFFFFFFFF with C2PA chunk 0xFFFFFFF0": b"RIFF\xff\xff\xff\xffWEBP"
    + b"C2PA\xf0\xff\xff\xff"
    + _jumbf(0xFFFFFFFF),
    "riff wave C2PA chunk past the end": b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"
    + b"\x44\xac\x00\x00\x88X\x01\x00\x02\x00\x10\x00C2PA\xff\xff\xff\x7f"
    + _jumbf(0x7FFFFFFF),
    "c2pa store LBox 0xFFFFFFFF": _jumbf(0xFFFFFFFF),
    "c2pa store LBox 1 with XLBox 2^64-1": struct.pack(">I", 1) + b"jumb" + struct.pack(">Q", (1 << 64) - 1),
    "c2pa store nested 2000 deep": b"".join(struct.pack(">I", 8 * (2000 - i) + 1000) + b"jumb" for i in range(2000)),
    "pdf with huge xref offset": b"%PDF-1.7\n1 0 obj<<>>endobj\nstartxref\n99999999999999999999\n%%EOF\n",
}
