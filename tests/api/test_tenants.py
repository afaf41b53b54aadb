"""Tenant B against everything of tenant A's, through real HTTP, on SQLite and PostgreSQL.

Every attempt is refused or sees nothing, a refusal looks exactly like an unknown id (nothing
confirms that A's item exists), and A's data is unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import httpx
import pytest

from app.store.interface import Scope
from app.store.sql import SqlStore

from .helpers import BACKENDS, ApiKeys, assert_error, backend_database, jpeg_bytes, sign_form

ALL_SCOPES = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Everything in this module runs on SQLite and on PostgreSQL."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


@dataclass(frozen=True)
class Tenants:
    a: dict[str, str]  # Authorization headers
    b: dict[str, str]
    a_verified: str  # sha256 of bytes A verified as post-1
    a_signed: str  # sha256 of A's signed output, post-2
    a_job: str


def _verify(client: httpx.Client, headers, data: bytes, *, media_id: str | None = None) -> dict:
    form = {"media_id": media_id} if media_id else {}
    response = client.post("/v1/verify", files={"file": ("x.jpg", data, "image/jpeg")}, data=form, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_job(client: httpx.Client, headers, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def tenants(client, store: SqlStore) -> Tenants:
    store.create_tenant("tenant-a")
    store.create_tenant("tenant-b")
    a = ApiKeys.header(store.create_key(name="a", scopes=ALL_SCOPES, tenant="tenant-a")[1])
    b = ApiKeys.header(store.create_key(name="b", scopes=ALL_SCOPES, tenant="tenant-b")[1])
    verified = jpeg_bytes(seed=1201)
    _verify(client, a, verified, media_id="post-1")
    signed = client.post(
        "/v1/sign",
        files={"file": ("gen.jpg", jpeg_bytes(seed=1202), "image/jpeg")},
        data=sign_form(media_id="post-2"),
        headers=a,
    )
    assert signed.status_code == 200, signed.text
    job = client.post(
        "/v1/jobs/verify",
        files={"file": ("j.jpg", jpeg_bytes(seed=1203), "image/jpeg")},
        data={"media_id": "post-3"},
        headers=a,
    )
    assert job.status_code == 202, job.text
    if store.dialect == "sqlite":  # the server runs it; on PostgreSQL it waits for a worker (none here)
        assert _wait_job(client, a, job.json()["job_id"])["status"] == "succeeded"
    return Tenants(
        a=a,
        b=b,
        a_verified=hashlib.sha256(verified).hexdigest(),
        a_signed=signed.headers["x-content-sha256"],
        a_job=job.json()["job_id"],
    )


def _a_view(client: httpx.Client, tenants: Tenants) -> dict:
    """Everything A can read of its own, to compare before and after B's attempts."""
    labels = client.get(
        "/v1/labels", params=[("media_id", m) for m in ("post-1", "post-2", "post-3")], headers=tenants.a
    ).json()
    verdicts = {m: client.get(f"/v1/verdicts/{m}", headers=tenants.a).json() for m in ("post-1", "post-2", "post-3")}
    recent = client.get("/v1/labels/recent", headers=tenants.a).json()
    job = client.get(f"/v1/jobs/{tenants.a_job}", headers=tenants.a).json()
    return {"labels": labels, "verdicts": verdicts, "recent": recent, "job": job}


def test_b_reads_nothing_of_a_and_a_refusal_looks_like_an_unknown_id(client, tenants):
    a_before = _a_view(client, tenants)
    assert a_before["labels"]["labels"]["post-1"] is not None and a_before["labels"]["labels"]["post-2"] is not None

    labels = client.get(
        "/v1/labels", params=[("media_id", m) for m in ("post-1", "post-2", "post-3")], headers=tenants.b
    )
    assert labels.json() == {"labels": {"post-1": None, "post-2": None, "post-3": None}}
    batch = client.post("/v1/labels:batch", json=["post-1", "post-2"], headers=tenants.b)
    assert batch.json() == {"labels": {"post-1": None, "post-2": None}}
    assert client.get("/v1/labels/recent", headers=tenants.b).json() == {"items": []}

    unknown_id = client.get("/v1/verdicts/never-stored", headers=tenants.b)
    for media_id in ("post-1", "post-2", "post-3"):
        theirs = client.get(f"/v1/verdicts/{media_id}", headers=tenants.b)
        assert theirs.status_code == unknown_id.status_code == 404
        assert theirs.json()["error"]["code"] == unknown_id.json()["error"]["code"] == "not_found"
    unknown_hash = client.get(f"/v1/verdicts/sha256/{'0' * 64}", headers=tenants.b)
    for sha256 in (tenants.a_verified, tenants.a_signed):
        theirs = client.get(f"/v1/verdicts/sha256/{sha256}", headers=tenants.b)
        assert theirs.status_code == unknown_hash.status_code == 404
        assert theirs.json()["error"]["message"] == unknown_hash.json()["error"]["message"].replace("0" * 64, sha256)

    unknown_job = client.get(f"/v1/jobs/{'f' * 32}", headers=tenants.b)
    theirs = client.get(f"/v1/jobs/{tenants.a_job}", headers=tenants.b)
    assert theirs.status_code == unknown_job.status_code == 404 and theirs.json() == unknown_job.json()

    assert _a_view(client, tenants) == a_before


def test_b_cannot_repoint_or_overwrite_a_media_id_of_a(client, tenants):
    a_before = _a_view(client, tenants)
    # The attack of the review: verifying an unrelated plain file under A's id.
    plain = _verify(client, tenants.b, jpeg_bytes(seed=1299), media_id="post-2")
    assert plain["label"]["kind"] == "none"
    signed = client.post(
        "/v1/sign",
        files={"file": ("g.jpg", jpeg_bytes(seed=1298), "image/jpeg")},
        data=sign_form(media_id="post-1"),
        headers=tenants.b,
    )
    assert signed.status_code == 200
    # B's ids are B's own items...
    b_labels = client.get("/v1/labels?media_id=post-1&media_id=post-2", headers=tenants.b).json()["labels"]
    assert b_labels["post-2"]["kind"] == "none" and b_labels["post-1"]["kind"] != "none"
    # ...and A's are exactly as they were.
    assert _a_view(client, tenants) == a_before
    assert a_before["labels"]["labels"]["post-2"]["kind"] != "none"


def test_the_cache_is_shared_but_a_hash_read_needs_ones_own_submission(client, tenants):
    """A verdict is a fact about bytes: B sending A's bytes is answered from the cache, and only
    then may B read that verdict by hash (it has the bytes, so it learns nothing new)."""
    assert client.get(f"/v1/verdicts/sha256/{tenants.a_verified}", headers=tenants.b).status_code == 404
    again = _verify(client, tenants.b, jpeg_bytes(seed=1201))
    # From the shared cache, but `cached` speaks of B's own history only: it does not tell B that A sent them.
    assert again["cached"] is False and again["verdict"]["sha256"] == tenants.a_verified
    assert _verify(client, tenants.b, jpeg_bytes(seed=1201))["cached"] is True  # B's own repeat
    mine_now = client.get(f"/v1/verdicts/sha256/{tenants.a_verified}", headers=tenants.b)
    assert mine_now.status_code == 200 and mine_now.json()["verdict"]["sha256"] == tenants.a_verified
    # Shown with B's own time, never A's (which would say when A sent these bytes).
    a_time = client.get(f"/v1/verdicts/sha256/{tenants.a_verified}", headers=tenants.a).json()["stored_at"]
    assert mine_now.json()["stored_at"] > a_time
    # A's signed output stays A's alone.
    assert client.get(f"/v1/verdicts/sha256/{tenants.a_signed}", headers=tenants.b).status_code == 404


def test_a_hash_read_lists_the_callers_media_ids_for_the_bytes_and_no_one_elses(client, tenants):
    _verify(client, tenants.a, jpeg_bytes(seed=1201), media_id="post-1-repost")
    _verify(client, tenants.b, jpeg_bytes(seed=1201), media_id="b-copy")
    a = client.get(f"/v1/verdicts/sha256/{tenants.a_verified}", headers=tenants.a).json()
    b = client.get(f"/v1/verdicts/sha256/{tenants.a_verified}", headers=tenants.b).json()
    assert a["media_ids"] == ["post-1", "post-1-repost"] and "media_id" not in a
    assert b["media_ids"] == ["b-copy"]
    assert a["verdict"] == b["verdict"]  # one verdict for the bytes, each tenant's own ids
    signed = client.get(f"/v1/verdicts/sha256/{tenants.a_signed}", headers=tenants.a).json()
    assert signed["media_ids"] == ["post-2"]
    # Bytes sent without a media id: the verdict, and no id.
    unnamed = _verify(client, tenants.b, jpeg_bytes(seed=1296))
    assert client.get(f"/v1/verdicts/sha256/{unnamed['sha256']}", headers=tenants.b).json()["media_ids"] == []
    # A read by id still names the id it read.
    assert client.get("/v1/verdicts/b-copy", headers=tenants.b).json()["media_id"] == "b-copy"


def test_the_audit_log_names_the_tenant_and_the_claim(store, tenants):
    (entry,) = [e for e in store.entries(limit=10) if e.output_sha256 == tenants.a_signed]
    assert entry.tenant == "tenant-a" and entry.media_id == "post-2"
    assert entry.digital_source_type == "trainedAlgorithmicMedia"


def test_the_same_media_id_in_two_tenants_is_two_items(client, store, tenants):
    _verify(client, tenants.b, jpeg_bytes(seed=1297), media_id="shared-id")
    _verify(client, tenants.a, jpeg_bytes(seed=1201), media_id="shared-id")
    a = client.get("/v1/verdicts/shared-id", headers=tenants.a).json()
    b = client.get("/v1/verdicts/shared-id", headers=tenants.b).json()
    assert a["verdict"]["sha256"] == tenants.a_verified
    assert b["verdict"]["sha256"] == hashlib.sha256(jpeg_bytes(seed=1297)).hexdigest()
    assert store.verdict_by_media_id("tenant-a", "shared-id").sha256 == tenants.a_verified


def test_b_cannot_name_objects_outside_its_prefixes(client, store, tenants, tmp_path):
    """No prefixes: URIs are refused (403) before any storage request; A's prefix does not help B."""
    store.set_object_prefixes("tenant-a", ["team-a/"])
    for body in (
        {"source": "team-a/photo.jpg"},
        {"source": "../team-a/photo.jpg"},
        {"source": "file:///etc/passwd"},
        {"source": "s3://some-bucket/team-a/x.jpg"},
    ):
        answer = client.post("/v1/jobs/verify", json=body, headers=tenants.b)
        error = assert_error(answer, 403, "object_not_allowed") if answer.status_code == 403 else None
        assert answer.status_code in (403, 422), answer.text
        if error is not None:
            assert str(tmp_path) not in answer.text
    sign = client.post(
        "/v1/jobs/sign",
        json={"source": "team-a/in.jpg", "destination": "team-a/out.jpg", "generator": "G"},
        headers=tenants.b,
    )
    assert_error(sign, 403, "object_not_allowed")


def test_public_reads_show_the_named_tenants_feed_only(make_client, store, tenants):
    public = make_client(public_label_reads=True)
    a = public.get("/v1/labels?media_id=post-1&tenant=tenant-a").json()["labels"]["post-1"]
    b = public.get("/v1/labels?media_id=post-1&tenant=tenant-b").json()["labels"]["post-1"]
    assert a is not None and b is None
    assert [i["media_id"] for i in public.get("/v1/labels/recent?tenant=tenant-b").json()["items"]] == []
    recent_a = {i["media_id"] for i in public.get("/v1/labels/recent?tenant=tenant-a").json()["items"]}
    assert {"post-1", "post-2"} <= recent_a <= {"post-1", "post-2", "post-3"}
    assert public.get(f"/v1/verdicts/sha256/{tenants.a_signed}?tenant=tenant-b").status_code == 404
    assert public.get(f"/v1/verdicts/sha256/{tenants.a_signed}?tenant=tenant-a").status_code == 200  # post-2
    # Read publicly, only what A publishes under a media id: not every byte A ever sent.
    unpublished = _verify(public, tenants.a, jpeg_bytes(seed=1296))["verdict"]["sha256"]
    assert store.verdict_by_sha256("tenant-a", unpublished) is not None  # A's own key reads it
    assert public.get(f"/v1/verdicts/sha256/{unpublished}?tenant=tenant-a").status_code == 404


def test_a_key_of_an_unknown_tenant_cannot_be_created(store):
    with pytest.raises(ValueError, match="no tenant"):
        store.create_key(name="x", scopes=ALL_SCOPES, tenant="nobody")
