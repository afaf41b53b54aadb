"""POST /v1/renditions through real HTTP with the real engine, on SQLite and PostgreSQL: a platform's
renditions (resized JPEGs made with Pillow) signed from the original's kept manifest store, without
the original file."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from app.store.interface import Scope
from tests.signer.test_conformance import RUBRIC_CHECKS, rubric_statement_ids, rubric_variables

from .helpers import BACKENDS, ApiKeys, assert_error, backend_database, jpeg_bytes, sign_form

SPEC_2_4_RUBRIC = "asset-rubric-conformance0.2-spec2.4.yml"
ALL_SCOPES = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Everything in this module runs on SQLite and on PostgreSQL (the tenant is in every query)."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


def _sign(client, token, data: bytes, media_id: str, **fields: str):
    response = client.post(
        "/v1/sign",
        headers=ApiKeys.header(token),
        files={"file": ("original.jpg", data, "image/jpeg")},
        data=sign_form(media_id=media_id, **fields),
    )
    assert response.status_code == 200, response.text
    return response


def _resized(data: bytes, size: tuple[int, int] = (48, 32), *, kind: str = "JPEG") -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.convert("RGB").resize(size).save(out, kind, quality=80)
    return out.getvalue()


def _renditions(client, token, files: dict[str, bytes], *, actions=("c2pa.resized.proportional",), **fields):
    form: dict[str, object] = {**{k: v for k, v in fields.items() if k.startswith(("media_id", "source", "allow"))}}
    form["action"] = list(actions)
    return client.post(
        "/v1/renditions",
        headers=ApiKeys.header(token),
        files={name: (f"{name}.jpg", data, "image/jpeg") for name, data in files.items()},
        data=form,
    )


@pytest.fixture
def original(client, api_keys):
    signed = _sign(client, api_keys.sign, jpeg_bytes((128, 96), seed=7), "orig-1")
    return signed


def test_a_rendition_carries_the_original_as_its_parent(client, api_keys, original, plain_reader, shared_dir):
    response = _renditions(
        client,
        api_keys.sign,
        {"file": _resized(original.content)},
        media_id="orig-1-small",
        source_media_id="orig-1",
        actions=("c2pa.resized.proportional", "c2pa.transcoded"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    [rendition] = body["renditions"]
    assert rendition["media_id"] == "orig-1-small"
    assert body["original"]["label"]["kind"] == "ai_generated"
    assert rendition["label"]["kind"] == "ai_generated"  # AI-generated stays AI-generated
    signed = base64.b64decode(rendition["content_base64"])

    report, crjson = plain_reader(signed)
    assert report["validation_state"] == "Trusted", report.get("validation_results")
    assert len(report["manifests"]) == 2
    active = report["manifests"][report["active_manifest"]]
    [ingredient] = active["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == original.headers["x-manifest-label"]
    actions = [a["action"] for a in active["assertions"][0]["data"]["actions"]]
    assert actions == ["c2pa.opened", "c2pa.resized.proportional", "c2pa.transcoded"]

    # Stored under its own media id, the same label kind as the original's.
    stored = client.get("/v1/verdicts/orig-1-small", headers=ApiKeys.header(api_keys.read))
    assert stored.status_code == 200, stored.text
    assert stored.json()["label"]["kind"] == "ai_generated"
    labels = client.get("/v1/labels?media_id=orig-1&media_id=orig-1-small", headers=ApiKeys.header(api_keys.read))
    kinds = {media_id: json.loads(json.dumps(label))["kind"] for media_id, label in labels.json()["labels"].items()}
    assert kinds == {"orig-1": "ai_generated", "orig-1-small": "ai_generated"}

    # The C2PA conformance rubric (spec 2.4) on the rendition's active manifest.
    text = (shared_dir / "rubrics" / SPEC_2_4_RUBRIC).read_text()
    variables = rubric_variables(text)
    manifest = crjson["manifests"][0]
    failures = {s: bad for s in sorted(rubric_statement_ids(text)) if (bad := RUBRIC_CHECKS[s](manifest, variables))}
    assert failures == {}


def test_several_renditions_in_one_request_by_sha256(client, api_keys, original, plain_reader):
    response = _renditions(
        client,
        api_keys.sign,
        {"file": _resized(original.content, (64, 48)), "file_2": _resized(original.content, (32, 24), kind="WEBP")},
        media_id="r-64",
        media_id_2="r-32",
        source_sha256=original.headers["x-content-sha256"],
        actions=("c2pa.resized.proportional", "c2pa.converted"),  # the second one a WebP
    )
    assert response.status_code == 200, response.text
    renditions = response.json()["renditions"]
    assert [r["media_id"] for r in renditions] == ["r-64", "r-32"]
    assert [r["verdict"]["format"] for r in renditions] == ["image/jpeg", "image/webp"]
    for rendition, mime in zip(renditions, ("image/jpeg", "image/webp"), strict=True):
        report, _ = plain_reader(base64.b64decode(rendition["content_base64"]), mime)
        assert report["validation_state"] == "Trusted"
        assert len(report["manifests"]) == 2
        assert rendition["label"]["kind"] == "ai_generated"


@pytest.mark.parametrize("action", ["c2pa.edited", "c2pa.resized", "c2pa.created", "acme.sharpened"])
def test_an_action_outside_the_closed_list_is_refused(client, api_keys, original, store, action):
    before = len(store.entries())
    response = _renditions(
        client,
        api_keys.sign,
        {"file": _resized(original.content)},
        media_id="bad",
        source_media_id="orig-1",
        actions=("c2pa.resized.proportional", action),
    )
    assert_error(response, 422, "invalid_request")
    assert len(store.entries()) == before
    assert store.verdict_by_media_id("default", "bad") is None


def test_a_rendition_cannot_take_its_original_s_media_id(client, api_keys, original):
    response = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="orig-1", source_media_id="orig-1"
    )
    assert_error(response, 422, "duplicate_media_id")
    stored = client.get("/v1/verdicts/orig-1", headers=ApiKeys.header(api_keys.read)).json()
    assert stored["sha256"] == original.headers["x-content-sha256"]


def test_an_unknown_original_is_404(client, api_keys):
    response = _renditions(client, api_keys.sign, {"file": jpeg_bytes()}, media_id="r", source_media_id="never-stored")
    assert_error(response, 404, "original_not_found")
    response = _renditions(client, api_keys.sign, {"file": jpeg_bytes()}, media_id="r", source_sha256="ab" * 32)
    assert_error(response, 404, "original_not_found")


def test_only_sign_keys_make_renditions(client, api_keys, original):
    response = _renditions(
        client, api_keys.verify, {"file": _resized(original.content)}, media_id="r", source_media_id="orig-1"
    )
    assert_error(response, 403, "insufficient_scope")


def test_an_original_without_credentials_needs_allow_no_upstream(client, api_keys, store):
    plain = jpeg_bytes((80, 60), seed=3)
    verified = client.post(
        "/v1/verify",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("plain.jpg", plain, "image/jpeg")},
        data={"media_id": "plain-1"},
    )
    assert verified.status_code == 200, verified.text
    small = _resized(plain)
    refused = _renditions(client, api_keys.sign, {"file": small}, media_id="plain-small", source_media_id="plain-1")
    assert_error(refused, 409, "no_upstream_credentials")
    assert store.verdict_by_media_id("default", "plain-small") is None

    allowed = _renditions(
        client,
        api_keys.sign,
        {"file": small},
        media_id="plain-small",
        source_media_id="plain-1",
        allow_no_upstream="true",
        actions=("c2pa.converted",),
    )
    assert allowed.status_code == 200, allowed.text
    [rendition] = allowed.json()["renditions"]
    assert rendition["label"]["kind"] == "credentials"
    assert "no credentials upstream" in rendition["label"]["text"]


def test_another_tenant_cannot_make_or_read_a_rendition_of_a_private_original(client, store):
    store.create_tenant("tenant-a")
    store.create_tenant("tenant-b")
    a = store.create_key(name="a", scopes=ALL_SCOPES, tenant="tenant-a")[1]
    b = store.create_key(name="b", scopes=ALL_SCOPES, tenant="tenant-b")[1]
    signed = _sign(client, a, jpeg_bytes((96, 72), seed=11), "a-private", private="true")
    small = _resized(signed.content)

    by_id = _renditions(client, b, {"file": small}, media_id="b-r", source_media_id="a-private")
    assert_error(by_id, 404, "original_not_found")
    by_hash = _renditions(client, b, {"file": small}, media_id="b-r", source_sha256=signed.headers["x-content-sha256"])
    assert_error(by_hash, 404, "original_not_found")  # same answer as for bytes never seen
    assert client.get("/v1/verdicts/a-private", headers=ApiKeys.header(b)).status_code == 404

    # Even after B verifies A's signed file (B then has a verdict for those bytes), A's private
    # entry is not B's to carry.
    verified = client.post(
        "/v1/verify", headers=ApiKeys.header(b), files={"file": ("a.jpg", signed.content, "image/jpeg")}
    )
    assert verified.status_code == 200, verified.text
    after_verify = _renditions(
        client, b, {"file": small}, media_id="b-r", source_sha256=signed.headers["x-content-sha256"]
    )
    assert_error(after_verify, 409, "upstream_credentials_unusable")
    assert store.verdict_by_media_id("tenant-b", "b-r") is None

    # A itself can; the rendition's repository entry is private too (its store carries the original's).
    mine = _renditions(client, a, {"file": small}, media_id="a-r", source_media_id="a-private")
    assert mine.status_code == 200, mine.text
    [rendition] = mine.json()["renditions"]
    assert store.repository.entry_by_manifest_id("tenant-b", rendition["manifest_label"]) is None
    assert store.repository.entry_by_manifest_id(None, rendition["manifest_label"]) is None
    own = store.repository.entry_by_manifest_id("tenant-a", rendition["manifest_label"])
    assert own is not None and own.private


FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
GENERATIVE_FILL = "c2pa-js-legacy/tools/testing/fixtures/images/gen-fill.jpg"
CAMERA = "c2pa-rs/cli/tests/fixtures/C_with_CAWG_data.jpg"


@pytest.mark.parametrize(
    ("relative", "kind"), [(FIREFLY, "ai_generated"), (GENERATIVE_FILL, "ai_edited"), (CAMERA, "captured")]
)
def test_a_rendition_of_a_verified_third_party_original_keeps_its_label_kind(
    client, api_keys, shared_dir, plain_reader, relative, kind
):
    """Real third-party credentials, kept on verify (keep_manifest=true): the rendition's history is
    theirs, and its label kind (by the signals rubric) is the original's."""
    data = (shared_dir / "corpus" / relative).read_bytes()
    verified = client.post(
        "/v1/verify",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("original.jpg", data, "image/jpeg")},
        data={"media_id": "third-party", "keep_manifest": "true"},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["label"]["kind"] == kind
    assert verified.json()["kept_manifest_id"]
    response = _renditions(
        client,
        api_keys.sign,
        {"file": _resized(data, (160, 120))},
        media_id="third-party-small",
        source_media_id="third-party",
        actions=("c2pa.resized.proportional", "c2pa.transcoded"),
    )
    assert response.status_code == 200, response.text
    [rendition] = response.json()["renditions"]
    assert rendition["label"]["kind"] == kind
    report, _ = plain_reader(base64.b64decode(rendition["content_base64"]))
    active = report["manifests"][report["active_manifest"]]
    [ingredient] = active["ingredients"]
    assert (ingredient["relationship"], ingredient["active_manifest"]) == (
        "parentOf",
        verified.json()["kept_manifest_id"],
    )


def test_each_rendition_takes_a_sign_token(make_client, api_keys, store):
    client = make_client(sign_rate_per_second=0.01, sign_rate_burst=3)
    signed = _sign(client, api_keys.sign, jpeg_bytes((64, 48), seed=21), "limited")  # 1 token
    small = _resized(signed.content)
    files = {"file": small, "file_2": small}
    response = _renditions(client, api_keys.sign, files, media_id="l-1", media_id_2="l-2", source_media_id="limited")
    assert response.status_code == 200, response.text  # 2 tokens
    refused = _renditions(client, api_keys.sign, {"file": small}, media_id="l-3", source_media_id="limited")
    assert_error(refused, 429, "rate_limited")
    assert store.verdict_by_media_id("default", "l-3") is None
