"""Fixtures for signer tests: a ContentSigner on the session's development key, one small
real file per supported format, and a reader that verifies output under the development CA.

Media that Pillow (a project dependency), `wave` or plain text can make are made here;
the rest (MP4, MOV, M4A, MP3, FLAC, AVI, HEIC) are tiny committed files in
tests/fixtures/media (see SOURCES.md there).
"""

from __future__ import annotations

import datetime
import json
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from PIL import Image

from keys.algorithms import SigningAlgorithm
from keys.signing_key import SigningKey
from signer.engine import ContentSigner, SignerOptions
from signer.engine_settings import probe_verification_settings

FIXTURE_MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"

# Format name (signer.formats) -> committed fixture file.
COMMITTED_MEDIA = {
    "HEIC": "tiny.heic",
    "MP4": "tiny.mp4",
    "MOV": "tiny.mov",
    "M4A": "tiny.m4a",
    "MP3": "tiny.mp3",
    "FLAC": "tiny.flac",
    "AVI": "tiny.avi",
}

# Format name -> (Pillow format, file name).
PILLOW_MEDIA = {
    "JPEG": ("JPEG", "gen.jpg"),
    "PNG": ("PNG", "gen.png"),
    "WebP": ("WEBP", "gen.webp"),
    "GIF": ("GIF", "gen.gif"),
    "TIFF": ("TIFF", "gen.tif"),
    "AVIF": ("AVIF", "gen.avif"),
    "PDF": ("PDF", "gen.pdf"),
}

SVG_TEXT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<!-- made by the originmark tests -->\n"
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">'
    '<rect width="16" height="16" fill="#c33"/></svg>\n'
)


def gradient_image(size: tuple[int, int] = (24, 24)) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    image.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    return image


def write_wav(path: Path, *, frames: int = 800) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10\x00\xf0" * (frames // 2))  # a square wave, 2 bytes per frame


def heif_from_heic(heic: bytes) -> bytes:
    """The HEIC fixture relabelled as a plain HEIF image (brands mif1/miaf only, same length)."""
    assert heic[4:8] == b"ftyp" and heic[8:12] == b"heic", "tiny.heic changed: update this helper"
    box_size = int.from_bytes(heic[0:4], "big")
    brands = bytearray(heic[:box_size])
    brands[8:12] = b"mif1"
    for offset in range(16, box_size, 4):
        brands[offset : offset + 4] = b"miaf"
    return bytes(brands) + heic[box_size:]


@pytest.fixture(scope="session")
def media_samples(tmp_path_factory) -> dict[str, Path]:
    """One small unsigned file per supported format, keyed by MediaFormat.name."""
    folder = tmp_path_factory.mktemp("media")
    samples: dict[str, Path] = {}
    image = gradient_image()
    for name, (pillow_format, file_name) in PILLOW_MEDIA.items():
        path = folder / file_name
        image.save(path, pillow_format)
        samples[name] = path
    samples["WAV"] = folder / "gen.wav"
    write_wav(samples["WAV"])
    samples["SVG"] = folder / "gen.svg"
    samples["SVG"].write_text(SVG_TEXT, encoding="utf-8")
    for name, file_name in COMMITTED_MEDIA.items():
        samples[name] = FIXTURE_MEDIA / file_name
    samples["HEIF"] = folder / "gen.heif"
    samples["HEIF"].write_bytes(heif_from_heic((FIXTURE_MEDIA / "tiny.heic").read_bytes()))
    return samples


@pytest.fixture(scope="session")
def content_signer(signing_key) -> ContentSigner:
    return ContentSigner(signing_key=signing_key, options=SignerOptions())


@pytest.fixture(scope="session")
def ca_pem(dev_credentials) -> str:
    return dev_credentials.ca_path.read_text()


@dataclass(frozen=True, kw_only=True)
class ReadBack:
    """What the engine reports about a signed file, verified under the development CA."""

    state: str | None
    failures: list[dict[str, Any]]
    crjson: dict[str, Any]
    active_manifest_label: str | None

    @property
    def manifest(self) -> dict[str, Any]:
        """The active manifest in crJSON form (what the C2PA rubrics evaluate)."""
        return self.crjson["manifests"][0]


@pytest.fixture(scope="session")
def read_back(ca_pem) -> Iterator[Callable[..., ReadBack]]:
    context = c2pa.Context.from_dict(probe_verification_settings(anchors_pem=ca_pem))

    def read(path: Path, *, mime: str, manifest_data: bytes | None = None) -> ReadBack:
        with path.open("rb") as stream:
            if manifest_data is None:
                reader = c2pa.Reader(mime, stream, context=context)
            else:
                reader = c2pa.Reader(mime, stream, manifest_data=manifest_data, context=context)
            with reader:
                results = reader.get_validation_results() or {}
                return ReadBack(
                    state=reader.get_validation_state(),
                    failures=(results.get("activeManifest") or {}).get("failure") or [],
                    crjson=json.loads(reader.crjson()),
                    active_manifest_label=json.loads(reader.json()).get("active_manifest"),
                )

    yield read
    context.close()


@pytest.fixture
def make_jpeg() -> Callable[..., Path]:
    """Write a small gradient JPEG to `path` (any name: the format comes from the bytes)."""

    def make(path: Path, *, size: tuple[int, int] = (24, 24)) -> Path:
        gradient_image(size).save(path, "JPEG")
        return path

    return make


C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")


def _test_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "originmark signer tests"),
        ]
    )


def _test_root(now: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_test_name("Signer Test Root"))
        .issuer_name(_test_name("Signer Test Root"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


@pytest.fixture
def make_signing_key() -> Callable[..., SigningKey]:
    """A SigningKey from a fresh test CA, built directly (bypassing keys.loader's checks, so
    the signer's own defences are what is tested). `wrong_root` puts an unrelated root last."""

    def make(*, ekus: list[ObjectIdentifier] | None = None, wrong_root: bool = False) -> SigningKey:
        now = datetime.datetime.now(datetime.UTC)
        root, root_key = _test_root(now)
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_test_name("Signer Test Signing Certificate"))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(ekus or [C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                critical=False,
            )
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        last = _test_root(now)[0] if wrong_root else root
        return SigningKey(algorithm=SigningAlgorithm.ES256, certificates=(leaf, last), private_key=key)

    return make
