"""Multi-index hashing of 64-bit fingerprints (code64), as the repository's band index uses it.

A 64-bit code is cut into BANDS bands of BAND_BITS bits. The band index has one row per band and
band value (`bucket_key`) listing the codes that have that value there. A search for radius R
reads, in band i, the rows of the values within t_i bits of the query's band value
(`probe_keys`), and computes the exact distance of each code found. The t_i come from the
generalised pigeonhole principle (`band_radii`): if the m band distances d_i sum to at most R
and the t_i sum to R - m + 1, some band has d_i <= t_i (otherwise the sum would be at least
sum(t_i + 1) = R + 1). For R = 12 that is (3, 2, 2, 2), not the plain floor(12 / 4) = 3 in every
band: 1,108 probes instead of 2,788, and at 1 M entries ~14,000 index rows read instead of ~35,000.

Four 16-bit bands (docs/manifest-repository.md, bench/repository_bench.py): at 1 M entries a
band value holds ~15 random codes.

Two key spaces share the one table (`CodeSpace`): the Image-Codes (an image's, a video's key frames',
the index-only views) in bands 0-3, and the ISCC Video-Codes in bands 4-7, so a search of one never
meets a code of the other (their bits mean different things) and no new table is needed.

PostgreSQL has no unsigned 64-bit integer: a code is stored as the signed BIGINT with the same
bits (`to_signed` / `to_unsigned`); the bands are taken from the unsigned value.
"""

from __future__ import annotations

import array
import enum
import functools
import itertools
import sys

BANDS = 4
BAND_BITS = 16
BAND_MASK = (1 << BAND_BITS) - 1
CODE_BITS = BANDS * BAND_BITS  # 64
MAX_RADIUS = 20  # beyond, the probes of one query pass SQLite's 32,766 parameters (and it is a scan more than a search)
_TWO_64 = 1 << 64
_TWO_63 = 1 << 63


class CodeSpace(enum.IntEnum):
    """Which codes a band row lists: its key's band is `space * BANDS + band`."""

    IMAGE = 0  # ISCC Image-Codes' first 64 bits: images, a video's key frames, the index-only views
    VIDEO = 1  # ISCC Video-Codes (64 bits)


def check_code64(code64: int) -> int:
    if not isinstance(code64, int) or isinstance(code64, bool) or not 0 <= code64 < _TWO_64:
        raise ValueError(f"code64 is an unsigned 64-bit integer (0 to 2**64 - 1), got {code64!r:.40}")
    return code64


def check_radius(radius: int) -> int:
    if not isinstance(radius, int) or isinstance(radius, bool) or not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"a search radius is 0 to {MAX_RADIUS} bits, got {radius!r:.40}")
    return radius


def to_signed(code64: int) -> int:
    """The BIGINT that holds these 64 bits."""
    return code64 - _TWO_64 if code64 >= _TWO_63 else code64


def to_unsigned(stored: int) -> int:
    return stored + _TWO_64 if stored < 0 else stored


def bands_of(code64: int) -> tuple[int, ...]:
    """The band values, band 0 the lowest 16 bits."""
    return tuple((code64 >> (BAND_BITS * band)) & BAND_MASK for band in range(BANDS))


def band_radii(radius: int) -> tuple[int, ...]:
    """The bits each band is probed within for a search of `radius` (-1: the band is not probed)."""
    budget = radius - BANDS + 1  # what the thresholds must sum to at least
    if budget < 0:
        # Fewer than BANDS bits differ: some band is equal; probing budget + BANDS of them exactly suffices.
        return tuple(0 if band < budget + BANDS else -1 for band in range(BANDS))
    base, extra = divmod(budget, BANDS)
    return tuple(base + (1 if band < extra else 0) for band in range(BANDS))


@functools.cache
def _flip_masks(bits_flipped: int) -> tuple[int, ...]:
    """Every BAND_BITS-bit mask with at most `bits_flipped` bits set (1 + 16 + 120 + 560 for 3)."""
    masks = [0]
    for count in range(1, bits_flipped + 1):
        for positions in itertools.combinations(range(BAND_BITS), count):
            masks.append(sum(1 << position for position in positions))
    return tuple(masks)


def probe_values(band_value: int, bits: int) -> list[int]:
    """The band values within `bits` bits of `band_value` (none for -1)."""
    return [band_value ^ mask for mask in _flip_masks(bits)] if bits >= 0 else []


def hamming64(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def bucket_key(band: int, band_value: int, space: CodeSpace = CodeSpace.IMAGE) -> int:
    """The band index's row for this band and value, in the key space of `space`."""
    return ((space * BANDS + band) << BAND_BITS) | band_value


def bucket_keys(code64: int, space: CodeSpace = CodeSpace.IMAGE) -> list[int]:
    """The four rows a code is listed in, in key order (writers lock them in that order)."""
    return [bucket_key(band, value, space) for band, value in enumerate(bands_of(code64))]


def probe_keys(code64: int, radius: int, space: CodeSpace = CodeSpace.IMAGE) -> list[int]:
    """The band index rows a search of `radius` around `code64` reads, in the key space of `space`."""
    keys: list[int] = []
    for band, (value, bits) in enumerate(zip(bands_of(code64), band_radii(radius), strict=True)):
        keys.extend(bucket_key(band, probe, space) for probe in probe_values(value, bits))
    return keys


def pack_pairs(pairs: list[tuple[int, int]]) -> bytes:
    """(binding id, stored code) pairs as the bucket holds them: little-endian int64, two each."""
    packed = array.array("q", [number for pair in pairs for number in pair])
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def codes_within(blob: bytes, query: int, radius: int) -> dict[int, int]:
    """Binding id -> distance for every pair in `blob` (band rows joined) whose code is within `radius`.

    Read as unsigned 64-bit words, a stored code is the code itself. numpy computes every distance
    in one pass (XOR, then popcount) and only the few within the radius reach Python objects: ~33,000
    codes (a radius-10 probe at 5 M codes) in ~0.05 ms, against ~3 ms through Python's `map`.
    """
    import numpy  # here, not at the top: a CLI run that never searches does not pay numpy's import

    words = numpy.frombuffer(blob, dtype="<u8")
    distances = numpy.bitwise_count(words[1::2] ^ numpy.uint64(query))
    near = numpy.flatnonzero(distances <= radius)
    return dict(zip(words[0::2][near].tolist(), distances[near].tolist(), strict=True))


def unpack_pairs(blob: bytes) -> list[tuple[int, int]]:
    numbers = array.array("q")
    numbers.frombytes(blob)
    if sys.byteorder == "big":
        numbers.byteswap()
    return list(zip(numbers[0::2], numbers[1::2], strict=True))
