"""Recovery on verify, end to end over HTTP with the real engine: a signed image whose credentials
were stripped (Pillow re-encode, JPEG q70) is matched to its kept manifest store again.

Each test asserts who recovers what, and that nothing recovers when it must not: an unrelated
image, a file with valid credentials of its own, a deleted entry (also from the cache), another
tenant's private entry.
"""

from __future__ import annotations

import io
import time

import httpx
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from app.cli import cli
from app.store.interface import Scope
from app.store.sql import SqlStore

from .helpers import BACKENDS, ApiKeys, backend_database, sign_form

EVERYTHING = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})
RECOVERED_TEXT = "AI-generated · credentials found by content match"


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Recovery reads the repository's search and visibility: on SQLite and on PostgreSQL."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


def picture(variant: int) -> bytes:
    """A detailed picture (a Mandelbrot view: structure at every scale, like a photo); another
    variant is another part of the set, an unrelated picture."""
    left = -2.0 + 0.37 * variant
    image = Image.effect_mandelbrot((320, 240), (left, -1.2, left + 2.4, 1.2), 40 + variant).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def stripped_copy(signed: bytes, *, quality: int = 70) -> bytes:
    """What a platform makes of it: decoded and re-encoded, every metadata segment gone."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(signed)).convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def sign(client: httpx.Client, headers: dict[str, str], data: bytes) -> httpx.Response:
    response = client.post(
        "/v1/sign", headers=headers, files={"file": ("gen.jpg", data, "image/jpeg")}, data=sign_form()
    )
    assert response.status_code == 200, response.text
    return response


def verify(client: httpx.Client, headers: dict[str, str], data: bytes, **form: str) -> dict:
    params = {"refresh": "true"} if form.pop("refresh", None) else {}
    response = client.post(
        "/v1/verify", headers=headers, files={"file": ("copy.jpg", data, "image/jpeg")}, data=form, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def labels(client: httpx.Client, headers: dict[str, str], *media_ids: str) -> dict:
    response = client.get("/v1/labels", params=[("media_id", m) for m in media_ids], headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["labels"]


def test_a_stripped_reencoded_copy_recovers_its_manifest_and_label(client, api_keys, store):
    original = picture(0)
    signed = sign(client, ApiKeys.header(api_keys.sign), original)
    manifest_id = signed.headers["x-manifest-label"]
    copy = stripped_copy(signed.content)

    body = verify(client, ApiKeys.header(api_keys.all), copy, media_id="post-1")

    verdict = body["verdict"]
    assert verdict["state"] == "none" and verdict["manifests"] == []  # the file's own: nothing
    recovered = verdict["recovered"]
    assert recovered["manifest_id"] == manifest_id
    assert recovered["matched_sha256"] == signed.headers["x-content-sha256"] != body["sha256"]
    assert recovered["alg"] == "io.iscc.v0"
    assert 0.92 <= recovered["similarity"] <= 1.0 and recovered["distance"] <= 10
    assert recovered["state"] == "trusted" and recovered["trust_list"] == "local"
    assert recovered["signed_at"] is not None
    assert "hard binding cannot match this file" in recovered["reason"]
    label = body["label"]
    assert label["kind"] == "ai_generated" and label["recovered"] is True and label["text"] == RECOVERED_TEXT
    # The feed reads the recovered label back under the media id.
    assert labels(client, ApiKeys.header(api_keys.all), "post-1")["post-1"] == label
    # Answered from the cache the second time: looked up again, still recovered.
    again = verify(client, ApiKeys.header(api_keys.all), copy, media_id="post-1")
    assert again["cached"] is True and again["verdict"]["recovered"]["manifest_id"] == manifest_id


def _cropped_copy(signed: bytes, *, kept: float) -> bytes:
    """A platform's centre crop (`kept` of each side), re-encoded without metadata."""
    image = Image.open(io.BytesIO(signed)).convert("RGB")
    width, height = image.size
    dx, dy = round(width * (1 - kept) / 2), round(height * (1 - kept) / 2)
    buffer = io.BytesIO()
    image.crop((dx, dy, width - dx, height - dy)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _mirrored_copy(signed: bytes) -> bytes:
    buffer = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(signed)).convert("RGB")).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def detailed_picture() -> bytes:
    """A close view of the Mandelbrot set's boundary: fine detail everywhere, so that a small crop
    moves the code of the whole image far (measured: a 5% crop, 38 bits and descriptor 0.29)."""
    image = Image.effect_mandelbrot((320, 240), (-0.75, 0.05, -0.45, 0.275), 200).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_a_cropped_or_mirrored_copy_recovers_through_the_views(client, api_keys):
    from verifier.fingerprint import DESCRIPTOR_THRESHOLD, SEARCH_RADIUS, descriptor_similarity, fingerprint_image

    cases = [(detailed_picture(), "crop 5%"), (detailed_picture(), "crop 10%"), (picture(0), "mirror")]
    for original, transform in cases:
        response = sign(client, ApiKeys.header(api_keys.sign), original)
        signed = response.content
        if transform == "mirror":
            copy = _mirrored_copy(signed)
        else:
            copy = _cropped_copy(signed, kept=0.95 if transform == "crop 5%" else 0.90)
        # The whole image's own code and descriptor alone do not find it: the views do.
        own, seen = fingerprint_image(signed), fingerprint_image(copy)
        assert (own.code64 ^ seen.code64).bit_count() > SEARCH_RADIUS or (
            descriptor_similarity(own.descriptor, seen.descriptor) < DESCRIPTOR_THRESHOLD
        ), transform
        recovered = verify(client, ApiKeys.header(api_keys.verify), copy)["verdict"]["recovered"]
        assert recovered is not None and recovered["manifest_id"] == response.headers["x-manifest-label"], transform
        assert recovered["similarity"] >= DESCRIPTOR_THRESHOLD and recovered["alg"] == "io.iscc.v0"
    # A crop or mirror of an unrelated picture finds none of them.
    for copy in (_cropped_copy(picture(5), kept=0.95), _mirrored_copy(picture(5))):
        assert verify(client, ApiKeys.header(api_keys.verify), copy)["verdict"]["recovered"] is None


def test_an_unrelated_image_never_recovers(client, api_keys):
    for variant in (0, 1, 2):
        sign(client, ApiKeys.header(api_keys.sign), picture(variant))
    unrelated = stripped_copy(picture(5))
    body = verify(client, ApiKeys.header(api_keys.verify), unrelated)
    assert body["verdict"]["state"] == "none" and body["verdict"]["recovered"] is None
    assert body["label"]["recovered"] is False and body["label"]["text"] == "No Content Credentials"


def test_a_file_with_its_own_valid_credentials_is_never_recovered(client, api_keys):
    signed = sign(client, ApiKeys.header(api_keys.sign), picture(0))
    body = verify(client, ApiKeys.header(api_keys.verify), signed.content)
    assert body["verdict"]["state"] == "trusted" and body["verdict"]["recovered"] is None
    assert body["label"]["recovered"] is False and body["label"]["text"] == "AI-generated"


def test_a_file_whose_own_credentials_are_broken_is_looked_up(client, api_keys):
    """Invalid (the manifest kept, the pixels changed) is no valid credential of its own: the
    verdict stays `invalid` with its reason, and the recovered credentials come beside it."""
    signed = sign(client, ApiKeys.header(api_keys.sign), picture(0))
    tampered = bytearray(signed.content)
    # The last (highest-frequency) entry of the first quantisation table, one step coarser: every
    # pixel moves a little, the hashed bytes change, the manifest stays.
    last_entry = signed.content.index(b"\xff\xdb") + 4 + 1 + 63
    tampered[last_entry] = min(tampered[last_entry] + 1, 255)
    body = verify(client, ApiKeys.header(api_keys.verify), bytes(tampered))
    assert body["verdict"]["state"] == "invalid" and "dataHash.mismatch" in body["verdict"]["reason"]
    assert body["verdict"]["recovered"]["manifest_id"] == signed.headers["x-manifest-label"]
    assert body["label"]["recovered"] is True


def _takedown(database_url: str, manifest_id: str) -> None:
    """The operator's takedown: `originmark repository delete`."""
    result = CliRunner().invoke(
        cli,
        ["repository", "delete", manifest_id, "--reason", "takedown"],
        env={"ORIGINMARK_DATABASE_URL": database_url},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output


def test_deleting_the_entry_stops_its_recovery_cached_or_not(client, api_keys, database_url):
    signed = sign(client, ApiKeys.header(api_keys.sign), picture(0))
    copy = stripped_copy(signed.content)
    headers = ApiKeys.header(api_keys.all)
    assert verify(client, headers, copy, media_id="post-1")["verdict"]["recovered"] is not None
    assert verify(client, headers, copy, media_id="post-2")["label"]["recovered"] is True
    assert labels(client, headers, "post-1")["post-1"]["recovered"] is True

    _takedown(database_url, signed.headers["x-manifest-label"])

    # The feed shows no recovered label any more, before anything is verified again.
    after = labels(client, headers, "post-1", "post-2")
    assert after["post-1"]["text"] == after["post-2"]["text"] == "No Content Credentials"
    assert after["post-1"]["recovered"] is False
    cached = verify(client, headers, copy, media_id="post-1")  # the same bytes: from the cache
    assert cached["cached"] is True
    assert cached["verdict"]["recovered"] is None and cached["label"]["recovered"] is False
    assert labels(client, headers, "post-1")["post-1"]["text"] == "No Content Credentials"
    fresh = verify(client, headers, copy, media_id="post-1", refresh="true")
    assert fresh["cached"] is False and fresh["verdict"]["recovered"] is None


def _two_tenants(store: SqlStore) -> tuple[dict[str, str], dict[str, str]]:
    """Authorization headers of a key of tenant-a and one of tenant-b."""
    headers = []
    for name in ("tenant-a", "tenant-b"):
        store.create_tenant(name)
        headers.append(ApiKeys.header(store.create_key(name=name, scopes=EVERYTHING, tenant=name)[1]))
    return headers[0], headers[1]


def test_a_verified_label_is_not_spread_to_another_tenant_nor_overwritten_by_it(client, store):
    """The cache by content is shared by every tenant; a recovered label is the asker's own."""
    a, b = _two_tenants(store)
    signed = sign(client, a, picture(0))
    copy = stripped_copy(signed.content)
    assert verify(client, a, copy, media_id="a-post")["label"]["recovered"] is True
    store.repository.set_private("tenant-a", signed.headers["x-manifest-label"], True, actor="test")

    # B sends the same bytes (answered from the shared cache, and verified afresh): A's entry is
    # private now, so B recovers nothing, and A's feed label stays as it was.
    assert verify(client, b, copy, media_id="b-post")["verdict"]["recovered"] is None
    assert verify(client, b, copy, media_id="b-post", refresh="true")["verdict"]["recovered"] is None
    assert labels(client, b, "b-post")["b-post"]["recovered"] is False
    assert labels(client, a, "a-post")["a-post"]["recovered"] is True


def test_another_tenants_private_entry_is_never_used_for_recovery(client, store):
    a, b = _two_tenants(store)
    public = sign(client, a, picture(0))
    private = sign(client, a, picture(1))
    assert store.repository.set_private("tenant-a", private.headers["x-manifest-label"], True, actor="test")

    # A signed credential is a public statement: B recovers A's public entry ...
    found = verify(client, b, stripped_copy(public.content))["verdict"]["recovered"]
    assert found is not None and found["manifest_id"] == public.headers["x-manifest-label"]
    # ... never its private one, which A itself still recovers.
    assert verify(client, b, stripped_copy(private.content))["verdict"]["recovered"] is None
    own = verify(client, a, stripped_copy(private.content))["verdict"]["recovered"]
    assert own is not None and own["manifest_id"] == private.headers["x-manifest-label"]


def test_a_verify_job_recovers_too(client, api_keys, store):
    if store.dialect != "sqlite":
        pytest.skip("the test server runs jobs itself on SQLite only (PostgreSQL waits for a job worker)")
    signed = sign(client, ApiKeys.header(api_keys.sign), picture(0))
    headers = ApiKeys.header(api_keys.all)
    job = client.post(
        "/v1/jobs/verify",
        files={"file": ("j.jpg", stripped_copy(signed.content), "image/jpeg")},
        data={"media_id": "post-j"},
        headers=headers,
    )
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job.json()['job_id']}", headers=headers).json()["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.1)
    assert labels(client, headers, "post-j")["post-j"]["text"] == RECOVERED_TEXT
