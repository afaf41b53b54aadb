"""Jobs under tenants, on PostgreSQL with a real worker and moto's S3 server:

- a URI outside the tenant's prefixes is refused (403 object_not_allowed) with ZERO requests to
  storage (counted on the S3 client as requests are sent);
- another tenant's job reads as unknown;
- a job pins its source at submit: a source replaced before the worker runs fails the job
  (source_changed) and nothing is verified or signed;
- a revoked key, or a signing policy narrowed since submit, stops its queued sign job
  (key_revoked / signing_policy) without signing or auditing anything.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator

import httpx
import pytest

from app.api.main import create_app
from app.objects.errors import ObjectNotFound
from app.objects.location import ObjectLocation, Scheme
from app.store.interface import Scope
from signer.manifest import DigitalSourceType
from signer.policy import SigningPolicy
from tests.api.helpers import jpeg_bytes, serve_in_thread
from tests.jobs.conftest import auth, wait_done


@pytest.fixture
def served(settings, store, jobs_worker_pools) -> Iterator[tuple[object, httpx.Client]]:
    app = create_app(settings, store=store, worker_pools=jobs_worker_pools)
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield app, client


def _count_s3_requests(app, client: httpx.Client, token: str) -> list[str]:
    """Every request the server's S3 client sends from now on (their URLs)."""
    assert client.get(f"/v1/jobs/{'0' * 32}", headers=auth(token)).status_code == 404  # builds the job side

    sent: list[str] = []
    s3 = app.state.job_queue.objects.backend(ObjectLocation(Scheme.S3, "k", "any-bucket"))
    s3.client().meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    return sent


def put_object(s3, key: str, data: bytes) -> str:
    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, key, bucket), io.BytesIO(data))
    return f"s3://{bucket}/{key}"


def test_a_uri_outside_the_tenants_prefixes_makes_no_storage_request(served, s3, store):
    app, client = served
    _object_store, bucket = s3
    store.create_tenant("tenant-b", object_prefixes=[f"s3://{bucket}/b/"])
    b = store.create_key(name="b", scopes=frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ}), tenant="tenant-b")[1]
    a_source = put_object(s3, "a/photo.jpg", jpeg_bytes(seed=1401))
    b_source = put_object(s3, "b/photo.jpg", jpeg_bytes(seed=1402))
    sent = _count_s3_requests(app, client, b)

    refused = [
        client.post("/v1/jobs/verify", json={"source": a_source}, headers=auth(b)),
        client.post("/v1/jobs/verify", json={"source": f"s3://{bucket}/b-other/x.jpg"}, headers=auth(b)),
        client.post("/v1/jobs/verify", json={"source": "s3://another-bucket/b/x.jpg"}, headers=auth(b)),
        # Reading its own object into another tenant's folder (a confused deputy's PUT):
        client.post(
            "/v1/jobs/sign",
            json={"source": b_source, "destination": f"s3://{bucket}/a/photo.jpg", "generator": "G"},
            headers=auth(b),
        ),
        # Sending the media itself does not open a destination outside the prefixes either.
        client.post(
            "/v1/jobs/sign",
            data={"destination": f"s3://{bucket}/a/up.jpg", "generator": "G"},
            files={"file": ("u.jpg", jpeg_bytes(seed=1403), "image/jpeg")},
            headers=auth(b),
        ),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "object_not_allowed"
    assert sent == []  # not one HEAD, GET or PUT

    allowed = client.post("/v1/jobs/verify", json={"source": b_source}, headers=auth(b))
    assert allowed.status_code == 202, allowed.text
    assert sent  # its own prefix: the source is looked at (HEAD) at submit


def test_another_tenants_job_reads_as_unknown(served, s3, store, keys):
    _app, client = served
    store.create_tenant("tenant-b")
    b = store.create_key(name="b", scopes=frozenset({Scope.READ}), tenant="tenant-b")[1]
    job = client.post(
        "/v1/jobs/verify", json={"source": put_object(s3, "x.jpg", jpeg_bytes(seed=1404))}, headers=auth(keys.verify)
    )
    assert job.status_code == 202, job.text
    theirs = client.get(f"/v1/jobs/{job.json()['job_id']}", headers=auth(b))
    unknown = client.get(f"/v1/jobs/{'e' * 32}", headers=auth(b))
    assert theirs.status_code == unknown.status_code == 404 and theirs.json() == unknown.json()
    assert client.get(f"/v1/jobs/{job.json()['job_id']}", headers=auth(keys.read)).status_code == 200


def test_a_source_replaced_after_submit_fails_the_job_and_nothing_is_verified(served, s3, store, keys, drain_queue):
    _app, client = served
    uri = put_object(s3, "pinned/in.jpg", jpeg_bytes(seed=1405))
    job = client.post("/v1/jobs/verify", json={"source": uri, "media_id": "pinned-1"}, headers=auth(keys.verify))
    assert job.status_code == 202, job.text
    put_object(s3, "pinned/in.jpg", jpeg_bytes(seed=1406))  # swapped while queued

    drain_queue()
    done = wait_done(client, keys.read, job.json()["job_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "source_changed", done
    assert done["attempts"] == 1  # no retry: a retry would read the same wrong object
    assert store.verdict_by_media_id("default", "pinned-1") is None


def _sign_job(client, s3, token: str, name: str) -> str:
    _object_store, bucket = s3
    body = {
        "source": put_object(s3, f"gen/{name}.jpg", jpeg_bytes(seed=zlib.crc32(name.encode()) % 10_000)),
        "destination": f"s3://{bucket}/signed/{name}.jpg",
        "generator": "TestGen",
        "media_id": name,
    }
    job = client.post("/v1/jobs/sign", json=body, headers=auth(token))
    assert job.status_code == 202, job.text
    return job.json()["job_id"]


def _signed_nothing(s3, store, name: str) -> None:
    object_store, bucket = s3
    assert not [e for e in store.entries(limit=100) if e.media_id == name]  # no audit entry
    assert store.verdict_by_media_id("default", name) is None
    with pytest.raises(ObjectNotFound):
        object_store.stat(ObjectLocation(Scheme.S3, f"signed/{name}.jpg", bucket))


def test_a_revoked_keys_queued_sign_job_fails_without_signing(served, s3, store, keys, drain_queue):
    _app, client = served
    key, token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))
    job_id = _sign_job(client, s3, token, "revoked-1")
    store.revoke(key.key_id)

    drain_queue()
    done = wait_done(client, keys.read, job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "key_revoked", done
    assert done["attempts"] == 1
    _signed_nothing(s3, store, "revoked-1")


def test_a_policy_narrowed_after_submit_stops_the_queued_sign_job(served, s3, store, keys, drain_queue):
    _app, client = served
    key, token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))
    job_id = _sign_job(client, s3, token, "narrowed-1")  # claims trainedAlgorithmicMedia (the default)
    store.set_signing_policy(
        key.key_id,
        SigningPolicy.of(generators=["*"], source_types=[DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA]),
    )

    drain_queue()
    done = wait_done(client, keys.read, job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "signing_policy", done
    _signed_nothing(s3, store, "narrowed-1")


def test_the_same_file_named_two_ways_is_still_the_source(served, store, keys, settings):
    """Local objects are compared after resolution: a relative key and its file:// URI are one object."""
    _app, client = served
    folder = settings.objects_dir / "same"
    folder.mkdir(exist_ok=True)
    (folder / "a.jpg").write_bytes(jpeg_bytes(seed=1407))
    token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))[1]
    answer = client.post(
        "/v1/jobs/sign",
        json={"source": "same/a.jpg", "destination": (folder / "a.jpg").as_uri(), "generator": "G"},
        headers=auth(token),
    )
    assert answer.status_code == 422, answer.text
    assert "is the source itself" in answer.json()["error"]["message"]
    assert str(settings.objects_dir) not in answer.text  # no server path in an answer


def test_the_staging_area_is_unreachable_from_any_uri(served, store, keys, settings):
    _app, client = served
    staged = settings.objects_dir / "job-uploads" / ("a" * 64)
    staged.parent.mkdir(exist_ok=True)
    staged.write_bytes(jpeg_bytes(seed=1408))
    for source in (f"job-uploads/{'a' * 64}", staged.as_uri(), f"same/../job-uploads/{'a' * 64}"):
        answer = client.post("/v1/jobs/verify", json={"source": source}, headers=auth(keys.verify))
        assert answer.status_code in (403, 422), answer.text
        assert str(settings.objects_dir) not in answer.text


def test_a_failed_local_jobs_record_shows_no_server_path(served, store, keys, settings, drain_queue):
    _app, client = served
    folder = settings.objects_dir / "gone"
    folder.mkdir(exist_ok=True)
    (folder / "x.jpg").write_bytes(jpeg_bytes(seed=1409))
    job = client.post("/v1/jobs/verify", json={"source": (folder / "x.jpg").as_uri()}, headers=auth(keys.verify))
    assert job.status_code == 202, job.text
    (folder / "x.jpg").unlink()  # gone before the worker runs

    drain_queue()
    done = wait_done(client, keys.read, job.json()["job_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "object_not_found", done
    assert done["source"] == "gone/x.jpg"  # the tenant's own relative key
    assert str(settings.objects_dir) not in str(done)
    with store.db_engine.connect() as connection:  # the row keeps what the worker needs; only answers are cleaned
        import sqlalchemy as sa

        message = connection.execute(sa.text("SELECT error_message FROM originmark_jobs")).scalar_one()
    assert "gone/x.jpg" in message


def test_a_revoked_keys_queued_verify_job_fails_without_touching_the_media_id(served, s3, store, keys, drain_queue):
    _app, client = served
    key, token = store.create_key(name="verifier", scopes=frozenset({Scope.VERIFY}))
    uri = put_object(s3, "revoked/v.jpg", jpeg_bytes(seed=1410))
    job = client.post("/v1/jobs/verify", json={"source": uri, "media_id": "feed-1"}, headers=auth(token))
    assert job.status_code == 202, job.text
    store.revoke(key.key_id)

    drain_queue()
    done = wait_done(client, keys.read, job.json()["job_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "key_revoked", done
    assert store.verdict_by_media_id("default", "feed-1") is None


def test_prefixes_narrowed_after_submit_stop_the_queued_job(served, s3, store, keys, drain_queue):
    """The operator hands the folder to another tenant: the queued job does not read or write there."""
    _app, client = served
    _object_store, bucket = s3
    store.create_tenant("tenant-b", object_prefixes=[f"s3://{bucket}/b/"])
    b = store.create_key(name="b", scopes=frozenset({Scope.SIGN, Scope.READ}), tenant="tenant-b")[1]
    body = {
        "source": put_object(s3, "b/in.jpg", jpeg_bytes(seed=1411)),
        "destination": f"s3://{bucket}/b/out.jpg",
        "generator": "TestGen",
        "media_id": "moved-1",
    }
    job = client.post("/v1/jobs/sign", json=body, headers=auth(b))
    assert job.status_code == 202, job.text
    store.set_object_prefixes("tenant-b", [f"s3://{bucket}/b-new/"])

    drain_queue()
    done = wait_done(client, b, job.json()["job_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "object_not_allowed", done
    assert done["attempts"] == 1
    with pytest.raises(ObjectNotFound):
        _object_store.stat(ObjectLocation(Scheme.S3, "b/out.jpg", bucket))
