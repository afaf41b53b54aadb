"""The band thresholds of the multi-index search: no code within the radius can be missed."""

from __future__ import annotations

import itertools

import pytest

from app.store.similarity import BANDS, MAX_RADIUS, band_radii, bands_of, probe_values


@pytest.mark.parametrize("radius", range(MAX_RADIUS + 1))
def test_every_split_of_the_radius_over_the_bands_leaves_one_band_within_its_threshold(radius):
    thresholds = band_radii(radius)
    assert len(thresholds) == BANDS
    for split in itertools.product(range(radius + 1), repeat=BANDS):
        if sum(split) <= radius:
            assert any(distance <= limit for distance, limit in zip(split, thresholds, strict=True)), split


def test_the_thresholds_sum_to_the_least_the_principle_needs():
    assert band_radii(12) == (3, 2, 2, 2)  # floor(12 / 4) = 3 in every band would probe 2.5x the rows
    assert band_radii(8) == (2, 1, 1, 1)
    assert band_radii(0) == (0, -1, -1, -1)


def test_probe_values_are_the_band_values_within_the_threshold():
    assert sorted(probe_values(0, 1)) == [0] + [1 << bit for bit in range(16)]
    assert len(probe_values(0xBEEF, 3)) == 1 + 16 + 120 + 560
    assert probe_values(5, -1) == []
    assert bands_of(0x0004_0003_0002_0001) == (1, 2, 3, 4)


def test_codes_within_finds_the_pairs_within_the_radius_with_their_distances():
    from app.store.similarity import codes_within, pack_pairs, to_signed

    query = 0xF000_0000_0000_000F  # top bit set: stored as a negative BIGINT, read back unsigned
    pairs = [
        (7, to_signed(query)),
        (8, to_signed(query ^ 0b111)),
        (9, to_signed(~query & (2**64 - 1))),
        (10, to_signed(query ^ 1)),
    ]
    assert codes_within(pack_pairs(pairs), query, 3) == {7: 0, 8: 3, 10: 1}
    assert codes_within(pack_pairs(pairs), query, 0) == {7: 0}
    assert codes_within(b"", query, 12) == {}
