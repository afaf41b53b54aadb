"""A signed video's key frames are bindings of its repository entry: a re-encoded copy's key frames, or
a still taken from it, find the entry with candidates_near. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64

import pytest

from app.objects.local import LocalFolderStore
from app.objects.location import parse_object_uri
from app.objects.router import ObjectStores
from app.store.repository import ISCC_ALG, MAX_BINDINGS_PER_ENTRY
from app.usecases.manifest_repository import ManifestKeeper, soft_bindings
from app.usecases.signing import SignAndRecord, SignedOutput, SignRequest
from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest
from tests.videos import frame_at, reencode, write_scenes_video
from verifier.fingerprint import SEARCH_RADIUS, fingerprint_decoded
from verifier.manifest_store import SoftBindingValue, Timespan, read_manifest_store, soft_binding_values
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.video_fingerprint import fingerprint_video

TENANT = "tenant-a"


@pytest.fixture(scope="module")
def signed_video(signing_key, dev_credentials, tmp_path_factory):
    """A short video signed by originmark, its verdict, and the signer's result."""
    folder = tmp_path_factory.mktemp("video")
    source = write_scenes_video(folder / "scenes.mp4", size=(320, 240))
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
    try:
        result = signer.sign_file(
            source=source, destination=folder / "signed.mp4", request=GenerationRequest(generator_name="Acme Video")
        )
    finally:
        signer.close()
    verdict = Verifier(policy=default_trust_policy(local_anchors_pem=dev_credentials.ca_pem)).verify_file(
        result.destination
    )
    return result, verdict


def _record(store, tmp_path, result, verdict) -> None:
    objects = ObjectStores(local=LocalFolderStore(root=tmp_path / "objects"), s3=None)
    keeper = ManifestKeeper(
        repository=store.repository,
        objects=objects,
        own_objects=parse_object_uri((tmp_path / "objects").as_uri() + "/"),
    )
    signing = SignAndRecord(store=store, keeper=keeper, trust_fingerprint="t", certificate_fingerprint=lambda: "c" * 64)
    output = SignedOutput(
        input_sha256="a" * 64,
        output_sha256=verdict.sha256,
        manifest_label=result.manifest_label,
        certificate_fingerprint=None,
        manifest_store=result.manifest_store,
        fingerprint=result.soft_binding,
    )
    request = SignRequest(tenant=TENANT, key_id=None, generation=GenerationRequest(generator_name="Acme Video"))
    signing.record(request, output, verdict)


def test_the_key_frame_bindings_made_from_the_fingerprint_are_those_the_store_declares(store, signed_video, tmp_path):
    result, _verdict = signed_video
    keeper = ManifestKeeper(
        repository=store.repository,
        objects=ObjectStores(local=LocalFolderStore(root=tmp_path / "objects"), s3=None),
        own_objects=parse_object_uri((tmp_path / "objects").as_uri() + "/"),
    )
    made = keeper.signed_entry(
        tenant=TENANT,
        manifest_id=result.manifest_label,
        asset_sha256="b" * 64,
        manifest_store=result.manifest_store,
        fingerprint=result.soft_binding,
    )
    declared = read_manifest_store(result.manifest_store)
    assert declared is not None
    assert [(b.alg, b.value) for b in made.bindings] == list(
        dict.fromkeys((value.alg, value.value) for value in declared.soft_bindings)
    )


def test_a_reencoded_copy_and_a_still_find_the_signed_video(store, signed_video, tmp_path):
    result, verdict = signed_video
    _record(store, tmp_path, result, verdict)
    entry = store.repository.entry_by_manifest_id(TENANT, result.manifest_label)
    original = fingerprint_video(result.destination)  # the signed output shows the source's frames
    # The Video-Code first (its 64 bits in the index's Video-Code key space, no descriptor), then
    # each key frame's Image-Code with its descriptor for the second check.
    video_code, *key_frames = entry.bindings
    assert original.video_code is not None and video_code.value == original.video_code.iscc_digest
    assert video_code.code64 == original.video_code.code64 and video_code.descriptor is None
    assert [(b.code64, b.descriptor) for b in key_frames] == [
        (f.fingerprint.code64, f.fingerprint.descriptor) for f in original.key_frames
    ]
    assert {binding.alg for binding in entry.bindings} == {ISCC_ALG}

    # What a platform does: another codec, a lower bitrate, a smaller size, key frames elsewhere.
    copy = reencode(result.destination, tmp_path / "copy.mp4", size=(176, 132), bit_rate=120_000, gop=7)
    copy_frames = fingerprint_video(copy).key_frames
    assert [frame.start_ms for frame in copy_frames] != [frame.start_ms for frame in original.key_frames]
    for frame in copy_frames:
        candidates = store.repository.candidates_near(frame.fingerprint.code64, SEARCH_RADIUS, TENANT)
        assert candidates, frame.start_ms
        nearest = candidates[0]
        assert nearest.manifest_id == result.manifest_label
        # ... through the key frame of the same scene (one scene per second).
        assert nearest.code64 == original.key_frames[frame.start_ms // 1000].fingerprint.code64

    still = fingerprint_decoded(frame_at(copy, 2.5))  # a screenshot in the middle of the third scene
    (candidate,) = store.repository.candidates_near(still.code64, SEARCH_RADIUS, TENANT)
    assert candidate.manifest_id == result.manifest_label
    assert candidate.code64 == original.key_frames[2].fingerprint.code64


def test_timespans_are_read_and_values_kept_once():
    value = base64.b64encode(bytes([0x21, 0x01]) + bytes(range(8))).decode()
    other = base64.b64encode(bytes([0x21, 0x01]) + bytes(range(1, 9))).decode()
    data = {
        "alg": ISCC_ALG,
        "blocks": [
            {"scope": {"timespan": {"start": 0, "end": 999}}, "value": value},
            {"scope": {"timespan": {"start": 1000, "end": 1999}}, "value": value},  # a still scene: the same code
            {"scope": {"timespan": {"start": 2000, "end": 1000}}, "value": other},  # malformed span: value kept
            {"scope": {"timespan": {"start": "0", "end": True}}, "value": other},
        ],
    }
    values = soft_binding_values(data)
    assert [v.timespan for v in values] == [
        Timespan(start_ms=0, end_ms=999),
        Timespan(start_ms=1000, end_ms=1999),
        None,
        None,
    ]
    bindings = soft_bindings(values)
    assert [binding.value for binding in bindings] == [base64.b64decode(value), base64.b64decode(other)]


def test_at_most_the_bindings_an_entry_holds():
    values = tuple(
        SoftBindingValue(alg=ISCC_ALG, value=bytes([0x21, 0x01]) + index.to_bytes(8, "big")) for index in range(40)
    )
    bindings = soft_bindings(values)
    assert len(bindings) == MAX_BINDINGS_PER_ENTRY
    assert [binding.code64 for binding in bindings] == list(range(MAX_BINDINGS_PER_ENTRY))


def test_the_signed_output_carries_the_frames_of_its_source(signed_video):
    """The engine does not re-encode: the signed file's key frames are the source's."""
    result, _ = signed_video
    assert fingerprint_video(result.destination) == fingerprint_video(result.source)
