"""The c2pa.soft-binding assertion of a video: its ISCC Video-Code (the whole asset), then one block per
fingerprinted key frame, scoped to its timespan."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from signer.engine import ContentSigner, SignerOptions
from signer.formats import FINGERPRINTED_VIDEO_FORMATS
from signer.manifest import SOFT_BINDING_LABEL, GenerationRequest
from tests.videos import write_scenes_video
from verifier.fingerprint import ALG
from verifier.label import label_for
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.video_fingerprint import fingerprint_video

REQUEST = GenerationRequest(generator_name="Acme Video", generator_version="3.0")


def soft_bindings(manifest: dict) -> list[dict]:
    return [value for label, value in manifest["assertions"].items() if label.startswith(SOFT_BINDING_LABEL)]


def expected_blocks(source: Path) -> list[dict]:
    fingerprint = fingerprint_video(source)
    assert fingerprint.video_code is not None and fingerprint.video_code.end_ms is None  # short: the whole video
    return [{"scope": {}, "value": base64.b64encode(fingerprint.video_code.iscc_digest).decode("ascii")}] + [
        {
            "scope": {"timespan": {"start": frame.start_ms, "end": frame.end_ms}},
            "value": base64.b64encode(frame.fingerprint.iscc_digest).decode("ascii"),
        }
        for frame in fingerprint.key_frames
    ]


@pytest.fixture(scope="module")
def scenes_mp4(tmp_path_factory) -> Path:
    return write_scenes_video(tmp_path_factory.mktemp("video") / "scenes.mp4")


def test_a_video_carries_one_block_per_key_frame(content_signer, scenes_mp4, read_back, tmp_path):
    result = content_signer.sign_file(source=scenes_mp4, destination=tmp_path / "out.mp4", request=REQUEST)
    report = read_back(result.destination, mime="video/mp4")
    assert report.state == "Trusted", report.failures
    (assertion,) = soft_bindings(report.manifest)
    assert assertion["alg"] == ALG
    # Four scenes of 1 s, a key frame at each: twelve points fall on four key frames.
    assert assertion["blocks"] == expected_blocks(scenes_mp4)
    video_code = base64.b64decode(assertion["blocks"][0]["value"])
    assert video_code[0] == 0x23 and len(video_code) == 10  # an ISCC unit: CONTENT, VIDEO; 64 bits
    assert [block["scope"].get("timespan") for block in assertion["blocks"]] == [
        None,  # the Video-Code: the whole asset
        {"start": 0, "end": 999},
        {"start": 1000, "end": 1999},
        {"start": 2000, "end": 2999},
        {"start": 3000, "end": 4000},
    ]
    created = [entry["url"] for entry in report.manifest["claim.v2"]["created_assertions"]]
    assert any(url.endswith("/" + SOFT_BINDING_LABEL) for url in created)
    # What the repository keeps: the very fingerprint written, each key frame with its descriptor.
    assert result.soft_binding == fingerprint_video(scenes_mp4)


@pytest.mark.parametrize("name", sorted(f.name for f in FINGERPRINTED_VIDEO_FORMATS))
def test_every_fingerprinted_video_format(content_signer, media_samples, read_back, tmp_path, name):
    source = media_samples[name]
    result = content_signer.sign_file(source=source, destination=tmp_path / source.name, request=REQUEST)
    report = read_back(result.destination, mime=result.format.mime)
    assert report.state == "Trusted", report.failures
    (assertion,) = soft_bindings(report.manifest)
    assert assertion["blocks"] == expected_blocks(source)
    assert len(assertion["blocks"]) == 1 + 5  # the fixtures: the Video-Code, five key frames of 0.1 s


def test_the_label_is_the_same_with_and_without(signing_key, dev_credentials, scenes_mp4, tmp_path):
    verifier = Verifier(policy=default_trust_policy(local_anchors_pem=dev_credentials.ca_pem))
    labels = []
    for soft_binding in (True, False):
        signer = ContentSigner(signing_key=signing_key, options=SignerOptions(soft_binding=soft_binding))
        try:
            result = signer.sign_file(source=scenes_mp4, destination=tmp_path / f"{soft_binding}.mp4", request=REQUEST)
        finally:
            signer.close()
        verdict = verifier.verify_file(result.destination)
        assert verdict.state.value == "trusted"
        labels.append(label_for(verdict))
    assert labels[0] == labels[1]
    assert labels[0].kind.value == "ai_generated"


def test_a_video_ffmpeg_cannot_decode_is_signed_without_a_soft_binding(content_signer, scenes_mp4, read_back, tmp_path):
    """The engine only hashes the boxes; frames FFmpeg cannot decode leave the video unfingerprinted, not unsigned."""
    data = bytearray(scenes_mp4.read_bytes())
    mdat = data.index(b"mdat") + 4
    size = int.from_bytes(data[mdat - 8 : mdat - 4], "big") - 8
    data[mdat : mdat + size] = bytes(size)  # every coded frame zeroed
    source = tmp_path / "blank.mp4"
    source.write_bytes(bytes(data))
    result = content_signer.sign_file(source=source, destination=tmp_path / "out.mp4", request=REQUEST)
    report = read_back(result.destination, mime="video/mp4")
    assert report.state == "Trusted", report.failures
    assert soft_bindings(report.manifest) == []
