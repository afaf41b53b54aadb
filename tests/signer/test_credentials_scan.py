"""The signer's cheap look for Content Credentials (signer/credentials_scan.py) never says "none"
where the engine finds some: checked against the engine over every signable file of the shared
corpus, over layouts built from a real credentialed JPEG (including where the engine's parser does
and does not look), and over malformed files, which are signed or refused exactly as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import c2pa
import pytest
from PIL import Image

import signer.engine
from signer.credentials_scan import certainly_without_credentials
from signer.errors import SigningError, UnsupportedFormat
from signer.formats import JPEG, PNG, detect_format
from signer.manifest import GenerationRequest, PriorCredentials

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
REQUEST = GenerationRequest(generator_name="Acme Upscaler", generator_version="3.0")
# An independent reader: the plain engine, fetching nothing.
_PLAIN = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})


def _engine_answer(content_signer, path: Path, media_format, monkeypatch) -> bool:
    """What the signer answered before the scan existed: the engine's Reader alone."""
    with monkeypatch.context() as patched:
        patched.setattr(signer.engine, "certainly_without_credentials", lambda *_: False)
        return content_signer._carries_credentials(path, media_format)


def _signable(corpus: Path) -> list[Path]:
    files = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "index.json"):
        try:
            detect_format(path)
        except (UnsupportedFormat, SigningError):
            continue
        files.append(path)
    return files


def test_the_scan_agrees_with_the_engine_on_every_signable_corpus_file(content_signer, shared_dir, monkeypatch):
    corpus = shared_dir / "corpus"
    files = _signable(corpus)
    assert len(files) > 140
    certain = []
    for path in files:
        media_format = detect_format(path)
        engine = _engine_answer(content_signer, path, media_format, monkeypatch)
        if certainly_without_credentials(path, media_format):
            certain.append(path.relative_to(corpus).as_posix())
            assert not engine, f"{path}: the scan said no credentials, the engine found some"
        assert content_signer._carries_credentials(path, media_format) == engine, path
    # Credentialed JPEGs of every kind stay with the engine (a store, a remote manifest, a broken store).
    credentialed = {
        FIREFLY,
        "c2pa-rs/sdk/tests/fixtures/cloud.jpg",  # only an XMP dcterms:provenance URL
        "c2pa-js-legacy/tools/testing/fixtures/images/E-clm-CAICAI.jpg",
        "c2pa-rs/sdk/tests/fixtures/XCA.jpg",
    }
    assert not credentialed & set(certain)
    # ...and the plain photos are answered without it (the scan is what makes them cheap).
    assert {"c2pa-rs/cli/tests/fixtures/earth_apollo17.jpg", "public-testfiles/image/jpeg/adobe-20220124-A.jpg"} <= set(
        certain
    )


def _segments(jpeg: bytes) -> tuple[list[bytes], list[bytes], bytes]:
    """(header segments but APP11, the APP11 segments, the rest from SOS) of a plain JPEG."""
    position = 2
    kept: list[bytes] = []
    app11: list[bytes] = []
    while jpeg[position + 1] != 0xDA:
        length = int.from_bytes(jpeg[position + 2 : position + 4], "big")
        segment = jpeg[position : position + 2 + length]
        (app11 if jpeg[position + 1] == 0xEB else kept).append(segment)
        position += 2 + length
    return kept, app11, jpeg[position:]


def _layouts(original: bytes) -> dict[str, bytes]:
    kept, app11, scan = _segments(original)
    store = b"".join(app11)
    head = b"\xff\xd8" + b"".join(kept)
    sos_end = 2 + int.from_bytes(scan[2:4], "big")
    return {
        "original": original,
        "stripped": head + scan,
        "store after the SOS header": head + scan[:sos_end] + store + scan[sos_end:],
        "store before EOI": head + scan[:-2] + store + b"\xff\xd9",
        "store after EOI": head + scan + store,
        "a junk byte before the store": head + b"\x00" + store + scan,
        "a fill byte before the store": head + b"\xff" + store + scan,
        "store first": b"\xff\xd8" + store + b"".join(kept) + scan,
        "truncated in the headers": (head + store + scan)[: len(head) + 100],
    }


@pytest.mark.parametrize(
    "layout",
    [
        "original",
        "stripped",
        "store after the SOS header",
        "store before EOI",
        "store after EOI",
        "a junk byte before the store",
        "a fill byte before the store",
        "store first",
        "truncated in the headers",
    ],
)
def test_layouts_of_a_credentialed_jpeg(content_signer, shared_dir, tmp_path, monkeypatch, layout):
    """Where the engine's parser looks (up to the first SOS, past junk bytes), the scan says "maybe";
    a store after the SOS is found by neither: should an engine update read it, this fails."""
    path = tmp_path / "layout.jpg"
    path.write_bytes(_layouts((shared_dir / "corpus" / FIREFLY).read_bytes())[layout])
    engine = _engine_answer(content_signer, path, JPEG, monkeypatch)
    certain = certainly_without_credentials(path, JPEG)
    expected_engine = layout in (
        "original",
        "a junk byte before the store",
        "a fill byte before the store",
        "store first",
    )
    assert engine is expected_engine
    assert certain is (layout in ("stripped", "store after the SOS header", "store before EOI", "store after EOI"))
    assert content_signer._carries_credentials(path, JPEG) is engine


def test_an_xmp_provenance_reference_is_left_to_the_engine(tmp_path):
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:dcterms="http://purl.org/dc/terms/" '
        b'dcterms:provenance="https://example.com/m.c2pa"/></rdf:RDF></x:xmpmeta>'
    )
    plain, referenced = tmp_path / "plain.jpg", tmp_path / "referenced.jpg"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(plain, "JPEG")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(referenced, "JPEG", xmp=xmp)
    assert certainly_without_credentials(plain, JPEG)
    assert not certainly_without_credentials(referenced, JPEG)


def test_other_formats_and_unreadable_files_are_left_to_the_engine(tmp_path):
    png = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(png, "PNG")
    assert not certainly_without_credentials(png, PNG)
    assert not certainly_without_credentials(tmp_path / "missing.jpg", JPEG)


def _outcome(content_signer, source: Path, destination: Path) -> tuple[str, str]:
    try:
        result = content_signer.sign_file(source=source, destination=destination, request=REQUEST)
    except SigningError as error:
        return type(error).__name__, str(error)
    with destination.open("rb") as stream, c2pa.Reader("image/jpeg", stream, context=_PLAIN) as reader:
        manifests = len(json.loads(reader.json())["manifests"])
    return result.prior_credentials.value, f"{manifests} manifests"


def _malformed(tmp_path: Path, shared_dir: Path) -> dict[str, bytes]:
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(photo, "JPEG")
    good = photo.read_bytes()
    firefly = (shared_dir / "corpus" / FIREFLY).read_bytes()
    kept, app11, scan = _segments(firefly)
    return {
        "header cut short": good[:30],
        "entropy data cut short": good[: len(good) // 2],
        "no SOS": good[: good.index(b"\xff\xda")] + b"\xff\xd9",
        "a segment longer than the file": good[:2] + b"\xff\xe0\xff\xf0" + good[6:],
        "an APP11 that is no store": good[:2] + b"\xff\xeb\x00\x20JP" + bytes(28) + good[2:],
        "a store behind a junk byte": b"\xff\xd8" + b"".join(kept) + b"\x00" + b"".join(app11) + scan,
    }


@pytest.mark.parametrize(
    "case",
    [
        "header cut short",
        "entropy data cut short",
        "no SOS",
        "a segment longer than the file",
        "an APP11 that is no store",
        "a store behind a junk byte",
    ],
)
def test_malformed_jpegs_are_signed_or_refused_as_before(content_signer, shared_dir, tmp_path, monkeypatch, case):
    source = tmp_path / "in.jpg"
    source.write_bytes(_malformed(tmp_path, shared_dir)[case])
    (tmp_path / "new").mkdir()
    (tmp_path / "old").mkdir()
    now = _outcome(content_signer, source, tmp_path / "new" / "out.jpg")
    with monkeypatch.context() as patched:
        patched.setattr(signer.engine, "certainly_without_credentials", lambda *_: False)
        before = _outcome(content_signer, source, tmp_path / "old" / "out.jpg")
    assert now == before
    if case == "a store behind a junk byte":
        assert now[0] in (PriorCredentials.KEPT.value, "PriorCredentialsUnusable")  # never dropped


def test_a_plain_photo_is_signed_without_the_engine_lookup(content_signer, tmp_path, monkeypatch):
    source = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(source, "JPEG")
    shutil.copyfile(source, tmp_path / "copy.jpg")

    def no_lookup(*_args, **_kwargs):
        raise AssertionError("the engine was asked")

    with monkeypatch.context() as patched:
        patched.setattr(c2pa.Reader, "try_create", no_lookup)
        result = content_signer.sign_file(source=source, destination=tmp_path / "out.jpg", request=REQUEST)
    assert result.prior_credentials is PriorCredentials.NONE
    with (tmp_path / "out.jpg").open("rb") as stream, c2pa.Reader("image/jpeg", stream, context=_PLAIN) as reader:
        assert len(json.loads(reader.json())["manifests"]) == 1
