"""POST /v1/verify and the verdict reads: states, caching by content hash and trust configuration."""

from __future__ import annotations

import hashlib

import pytest

from verifier.label import label_for

from .helpers import ApiKeys, assert_error, jpeg_bytes, sign_form


def _verify(client, api_keys, data: bytes, *, media_id: str | None = None, refresh: bool = False):
    response = client.post(
        "/v1/verify" + ("?refresh=true" if refresh else ""),
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("upload.jpg", data, "application/octet-stream")},
        data={"media_id": media_id} if media_id else None,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _signed(client, api_keys) -> bytes:
    response = client.post(
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("gen.jpg", jpeg_bytes(), "image/jpeg")},
        data=sign_form(),
    )
    assert response.status_code == 200
    return response.content


def test_media_without_credentials(client, api_keys):
    plain = jpeg_bytes()
    first = _verify(client, api_keys, plain, media_id="plain-1")
    assert first["cached"] is False
    assert first["sha256"] == hashlib.sha256(plain).hexdigest()
    assert first["verdict"]["state"] == "none"
    assert first["label"]["kind"] == "none"
    second = _verify(client, api_keys, plain)
    assert second["cached"] is True and second["media_id"] is None
    assert second["verdict"] == first["verdict"]


def test_corrupted_media_is_an_error_verdict_and_is_stored(client, api_keys):
    broken = b"\xff\xd8\xff" + b"\x00" * 300
    answer = _verify(client, api_keys, broken, media_id="broken-1")
    assert answer["verdict"]["state"] == "error"
    assert "could not be parsed" in answer["verdict"]["reason"]
    assert answer["label"]["kind"] == "none"
    stored = client.get("/v1/verdicts/broken-1", headers=ApiKeys.header(api_keys.read)).json()
    assert stored["verdict"]["state"] == "error"


def test_tampered_credentials_are_invalid_and_show_no_claim(client, api_keys):
    signed = bytearray(_signed(client, api_keys))
    signed[-40] ^= 0xFF  # inside the image data, after the manifest: the content hash no longer matches
    answer = _verify(client, api_keys, bytes(signed), media_id="tampered")
    assert answer["cached"] is False
    assert answer["verdict"]["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in answer["verdict"]["failure_codes"]
    assert answer["label"]["kind"] == "invalid"
    assert answer["label"]["issuer"] is None


def test_a_known_content_hash_under_another_trust_configuration_is_verified_again(
    client, api_keys, store, worker_pools
):
    plain = jpeg_bytes()
    first = _verify(client, api_keys, plain, media_id="old")
    old = store.verdict_by_sha256("default", first["sha256"])
    store.save_verdict(
        tenant="default", verdict=old.verdict, label=old.label, trust_fingerprint="t1:some-older-configuration"
    )
    stale = client.get("/v1/verdicts/old", headers=ApiKeys.header(api_keys.read)).json()
    assert stale["trust_current"] is False

    again = _verify(client, api_keys, plain)
    assert again["cached"] is False
    assert store.verdict_by_sha256("default", first["sha256"]).trust_fingerprint == worker_pools.trust_fingerprint
    assert client.get("/v1/verdicts/old", headers=ApiKeys.header(api_keys.read)).json()["trust_current"] is True


def test_refresh_verifies_again_and_keeps_the_media_id(client, api_keys, store):
    data = jpeg_bytes()
    _verify(client, api_keys, data, media_id="keep-me")
    stored_before = store.verdict_by_media_id("default", "keep-me").stored_at
    refreshed = _verify(client, api_keys, data, refresh=True)
    assert refreshed["cached"] is False
    assert store.verdict_by_media_id("default", "keep-me").stored_at > stored_before


def test_verdict_reads_unknown_ids(client, api_keys):
    assert_error(client.get("/v1/verdicts/unknown", headers=ApiKeys.header(api_keys.read)), 404, "not_found")
    assert_error(client.get("/v1/verdicts/sha256/" + "a" * 64, headers=ApiKeys.header(api_keys.read)), 404, "not_found")


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "a" * 65])
def test_verdict_read_with_a_malformed_hash(client, api_keys, bad):
    assert_error(client.get(f"/v1/verdicts/sha256/{bad}", headers=ApiKeys.header(api_keys.read)), 422, "invalid_sha256")


def test_verdict_read_with_a_malformed_media_id(client, api_keys):
    assert_error(client.get("/v1/verdicts/a%20b", headers=ApiKeys.header(api_keys.read)), 422, "invalid_media_id")
    overlong = client.get("/v1/verdicts/" + "x" * 201, headers=ApiKeys.header(api_keys.read))
    assert_error(overlong, 422, "invalid_media_id")


def test_uppercase_hash_finds_the_verdict(client, api_keys, store, worker_pools):
    data = jpeg_bytes()
    answer = _verify(client, api_keys, data)
    response = client.get(f"/v1/verdicts/sha256/{answer['sha256'].upper()}", headers=ApiKeys.header(api_keys.read))
    assert response.status_code == 200
    assert response.json()["verdict"] == answer["verdict"]
    assert label_for(store.verdict_by_sha256("default", answer["sha256"]).verdict).kind.value == answer["label"]["kind"]


def test_the_remote_fetch_allowlist_is_part_of_the_trust_fingerprint():
    # A file naming a remote manifest verifies differently once its host is allowlisted, so a
    # verdict stored under another allowlist must not be answered from the store.
    from app.worker_pools import trust_fingerprint
    from verifier.trust import default_trust_policy

    policy = default_trust_policy()
    none = trust_fingerprint(policy, engine="e")
    adobe = trust_fingerprint(policy, engine="e", remote_fetch_hosts=("cai-manifests.adobe.com",))
    both = trust_fingerprint(policy, engine="e", remote_fetch_hosts=("b.example", "cai-manifests.adobe.com"))
    assert len({none, adobe, both}) == 3
    assert both == trust_fingerprint(policy, engine="e", remote_fetch_hosts=("cai-manifests.adobe.com", "b.example"))
