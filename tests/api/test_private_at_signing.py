"""`private=true` at signing over real HTTP: POST /v1/sign and POST /v1/jobs/sign make the new
manifest repository entry the signing tenant's only from the start. Another tenant never finds it
(SBR by id, by binding, by content, recovery on verify: each exactly like an unknown id); the
owner does; the change is recorded like a later PUT .../visibility, naming the key. And verify
jobs take `keep_manifest` like POST /v1/verify (the same use case: app/usecases/verification.py)."""

from __future__ import annotations

import time

import httpx
import pytest

from app.store.repository import EntryOrigin
from app.store.sql import SqlStore

from . import test_sbr
from .helpers import assert_error, sign_form
from .sbr_support import SBR, Tenants, encoded, textured_image
from .test_repository_visibility import EVERY_WAY, NO_WAY, UNKNOWN_ID, _changes, _found

database_url = test_sbr.database_url  # SQLite and PostgreSQL (visibility is in the queries)
tenants = test_sbr.tenants


def _sign(client: httpx.Client, headers: dict[str, str], data: bytes, **fields: str) -> httpx.Response:
    files = {"file": ("gen.jpg", data, "image/jpeg")}
    response = client.post("/v1/sign", headers=headers, files=files, data=sign_form(**fields))
    assert response.status_code == 200, response.text
    return response


def _key_id(store: SqlStore, tenant: str) -> str:
    (key,) = [key for key in store.list_keys() if key.tenant == tenant]
    return key.key_id


def test_a_file_signed_private_is_never_found_by_another_tenant(client, tenants, store):
    signed = _sign(client, tenants.a, encoded(textured_image(51)), private="true")
    manifest_id = signed.headers["x-manifest-label"]
    assert _found(client, tenants.b, signed.content, manifest_id) == NO_WAY
    assert _found(client, tenants.a, signed.content, manifest_id) == EVERY_WAY
    # Another tenant's answer by id is the unknown id's, word for word.
    hidden = client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.b)
    unknown = client.get(f"{SBR}/manifests/{UNKNOWN_ID}", headers=tenants.b)
    assert (
        assert_error(hidden, 404, "not_found")["message"].replace(manifest_id, UNKNOWN_ID)
        == assert_error(unknown, 404, "not_found")["message"]
    )
    (entry,) = store.repository.entries_with_manifest_id(manifest_id)
    assert entry.private and entry.origin is EntryOrigin.SIGNED and entry.tenant == "tenant-a"
    # Recorded like a later change, by the key that signed.
    assert _changes(store) == [(manifest_id, "tenant-a", True, f"key:{_key_id(store, 'tenant-a')}")]

    # Made public later, it is found as any signed entry.
    answer = client.put(f"/v1/repository/{manifest_id}/visibility", json={"private": False}, headers=tenants.a)
    assert answer.status_code == 200, answer.text
    assert _found(client, tenants.b, signed.content, manifest_id) == EVERY_WAY


def test_without_private_or_with_false_the_entry_is_shared_and_nothing_is_recorded(client, tenants, store):
    for seed, fields in ((52, {}), (53, {"private": "false"})):
        signed = _sign(client, tenants.a, encoded(textured_image(seed)), **fields)
        manifest_id = signed.headers["x-manifest-label"]
        assert _found(client, tenants.b, signed.content, manifest_id) == EVERY_WAY
    assert _changes(store) == []


def test_private_is_true_or_false(client, tenants, store):
    for value in ("yes", "1", "True", ""):
        refused = client.post(
            "/v1/sign",
            headers=tenants.a,
            files={"file": ("g.jpg", encoded(textured_image(54)), "image/jpeg")},
            data=sign_form(private=value),
        )
        assert assert_error(refused, 422, "invalid_flag")["field"] == "private"
    assert store.repository.stats().entries == 0


def test_the_openapi_document_describes_private_and_the_jobs_options(client):
    document = client.get("/openapi.json").json()
    sign_fields = document["paths"]["/v1/sign"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert sign_fields["properties"]["private"]["enum"] == ["true", "false"]
    assert "visibility" in sign_fields["properties"]["private"]["description"]
    for path, option in (("/v1/jobs/sign", "private"), ("/v1/jobs/verify", "keep_manifest")):
        body = document["paths"][path]["post"]["requestBody"]["content"]
        assert option in body["application/json"]["schema"]["properties"], path
        assert option in body["multipart/form-data"]["schema"]["properties"], path


# --- jobs (the test server runs them itself on SQLite; PostgreSQL would wait for a job worker) ---


def _wait(client: httpx.Client, headers: dict[str, str], job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{job_id}", headers=headers).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.1)
    return job


def _sqlite_only(store: SqlStore) -> None:
    if store.dialect != "sqlite":
        pytest.skip("the test server runs jobs itself on SQLite only (PostgreSQL waits for a job worker)")


def test_a_sign_job_with_private_makes_a_private_entry(make_client, tenants, store, tmp_path):
    _sqlite_only(store)
    client = make_client(objects_dir=tmp_path / "objects")
    store.set_object_prefixes("tenant-a", ["out/"])
    source = encoded(textured_image(55))
    submitted = client.post(
        "/v1/jobs/sign",
        headers=tenants.a,
        files={"file": ("gen.jpg", source, "image/jpeg")},
        data={"destination": "out/private.jpg", "generator": "Test Diffusion", "private": "true"},
    )
    assert submitted.status_code == 202, submitted.text
    job = _wait(client, tenants.a, submitted.json()["job_id"])
    assert job["status"] == "succeeded", job
    signed = (tmp_path / "objects" / "out" / "private.jpg").read_bytes()
    manifest_id = job["result"]["verdict"]["manifests"][0]["label"]
    assert _found(client, tenants.b, signed, manifest_id) == NO_WAY
    assert _found(client, tenants.a, signed, manifest_id) == EVERY_WAY
    assert _changes(store) == [(manifest_id, "tenant-a", True, f"key:{_key_id(store, 'tenant-a')}")]

    # The same job without `private` is another job (its own idempotency key), and shares its entry.
    shared = client.post(
        "/v1/jobs/sign",
        headers=tenants.a,
        json={"source": "out/private.jpg", "destination": "out/shared.jpg", "generator": "Test Diffusion"},
    )
    assert shared.status_code == 202 and shared.json()["job_id"] != submitted.json()["job_id"]
    job = _wait(client, tenants.a, shared.json()["job_id"])
    assert job["status"] == "succeeded", job
    again = (tmp_path / "objects" / "out" / "shared.jpg").read_bytes()
    assert _found(client, tenants.b, again, job["result"]["verdict"]["manifests"][0]["label"]) == EVERY_WAY


def _verify_job(client: httpx.Client, headers: dict[str, str], data: bytes, **fields: str) -> dict:
    submitted = client.post(
        "/v1/jobs/verify", headers=headers, files={"file": ("f.jpg", data, "image/jpeg")}, data=fields
    )
    assert submitted.status_code == 202, submitted.text
    job = _wait(client, headers, submitted.json()["job_id"])
    assert job["status"] == "succeeded", job
    return job


def test_a_verify_job_keeps_the_manifest_store_when_asked(client, tenants: Tenants, store):
    _sqlite_only(store)
    signed = _sign(client, tenants.a, encoded(textured_image(56)), private="true")
    manifest_id = signed.headers["x-manifest-label"]

    plain = _verify_job(client, tenants.b, signed.content)
    assert plain["result"]["kept_manifest_id"] is None
    assert {entry.tenant for entry in store.repository.entries_with_manifest_id(manifest_id)} == {"tenant-a"}

    kept = _verify_job(client, tenants.b, signed.content, keep_manifest="true")
    assert kept["job_id"] != plain["job_id"]  # another job: the option is part of its idempotency key
    assert kept["result"]["verdict"]["state"] in ("trusted", "valid")
    assert kept["result"]["kept_manifest_id"] == manifest_id
    kinds = {entry.tenant: entry.origin for entry in store.repository.entries_with_manifest_id(manifest_id)}
    assert kinds == {"tenant-a": EntryOrigin.SIGNED, "tenant-b": EntryOrigin.VERIFIED}
    found = client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.b)  # b's own entry now
    assert found.status_code == 200, found.text

    refused = client.post(
        "/v1/jobs/verify",
        headers=tenants.b,
        files={"file": ("f.jpg", signed.content, "image/jpeg")},
        data={"keep_manifest": "maybe"},
    )
    assert_error(refused, 422, "validation_error")
