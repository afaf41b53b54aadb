"""POST /v1/verify with keep_manifest=true over real HTTP: the verified file's manifest store is cut
out (in a verifier worker) and kept as a `verified` entry of the caller's tenant, seen by that
tenant only; nothing is kept without the flag, nor for an invalid credential; a third-party
corpus file's store is kept and parses with the engine."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from app.store.repository import EntryOrigin
from app.store.sql import SqlStore
from verifier.manifest_store import read_manifest_store

from . import test_sbr
from .helpers import assert_error, sign_form
from .sbr_support import SBR, Tenants, encoded, textured_image

database_url = test_sbr.database_url  # SQLite and PostgreSQL
tenants = test_sbr.tenants
# c2pa-rs's own test image, signed by its test signer: valid (trusted under the SDK's test roots).
CORPUS_FILE = "c2pa-rs/sdk/tests/fixtures/C.jpg"
KEEP = {"keep_manifest": "true"}


def _sign(client: httpx.Client, headers: dict[str, str], data: bytes, media_type: str) -> tuple[bytes, str]:
    files = {"file": ("gen." + media_type.split("/")[1], data, media_type)}
    response = client.post("/v1/sign", headers=headers, files=files, data=sign_form())
    assert response.status_code == 200, response.text
    return response.content, response.headers["x-manifest-label"]


def _verify(client: httpx.Client, headers: dict[str, str], data: bytes, form: dict[str, str] | None = None) -> dict:
    response = client.post(
        "/v1/verify", params={"refresh": "true"}, headers=headers, files={"file": ("f", data)}, data=form or {}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _kept_by(store: SqlStore, manifest_id: str) -> dict[str, EntryOrigin]:
    return {entry.tenant: entry.origin for entry in store.repository.entries_with_manifest_id(manifest_id)}


def _signed_by_a_privately(client: httpx.Client, tenants: Tenants, media_type: str) -> tuple[bytes, str]:
    """Tenant a signs (a public `signed` entry), then makes it private: what tenant b finds is its own."""
    fmt = "PNG" if media_type == "image/png" else "JPEG"
    signed, manifest_id = _sign(client, tenants.a, encoded(textured_image(41), fmt), media_type)
    answer = client.put(f"/v1/repository/{manifest_id}/visibility", json={"private": True}, headers=tenants.a)
    assert answer.status_code == 200, answer.text
    return signed, manifest_id


@pytest.mark.parametrize("media_type", ["image/jpeg", "image/png"])
def test_a_verified_signed_file_is_kept_for_the_verifying_tenant_only_once(client, tenants, store, media_type):
    signed, manifest_id = _signed_by_a_privately(client, tenants, media_type)
    assert client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.b).status_code == 404

    body = _verify(client, tenants.b, signed, KEEP)
    assert body["verdict"]["state"] in ("trusted", "valid")
    assert body["kept_manifest_id"] == manifest_id
    assert _kept_by(store, manifest_id) == {"tenant-a": EntryOrigin.SIGNED, "tenant-b": EntryOrigin.VERIFIED}
    found = client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.b)
    assert found.status_code == 200, found.text
    contents = read_manifest_store(found.content)
    assert contents is not None and contents.active_manifest == manifest_id
    # The signed image's io.iscc.v0 binding came with it: b's entry is searchable by content.
    (entry,) = [e for e in store.repository.entries_with_manifest_id(manifest_id) if e.tenant == "tenant-b"]
    assert [binding.alg for binding in entry.bindings] == ["io.iscc.v0"]

    # Asking again (fresh or answered from the store) keeps nothing new and says the same id.
    again = client.post("/v1/verify", headers=tenants.b, files={"file": ("f", signed)}, data=KEEP).json()
    assert again["cached"] is True and again["kept_manifest_id"] == manifest_id
    assert _verify(client, tenants.b, signed, KEEP)["kept_manifest_id"] == manifest_id
    assert len(store.repository.entries_with_manifest_id(manifest_id)) == 2


def test_without_the_flag_nothing_is_kept(client, tenants, store):
    signed, manifest_id = _signed_by_a_privately(client, tenants, "image/jpeg")
    body = _verify(client, tenants.b, signed)
    assert body["verdict"]["state"] in ("trusted", "valid") and body["kept_manifest_id"] is None
    assert _verify(client, tenants.b, signed, {"keep_manifest": "false"})["kept_manifest_id"] is None
    assert _kept_by(store, manifest_id) == {"tenant-a": EntryOrigin.SIGNED}


def test_an_invalid_credential_is_not_kept(client, tenants, store):
    signed, manifest_id = _signed_by_a_privately(client, tenants, "image/jpeg")
    with Image.open(io.BytesIO(signed)) as opened:
        pixels = opened.convert("RGB")
    pixels.putpixel((5, 5), (255, 0, 0))
    # The same manifest store over other pixels: the hard binding no longer matches.
    tampered = _with_store_of(signed, encoded(pixels))
    body = _verify(client, tenants.b, tampered, KEEP)
    assert body["verdict"]["state"] == "invalid", body["verdict"]
    assert body["kept_manifest_id"] is None
    assert _kept_by(store, manifest_id) == {"tenant-a": EntryOrigin.SIGNED}


def test_a_third_party_file_is_kept_and_its_store_parses(client, tenants, store, shared_dir: Path):
    data = (shared_dir / "corpus" / CORPUS_FILE).read_bytes()
    body = _verify(client, tenants.b, data, KEEP)
    assert body["verdict"]["state"] in ("trusted", "valid"), body["verdict"]
    manifest_id = body["kept_manifest_id"]
    assert manifest_id == body["verdict"]["manifests"][0]["label"]

    assert client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.a).status_code == 404  # b's only
    found = client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.b)
    assert found.status_code == 200, found.text
    contents = read_manifest_store(found.content)
    assert contents is not None and contents.active_manifest == manifest_id
    assert _kept_by(store, manifest_id) == {"tenant-b": EntryOrigin.VERIFIED}


def test_keep_manifest_is_true_or_false(client, tenants):
    response = client.post(
        "/v1/verify",
        headers=tenants.b,
        files={"file": ("f", encoded(textured_image(3)))},
        data={"keep_manifest": "yes"},
    )
    assert_error(response, 422, "invalid_flag")


def _with_store_of(signed: bytes, other: bytes) -> bytes:
    """`other` (a JPEG) with `signed`'s APP11 segments inserted after its SOI."""
    position, segments = 2, b""
    while signed[position] == 0xFF and signed[position + 1] != 0xDA:
        length = int.from_bytes(signed[position + 2 : position + 4], "big")
        if signed[position + 1] == 0xEB:
            segments += signed[position : position + 2 + length]
        position += 2 + length
    assert segments
    return other[:2] + segments + other[2:]


def test_the_answer_documents_kept_manifest_id(client):
    schema = client.get("/openapi.json").json()
    verify = schema["paths"]["/v1/verify"]["post"]
    form = verify["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert "keep_manifest" in form
    assert "kept_manifest_id" in json.dumps(schema["components"]["schemas"]["VerifyResponse"])
