"""POST /v1/renditions through real HTTP with the real engine, on SQLite and PostgreSQL: a platform's
renditions (resized JPEGs made with Pillow) signed from the original's kept manifest store, without
the original file."""

from __future__ import annotations

import base64
import functools
import io
import json

import c2pa
import pytest
from PIL import Image

from app.store.interface import Scope
from signer.manifest import DigitalSourceType
from signer.policy import SigningPolicy
from tests.signer.test_conformance import spec_2_4_failures

from .helpers import (
    BACKENDS,
    ApiKeys,
    assert_error,
    backend_database,
    forge_original_label,
    jpeg_bytes,
    limit_verdict,
    sign_form,
)

ALL_SCOPES = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})
CAPTURE = DigitalSourceType.DIGITAL_CAPTURE.value


def _camera_key(store, *, tenant: str | None = None, scopes=frozenset({Scope.SIGN})) -> str:
    """A key the operator allows to claim captures (and everything else): a camera app's."""
    extra = {"tenant": tenant} if tenant is not None else {}
    return store.create_key(name="camera-app", scopes=scopes, signing_policy=SigningPolicy.unrestricted(), **extra)[1]


def _creation_key(store) -> str:
    """A key allowed one non-AI claim, no capture: a human drawing tool's."""
    policy = SigningPolicy.of(generators=["*"], source_types=[DigitalSourceType.DIGITAL_CREATION])
    return store.create_key(name="drawing-app", scopes=frozenset({Scope.SIGN}), signing_policy=policy)[1]


def _verify(client, token, data: bytes, media_id: str | None, *, keep: bool = True):
    form = {"keep_manifest": "true"} if keep else {}
    if media_id is not None:
        form["media_id"] = media_id
    response = client.post(
        "/v1/verify", headers=ApiKeys.header(token), files={"file": ("o.jpg", data, "image/jpeg")}, data=form
    )
    assert response.status_code == 200, response.text
    return response.json()


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
    assert spec_2_4_failures(crjson["manifests"][0], shared_dir) == {}


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
        _camera_key(store),  # a "no credentials upstream" label is not AI output: not a default key's to give
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


def test_an_original_made_private_while_its_rendition_is_signed_gives_a_private_rendition(
    client, api_keys, original, store, monkeypatch
):
    """Review 3: the route reads the original as public, then the owner makes it private during the
    slow signing: the rendition's entry, whose store carries the original's, is recorded private
    all the same (decided in the recording transaction: Renditions.record)."""
    import anyio.to_thread

    import app.api.routes.renditions as route

    manifest_id = original.headers["x-manifest-label"]
    real = route.sign_rendition

    async def made_private_meanwhile(*args, **kwargs):
        def owner_makes_it_private() -> None:
            answer = client.put(
                f"/v1/repository/{manifest_id}/visibility",
                json={"private": True},
                headers=ApiKeys.header(api_keys.sign),
            )
            assert answer.status_code == 200, answer.text

        await anyio.to_thread.run_sync(owner_makes_it_private)
        return await real(*args, **kwargs)

    monkeypatch.setattr(route, "sign_rendition", made_private_meanwhile)
    made = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="r-race", source_media_id="orig-1"
    )
    assert made.status_code == 200, made.text
    [rendition] = made.json()["renditions"]
    (own,) = store.repository.entries_with_manifest_id(manifest_id)
    assert own.private
    assert store.repository.entry_by_manifest_id(None, rendition["manifest_label"]) is None
    (entry,) = store.repository.entries_with_manifest_id(rendition["manifest_label"])
    assert entry.private


FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
GENERATIVE_FILL = "c2pa-js-legacy/tools/testing/fixtures/images/gen-fill.jpg"
CAMERA = "c2pa-rs/cli/tests/fixtures/C_with_CAWG_data.jpg"


@pytest.mark.parametrize(
    ("relative", "kind"), [(FIREFLY, "ai_generated"), (GENERATIVE_FILL, "ai_edited"), (CAMERA, "captured")]
)
def test_a_rendition_of_a_verified_third_party_original_keeps_its_label_kind(
    client, api_keys, store, shared_dir, plain_reader, relative, kind
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
        api_keys.sign if kind != "captured" else _camera_key(store),  # captured: a key that may claim it
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


# --- the key's signing policy (review 2, HIGH): a rendition shows its original's label on bytes the
# caller chose, so a key may only make the labels it could make on /v1/sign.


def test_a_default_key_cannot_show_any_bytes_as_a_captured_photo(client, api_keys, store, shared_dir):
    """A third party's camera photo, verified and kept: a default (AI-only) key naming it as the
    original of unrelated bytes is refused, before anything is signed."""
    data = (shared_dir / "corpus" / CAMERA).read_bytes()
    assert _verify(client, api_keys.verify, data, "cam")["label"]["kind"] == "captured"
    before = len(store.entries())
    unrelated = jpeg_bytes((200, 150), seed=999)
    response = _renditions(client, api_keys.sign, {"file": unrelated}, media_id="fake", source_media_id="cam")
    body = assert_error(response, 403, "signing_policy")
    assert body["refused"] == {"digital_source_type": "digitalCapture", "rendition_label": "captured"}
    assert store.verdict_by_media_id("default", "fake") is None
    assert len(store.entries()) == before  # nothing audited

    # A key the operator allows to claim captures may (the photo's own platform).
    allowed = _renditions(
        client, _camera_key(store), {"file": _resized(data, (160, 120))}, media_id="cam-small", source_media_id="cam"
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["renditions"][0]["label"]["kind"] == "captured"


def test_a_default_key_cannot_rendition_an_original_signed_as_captured(client, api_keys, store):
    camera = _camera_key(store)
    _sign(client, camera, jpeg_bytes((128, 96), seed=5), "photo-1", digital_source_type=CAPTURE)
    fake = jpeg_bytes((300, 200), seed=4242)
    direct = client.post(
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("f.jpg", fake, "image/jpeg")},
        data=sign_form(digital_source_type=CAPTURE),
    )
    assert_error(direct, 403, "signing_policy")  # what /v1/sign refuses ...
    response = _renditions(client, api_keys.sign, {"file": fake}, media_id="fake-photo", source_media_id="photo-1")
    assert_error(response, 403, "signing_policy")  # ... a rendition refuses too
    assert store.verdict_by_media_id("default", "fake-photo") is None
    # By content hash as well.
    by_hash = _renditions(
        client,
        api_keys.sign,
        {"file": fake},
        media_id="fake-photo",
        source_sha256=store.verdict_by_media_id("default", "photo-1").sha256,
    )
    assert_error(by_hash, 403, "signing_policy")


def test_another_tenant_s_public_captured_file_gives_a_default_key_no_captured_label(client, store):
    store.create_tenant("ta")
    store.create_tenant("tb")
    a = _camera_key(store, tenant="ta")
    b_verify = store.create_key(name="bv", scopes=frozenset({Scope.VERIFY}), tenant="tb")[1]
    b_sign = store.create_key(name="bs", scopes=frozenset({Scope.SIGN}), tenant="tb")[1]
    signed = _sign(client, a, jpeg_bytes((128, 96), seed=5), "photo-1", digital_source_type=CAPTURE)
    _verify(client, b_verify, signed.content, "their-photo", keep=False)
    response = _renditions(
        client, b_sign, {"file": jpeg_bytes((300, 200), seed=4242)}, media_id="fake", source_media_id="their-photo"
    )
    assert_error(response, 403, "signing_policy")
    assert store.verdict_by_media_id("tb", "fake") is None


def test_no_credentials_upstream_is_not_a_default_key_s_label_to_give(client, api_keys, store):
    _verify(client, api_keys.verify, jpeg_bytes((80, 60), seed=3), "plain", keep=False)
    response = _renditions(
        client,
        api_keys.sign,
        {"file": jpeg_bytes((300, 200), seed=77)},
        media_id="x",
        source_media_id="plain",
        allow_no_upstream="true",
        actions=("c2pa.converted",),
    )
    body = assert_error(response, 403, "signing_policy")
    assert body["refused"] == {"rendition_label": "credentials"}
    assert store.verdict_by_media_id("default", "x") is None
    # A key allowed one non-AI claim (a human creation tool's) may.
    maker = _creation_key(store)
    allowed = _renditions(
        client,
        maker,
        {"file": jpeg_bytes((300, 200), seed=77)},
        media_id="x",
        source_media_id="plain",
        allow_no_upstream="true",
        actions=("c2pa.converted",),
    )
    assert allowed.status_code == 200, allowed.text


def test_a_key_allowed_only_non_capture_claims_cannot_make_captured_renditions(client, store):
    camera = _camera_key(store)
    _sign(client, camera, jpeg_bytes((128, 96), seed=5), "photo-1", digital_source_type=CAPTURE)
    maker = _creation_key(store)
    response = _renditions(
        client, maker, {"file": jpeg_bytes((300, 200), seed=1)}, media_id="f", source_media_id="photo-1"
    )
    assert_error(response, 403, "signing_policy")


def test_an_ai_original_s_renditions_are_any_sign_key_s(client, api_keys, store, original):
    """The default key (AI only) and a capture-only key both may: an AI label launders nothing."""
    capture_only = store.create_key(
        name="camera-only",
        scopes=frozenset({Scope.SIGN}),
        signing_policy=SigningPolicy.of(generators=["*"], source_types=[DigitalSourceType.DIGITAL_CAPTURE]),
    )[1]
    for token, media_id in ((api_keys.sign, "ai-1"), (capture_only, "ai-2")):
        response = _renditions(
            client, token, {"file": _resized(original.content)}, media_id=media_id, source_media_id="orig-1"
        )
        assert response.status_code == 200, response.text
        assert response.json()["renditions"][0]["label"]["kind"] == "ai_generated"


# --- bounds (review 2, MEDIUM: 5 KB of uploads made a 64 MB answer)


def _big_store_original(dev_credentials, resource_bytes: int) -> bytes:
    """An AI image whose manifest carries a large thumbnail resource (a large kept store)."""
    info = c2pa.C2paSignerInfo(
        alg=b"es256",
        sign_cert=dev_credentials.chain_path.read_bytes(),
        private_key=dev_credentials.key_path.read_bytes(),
        ta_url=None,
    )
    definition = {
        "claim_generator_info": [{"name": "big"}],
        "title": "big.jpg",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA.value,
                        }
                    ]
                },
            }
        ],
        "thumbnail": {"format": "image/jpeg", "identifier": "thumb.jpg"},
    }
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(definition) as builder:
        builder.add_resource("thumb.jpg", io.BytesIO(bytes(resource_bytes)))
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg_bytes((64, 48), seed=2)), out)
    return out.getvalue()


def test_an_original_with_a_kept_store_over_the_bound_gives_no_renditions(client, api_keys, store, dev_credentials):
    """The reviewer's amplification: a 2 MiB kept store, 8 tiny renditions each embedding it."""
    data = _big_store_original(dev_credentials, 2 * 1024 * 1024)
    verified = _verify(client, api_keys.verify, data, "big")
    assert verified["kept_manifest_id"], verified
    tiny = jpeg_bytes((16, 12), seed=3)
    files = {("file" if i == 0 else f"file_{i + 1}"): tiny for i in range(8)}
    ids = {("media_id" if i == 0 else f"media_id_{i + 1}"): f"t{i}" for i in range(8)}
    before = len(store.entries())
    response = _renditions(client, api_keys.sign, files, source_media_id="big", **ids)
    body = assert_error(response, 409, "upstream_store_too_large")
    assert "ORIGINMARK_RENDITIONS_MAX_UPSTREAM_STORE_BYTES" in body["message"]
    assert len(store.entries()) == before
    assert all(store.verdict_by_media_id("default", f"t{i}") is None for i in range(8))


def test_the_store_bound_is_configured(make_client, api_keys):
    client = make_client(renditions_max_upstream_store_bytes=1024)  # below any real store
    signed = _sign(client, api_keys.sign, jpeg_bytes((64, 48), seed=8), "o-small-bound")
    response = _renditions(
        client, api_keys.sign, {"file": _resized(signed.content)}, media_id="r", source_media_id="o-small-bound"
    )
    assert_error(response, 409, "upstream_store_too_large")


def _twice(client, token, data: bytes, media_ids: tuple[str, str], **fields):
    """One request with `data` as two renditions, under `media_ids`."""
    files = {"file": data, "file_2": data}
    return _renditions(client, token, files, media_id=media_ids[0], media_id_2=media_ids[1], **fields)


def test_the_signed_renditions_of_one_answer_are_bounded(make_client, api_keys, store):
    client = make_client(renditions_max_answer_bytes=100 * 1024)
    signed = _sign(client, api_keys.sign, jpeg_bytes((64, 48), seed=8), "o-answer")
    small = _resized(signed.content)
    response = _twice(client, api_keys.sign, small, ("a-1", "a-2"), source_media_id="o-answer")
    body = assert_error(response, 413, "renditions_too_large")
    assert "ORIGINMARK_RENDITIONS_MAX_ANSWER_BYTES" in body["message"]
    assert store.verdict_by_media_id("default", "a-1") is None  # refused before signing
    one = _renditions(client, api_keys.sign, {"file": small}, media_id="a-1", source_media_id="o-answer")
    assert one.status_code == 200, one.text


def test_a_failure_after_a_rendition_was_recorded_names_it(make_client, api_keys, store, monkeypatch):
    """The estimate passes, the signed sizes do not (no allowance for the own manifest here): the
    first rendition is recorded, the second refused, and the error says which one was recorded."""
    from app.api.routes import renditions as route

    monkeypatch.setattr(route._AnswerBudget, "OWN_MANIFEST_ALLOWANCE", 0)
    signed_client = make_client()
    signed = _sign(signed_client, api_keys.sign, jpeg_bytes((64, 48), seed=8), "o-partial")
    small = _resized(signed.content)
    probe = _renditions(signed_client, api_keys.sign, {"file": small}, media_id="p-0", source_media_id="o-partial")
    size = len(base64.b64decode(probe.json()["renditions"][0]["content_base64"]))
    client = make_client(renditions_max_answer_bytes=size + size // 2)  # one fits, two do not
    response = _twice(client, api_keys.sign, small, ("p-1", "p-2"), source_media_id="o-partial")
    body = assert_error(response, 413, "renditions_too_large")
    assert body.get("recorded_media_ids") == ["p-1"], body
    assert "p-1" in body["message"]
    assert store.verdict_by_media_id("default", "p-1") is not None
    assert store.verdict_by_media_id("default", "p-2") is None


# --- every file checked before any is signed (review 2, LOW/MEDIUM)


def test_a_rendition_with_credentials_of_its_own_refuses_the_request_before_any_is_signed(
    client, api_keys, original, store
):
    signed_other = _sign(client, api_keys.sign, jpeg_bytes((64, 48), seed=9), "other")
    before = len(store.entries())
    response = _renditions(
        client,
        api_keys.sign,
        {"file": _resized(original.content), "file_2": signed_other.content},
        media_id="p-1",
        media_id_2="p-2",
        source_media_id="orig-1",
    )
    body = assert_error(response, 422, "prior_credentials_conflict")
    assert body["field"] == "file_2"
    assert store.verdict_by_media_id("default", "p-1") is None
    assert len(store.entries()) == before


# --- the original's media ids (review 2, LOW)


def test_a_rendition_cannot_take_its_original_s_media_id_when_named_by_hash(client, api_keys, original, store):
    sha256 = original.headers["x-content-sha256"]
    response = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="orig-1", source_sha256=sha256
    )
    assert_error(response, 422, "duplicate_media_id")
    # Nor another of the tenant's ids for the same bytes.
    _verify(client, api_keys.verify, original.content, "orig-repost", keep=False)
    response = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="orig-repost", source_media_id="orig-1"
    )
    assert_error(response, 422, "duplicate_media_id")
    assert store.verdict_by_media_id("default", "orig-1").sha256 == sha256
    assert store.verdict_by_media_id("default", "orig-repost").sha256 == sha256


# --- the rendition's repository entry is no more public than its original's store (review 2, LOW)


def test_a_rendition_of_a_store_kept_on_verify_is_not_public(client, store, shared_dir):
    store.create_tenant("ta")
    store.create_tenant("tb")
    a = store.create_key(name="a", scopes=frozenset(Scope), tenant="ta")[1]
    b = store.create_key(name="b", scopes=frozenset(Scope), tenant="tb")[1]
    data = (shared_dir / "corpus" / FIREFLY).read_bytes()
    kept = _verify(client, a, data, "user-upload")["kept_manifest_id"]
    assert store.repository.entry_by_manifest_id("tb", kept) is None  # A's only
    response = _renditions(
        client, a, {"file": _resized(data, (160, 120))}, media_id="small", source_media_id="user-upload"
    )
    assert response.status_code == 200, response.text
    label = response.json()["renditions"][0]["manifest_label"]
    assert client.get(f"/sbr/v1/manifests/{label}", headers=ApiKeys.header(b)).status_code == 404
    assert client.get(f"/sbr/v1/manifests/{label}").status_code in (401, 404)
    own = client.get(f"/sbr/v1/manifests/{label}", headers=ApiKeys.header(a))
    assert own.status_code == 200 and kept.encode() in own.content


def test_a_rendition_of_a_tenant_s_copy_of_another_s_private_file_is_not_public(client, store):
    for tenant in ("ta", "tb", "tc"):
        store.create_tenant(tenant)
    a = store.create_key(name="a", scopes=frozenset(Scope), tenant="ta")[1]
    b = store.create_key(name="b", scopes=frozenset(Scope), tenant="tb")[1]
    c = store.create_key(name="c", scopes=frozenset(Scope), tenant="tc")[1]
    signed = _sign(client, a, jpeg_bytes((96, 72), seed=11), "a-private", private="true")
    _verify(client, b, signed.content, "copy")
    response = _renditions(client, b, {"file": _resized(signed.content)}, media_id="b-small", source_media_id="copy")
    assert response.status_code == 200, response.text
    label = response.json()["renditions"][0]["manifest_label"]
    assert client.get(f"/sbr/v1/manifests/{label}", headers=ApiKeys.header(c)).status_code == 404


def test_a_rendition_of_a_public_signed_original_is_public(client, api_keys, original, store):
    response = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="pub-small", source_media_id="orig-1"
    )
    assert response.status_code == 200, response.text
    entry = store.repository.entry_by_manifest_id(None, response.json()["renditions"][0]["manifest_label"])
    assert entry is not None and not entry.private


# --- the original's credentials (review 2: paths without tests)


def test_an_original_whose_stored_verdict_is_invalid_gives_no_renditions(client, api_keys, original, store):
    tampered = bytearray(original.content)
    tampered[-200] ^= 0xFF  # in the JPEG's scan data: the hard binding no longer matches
    verdict = _verify(client, api_keys.verify, bytes(tampered), "tampered", keep=False)
    assert verdict["verdict"]["state"] == "invalid", verdict["verdict"]
    response = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="r", source_media_id="tampered"
    )
    assert_error(response, 409, "upstream_credentials_unusable")
    assert store.verdict_by_media_id("default", "r") is None


def test_a_kept_store_that_no_longer_validates_gives_no_renditions(client, api_keys, original, store):
    """The repository's copy of the original's store altered (its recorded hash too, so it is read):
    validated again before any rendition is signed, it is refused."""
    import hashlib

    import sqlalchemy as sa

    from app.store.schema import repository_entries

    label = original.headers["x-manifest-label"]
    entry = store.repository.entry_by_manifest_id("default", label)
    assert entry is not None and entry.store.inline is not None
    altered = bytearray(entry.store.inline)
    altered[-40] ^= 0xFF  # in the claim signature, the last box of the manifest
    with store._db_engine.begin() as connection:
        connection.execute(
            sa.update(repository_entries)
            .where(repository_entries.c.manifest_id == label)
            .values(store_bytes=bytes(altered), store_sha256=hashlib.sha256(altered).hexdigest())
        )
    before = len(store.entries())
    response = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="r", source_media_id="orig-1"
    )
    body = assert_error(response, 409, "upstream_credentials_unusable")
    assert "no longer validates" in body["message"]
    assert len(store.entries()) == before


def test_a_rendition_whose_label_kind_would_differ_is_not_recorded(client, store, original, monkeypatch):
    """Not reached with real data (the kind comes from the store the rendition carries); the guard
    is tested with a stored label forged to `captured` for an AI original."""
    from verifier.label_types import LabelKind

    forge_original_label(monkeypatch, LabelKind.CAPTURED)
    response = _renditions(
        client, _camera_key(store), {"file": _resized(original.content)}, media_id="r", source_media_id="orig-1"
    )
    assert_error(response, 422, "rendition_changes_label")
    assert store.verdict_by_media_id("default", "r") is None


def test_a_broken_rendition_refuses_the_request_before_any_is_signed(client, api_keys, original, store):
    small = _resized(original.content)
    response = _twice(client, api_keys.sign, small, ("b-1", "b-2"), source_media_id="orig-1")
    assert response.status_code == 200, response.text  # the pair itself is fine
    broken = {"file": small, "file_2": small[:200]}  # a JPEG cut short
    response = _renditions(client, api_keys.sign, broken, media_id="c-1", media_id_2="c-2", source_media_id="orig-1")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "file_2"
    assert response.json()["error"]["code"] == "unreadable_media", response.text
    assert store.verdict_by_media_id("default", "c-1") is None


def test_a_rendition_of_a_tenant_s_copy_of_another_s_public_file_stays_public(client, store):
    """B's kept copy of A's public signed store: the same bytes anyone may read, so the rendition's
    entry may be public too."""
    for tenant in ("ta", "tb"):
        store.create_tenant(tenant)
    a = store.create_key(name="a", scopes=frozenset(Scope), tenant="ta")[1]
    b = store.create_key(name="b", scopes=frozenset(Scope), tenant="tb")[1]
    signed = _sign(client, a, jpeg_bytes((96, 72), seed=12), "a-public")
    _verify(client, b, signed.content, "copy")
    response = _renditions(client, b, {"file": _resized(signed.content)}, media_id="b-small", source_media_id="copy")
    assert response.status_code == 200, response.text
    entry = store.repository.entry_by_manifest_id(None, response.json()["renditions"][0]["manifest_label"])
    assert entry is not None and not entry.private


def test_a_malformed_source_sha256_names_its_field(client, api_keys, original):
    response = _renditions(
        client, api_keys.sign, {"file": _resized(original.content)}, media_id="r", source_sha256="zz"
    )
    assert assert_error(response, 422, "invalid_sha256")["field"] == "source_sha256"


def test_a_verifier_stopped_at_its_limit_is_503_not_a_refusal(client, api_keys, original, store, monkeypatch):
    """The verifier stopped at its time or memory limit (on the rendition, or on the original's kept
    store) gave no answer: 503 verifier_busy (a retry may get one), not 422 unreadable_media nor 409
    upstream_credentials_unusable, as a rendition job retries it. A file over the verifier's size
    limit is an answer: 422 unreadable_media."""
    from app.api import work

    small = _resized(original.content)
    real_verify_file = work.verify_file

    async def rendition_verdict(verdict, services, path, *, known_sha256=None):
        if known_sha256 is None:
            return await real_verify_file(services, path, known_sha256=known_sha256)
        return verdict, None

    async def stopped_store(_services, _path):
        return limit_verdict()

    with monkeypatch.context() as patched:
        patched.setattr(work, "verify_manifest_store", stopped_store)
        response = _renditions(client, api_keys.sign, {"file": small}, media_id="r-1", source_media_id="orig-1")
        assert_error(response, 503, "verifier_busy")
    for code, status, answer in (("resource_limit", 503, "verifier_busy"), ("too_large", 422, "unreadable_media")):
        with monkeypatch.context() as patched:
            patched.setattr(work, "verify_file", functools.partial(rendition_verdict, limit_verdict(code)))
            response = _renditions(client, api_keys.sign, {"file": small}, media_id="r-1", source_media_id="orig-1")
            assert_error(response, status, answer)
    assert store.verdict_by_media_id("default", "r-1") is None


def test_an_original_made_private_later_takes_its_renditions_entries_with_it(client, store):
    """Review 2: a rendition's entry is public only while its original's store is; made private later
    (by its owner), the renditions that carry it, whoever signed them, leave other tenants' reads too."""
    for tenant in ("ta", "tb", "tc"):
        store.create_tenant(tenant)
    a = store.create_key(name="a", scopes=frozenset(Scope), tenant="ta")[1]
    b = store.create_key(name="b", scopes=frozenset(Scope), tenant="tb")[1]
    c = store.create_key(name="c", scopes=frozenset(Scope), tenant="tc")[1]
    signed = _sign(client, a, jpeg_bytes((96, 72), seed=13), "a-later")
    manifest_id = signed.headers["x-manifest-label"]
    _verify(client, b, signed.content, "copy")
    labels = []
    for token, source in ((a, "a-later"), (b, "copy")):
        response = _renditions(
            client, token, {"file": _resized(signed.content)}, media_id=f"{source}-small", source_media_id=source
        )
        assert response.status_code == 200, response.text
        labels.append(response.json()["renditions"][0]["manifest_label"])
    for label in labels:
        assert client.get(f"/sbr/v1/manifests/{label}", headers=ApiKeys.header(c)).status_code == 200

    answer = client.put(f"/v1/repository/{manifest_id}/visibility", json={"private": True}, headers=ApiKeys.header(a))
    assert answer.status_code == 200, answer.text

    for label in labels:
        assert client.get(f"/sbr/v1/manifests/{label}", headers=ApiKeys.header(c)).status_code == 404
        (entry,) = store.repository.entries_with_manifest_id(label)
        assert entry.private
    # Made public again, the original is found again; its renditions stay private (their owners decide).
    answer = client.put(f"/v1/repository/{manifest_id}/visibility", json={"private": False}, headers=ApiKeys.header(a))
    assert answer.status_code == 200, answer.text
    assert client.get(f"/sbr/v1/manifests/{manifest_id}", headers=ApiKeys.header(c)).status_code == 200
    assert client.get(f"/sbr/v1/manifests/{labels[0]}", headers=ApiKeys.header(c)).status_code == 404
