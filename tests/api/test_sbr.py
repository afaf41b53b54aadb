"""The Soft Binding Resolution API (/sbr/v1) over real HTTP: matches by content and by binding,
manifest stores that the plain engine reads, tenancy, auth and the refusals."""

from __future__ import annotations

import base64
import io
from typing import Any

import c2pa
import pytest
from PIL import Image

from app.store.interface import Scope
from app.usecases.soft_binding_resolution import BINDING_ONLY_RADIUS
from tests.support import record_spool_removals

from .helpers import BACKENDS, ApiKeys, assert_error, backend_database, sign_form
from .sbr_support import SBR, binding_value, encoded, platform_copy, sign, textured_image, two_tenants


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Tenancy and search run on SQLite and on PostgreSQL."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


@pytest.fixture
def tenants(store):
    return two_tenants(store)


def _store_reader(store_bytes: bytes) -> dict:
    """The plain engine's report of a manifest store, read as application/c2pa."""
    import json

    with c2pa.Reader("application/c2pa", io.BytesIO(store_bytes)) as reader:
        return json.loads(reader.json())


def test_a_stripped_re_encoded_copy_finds_its_manifest_by_content_and_by_binding(client, tenants):
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(1)))
    copy = platform_copy(signed)
    assert b"c2pa" not in copy  # no credentials left

    by_content = client.post(
        f"{SBR}/matches/byContent", content=copy, headers={**tenants.b, "Content-Type": "image/jpeg"}
    )
    assert by_content.status_code == 200, by_content.text
    (match,) = by_content.json()["matches"]
    assert match["manifestId"] == manifest_id and 92 <= match["similarityScore"] <= 100

    # The value the signed manifest carries gives the same manifest, at full score.
    value = binding_value(signed)
    by_get = client.get(f"{SBR}/matches/byBinding", params={"alg": "io.iscc.v0", "value": value}, headers=tenants.b)
    by_post = client.post(f"{SBR}/matches/byBinding", json={"alg": "io.iscc.v0", "value": value}, headers=tenants.b)
    assert by_get.json() == by_post.json() == {"matches": [{"manifestId": manifest_id, "similarityScore": 100}]}


def test_the_uploads_spool_folder_is_removed_off_the_event_loop(client, tenants, monkeypatch):
    removals = record_spool_removals(monkeypatch)
    answer = client.post(
        f"{SBR}/matches/byContent",
        content=encoded(textured_image(2)),
        headers={**tenants.a, "Content-Type": "image/jpeg"},
    )
    assert answer.status_code == 200, answer.text
    assert removals == [False]


def test_an_unrelated_image_matches_nothing(client, tenants):
    sign(client, tenants.a, encoded(textured_image(2)))
    other = encoded(textured_image(3))
    answer = client.post(f"{SBR}/matches/byContent", content=other, headers={**tenants.a, "Content-Type": "image/jpeg"})
    assert answer.status_code == 200 and answer.json() == {"matches": []}
    by_binding = client.get(
        f"{SBR}/matches/byBinding", params={"alg": "io.iscc.v0", "value": binding_value(other)}, headers=tenants.a
    )
    assert by_binding.json() == {"matches": []}


def test_a_binding_only_query_takes_a_stricter_radius_than_a_content_query(client, tenants):
    from verifier.fingerprint import SEARCH_RADIUS, fingerprint_image

    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(4)))
    digest = bytearray(fingerprint_image(signed).iscc_digest)
    # Flip bits of the 64-bit code (bytes 2..9): within the binding-only radius it is found, past it not.
    for bit in range(BINDING_ONLY_RADIUS + 1):
        digest[2 + bit // 8] ^= 0x80 >> (bit % 8)
        value = base64.b64encode(bytes(digest)).decode()
        found = client.get(f"{SBR}/matches/byBinding", params={"alg": "io.iscc.v0", "value": value}, headers=tenants.a)
        matches = found.json()["matches"]
        if bit + 1 <= BINDING_ONLY_RADIUS:
            assert matches == [{"manifestId": manifest_id, "similarityScore": 100 * (64 - bit - 1) // 64}]
        else:
            assert matches == []
    assert BINDING_ONLY_RADIUS < SEARCH_RADIUS


def test_the_manifest_store_is_served_as_application_c2pa_and_the_plain_engine_reads_it(client, tenants):
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(5)))
    whole = client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.b)
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/c2pa"
    assert whole.content in signed  # the very store the output carries
    report = _store_reader(whole.content)
    assert report["active_manifest"] == manifest_id
    active = client.get(f"{SBR}/manifests/{manifest_id}", params={"returnActiveManifest": "true"}, headers=tenants.b)
    assert active.status_code == 200 and active.headers["content-type"] == "application/c2pa"
    assert _store_reader(active.content)["active_manifest"] == manifest_id


def test_return_active_manifest_leaves_the_ingredients_manifests_out(client, tenants):
    parent, parent_id = sign(client, tenants.a, encoded(textured_image(6)))
    files = {"file": ("edit.jpg", encoded(textured_image(7)), "image/jpeg"), "parent": ("p.jpg", parent, "image/jpeg")}
    edited = client.post("/v1/sign", headers=tenants.a, files=files, data={"generator": "Test Diffusion"})
    assert edited.status_code == 200, edited.text
    manifest_id = edited.headers["x-manifest-label"]
    whole = client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.a).content
    active = client.get(
        f"{SBR}/manifests/{manifest_id}", params={"returnActiveManifest": True}, headers=tenants.a
    ).content
    assert set(_store_reader(whole)["manifests"]) == {manifest_id, parent_id}
    report = _store_reader(active)
    assert report["active_manifest"] == manifest_id and set(report["manifests"]) == {manifest_id}
    assert len(active) < len(whole)


def test_another_tenants_private_entry_is_not_found_by_id_binding_or_content(client, tenants, store):
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(8)))
    assert store.repository.set_private("tenant-a", manifest_id, True, actor="test")
    copy = platform_copy(signed)
    value = binding_value(signed)

    def lookups(headers):
        return (
            client.get(f"{SBR}/manifests/{manifest_id}", headers=headers),
            client.get(f"{SBR}/matches/byBinding", params={"alg": "io.iscc.v0", "value": value}, headers=headers),
            client.post(f"{SBR}/matches/byContent", content=copy, headers={**headers, "Content-Type": "image/jpeg"}),
        )

    by_id, by_binding, by_content = lookups(tenants.b)
    unknown = client.get(f"{SBR}/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000", headers=tenants.b)
    theirs = assert_error(by_id, 404, "not_found")
    never = assert_error(unknown, 404, "not_found")
    # Not yours reads exactly like unknown (only the id quoted differs).
    assert theirs["message"].replace(manifest_id, "ID") == never["message"].replace(
        "urn:c2pa:00000000-0000-0000-0000-000000000000", "ID"
    )
    assert by_binding.json() == by_content.json() == {"matches": []}
    # Its owner still finds it every way.
    own_id, own_binding, own_content = lookups(tenants.a)
    assert own_id.status_code == 200
    assert [m["manifestId"] for m in own_binding.json()["matches"]] == [manifest_id]
    assert [m["manifestId"] for m in own_content.json()["matches"]] == [manifest_id]


def test_the_index_only_views_are_found_by_content_never_by_binding_nor_listed(client, tenants, store):
    from app.store.repository import ISCC_ALG, VIEW_ALG
    from verifier.fingerprint import INDEX_VIEWS, fingerprint_image

    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(7)))
    image = Image.open(io.BytesIO(signed)).convert("RGB")
    width, height = image.size
    cropped = encoded(image.crop((width // 20, height // 20, width - width // 20, height - height // 20)))
    by_content = client.post(
        f"{SBR}/matches/byContent", content=cropped, headers={**tenants.b, "Content-Type": "image/jpeg"}
    )
    assert [m["manifestId"] for m in by_content.json()["matches"]] == [manifest_id]
    # A view's code as a binding value (an ISCC-64 unit): it is not a binding of the manifest.
    views = fingerprint_image(signed, views=INDEX_VIEWS).views
    for view in views:
        value = base64.b64encode(b"\x21\x01" + view.code64.to_bytes(8, "big")).decode()
        answer = client.get(f"{SBR}/matches/byBinding", params={"alg": "io.iscc.v0", "value": value}, headers=tenants.b)
        own = fingerprint_image(signed).code64
        if (own ^ view.code64).bit_count() > BINDING_ONLY_RADIUS:
            assert answer.json() == {"matches": []}, view.view
        answer = client.get(f"{SBR}/matches/byBinding", params={"alg": VIEW_ALG, "value": value}, headers=tenants.b)
        assert answer.status_code == 422 and VIEW_ALG not in str(
            client.get(f"{SBR}/services/supportedAlgorithms", headers=tenants.b).json()
        )
    # The entry's soft bindings are the manifest's: the views are kept beside, as index rows only.
    entry = store.repository.entry_by_manifest_id("tenant-a", manifest_id)
    assert [binding.alg for binding in entry.bindings] == [ISCC_ALG]
    assert len(views) == len(INDEX_VIEWS) and any(
        (fingerprint_image(signed).code64 ^ v.code64).bit_count() > BINDING_ONLY_RADIUS for v in views
    )


def test_supported_algorithms(client, tenants):
    answer = client.get(f"{SBR}/services/supportedAlgorithms", headers=tenants.b)
    assert answer.status_code == 200
    assert answer.json() == {"watermarks": [], "fingerprints": [{"alg": "io.iscc.v0"}]}


def test_every_route_needs_a_key_with_the_sbr_scope(client, store):
    no_sbr = ApiKeys.header(
        store.create_key(name="no-sbr", scopes=frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ}))[1]
    )
    sbr_only = ApiKeys.header(store.create_key(name="sbr", scopes=frozenset({Scope.SBR}))[1])
    value = binding_value(encoded(textured_image(9)))
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{SBR}/services/supportedAlgorithms", {}),
        ("GET", f"{SBR}/matches/byBinding", {"params": {"alg": "io.iscc.v0", "value": value}}),
        ("POST", f"{SBR}/matches/byBinding", {"json": {"alg": "io.iscc.v0", "value": value}}),
        (
            "POST",
            f"{SBR}/matches/byContent",
            {"content": encoded(textured_image(9)), "headers": {"Content-Type": "image/jpeg"}},
        ),
        ("GET", f"{SBR}/manifests/urn:c2pa:unknown", {}),
    ]
    for method, url, options in requests:
        headers = options.pop("headers", {})
        assert_error(client.request(method, url, headers=headers, **options), 401, "missing_api_key")
        refused = assert_error(
            client.request(method, url, headers={**headers, **no_sbr}, **options), 403, "insufficient_scope"
        )
        assert refused["required_scope"] == "sbr"
        allowed = client.request(method, url, headers={**headers, **sbr_only}, **options)
        assert allowed.status_code == (404 if "manifests" in url else 200), allowed.text


def test_public_reading_of_a_tenant_that_publishes(make_client, store, tenants):
    client = make_client()
    store.set_sbr_public("tenant-a", True)  # `originmark tenants update tenant-a --sbr-public`
    shared, shared_id = sign(client, tenants.a, encoded(textured_image(10)))
    private, private_id = sign(client, tenants.a, encoded(textured_image(11)))
    store.repository.set_private("tenant-a", private_id, True, actor="test")
    b_signed, b_id = sign(client, tenants.b, encoded(textured_image(12)))

    def content(data, tenant):
        return client.post(
            f"{SBR}/matches/byContent",
            params={"tenant": tenant},
            content=platform_copy(data),
            headers={"Content-Type": "image/jpeg"},
        )

    assert [m["manifestId"] for m in content(shared, "tenant-a").json()["matches"]] == [shared_id]
    assert client.get(f"{SBR}/manifests/{shared_id}", params={"tenant": "tenant-a"}).status_code == 200
    # Not its private entries, nor another tenant's shared ones, through tenant-a's public reading.
    assert content(private, "tenant-a").json() == {"matches": []}
    assert content(b_signed, "tenant-a").json() == {"matches": []}
    assert_error(client.get(f"{SBR}/manifests/{private_id}", params={"tenant": "tenant-a"}), 404, "not_found")
    assert_error(client.get(f"{SBR}/manifests/{b_id}", params={"tenant": "tenant-a"}), 404, "not_found")
    # A tenant that does not publish needs a key.
    assert_error(content(b_signed, "tenant-b"), 401, "missing_api_key")

    # Closed again: the next request needs a key (read per request, no restart).
    store.set_sbr_public("tenant-a", False)
    assert_error(content(shared, "tenant-a"), 401, "missing_api_key")
    assert_error(client.get(f"{SBR}/manifests/{shared_id}", params={"tenant": "tenant-a"}), 401, "missing_api_key")


def test_the_deprecated_setting_still_opens_the_tenants_it_lists(make_client, store, tenants):
    client = make_client(sbr_public_tenants=" tenant-b , nobody")
    signed, manifest_id = sign(client, tenants.b, encoded(textured_image(13)))
    tenant_b = store.tenant("tenant-b")
    assert tenant_b is not None and tenant_b.sbr_public is False  # opened by the setting alone
    found = client.get(f"{SBR}/manifests/{manifest_id}", params={"tenant": "tenant-b"})
    assert found.status_code == 200, found.text
    # A name the setting lists but no tenant has opens nothing; an unlisted, closed tenant needs a key.
    assert_error(client.get(f"{SBR}/manifests/{manifest_id}", params={"tenant": "nobody"}), 401, "missing_api_key")
    assert_error(client.get(f"{SBR}/manifests/{manifest_id}", params={"tenant": "tenant-a"}), 401, "missing_api_key")


def test_the_service_warns_while_the_deprecated_setting_is_set(make_settings, caplog):
    from app.service_setup import warn_deprecated_settings

    with caplog.at_level("WARNING", logger="originmark.api"):
        warn_deprecated_settings(make_settings())
    assert caplog.records == []
    with caplog.at_level("WARNING", logger="originmark.api"):
        warn_deprecated_settings(make_settings(sbr_public_tenants="tenant-b"))
    (record,) = caplog.records
    assert "ORIGINMARK_SBR_PUBLIC_TENANTS is deprecated" in record.getMessage() and "tenant-b" in record.getMessage()


def test_refusals_415_413_422(client, tenants):
    url = f"{SBR}/matches/byContent"
    refused = assert_error(
        client.post(url, content=b"hello", headers={**tenants.a, "Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert refused["supported"] == ["image/*", "video/*"]
    assert_error(client.post(url, content=b"x", headers=tenants.a), 415, "unsupported_media_type")  # no type at all
    too_big = b"\xff\xd8\xff" + b"\0" * (4 * 1024 * 1024)
    assert_error(
        client.post(url, content=too_big, headers={**tenants.a, "Content-Type": "image/jpeg"}), 413, "payload_too_large"
    )
    assert_error(
        client.post(url, content=b"not a jpeg", headers={**tenants.a, "Content-Type": "image/jpeg"}),
        422,
        "undecodable_media",
    )
    assert_error(client.post(url, content=b"", headers={**tenants.a, "Content-Type": "image/jpeg"}), 422, "empty_file")
    assert_error(
        client.post(
            url,
            params={"alg": "com.example.watermark"},
            content=b"x",
            headers={**tenants.a, "Content-Type": "image/png"},
        ),
        422,
        "unsupported_algorithm",
    )
    assert_error(
        client.post(url, params={"maxResults": 0}, content=b"x", headers={**tenants.a, "Content-Type": "image/png"}),
        422,
        "validation_error",
    )
    by_binding = f"{SBR}/matches/byBinding"
    assert_error(
        client.get(by_binding, params={"alg": "io.iscc.v0", "value": "%%%"}, headers=tenants.a),
        422,
        "malformed_binding_value",
    )
    not_iscc = base64.b64encode(b"\x00" * 34).decode()
    assert_error(
        client.get(by_binding, params={"alg": "io.iscc.v0", "value": not_iscc}, headers=tenants.a),
        422,
        "malformed_binding_value",
    )
    assert_error(
        client.get(by_binding, params={"alg": "x.y", "value": not_iscc}, headers=tenants.a),
        422,
        "unsupported_algorithm",
    )
    assert_error(client.post(by_binding, json={"alg": "io.iscc.v0"}, headers=tenants.a), 422, "validation_error")


def _flat_png(width: int, height: int) -> bytes:
    """A PNG of width x height transparent pixels (a few hundred KB, 4 bytes a pixel once decoded),
    written row by row so that this process never holds the picture."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 4 * width)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_content_is_decoded_in_a_verifier_worker_never_in_the_server(client, tenants):
    """A small PNG that decodes to ~400 MB: the server (this test process) does not decode it."""
    import resource

    bomb = _flat_png(9999, 9999)
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answer = client.post(f"{SBR}/matches/byContent", content=bomb, headers={**tenants.a, "Content-Type": "image/png"})
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert answer.status_code in (200, 422), answer.text  # blank once flattened, or over the worker's limits
    assert grown_mib < 200


def test_a_re_encoded_video_finds_its_manifest_by_its_key_frames(client, tenants, tmp_path):
    """Each key frame is looked up as an image is: its code, then the descriptor kept with the signed
    video's key frame (the score is the descriptor similarity x 100: 92 to 100)."""
    from tests.videos import reencode, write_scenes_video

    source = write_scenes_video(tmp_path / "scenes.mp4", size=(320, 240))
    files = {"file": ("gen.mp4", source.read_bytes(), "video/mp4")}
    signed = client.post("/v1/sign", headers=tenants.a, files=files, data=sign_form())
    assert signed.status_code == 200, signed.text
    manifest_id = signed.headers["x-manifest-label"]
    (tmp_path / "signed.mp4").write_bytes(signed.content)
    # What a platform does: another codec, bitrate and size, key frames elsewhere, no metadata.
    copy = reencode(
        tmp_path / "signed.mp4", tmp_path / "copy.mp4", size=(176, 132), bit_rate=120_000, gop=7
    ).read_bytes()
    assert b"c2pa" not in copy

    video = {"Content-Type": "video/mp4"}
    (match,) = client.post(f"{SBR}/matches/byContent", content=copy, headers={**tenants.b, **video}).json()["matches"]
    assert match["manifestId"] == manifest_id
    assert 92 <= match["similarityScore"] <= 100

    other = write_scenes_video(tmp_path / "other.mp4", seeds=(5, 6, 7, 8), size=(320, 240)).read_bytes()
    unrelated = client.post(f"{SBR}/matches/byContent", content=other, headers={**tenants.a, **video})
    assert unrelated.status_code == 200 and unrelated.json() == {"matches": []}
    not_a_video = b"\0\0\0\x18ftypmp42"
    assert_error(
        client.post(f"{SBR}/matches/byContent", content=not_a_video, headers={**tenants.a, **video}),
        422,
        "undecodable_media",
    )


def test_a_video_code_finds_the_signed_video_by_binding_within_the_radius(client, tenants, store, tmp_path):
    """The Video-Code block a resolver reads from a signed video's assertion finds it at 100; a re-encoded
    copy's own Video-Code (another size and bitrate, metadata gone) finds it too, at the distance's
    score; another video's does not, nor does anyone find a private entry of another tenant."""
    from app.usecases.video_code_match import VIDEO_CODE_BINDING_ONLY_RADIUS
    from tests.videos import reencode, write_scenes_video
    from verifier.fingerprint import hamming64
    from verifier.video_fingerprint import fingerprint_video

    source = write_scenes_video(tmp_path / "scenes.mp4")
    files = {"file": ("gen.mp4", source.read_bytes(), "video/mp4")}
    signed = client.post("/v1/sign", headers=tenants.a, files=files, data=sign_form())
    assert signed.status_code == 200, signed.text
    manifest_id = signed.headers["x-manifest-label"]
    code = fingerprint_video(source).video_code
    (tmp_path / "signed.mp4").write_bytes(signed.content)
    copy_path = reencode(tmp_path / "signed.mp4", tmp_path / "copy.mp4", size=(160, 120), bit_rate=120_000, gop=7)
    assert b"c2pa" not in copy_path.read_bytes()
    copied = fingerprint_video(copy_path).video_code
    assert code is not None and copied is not None
    distance = hamming64(code.code64, copied.code64)
    assert 0 < distance <= VIDEO_CODE_BINDING_ONLY_RADIUS  # measured: 4 bits

    def by_binding(value: str, headers: dict[str, str]) -> dict:
        answer = client.get(f"{SBR}/matches/byBinding", params={"alg": "io.iscc.v0", "value": value}, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    for value in (base64.b64encode(code.iscc_digest).decode(), code.iscc):  # binary unit, canonical text
        assert by_binding(value, tenants.b) == {"matches": [{"manifestId": manifest_id, "similarityScore": 100}]}
    copy_value = base64.b64encode(copied.iscc_digest).decode()
    assert by_binding(copy_value, tenants.b) == {
        "matches": [{"manifestId": manifest_id, "similarityScore": 100 * (64 - distance) // 64}]
    }
    other = fingerprint_video(write_scenes_video(tmp_path / "other.mp4", seeds=(5, 6, 7, 8))).video_code
    assert other is not None and hamming64(other.code64, code.code64) > VIDEO_CODE_BINDING_ONLY_RADIUS
    assert by_binding(other.iscc, tenants.b) == {"matches": []}
    assert store.repository.set_private("tenant-a", manifest_id, True, actor="test")
    assert by_binding(code.iscc, tenants.b) == by_binding(copy_value, tenants.b) == {"matches": []}
    assert [m["manifestId"] for m in by_binding(copy_value, tenants.a)["matches"]] == [manifest_id]


def test_max_results_bounds_the_answer(client, tenants):
    image = textured_image(13)
    for quality in (95, 90, 85):  # three signatures of nearly the same picture
        sign(client, tenants.a, encoded(image, "JPEG", quality=quality))
    query = encoded(image, "JPEG", quality=80)
    headers = {**tenants.a, "Content-Type": "image/jpeg"}
    assert len(client.post(f"{SBR}/matches/byContent", content=query, headers=headers).json()["matches"]) == 3
    one = client.post(f"{SBR}/matches/byContent", params={"maxResults": 1}, content=query, headers=headers).json()
    assert len(one["matches"]) == 1
