"""verifier/embedded_store.py: the manifest store cut out of JPEG (APP11, split across segments),
PNG (caBX) and BMFF (the C2PA uuid box) byte for byte, and None, quickly, for anything malformed:
truncated segments, lengths past the end, a part missing or repeated, endless segments."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from verifier.embedded_store import MAX_STORE_BYTES, embedded_manifest_store

_STORE_TYPE = bytes.fromhex("6332706100110010800000aa00389b71")
_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def _box(kind: bytes, content: bytes) -> bytes:
    return (8 + len(content)).to_bytes(4, "big") + kind + content


def _store(payload_size: int = 100) -> bytes:
    description = _box(b"jumd", _STORE_TYPE + b"\x03c2pa\x00")
    return _box(b"jumb", description + _box(b"jumb", b"\x00" * payload_size))


def _app11(instance: int, sequence: int, header: bytes, part: bytes) -> bytes:
    payload = b"JP" + instance.to_bytes(2, "big") + sequence.to_bytes(4, "big") + header + part
    return b"\xff\xeb" + (2 + len(payload)).to_bytes(2, "big") + payload


def _jpeg(store: bytes, part_size: int = 40, order: list[int] | None = None) -> bytes:
    header, content = store[:8], store[8:]
    parts = [content[i : i + part_size] for i in range(0, len(content), part_size)]
    indexes = order if order is not None else list(range(len(parts)))
    segments = b"".join(_app11(1, index + 1, header, parts[index]) for index in indexes)
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + segments + b"\xff\xda\x00\x02" + b"scan" + b"\xff\xd9"


def _png(store: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + b"\x00\x00\x00\x00"

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", b"\x00" * 13) + chunk(b"caBX", store) + chunk(b"IEND", b"")


def _mp4(store: bytes) -> bytes:
    c2pa = _box(b"uuid", _C2PA_UUID + b"\x00\x00\x00\x00" + b"manifest\x00" + b"\x00" * 8 + store)
    return _box(b"ftyp", b"isom\x00\x00\x02\x00isom") + c2pa + _box(b"mdat", b"\x00" * 32)


def _cut(tmp_path: Path, data: bytes, media_type: str) -> bytes | None:
    path = tmp_path / "asset"
    path.write_bytes(data)
    started = time.perf_counter()
    result = embedded_manifest_store(path, media_type)
    assert time.perf_counter() - started < 2
    return result


@pytest.mark.parametrize(("make", "media_type"), [(_jpeg, "image/jpeg"), (_png, "image/png"), (_mp4, "video/mp4")])
def test_the_store_is_cut_out_byte_for_byte(tmp_path, make, media_type):
    store = _store(1000)
    assert _cut(tmp_path, make(store), media_type) == store


def test_jpeg_parts_are_joined_by_sequence_number(tmp_path):
    store = _store(200)  # 238 bytes after the superbox header: 6 parts of up to 40
    assert _cut(tmp_path, _jpeg(store, order=[3, 0, 5, 1, 4, 2]), "image/jpeg") == store


def test_jpeg_with_a_part_missing_or_repeated_is_none(tmp_path):
    store = _store(200)
    assert _cut(tmp_path, _jpeg(store, order=[0, 1, 3, 4, 5]), "image/jpeg") is None
    assert _cut(tmp_path, _jpeg(store, order=[0, 1, 1, 2, 3, 4, 5]), "image/jpeg") is None


@pytest.mark.parametrize(("make", "media_type"), [(_jpeg, "image/jpeg"), (_png, "image/png"), (_mp4, "video/mp4")])
def test_every_truncation_is_none(tmp_path, make, media_type):
    store = _store(300)
    data = make(store)
    # Cut anywhere before the store's last byte (what follows it is no concern of the cutting).
    end_of_store = data.index(b"\xff\xda") if make is _jpeg else data.index(store) + len(store)
    for end in range(0, end_of_store, 7):
        assert _cut(tmp_path, data[:end], media_type) is None, end


def test_lengths_past_the_end_are_none(tmp_path):
    store = _store(100)
    jpeg = bytearray(_jpeg(store, part_size=1000))
    at = jpeg.index(b"\xff\xeb") + 2
    jpeg[at : at + 2] = b"\xff\xff"
    assert _cut(tmp_path, bytes(jpeg), "image/jpeg") is None

    png = bytearray(_png(store))
    at = png.index(b"caBX") - 4
    png[at : at + 4] = (2**31 - 1).to_bytes(4, "big")
    assert _cut(tmp_path, bytes(png), "image/png") is None

    mp4 = bytearray(_mp4(store))
    at = mp4.index(b"uuid") - 4
    mp4[at : at + 4] = b"\x00\x00\x00\x01"  # a 64-bit size follows: make it huge
    mp4[at + 8 : at + 16] = (2**63).to_bytes(8, "big")
    assert _cut(tmp_path, bytes(mp4), "video/mp4") is None


def test_a_store_whose_own_length_lies_is_none(tmp_path):
    store = bytearray(_store(100))
    store[:4] = (len(store) + 50).to_bytes(4, "big")
    assert _cut(tmp_path, _png(bytes(store)), "image/png") is None


def test_huge_counts_of_segments_end_quickly(tmp_path):
    # 300 000 empty APP11 segments: over the segment cap, so None, not a long walk.
    many = b"\xff\xeb\x00\x02" * 300_000
    assert _cut(tmp_path, b"\xff\xd8" + many + b"\xff\xd9", "image/jpeg") is None
    # A PNG of endless empty chunks, an MP4 of endless empty boxes.
    chunks = (b"\x00\x00\x00\x00tEXt\x00\x00\x00\x00") * 200_000
    assert _cut(tmp_path, b"\x89PNG\r\n\x1a\n" + chunks, "image/png") is None
    assert _cut(tmp_path, _box(b"free", b"") * 200_000, "video/mp4") is None


def test_a_zero_size_bmff_box_does_not_loop(tmp_path):
    assert _cut(tmp_path, b"\x00\x00\x00\x00free" + b"\x00" * 64, "video/mp4") is None


def test_a_store_over_the_cap_is_not_cut_out(tmp_path, monkeypatch):
    import verifier.embedded_store as module

    monkeypatch.setattr(module, "MAX_STORE_BYTES", 500)
    assert MAX_STORE_BYTES > 500
    assert _cut(tmp_path, _png(_store(1000)), "image/png") is None
    assert _cut(tmp_path, _jpeg(_store(1000)), "image/jpeg") is None
    assert _cut(tmp_path, _mp4(_store(1000)), "video/mp4") is None


def test_other_containers_and_things_that_are_no_store_are_none(tmp_path):
    assert _cut(tmp_path, _png(b"\x00" * 64), "image/png") is None
    assert _cut(tmp_path, _png(_store(10)), "image/gif") is None
    assert _cut(tmp_path, b"", "image/jpeg") is None


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("c2pa-node/tests/fixtures/CAICAI.jpg", "image/jpeg"),  # a store split across many APP11 segments
        ("c2pa-rs/sdk/tests/fixtures/video1.mp4", "video/mp4"),
        ("c2pa-rs/sdk/tests/fixtures/video1_no_manifest.mp4", "video/mp4"),
    ],
)
def test_third_party_files_give_stores_the_engine_reads(shared_dir, name, media_type):
    from verifier.manifest_store import read_manifest_store

    store = embedded_manifest_store(shared_dir / "corpus" / name, media_type)
    if "no_manifest" in name:
        assert store is None
        return
    assert store is not None
    contents = read_manifest_store(store)
    assert contents is not None and contents.active_manifest
