"""POST /v1/sign of uploads that already carry Content Credentials (real corpus files, real server):
they are kept as the signed file's parentOf ingredient, replacing them needs a policy that allows it,
and broken ones are recorded as broken or refused, never dropped silently."""

from __future__ import annotations

import dataclasses

import pytest

from app.store.audit import SqlAuditLog
from app.store.audit_encoding import CURRENT_VERSION
from app.store.interface import Scope
from signer.policy import SigningPolicy

from .helpers import ApiKeys, assert_error, sign_form

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
CAMERA = "c2pa-rs/cli/tests/fixtures/C_with_CAWG_data.jpg"
TAMPERED = "c2pa-rs/sdk/tests/fixtures/XCA.jpg"
CLAIM_MISSING = "c2pa-js-legacy/tools/testing/fixtures/images/E-clm-CAICAI.jpg"
SIGN = frozenset({Scope.SIGN})
FIREFLY_MANIFEST = "adobe:5468a4d3-0dc5-4550-8248-590eb7c520ec"  # its active manifest, as any reader names it


@pytest.fixture
def corpus_file(shared_dir):
    def read(relative: str) -> tuple[str, bytes, str]:
        path = shared_dir / "corpus" / relative
        return (path.name, path.read_bytes(), "image/jpeg")

    return read


def _sign(client, token, upload, **fields):
    return client.post("/v1/sign", headers=ApiKeys.header(token), files={"file": upload}, data=sign_form(**fields))


def _stored(client, api_keys, media_id: str) -> tuple[dict, dict]:
    response = client.get(f"/v1/verdicts/{media_id}", headers=ApiKeys.header(api_keys.read))
    assert response.status_code == 200, response.text
    body = response.json()
    return body["verdict"], body["label"]


def _assert_nothing_kept(store, media_id: str) -> None:
    assert store.entries() == []  # nothing in the audit log
    assert store.verdict_by_media_id("default", media_id) is None


def test_an_ai_image_keeps_its_credentials_and_its_label(client, api_keys, store, corpus_file):
    signed = _sign(client, api_keys.sign, corpus_file(FIREFLY), generator="Acme Upscaler", media_id="ff")
    assert signed.status_code == 200, signed.text
    assert signed.headers["x-prior-credentials"] == "kept"
    verdict, label = _stored(client, api_keys, "ff")
    assert [m["label"] for m in verdict["manifests"]][1:] == [FIREFLY_MANIFEST]
    [ingredient] = verdict["ingredients"]
    assert (ingredient["relationship"], ingredient["manifest_label"]) == ("parentOf", FIREFLY_MANIFEST)
    assert [a["action"] for a in verdict["actions"]] == ["c2pa.opened", "c2pa.edited"]
    assert label["kind"] == "ai_generated"  # the AI original stays AI-generated
    [entry] = store.entries()
    assert entry.manifest_label == signed.headers["x-manifest-label"]  # audited like any signature
    assert (entry.prior_credentials, entry.replaced_manifest_id) == ("kept", None)


def test_a_camera_photo_keeps_its_history_under_the_declared_ai_edit(client, api_keys, corpus_file):
    signed = _sign(client, api_keys.sign, corpus_file(CAMERA), generator="Acme Inpaint", media_id="photo")
    assert signed.status_code == 200, signed.text
    verdict, label = _stored(client, api_keys, "photo")
    assert verdict["manifests"][1]["actions"][0]["digital_source_type"].endswith("/digitalCapture")
    assert label["kind"] == "ai_edited"  # captured, then the GenAI step this signature declares


def test_replacing_credentials_is_refused_by_the_default_policy(client, api_keys, store, corpus_file):
    response = _sign(client, api_keys.sign, corpus_file(FIREFLY), replace_credentials="true", media_id="ff")
    error = assert_error(response, 403, "signing_policy")
    assert error["refused"] == {"replace_credentials": "true"}
    assert error["allowed"]["replace_credentials"] is False
    assert "replacing the Content Credentials" in error["message"]
    _assert_nothing_kept(store, "ff")


def test_a_key_granted_replacing_replaces_and_the_audit_entry_says_so(client, api_keys, store, corpus_file):
    """The grant is the key's own: another tenant's key, and the same tenant's other keys, stay denied."""
    store.create_tenant("acme")
    store.create_tenant("globex")
    granted = dataclasses.replace(SigningPolicy.default(), may_replace_credentials=True)
    _, acme = store.create_key(name="acme uploads", scopes=SIGN, tenant="acme", signing_policy=granted)
    _, acme_other = store.create_key(name="acme other", scopes=SIGN, tenant="acme")
    _, globex = store.create_key(name="globex uploads", scopes=SIGN, tenant="globex")

    signed = _sign(client, acme, corpus_file(FIREFLY), replace_credentials="true", media_id="ff")
    assert signed.status_code == 200, signed.text
    assert signed.headers["x-prior-credentials"] == "replaced"
    [entry] = store.entries()
    assert (entry.tenant, entry.prior_credentials) == ("acme", "replaced")
    assert entry.replaced_manifest_id == FIREFLY_MANIFEST  # what was dropped
    assert entry.manifest_label == signed.headers["x-manifest-label"]
    record = SqlAuditLog(db_engine=store.db_engine).records(limit=1)[0]
    assert record.hash_version == CURRENT_VERSION  # the replacement is inside the record's hash

    for token in (globex, acme_other, api_keys.sign):
        refused = _sign(client, token, corpus_file(FIREFLY), replace_credentials="true", media_id="ff2")
        error = assert_error(refused, 403, "signing_policy")
        assert error["refused"] == {"replace_credentials": "true"}
    kept = _sign(client, globex, corpus_file(FIREFLY), media_id="ff")  # globex's own media id "ff"
    assert kept.status_code == 200 and kept.headers["x-prior-credentials"] == "kept"
    assert [(e.tenant, e.prior_credentials) for e in store.entries()] == [("globex", "kept"), ("acme", "replaced")]
    assert SqlAuditLog(db_engine=store.db_engine).verify_chain().intact


def test_replace_credentials_as_a_query_parameter_of_a_raw_body(client, api_keys, store, corpus_file):
    _, data, content_type = corpus_file(FIREFLY)
    response = client.post(
        "/v1/sign",
        params={**sign_form(), "replace_credentials": "true", "media_id": "ff"},
        content=data,
        headers={**ApiKeys.header(api_keys.sign), "Content-Type": content_type},
    )
    assert_error(response, 403, "signing_policy")
    _assert_nothing_kept(store, "ff")


def test_replace_credentials_is_true_or_false(client, api_keys, corpus_file):
    response = _sign(client, api_keys.sign, corpus_file(FIREFLY), replace_credentials="yes")
    error = assert_error(response, 422, "invalid_flag")
    assert error["field"] == "replace_credentials"
    kept = _sign(client, api_keys.sign, corpus_file(FIREFLY), replace_credentials="false")
    assert kept.status_code == 200 and kept.headers["x-prior-credentials"] == "kept"


def test_invalid_credentials_are_recorded_as_invalid(client, api_keys, corpus_file):
    signed = _sign(client, api_keys.sign, corpus_file(TAMPERED), media_id="tampered")
    assert signed.status_code == 200, signed.text
    verdict, label = _stored(client, api_keys, "tampered")
    [ingredient] = verdict["ingredients"]
    assert ingredient["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in ingredient["failure_codes"]
    assert "the credentials of an ingredient (parentOf) are invalid" in verdict["reason"]
    assert label["kind"] == "ai_edited"  # only our own declaration: the broken history claims nothing


def test_credentials_that_cannot_be_kept_are_a_422(client, api_keys, store, corpus_file):
    response = _sign(client, api_keys.sign, corpus_file(CLAIM_MISSING), media_id="broken")
    error = assert_error(response, 422, "prior_credentials_unusable")
    assert error["field"] == "file"
    assert "ingredient.manifest.missing" in error["message"]
    _assert_nothing_kept(store, "broken")
