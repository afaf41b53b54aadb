"""The feed's signed thumbnails (issue 15, "the feed shows the media"), through real HTTP with the real
engine, on SQLite and PostgreSQL: made after a sign or verify answer for a tenant that turned them
on, signed by the renditions path (the original as parentOf ingredient), served to the tenant only
(or publicly, what it publishes), never when the setting is off, never failing the sign."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path

import anyio.to_thread
import pytest
from PIL import Image

import app.api.work as work_module
from app.store.interface import DEFAULT_TENANT, Scope
from tests.api.test_renditions import CAMERA, _camera_key, _renditions, _resized
from tests.api.test_renditions import _verify as _camera_verify
from tests.signer.test_conformance import spec_2_4_failures
from tests.verifier.hostile_assets import png_claiming_size
from tests.videos import frame_at, portrait_copy, write_scenes_video
from verifier.errors import UndecodableVideo
from verifier.thumbnail import MAX_SOURCE_PIXELS, NoThumbnail, make_picture
from verifier.video_fingerprint import VideoBounds, poster_frame

from .helpers import BACKENDS, ApiKeys, assert_error, backend_database, check_signed_thumbnail, jpeg_bytes, sign_form

ALL_SCOPES = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Everything here runs on SQLite and on PostgreSQL (the tenant is in every query)."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


def _sign(client, token, data: bytes, media_id: str, *, name="original.jpg", mime="image/jpeg", **fields: str):
    response = client.post(
        "/v1/sign",
        headers=ApiKeys.header(token),
        files={"file": (name, data, mime)},
        data=sign_form(media_id=media_id, **fields),
    )
    assert response.status_code == 200, response.text
    return response


def _thumbnail(client, media_id: str, *, token: str | None = None, tenant: str | None = None, wait: float = 20.0):
    """GET /v1/thumbnails/{media_id}, polled while 404 (it is made after the sign answer is sent)."""
    headers = ApiKeys.header(token) if token else {}
    url = f"/v1/thumbnails/{media_id}" + (f"?tenant={tenant}" if tenant else "")
    deadline = time.monotonic() + wait
    while True:
        response = client.get(url, headers=headers)
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 30, 128)).save(out, "PNG")
    return out.getvalue()


def test_a_signed_item_gets_a_signed_thumbnail_carrying_the_original(client, store, api_keys, plain_reader):
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    signed = _sign(client, api_keys.sign, jpeg_bytes((800, 600), seed=3), "pic-1")

    response = _thumbnail(client, "pic-1", token=api_keys.read)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-source-sha256"] == signed.headers["x-content-sha256"]
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "JPEG" and image.size == (320, 240)

    # The thumbnail is itself a signed file: a plain c2pa Reader sees the original as its parentOf.
    report, _ = plain_reader(response.content)
    assert report["validation_state"] == "Trusted", report.get("validation_results")
    assert len(report["manifests"]) == 2
    active = report["manifests"][report["active_manifest"]]
    [ingredient] = active["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == signed.headers["x-manifest-label"]
    actions = [a["action"] for a in active["assertions"][0]["data"]["actions"]]
    assert actions == ["c2pa.opened", "c2pa.resized.proportional"]

    # Recorded like a rendition (its label the original's), but not a feed item of its own.
    recent = client.get("/v1/labels/recent", headers=ApiKeys.header(api_keys.read)).json()["items"]
    assert [item["media_id"] for item in recent] == ["pic-1"]
    thumb_sha = hashlib.sha256(response.content).hexdigest()
    by_hash = client.get(f"/v1/verdicts/sha256/{thumb_sha}", headers=ApiKeys.header(api_keys.read))
    assert by_hash.status_code == 200, by_hash.text
    assert by_hash.json()["label"]["kind"] == "ai_generated"


def test_a_png_thumbnail_says_it_was_converted(client, store, api_keys, plain_reader):
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    _sign(client, api_keys.sign, _png((400, 200)), "png-1", name="a.png", mime="image/png")
    response = _thumbnail(client, "png-1", token=api_keys.read)
    assert response.status_code == 200, response.text
    report, _ = plain_reader(response.content)
    active = report["manifests"][report["active_manifest"]]
    actions = [a["action"] for a in active["assertions"][0]["data"]["actions"]]
    assert actions == ["c2pa.opened", "c2pa.resized.proportional", "c2pa.converted"]


def test_a_verified_item_gets_one_too(client, store, api_keys, plain_reader):
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    signed = _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=5), "signed-elsewhere")
    verified = client.post(
        "/v1/verify",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("v.jpg", signed.content, "image/jpeg")},
        data={"media_id": "verified-1"},
    )
    assert verified.status_code == 200, verified.text
    response = _thumbnail(client, "verified-1", token=api_keys.read)
    assert response.status_code == 200, response.text
    report, _ = plain_reader(response.content)
    active = report["manifests"][report["active_manifest"]]
    assert active["ingredients"][0]["active_manifest"] == signed.headers["x-manifest-label"]

    # The same bytes again under another media id: answered from the store (held in memory, never
    # written to disk for the verifier), and that media id gets its thumbnail too.
    again = client.post(
        "/v1/verify",
        headers={**ApiKeys.header(api_keys.verify), "Content-Type": "image/jpeg"},
        content=signed.content,
        params={"media_id": "verified-2"},
    )
    assert again.status_code == 200 and again.json()["cached"] is True, again.text
    assert _thumbnail(client, "verified-2", token=api_keys.read).status_code == 200


def test_no_thumbnail_when_the_tenant_has_them_off(client, store, api_keys):
    _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=8), "off-1")
    assert_error(_thumbnail(client, "off-1", token=api_keys.read, wait=1.5), 404, "not_found")
    assert store.thumbnail(DEFAULT_TENANT, "off-1", public=False) is None

    # On, then off again: the thumbnails kept are deleted with the setting.
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=9), "on-1")
    assert _thumbnail(client, "on-1", token=api_keys.read).status_code == 200
    store.set_feed_thumbnails(DEFAULT_TENANT, False)
    assert client.get("/v1/thumbnails/on-1", headers=ApiKeys.header(api_keys.read)).status_code == 404


def _tenant_a_with_two_thumbnails(client, store, *, seed: int) -> tuple[str, str]:
    """Tenants A (thumbnails on: "shared-name" and the private "a-private" have theirs) and B
    (thumbnails off): their keys."""
    store.create_tenant("tenant-a")
    store.create_tenant("tenant-b")
    store.set_feed_thumbnails("tenant-a", True)
    a = store.create_key(name="a", scopes=ALL_SCOPES, tenant="tenant-a")[1]
    b = store.create_key(name="b", scopes=ALL_SCOPES, tenant="tenant-b")[1]
    _sign(client, a, jpeg_bytes((200, 100), seed=seed), "shared-name")
    _sign(client, a, jpeg_bytes((200, 100), seed=seed + 1), "a-private", private="true")
    assert _thumbnail(client, "shared-name", token=a).status_code == 200
    assert _thumbnail(client, "a-private", token=a).status_code == 200
    return a, b


def test_another_tenant_cannot_fetch_a_thumbnail(client, store, make_client):
    a, b = _tenant_a_with_two_thumbnails(client, store, seed=21)
    store.set_feed_thumbnails("tenant-b", True)

    # B's key reads B's tenant only: the same media id there has no thumbnail.
    assert_error(client.get("/v1/thumbnails/shared-name", headers=ApiKeys.header(b)), 404, "not_found")
    assert_error(client.get("/v1/thumbnails/a-private", headers=ApiKeys.header(b)), 404, "not_found")
    # `?tenant=` does not change whose thumbnails a key reads.
    named = client.get("/v1/thumbnails/shared-name?tenant=tenant-a", headers=ApiKeys.header(b))
    assert_error(named, 404, "not_found")

    # Public label reads: anyone naming tenant A reads what A publishes, never a private original's.
    public = make_client(public_label_reads=True)
    assert public.get("/v1/thumbnails/shared-name?tenant=tenant-a").status_code == 200
    assert_error(public.get("/v1/thumbnails/a-private?tenant=tenant-a"), 404, "not_found")
    assert_error(public.get("/v1/thumbnails/shared-name?tenant=tenant-b"), 404, "not_found")


def test_a_failing_thumbnail_never_fails_the_sign(client, store, api_keys, monkeypatch, caplog):
    store.set_feed_thumbnails(DEFAULT_TENANT, True)

    async def broken(services, path: Path):
        raise RuntimeError("the thumbnail maker broke")

    monkeypatch.setattr(work_module, "thumbnail_picture", broken)
    with caplog.at_level("INFO", logger="originmark.thumbnails"):
        _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=31), "broken-1")
        assert_error(_thumbnail(client, "broken-1", token=api_keys.read, wait=2), 404, "not_found")
    assert any("broken-1" in record.getMessage() for record in caplog.records)


def test_the_decode_is_bounded_before_any_pixel_is_read(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming_size(20_000, 20_000))
    assert 20_000 * 20_000 > MAX_SOURCE_PIXELS
    with pytest.raises(NoThumbnail, match="pixels"):
        make_picture(bomb)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    with pytest.raises(NoThumbnail, match="cannot be decoded"):
        make_picture(video)  # not a video FFmpeg reads: its placeholder stays


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two pictures' grey levels (0..255), at `a`'s size."""
    grey_a, grey_b = a.convert("L"), b.convert("L").resize(a.size)
    return sum(abs(x - y) for x, y in zip(grey_a.tobytes(), grey_b.tobytes(), strict=True)) / (a.width * a.height)


def test_a_videos_picture_is_its_first_key_frame_upright_and_bounded(tmp_path):
    video = write_scenes_video(tmp_path / "scenes.mp4", size=(640, 360))
    picture = make_picture(video)
    assert (picture.width, picture.height) == (320, 180)
    assert picture.actions == ("c2pa.resized.proportional", "c2pa.converted")
    with Image.open(io.BytesIO(picture.content)) as shown:
        assert shown.format == "JPEG"
        first, second = frame_at(video, 0.0), frame_at(video, 1.0)
        assert _difference(shown, first) < 8 < 3 * 8 < _difference(shown, second)

    # A phone's portrait video: the still is upright, as the player shows it.
    portrait = make_picture(portrait_copy(video, tmp_path / "portrait.mp4"))
    assert (portrait.width, portrait.height) == (180, 320)

    # The video fingerprint's bounds: the frame size from the header, before any frame is decoded.
    with pytest.raises(UndecodableVideo, match="pixels"):
        poster_frame(video, bounds=VideoBounds(max_frame_pixels=640 * 360 - 1))


def test_a_signed_video_gets_a_signed_poster_frame(client, store, api_keys, plain_reader, shared_dir, tmp_path):
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    video = write_scenes_video(tmp_path / "clip.mp4", size=(480, 270))
    signed = _sign(client, api_keys.sign, video.read_bytes(), "clip-1", name="clip.mp4", mime="video/mp4")

    response = _thumbnail(client, "clip-1", token=api_keys.read)
    ingredient, crjson = check_signed_thumbnail(
        plain_reader,
        response,
        source_sha256=signed.headers["x-content-sha256"],
        size=(320, 180),
        parent=signed.headers["x-manifest-label"],
        actions=["c2pa.opened", "c2pa.resized.proportional", "c2pa.converted"],
    )
    assert ingredient["format"] == "video/mp4"  # what the still is a still of
    # The C2PA conformance rubric (spec 2.4) passes on it: no perceptible action without a source type.
    assert spec_2_4_failures(crjson["manifests"][0], shared_dir) == {}
    thumb_sha = hashlib.sha256(response.content).hexdigest()
    by_hash = client.get(f"/v1/verdicts/sha256/{thumb_sha}", headers=ApiKeys.header(api_keys.read))
    assert by_hash.status_code == 200 and by_hash.json()["label"]["kind"] == "ai_generated", by_hash.text
    assert _recent(client, token=api_keys.read) == {"clip-1": True}


def test_a_media_id_pointed_at_other_content_meanwhile_gets_no_picture_of_the_old(
    client, store, api_keys, monkeypatch, caplog
):
    """Between the answer and the thumbnail another request re-pointed the media id: the staged
    (old) picture is not kept under the new content's name."""
    import dataclasses

    from app.usecases.thumbnails import FeedThumbnails

    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    real_stage = FeedThumbnails.stage

    def stale_stage(self, *args, **kwargs):
        staged = real_stage(self, *args, **kwargs)
        return None if staged is None else dataclasses.replace(staged, sha256="0" * 64)

    monkeypatch.setattr(FeedThumbnails, "stage", stale_stage)
    with caplog.at_level("INFO", logger="originmark.thumbnails"):
        _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=41), "moved-1")
        assert_error(_thumbnail(client, "moved-1", token=api_keys.read, wait=2), 404, "not_found")
    assert any("other content" in record.getMessage() for record in caplog.records)


def test_an_old_contents_thumbnail_finishing_late_never_replaces_the_newer_one(
    client, store, api_keys, monkeypatch, caplog
):
    """Review 2: while X's thumbnail is being made, another request re-points the media id at Y,
    whose thumbnail is made and kept first. X's, finishing after, must not overwrite it (the write
    itself tests that the media id still points at its source)."""
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    real = work_module.thumbnail_picture
    calls = {"n": 0}
    newer = {}

    async def slow_first(services, path):
        calls["n"] += 1
        if calls["n"] == 1:

            def newer_kept_meanwhile():
                newer["y"] = _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=82), "race-1")
                deadline = time.monotonic() + 20
                while store.thumbnail(DEFAULT_TENANT, "race-1", public=False) is None:
                    assert time.monotonic() < deadline, "Y's thumbnail was not kept"
                    time.sleep(0.05)

            await anyio.to_thread.run_sync(newer_kept_meanwhile)
        return await real(services, path)

    monkeypatch.setattr(work_module, "thumbnail_picture", slow_first)
    with caplog.at_level("INFO", logger="originmark.thumbnails"):
        _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=81), "race-1")
        deadline = time.monotonic() + 30
        while len(_outcomes(caplog, "race-1")) < 2:  # Y's, then X's
            assert time.monotonic() < deadline, _outcomes(caplog, "race-1")
            time.sleep(0.1)
    assert _outcomes(caplog, "race-1")[1].endswith("the media id now points at other content")
    kept = store.thumbnail(DEFAULT_TENANT, "race-1", public=False)
    assert kept is not None, "Y's thumbnail was overwritten by X's"
    assert kept.source_sha256 == newer["y"].headers["x-content-sha256"]


def _recent(client, *, token: str | None = None, tenant: str | None = None) -> dict[str, bool]:
    headers = ApiKeys.header(token) if token else {}
    response = client.get("/v1/labels/recent" + (f"?tenant={tenant}" if tenant else ""), headers=headers)
    assert response.status_code == 200, response.text
    return {item["media_id"]: item["has_thumbnail"] for item in response.json()["items"]}


def test_recent_labels_say_which_items_have_a_thumbnail_for_this_reader_only(client, store, make_client):
    """`has_thumbnail` is read in the label query, scoped like the thumbnail read itself: the
    reader's tenant, the content the id points at now, no private one on a public read."""
    a, b = _tenant_a_with_two_thumbnails(client, store, seed=51)
    _sign(client, b, jpeg_bytes((200, 100), seed=53), "shared-name")  # B: thumbnails off

    assert _recent(client, token=a) == {"shared-name": True, "a-private": True}
    # B sees its own item of the same name, without A's thumbnail, and none of A's items.
    assert _recent(client, token=b) == {"shared-name": False}
    assert _recent(client, token=b, tenant="tenant-a") == {"shared-name": False}  # the key's tenant, not ?tenant=

    # Turned off: the thumbnails are deleted, and the items say so.
    store.set_feed_thumbnails("tenant-a", False)
    assert _recent(client, token=a) == {"shared-name": False, "a-private": False}
    store.set_feed_thumbnails("tenant-a", True)
    _sign(client, a, jpeg_bytes((200, 100), seed=54), "a-public")
    _sign(client, a, jpeg_bytes((200, 100), seed=55), "a-private-2", private="true")
    assert _thumbnail(client, "a-public", token=a).status_code == 200
    assert _thumbnail(client, "a-private-2", token=a).status_code == 200

    # Public label reads (the same server, from here on): what A publishes, never a private thumbnail.
    public = make_client(public_label_reads=True)
    assert _recent(public, tenant="tenant-a") == {
        "shared-name": False,
        "a-private": False,
        "a-public": True,
        "a-private-2": False,
    }
    assert _recent(public, tenant="tenant-b") == {"shared-name": False}


def test_an_original_made_private_later_takes_its_thumbnail_with_it(client, store, api_keys, make_client, plain_reader):
    """Review 2: the thumbnail carries the original's manifest store (its parentOf ingredient), so when
    the original's entry is made private after the thumbnail was made, the thumbnail leaves every
    public read (GET /v1/thumbnails, has_thumbnail) and its own repository entry leaves other tenants'."""
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    store.create_tenant("other")
    other = store.create_key(name="other", scopes=frozenset(Scope), tenant="other")[1]
    signed = _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=71), "vis-1")
    manifest_id = signed.headers["x-manifest-label"]
    thumbnail = _thumbnail(client, "vis-1", token=api_keys.read)
    assert thumbnail.status_code == 200
    thumbnail_label = plain_reader(thumbnail.content)[0]["active_manifest"]
    public = make_client(public_label_reads=True)
    assert public.get(f"/v1/thumbnails/vis-1?tenant={DEFAULT_TENANT}").status_code == 200
    assert _recent(public, tenant=DEFAULT_TENANT)["vis-1"] is True
    assert client.get(f"/sbr/v1/manifests/{thumbnail_label}", headers=ApiKeys.header(other)).status_code == 200

    answer = client.put(
        f"/v1/repository/{manifest_id}/visibility", json={"private": True}, headers=ApiKeys.header(api_keys.sign)
    )
    assert answer.status_code == 200, answer.text

    assert public.get(f"/v1/thumbnails/vis-1?tenant={DEFAULT_TENANT}").status_code == 404
    assert _recent(public, tenant=DEFAULT_TENANT)["vis-1"] is False
    (entry,) = store.repository.entries_with_manifest_id(thumbnail_label)
    assert entry.private
    assert client.get(f"/sbr/v1/manifests/{thumbnail_label}", headers=ApiKeys.header(other)).status_code == 404
    # The owner still has its own (a public server answers no keyed read: asked of the store).
    assert store.thumbnail(DEFAULT_TENANT, "vis-1", public=False) is not None


def test_another_tenants_verify_kept_copy_made_private_hides_nothing_of_the_signers(client, store, make_client):
    """Review 3: several tenants may keep an entry with one manifest id (verify with keep_manifest
    keeps the file's id under the verifier). Only the signer's own entry carries its store: a
    tenant making its verify-kept copy private hides neither the signer's feed thumbnail nor the
    rendition signed from it, and records no change on their entries; its own thumbnail of those
    bytes does follow its copy."""
    store.create_tenant("signer")
    store.create_tenant("verifier")
    store.create_tenant("reader")
    store.set_feed_thumbnails("signer", True)
    store.set_feed_thumbnails("verifier", True)
    signer = store.create_key(name="s", scopes=frozenset(Scope), tenant="signer")[1]
    verifier = store.create_key(name="v", scopes=frozenset(Scope), tenant="verifier")[1]
    reader = store.create_key(name="r", scopes=frozenset(Scope), tenant="reader")[1]
    signed = _sign(client, signer, jpeg_bytes((200, 100), seed=91), "s-item")
    manifest_id = signed.headers["x-manifest-label"]
    assert _thumbnail(client, "s-item", token=signer).status_code == 200
    rendition = _renditions(
        client, signer, {"file": _resized(signed.content)}, media_id="s-small", source_media_id="s-item"
    )
    assert rendition.status_code == 200, rendition.text
    rendition_label = rendition.json()["renditions"][0]["manifest_label"]
    kept = _camera_verify(client, verifier, signed.content, "v-copy")
    assert kept["kept_manifest_id"] == manifest_id, kept
    assert _thumbnail(client, "v-copy", token=verifier).status_code == 200
    public = make_client(public_label_reads=True)
    assert public.get("/v1/thumbnails/v-copy?tenant=verifier").status_code == 200

    answer = client.put(
        f"/v1/repository/{manifest_id}/visibility", json={"private": True}, headers=ApiKeys.header(verifier)
    )
    assert answer.status_code == 200, answer.text

    assert public.get("/v1/thumbnails/s-item?tenant=signer").status_code == 200
    assert _recent(public, tenant="signer")["s-item"] is True
    for label in (manifest_id, rendition_label):
        assert client.get(f"/sbr/v1/manifests/{label}", headers=ApiKeys.header(reader)).status_code == 200, label
    with store.db_engine.connect() as connection:
        changed = connection.exec_driver_sql("SELECT manifest_id, tenant FROM repository_visibility_changes").all()
    assert [tuple(row) for row in changed if row[1] != "signer"] == [(manifest_id, "verifier")]
    # The verifier's own thumbnail of the file carries the copy it made private.
    assert public.get("/v1/thumbnails/v-copy?tenant=verifier").status_code == 404


def test_an_original_made_private_while_its_thumbnail_is_made_leaves_no_public_thumbnail(
    client, store, api_keys, monkeypatch, make_client, plain_reader
):
    """Review 3: the owner makes the original private during the thumbnail's slow work (after the
    maker read the original as public): the thumbnail and its signed entry, which carry the
    original's store, are written private all the same (decided in their writes)."""
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    real = work_module.thumbnail_picture
    state: dict[str, object] = {}

    async def made_private_meanwhile(services, path):
        def owner_makes_it_private():
            deadline = time.monotonic() + 20
            while "manifest_id" not in state:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            answer = client.put(
                f"/v1/repository/{state['manifest_id']}/visibility",
                json={"private": True},
                headers=ApiKeys.header(api_keys.sign),
            )
            assert answer.status_code == 200, answer.text
            state["private_done"] = True

        await anyio.to_thread.run_sync(owner_makes_it_private)
        return await real(services, path)

    monkeypatch.setattr(work_module, "thumbnail_picture", made_private_meanwhile)
    response = _sign(client, api_keys.sign, jpeg_bytes((200, 100), seed=97), "race-priv")
    state["manifest_id"] = response.headers["x-manifest-label"]
    deadline = time.monotonic() + 30
    while store.thumbnail(DEFAULT_TENANT, "race-priv", public=False) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    kept = store.thumbnail(DEFAULT_TENANT, "race-priv", public=False)
    assert state.get("private_done") and kept is not None
    (original,) = store.repository.entries_with_manifest_id(response.headers["x-manifest-label"])
    assert original.private
    (thumbnail_entry,) = store.repository.entries_with_manifest_id(plain_reader(kept.content)[0]["active_manifest"])
    public = make_client(public_label_reads=True)
    assert kept.private
    assert public.get(f"/v1/thumbnails/race-priv?tenant={DEFAULT_TENANT}").status_code == 404
    assert thumbnail_entry.private


def _outcomes(caplog, media_id: str) -> list[str]:
    """The thumbnail log's outcomes for `media_id` so far ("kept" or "not made"), in order."""
    return [
        message
        for message in (record.getMessage() for record in caplog.records)
        if f"media id {media_id!r}" in message and (" kept " in message or " not made" in message)
    ]


def _outcome(caplog, media_id: str, wait: float = 30.0) -> str:
    """The thumbnail log's word on `media_id` once it has one: "kept" or "not made"."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for record in caplog.records:
            message = record.getMessage()
            if f"media id {media_id!r}" in message and ("kept" in message or "not made" in message):
                return "kept" if "kept" in message else "not made"
        time.sleep(0.05)
    raise AssertionError(f"no thumbnail outcome logged for {media_id!r}")


def test_a_key_whose_policy_refuses_the_rendition_gets_no_thumbnail(client, store, api_keys, shared_dir, caplog):
    """Review 2: a thumbnail is a rendition shown with its original's label kind, so the key's signing
    policy bounds it as it bounds POST /v1/renditions: a default (AI-only) key verifying a camera's
    file gets no "captured" thumbnail; a camera app's key does."""
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    default = store.create_key(name="default", scopes=ALL_SCOPES)[1]
    camera = _camera_key(store, scopes=ALL_SCOPES)
    data = (shared_dir / "corpus" / CAMERA).read_bytes()
    with caplog.at_level("INFO", logger="originmark.thumbnails"):
        assert _camera_verify(client, default, data, "cam")["label"]["kind"] == "captured"
        assert _outcome(caplog, "cam") == "not made"
        refused = _renditions(
            client, default, {"file": _resized(data, (160, 120))}, media_id="cam-small", source_media_id="cam"
        )
        assert refused.status_code == 403  # what the renditions route says of the same key and original
        assert store.thumbnail(DEFAULT_TENANT, "cam", public=False) is None

        assert _camera_verify(client, camera, data, "cam-2")["label"]["kind"] == "captured"
        assert _outcome(caplog, "cam-2") == "kept"
    assert store.thumbnail(DEFAULT_TENANT, "cam-2", public=False) is not None


def test_the_staged_backlog_is_bounded(make_client, store, api_keys, monkeypatch, caplog):
    """Review 2: while the thumbnail places are busy (slow videos), every further sign or verify with a
    media id staged another copy of its file and an open folder, without end (and a shutdown waited
    for all of them). At most ORIGINMARK_FEED_THUMBNAILS_MAX_PENDING are staged; past it an item keeps
    its placeholder (logged, counted in /metrics), and every staged folder goes once made."""
    from app.usecases.thumbnails import FeedThumbnails

    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    client = make_client(feed_thumbnails_max_pending=3)
    release = threading.Event()
    live = {"staged": 0, "most": 0}
    real_stage, real_make, real_discard = FeedThumbnails.stage, FeedThumbnails.make, FeedThumbnails.discard

    def stage(self, *args, **kwargs):
        staged = real_stage(self, *args, **kwargs)
        if staged is not None:
            live["staged"] += 1
            live["most"] = max(live["most"], live["staged"])
        return staged

    def make(self, *args, **kwargs):
        try:
            return real_make(self, *args, **kwargs)
        finally:
            live["staged"] -= 1

    def discard(self, *args, **kwargs):
        live["staged"] -= 1
        return real_discard(self, *args, **kwargs)

    async def slow(services, path):
        await anyio.to_thread.run_sync(release.wait)  # a slow picture (a video, up to the worker's timeout)
        return "held by the test"

    monkeypatch.setattr(FeedThumbnails, "stage", stage)
    monkeypatch.setattr(FeedThumbnails, "make", make)
    monkeypatch.setattr(FeedThumbnails, "discard", discard)
    monkeypatch.setattr(work_module, "thumbnail_picture", slow)
    try:
        with caplog.at_level("INFO", logger="originmark.thumbnails"):
            for i in range(8):
                _sign(client, api_keys.sign, jpeg_bytes((64, 48), seed=1000 + i), f"b-{i}")
        assert live["most"] == 3, live
        assert sum("pending already" in record.getMessage() for record in caplog.records) == 5
        metrics = client.get("/metrics").text
        assert "originmark_feed_thumbnails_not_staged_total 5.0" in metrics
    finally:
        release.set()
    deadline = time.monotonic() + 20
    while live["staged"]:
        assert time.monotonic() < deadline, live
        time.sleep(0.05)


def test_a_staged_file_whose_make_is_cancelled_while_queued_is_removed(tmp_path, monkeypatch):
    """A shutdown past its grace period cancels the thumbnails still waiting for a place: each staged
    folder is removed all the same, and its place in the bound given back."""
    from types import SimpleNamespace

    import app.api.feed_thumbnails as route_thumbnails
    from app.spool import SpoolFolder
    from app.usecases.thumbnails import PendingBound, Staged

    bound = PendingBound(1)
    assert bound.take()
    folder = SpoolFolder(tmp_path)
    folder.__enter__()
    source = folder.folder("source") / "original"
    source.write_bytes(b"kept for its thumbnail")
    staged = Staged(key=None, media_id="m", sha256="0" * 64, source=source, folder=folder, bound=bound)  # type: ignore[arg-type]
    never = SimpleNamespace(make=lambda *args: pytest.fail("made while every place was taken"))
    monkeypatch.setattr(route_thumbnails, "feed_thumbnails", lambda services: never)
    monkeypatch.setattr(route_thumbnails, "ServiceEngine", lambda services: None)

    async def cancelled_while_queued() -> None:
        places = anyio.CapacityLimiter(1)
        busy = anyio.Event()

        async def another_thumbnail() -> None:
            async with places:  # the thumbnail places are busy
                busy.set()
                await anyio.sleep(5)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(another_thumbnail)
            await busy.wait()
            with anyio.move_on_after(0.2) as scope:
                await route_thumbnails.make(SimpleNamespace(thumbnail_limiter=places), staged)  # type: ignore[arg-type]
            assert scope.cancelled_caught
            tasks.cancel_scope.cancel()

    anyio.run(cancelled_while_queued)
    assert not source.exists() and not any(tmp_path.iterdir())
    assert bound.pending == 0
