"""The main flows over real HTTP (uvicorn on a port, httpx): sign -> labels -> verify (cached) -> refresh."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .helpers import BACKENDS, ApiKeys, backend_database, jpeg_bytes, sign_form


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Everything in this module runs on SQLite and on PostgreSQL."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


def test_sign_then_label_then_verify_cached_then_refresh(client, api_keys, store, dev_credentials):
    original = jpeg_bytes()
    signed = client.post(
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("gen.jpg", original, "image/jpeg")},
        data=sign_form(media_id="post-1", title="A generated landscape"),
    )
    assert signed.status_code == 200, signed.text
    assert signed.headers["content-type"] == "image/jpeg"
    assert signed.headers["x-media-id"] == "post-1"
    assert signed.headers["x-manifest-label"].startswith("urn:c2pa:")
    output_sha = hashlib.sha256(signed.content).hexdigest()
    assert signed.headers["x-content-sha256"] == output_sha
    assert signed.content[:3] == b"\xff\xd8\xff" and len(signed.content) > len(original)
    assert signed.headers["x-request-id"]

    # The feed can label the item before anyone verifies it.
    labels = client.get(
        "/v1/labels", params=[("media_id", "post-1"), ("media_id", "never-seen")], headers=ApiKeys.header(api_keys.read)
    )
    assert labels.status_code == 200
    assert labels.json() == {
        "labels": {
            "post-1": {
                "kind": "ai_generated",
                "trusted": True,
                "text": "AI-generated",
                "issuer": "originmark development",
                "evidence": "digital_source_type",
                "recovered": False,
                "recovered_manifest_id": None,
            },
            "never-seen": None,
        }
    }
    assert labels.headers["cache-control"] == "private, max-age=60"
    not_modified = client.get(
        "/v1/labels",
        params=[("media_id", "post-1"), ("media_id", "never-seen")],
        headers={**ApiKeys.header(api_keys.read), "If-None-Match": labels.headers["etag"]},
    )
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == labels.headers["etag"]

    # The same bytes sent to verify are answered from the store, and a new media id points at them.
    verified = client.post(
        "/v1/verify",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("upload.jpg", signed.content, "image/jpeg")},
        data={"media_id": "repost-7"},
    )
    assert verified.status_code == 200, verified.text
    answer = verified.json()
    assert answer["cached"] is True
    assert answer["media_id"] == "repost-7"
    assert answer["sha256"] == output_sha
    assert answer["verdict"]["state"] == "trusted"
    assert answer["verdict"]["trust_list"] == "local"
    assert answer["verdict"]["title"] == "A generated landscape"
    assert answer["label"]["kind"] == "ai_generated"

    refreshed = client.post(
        "/v1/verify?refresh=true",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("upload.jpg", signed.content, "image/jpeg")},
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["cached"] is False
    assert refreshed.json()["verdict"] == answer["verdict"]  # the stored verdict was exact
    assert refreshed.json()["label"] == answer["label"]

    by_media = client.get("/v1/verdicts/repost-7", headers=ApiKeys.header(api_keys.read))
    by_hash = client.get(f"/v1/verdicts/sha256/{output_sha}", headers=ApiKeys.header(api_keys.read))
    assert by_media.status_code == 200 and by_hash.status_code == 200
    assert by_media.json()["sha256"] == by_hash.json()["sha256"] == output_sha
    assert by_media.json()["media_id"] == "repost-7"
    assert by_media.json()["trust_current"] is True
    assert by_media.json()["verdict"]["state"] == "trusted"

    # The signature is in the audit log with what the issue asks for.
    [entry] = store.entries()
    leaf = x509.load_pem_x509_certificates(dev_credentials.chain_path.read_bytes())[0]
    assert entry.key_id == api_keys.sign.split("_")[1]
    assert entry.input_sha256 == hashlib.sha256(original).hexdigest()
    assert entry.output_sha256 == output_sha
    assert entry.manifest_label == signed.headers["x-manifest-label"]
    assert entry.certificate_fingerprint == hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()
    assert entry.generator == "Test Diffusion" and entry.generator_version == "1.0"
    assert entry.media_id == "post-1"
    # The claim as signed: the effective source type (none was declared) and the title.
    assert entry.digital_source_type == "trainedAlgorithmicMedia" and entry.title == "A generated landscape"
