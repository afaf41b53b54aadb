"""Large BMFF sources are signed with a Merkle-tree hash over `mdat` (SignerOptions.merkle_bmff_from_bytes):
the output verifies trusted, a changed byte in the media data is caught, smaller files and other
formats keep the plain hash. (Memory: bench/large_video_bench.py; the tree keeps the engine from
holding two 256 MB hash buffers on a 2 GB video.)"""

from __future__ import annotations

import pytest

from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest

from .conftest import FIXTURE_MEDIA

REQUEST = GenerationRequest(generator_name="merkle test")


def _bmff_hash(read) -> dict:
    """The active manifest's BMFF hard-binding assertion (c2pa.hash.bmff.v3 in crJSON)."""
    assertions = read.crjson["manifests"][0]["assertions"]
    found = [data for label, data in assertions.items() if label.startswith("c2pa.hash.bmff")]
    assert len(found) == 1, list(assertions)
    return found[0]


def _top_level_box(data: bytes, kind: bytes) -> tuple[int, int]:
    """(offset, payload size) of the first top-level box of this type (32-bit sizes: small files)."""
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        if data[offset + 4 : offset + 8] == kind:
            return offset, size - 8
        offset += size
    raise AssertionError(f"no top-level {kind!r} box")


@pytest.fixture(scope="module")
def merkle_signer(signing_key):
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions(merkle_bmff_from_bytes=0))
    yield signer
    signer.close()


@pytest.mark.parametrize(("name", "mime"), [("tiny.mp4", "video/mp4"), ("tiny.mov", "video/quicktime")])
def test_a_bmff_source_over_the_threshold_gets_a_merkle_hash_and_verifies_trusted(
    merkle_signer, read_back, tmp_path, name, mime
):
    output = tmp_path / name
    merkle_signer.sign_file(source=FIXTURE_MEDIA / name, destination=output, request=REQUEST)
    read = read_back(output, mime=mime)
    assert read.state == "Trusted", read.failures
    assert _bmff_hash(read).get("merkle"), _bmff_hash(read)


def test_a_changed_byte_in_the_media_data_is_caught(merkle_signer, read_back, tmp_path):
    output = tmp_path / "signed.mp4"
    merkle_signer.sign_file(source=FIXTURE_MEDIA / "tiny.mp4", destination=output, request=REQUEST)
    data = bytearray(output.read_bytes())
    start, size = _top_level_box(bytes(data), b"mdat")
    data[start + 8 + size // 2] ^= 0xFF  # a byte of the media itself
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    read = read_back(tampered, mime="video/mp4")
    assert read.state == "Invalid"
    assert any("bmffHash.mismatch" in failure.get("code", "") for failure in read.failures), read.failures


def test_below_the_threshold_and_for_other_formats_the_plain_hash_stays(signing_key, read_back, tmp_path, make_jpeg):
    size = (FIXTURE_MEDIA / "tiny.mp4").stat().st_size
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions(merkle_bmff_from_bytes=size + 1))
    try:
        output = tmp_path / "plain.mp4"
        signer.sign_file(source=FIXTURE_MEDIA / "tiny.mp4", destination=output, request=REQUEST)
        read = read_back(output, mime="video/mp4")
        assert read.state == "Trusted" and not _bmff_hash(read).get("merkle")
    finally:
        signer.close()
    # A JPEG under a zero threshold: not BMFF, so no BMFF hash at all (its data hash as always).
    jpeg = make_jpeg(tmp_path / "a.jpg")
    signed_jpeg = tmp_path / "signed.jpg"
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions(merkle_bmff_from_bytes=0))
    try:
        signer.sign_file(source=jpeg, destination=signed_jpeg, request=REQUEST)
    finally:
        signer.close()
    assert read_back(signed_jpeg, mime="image/jpeg").state == "Trusted"


def test_the_default_threshold_is_512_mib():
    assert SignerOptions().merkle_bmff_from_bytes == 512 * 1024**2
