"""The plain form of a fingerprint (verifier/fingerprint_plain.py): what a worker replies and a sign job
records, read back exactly, and anything malformed refused."""

from __future__ import annotations

import json

import pytest

from app.jobs.records import SignedOutput
from tests.videos import scene_picture, write_scenes_video
from verifier.fingerprint import fingerprint_decoded
from verifier.fingerprint_plain import from_plain, to_plain
from verifier.video_fingerprint import fingerprint_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return fingerprint_video(write_scenes_video(tmp_path_factory.mktemp("plain") / "scenes.mp4"))


def _through_a_sign_job_record(fingerprint):
    """The fingerprint a sign job's record (kept for a retry) gives back after its JSON round trip."""
    recorded = SignedOutput(
        output_sha256="a" * 64,
        source_sha256="b" * 64,
        manifest_label=None,
        certificate_fingerprint=None,
        fingerprint=fingerprint,
    )
    return SignedOutput.from_json(recorded.to_json()).fingerprint


def test_a_video_fingerprint_survives_json_and_a_sign_job_record(video):
    assert video.video_code is not None
    assert from_plain(json.loads(json.dumps(to_plain(video)))) == video
    assert _through_a_sign_job_record(video) == video


def test_an_image_keeps_the_form_sign_jobs_recorded_before_videos(video):
    image = video.key_frames[0].fingerprint
    assert set(to_plain(image)) == {"code64", "iscc", "descriptor"}
    assert from_plain(to_plain(image)) == image
    still = fingerprint_decoded(scene_picture(3, (64, 48)))
    assert from_plain(json.loads(json.dumps(to_plain(still)))) == still


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.update(key_frames=[]),
        lambda p: p.update(key_frames=p["key_frames"] * 5),  # more than 16
        lambda p: p["key_frames"][0].update(code64=p["key_frames"][0]["code64"] ^ 1),  # not its ISCC's
        lambda p: p["key_frames"][0].update(descriptor="AAAA"),
        lambda p: p["key_frames"][0].update(end_ms=-1),
        lambda p: p.update(complete="yes"),
        lambda p: p["video_code"].update(iscc=p["key_frames"][0]["iscc"]),  # an Image-Code as the Video-Code
        lambda p: p.update(width=True),
    ],
)
def test_a_malformed_form_is_refused(video, damage):
    plain = json.loads(json.dumps(to_plain(video)))
    damage(plain)
    with pytest.raises(ValueError):
        from_plain(plain)


def test_an_image_with_its_index_views_survives_json_and_a_sign_job_record():
    from verifier.fingerprint import INDEX_VIEWS

    signed = fingerprint_decoded(scene_picture(5, (96, 64)), views=INDEX_VIEWS)
    assert [code.view for code in signed.views] == list(INDEX_VIEWS)
    assert from_plain(json.loads(json.dumps(to_plain(signed)))) == signed
    assert _through_a_sign_job_record(signed) == signed


@pytest.mark.parametrize(
    "damage",
    [
        lambda views: views.append(dict(views[0])),  # a view twice
        lambda views: views[0].update(view="crop 50%"),
        lambda views: views[0].update(code64=-1),
        lambda views: views[0].update(code64="12"),
        lambda views: views[0].update(descriptor="AAAA"),
        lambda views: views.extend([dict(views[0])] * 10),
    ],
)
def test_malformed_views_are_refused(damage):
    from verifier.fingerprint import INDEX_VIEWS

    plain = to_plain(fingerprint_decoded(scene_picture(6, (96, 64)), views=INDEX_VIEWS))
    damage(plain["views"])
    with pytest.raises(ValueError):
        from_plain(plain)
