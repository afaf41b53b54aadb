"""Recovery on verify for video, end to end over HTTP with the real engine: a signed video that a
platform re-encoded (the FFmpeg imageio-ffmpeg ships: another codec, bitrate and size, key frames
elsewhere, metadata and credentials gone) is matched to its kept manifest store by its key frames,
each candidate passing the descriptor check kept with the signed video's key frame.

And nothing recovers when it must not: an unrelated video, a video with its own valid credentials.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.videos import cut_copy, ffmpeg_copy, write_scenes_video

from .helpers import BACKENDS, ApiKeys, backend_database, sign_form

RECOVERED_TEXT = "AI-generated · credentials found by content match"


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Recovery reads the repository's search and visibility: on SQLite and on PostgreSQL."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


def sign(client: httpx.Client, headers: dict[str, str], video: Path) -> httpx.Response:
    files = {"file": (video.name, video.read_bytes(), "video/mp4")}
    response = client.post("/v1/sign", headers=headers, files=files, data=sign_form())
    assert response.status_code == 200, response.text
    return response


def verify(client: httpx.Client, headers: dict[str, str], data: bytes, **form: str) -> dict:
    response = client.post("/v1/verify", headers=headers, files={"file": ("copy.mp4", data, "video/mp4")}, data=form)
    assert response.status_code == 200, response.text
    return response.json()


def platform_copy(signed: bytes, folder: Path, *, width: int = 176, bit_rate: str = "150k") -> bytes:
    """What a platform does to an upload, with the FFmpeg imageio-ffmpeg ships: decoded, scaled, encoded
    again (MPEG-4 Part 2 at another bitrate, a key frame every 7 frames), every metadata box dropped."""
    return ffmpeg_copy(signed, folder, ["-vf", f"scale={width}:-2", "-c:v", "mpeg4", "-b:v", bit_rate, "-g", "7"])


def test_a_re_encoded_copy_recovers_its_manifest_and_label(client, api_keys, tmp_path):
    source = write_scenes_video(tmp_path / "scenes.mp4", size=(320, 240))
    signed = sign(client, ApiKeys.header(api_keys.sign), source)
    manifest_id = signed.headers["x-manifest-label"]
    copy = platform_copy(signed.content, tmp_path)

    body = verify(client, ApiKeys.header(api_keys.all), copy, media_id="clip-1")

    assert (body["verdict"]["state"], body["verdict"]["manifests"]) == ("none", [])  # the copy's own: nothing
    recovered = body["verdict"]["recovered"]
    assert {name: recovered[name] for name in ("manifest_id", "matched_sha256", "alg", "state")} == {
        "manifest_id": manifest_id,
        "matched_sha256": signed.headers["x-content-sha256"],  # the signed video's, not the copy's
        "alg": "io.iscc.v0",
        "state": "trusted",
    }
    assert body["sha256"] != recovered["matched_sha256"] and recovered["signed_at"] is not None
    # A key frame's code within the radius, then its descriptor over the threshold.
    assert (
        recovered["distance"] <= 10 and 0.92 <= recovered["similarity"] <= 1.0 and "key frames" in recovered["reason"]
    )
    assert (body["label"]["kind"], body["label"]["recovered"], body["label"]["text"]) == (
        "ai_generated",
        True,
        RECOVERED_TEXT,
    )


def test_an_unrelated_video_never_recovers(client, api_keys, tmp_path):
    for number, seeds in enumerate(((11, 22, 33, 44), (1, 2, 3, 4))):
        sign(client, ApiKeys.header(api_keys.sign), write_scenes_video(tmp_path / f"{number}.mp4", seeds=seeds))
    unrelated = write_scenes_video(tmp_path / "other.mp4", seeds=(5, 6, 7, 8), size=(320, 240))
    body = verify(client, ApiKeys.header(api_keys.verify), platform_copy(unrelated.read_bytes(), tmp_path))
    assert body["verdict"]["state"] == "none" and body["verdict"]["recovered"] is None
    assert body["label"]["recovered"] is False and body["label"]["text"] == "No Content Credentials"


def test_a_video_with_its_own_valid_credentials_is_never_recovered(client, api_keys, tmp_path):
    signed = sign(client, ApiKeys.header(api_keys.sign), write_scenes_video(tmp_path / "scenes.mp4"))
    body = verify(client, ApiKeys.header(api_keys.verify), signed.content)
    assert body["verdict"]["state"] == "trusted" and body["verdict"]["recovered"] is None
    assert body["label"]["recovered"] is False and body["label"]["text"] == "AI-generated"


def test_a_still_taken_from_the_video_recovers_it_too(client, api_keys, tmp_path):
    """A key frame's descriptor is kept like an image's: a screenshot of a signed video finds it."""
    import io

    from tests.videos import frame_at

    signed = sign(client, ApiKeys.header(api_keys.sign), write_scenes_video(tmp_path / "scenes.mp4", size=(320, 240)))
    (tmp_path / "signed.mp4").write_bytes(signed.content)
    still = io.BytesIO()
    frame_at(tmp_path / "signed.mp4", 2.5).save(still, "JPEG", quality=85)  # mid-scene, between key frames
    response = client.post(
        "/v1/verify",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("still.jpg", still.getvalue(), "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["verdict"]["recovered"]["manifest_id"] == signed.headers["x-manifest-label"]


def test_a_cut_copy_its_key_frames_miss_is_recovered_by_its_video_code(client, api_keys, store, tmp_path):
    """A copy cut by 1 s (bench/video_fingerprint_bench.py's hard case: 640x360, panning scenes): no key
    frame of it passes the key-frame lookup (its nearest key frame's descriptor is under
    DESCRIPTOR_THRESHOLD), so its Video-Code is searched: near the signed video's, confirmed by the
    key frames' best similarity (at least VIDEO_CODE_THRESHOLD). The SBR API's byContent finds it the
    same way. Another tenant finds it while it is public, never once it is private."""
    from app.store.interface import DEFAULT_TENANT, Scope
    from app.usecases.video_code_match import VIDEO_CODE_RADIUS, VIDEO_CODE_THRESHOLD
    from verifier.fingerprint import DESCRIPTOR_THRESHOLD

    source = write_scenes_video(
        tmp_path / "scenes.mp4", seeds=(0, 1), size=(640, 360), fps=30, frames_per_scene=90, gop=60, grain=0.15, pan=2
    )
    signed = sign(client, ApiKeys.header(api_keys.sign), source)
    manifest_id = signed.headers["x-manifest-label"]
    copy = cut_copy(signed.content, tmp_path, cut_seconds=1)

    body = verify(client, ApiKeys.header(api_keys.verify), copy)
    recovered = body["verdict"]["recovered"]
    assert recovered is not None and recovered["manifest_id"] == manifest_id and recovered["state"] == "trusted"
    # Found by the Video-Code (its distance), confirmed under the key-frame lookup's own threshold.
    assert 0 < recovered["distance"] <= VIDEO_CODE_RADIUS
    assert VIDEO_CODE_THRESHOLD <= recovered["similarity"] < DESCRIPTOR_THRESHOLD
    assert body["label"]["recovered"] is True

    resolver = ApiKeys.header(store.create_key(name="sbr", scopes=frozenset({Scope.SBR}))[1])
    by_content = client.post(
        "/sbr/v1/matches/byContent", content=copy, headers={**resolver, "Content-Type": "video/mp4"}
    )
    assert by_content.status_code == 200, by_content.text
    score = int(recovered["similarity"] * 100)
    assert by_content.json() == {"matches": [{"manifestId": manifest_id, "similarityScore": score}]}

    store.create_tenant("tenant-b")
    other_tenant = ApiKeys.header(store.create_key(name="b", scopes=frozenset({Scope.VERIFY}), tenant="tenant-b")[1])
    assert verify(client, other_tenant, copy)["verdict"]["recovered"]["manifest_id"] == manifest_id  # public
    assert store.repository.set_private(DEFAULT_TENANT, manifest_id, True, actor="test")
    assert verify(client, other_tenant, copy)["verdict"]["recovered"] is None
    assert verify(client, ApiKeys.header(api_keys.verify), copy)["verdict"]["recovered"]["manifest_id"] == manifest_id


def test_the_video_code_step_waits_for_a_place_in_the_verify_limiter(
    make_settings, store, worker_pools, app_switch, api_keys, tmp_path, monkeypatch
):
    """A credential-less video whose key frames find nothing has its Video-Code computed (seconds of
    FFmpeg in a verifier worker): that engine call holds a place in the verify limiter, as a
    verification does, so it never takes a verifier worker from one that waits for it."""
    from app.api.main import create_app

    switch, http = app_switch
    app = create_app(make_settings(), store=store, worker_pools=worker_pools)
    places_taken: list[float] = []
    video_code_file = worker_pools.verifier.video_code_file

    def observed(path: Path):
        places_taken.append(app.state.services.verify_limiter.borrowed_tokens)
        return video_code_file(path)

    monkeypatch.setattr(worker_pools.verifier, "video_code_file", observed)
    video = write_scenes_video(tmp_path / "plain.mp4", size=(160, 120))
    with switch.installed(app):
        body = verify(http, ApiKeys.header(api_keys.verify), video.read_bytes())
        assert app.state.services.verify_limiter.borrowed_tokens == 0  # given back

    assert (body["verdict"]["state"], body["verdict"]["recovered"]) == ("none", None)
    assert places_taken == [1]  # the Video-Code was asked for, with its place held
