"""Multi-index hashing of 64-bit fingerprints (code64), as the repository's band index uses it.

A 64-bit code is cut into BANDS bands of BAND_BITS bits, each stored in an indexed column. Two
codes within Hamming distance R differ in at most floor(R / BANDS) bits of at least one band
(pigeonhole): a search for radius R looks up, in every band, the values within that many bits
of the query's band value (`probe_values`), and computes the exact distance of each row found.

Four 16-bit bands were chosen by measurement (docs/manifest-repository.md, bench/repository_bench.py):
at 1 M entries a band value holds ~15 random codes, and radius 12 costs 4 x 697 probes.

PostgreSQL has no unsigned 64-bit integer: a code is stored as the signed BIGINT with the same
bits (`to_signed` / `to_unsigned`); the bands are taken from the unsigned value.
"""

from __future__ import annotations

import functools
import itertools

BANDS = 4
BAND_BITS = 16
BAND_MASK = (1 << BAND_BITS) - 1
CODE_BITS = BANDS * BAND_BITS  # 64
MAX_RADIUS = 24  # a larger radius probes most of every band: more a scan than a search
_TWO_64 = 1 << 64
_TWO_63 = 1 << 63


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


def band_radius(radius: int) -> int:
    return radius // BANDS


@functools.cache
def _flip_masks(bits_flipped: int) -> tuple[int, ...]:
    """Every BAND_BITS-bit mask with at most `bits_flipped` bits set (1 + 16 + 120 + 560 for 3)."""
    masks = [0]
    for count in range(1, bits_flipped + 1):
        for positions in itertools.combinations(range(BAND_BITS), count):
            masks.append(sum(1 << position for position in positions))
    return tuple(masks)


def probe_values(band_value: int, radius: int) -> list[int]:
    """The band values within band_radius(radius) bits of `band_value`."""
    return [band_value ^ mask for mask in _flip_masks(band_radius(radius))]


def hamming64(a: int, b: int) -> int:
    return (a ^ b).bit_count()
