"""Jobs whose source is sent with the request (multipart `file`) instead of named by URI: staged in
originmark's own objects, run like any job, the staged object deleted once the job is final; the
same request sent again is the same job; bad bodies get clear 4xx answers."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import httpx
import pytest

from app.api.main import create_app
from app.objects.errors import ObjectNotFound
from app.objects.location import ObjectLocation, Scheme
from app.store.interface import Scope
from app.store.migrate import upgrade_database
from app.store.sql import open_store
from app.wiring import build_job_runtime
from tests.api.helpers import jpeg_bytes, serve_in_thread
from tests.jobs.conftest import auth, wait_done
from tests.support import record_spool_removals

from .conftest import grant_object_prefixes


def _staged_keys(object_store, bucket: str) -> list[str]:
    page = object_store.list_page(ObjectLocation(Scheme.S3, "own/job-uploads/", bucket), page_size=100, token=None)
    return [item.location.key for item in page.items]


@pytest.fixture
def own_bucket(s3, settings):
    """originmark's own objects in S3 (ORIGINMARK_OBJECTS_URL), as with API and workers on several machines."""
    object_store, bucket = s3
    return object_store, bucket, settings.model_copy(update={"objects_url": f"s3://{bucket}/own/"})


@pytest.fixture
def http_s3_own(own_bucket, store, jobs_worker_pools) -> Iterator[httpx.Client]:
    app = create_app(own_bucket[2], store=store, worker_pools=jobs_worker_pools)
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def test_an_uploaded_file_is_signed_into_the_destination_and_its_staged_copy_removed(
    http_s3_own, own_bucket, keys, store, jobs_worker_pools
):
    object_store, bucket, settings = own_bucket
    token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))[1]
    data = jpeg_bytes(seed=61)
    form = {"destination": f"s3://{bucket}/signed/up.jpg", "generator": "TestGen", "media_id": "up-1"}
    files = {"file": ("sunset at sea.jpg", data, "image/jpeg")}
    first = http_s3_own.post("/v1/jobs/sign", data=form, files=files, headers=auth(token))
    assert first.status_code == 202, first.text
    assert first.json()["created"] is True
    assert len(_staged_keys(object_store, bucket)) == 1  # waiting in the own objects for a worker
    again = http_s3_own.post("/v1/jobs/sign", data=form, files=files, headers=auth(token)).json()
    assert again["job_id"] == first.json()["job_id"] and again["created"] is False
    assert len(_staged_keys(object_store, bucket)) == 1

    _drain(settings, store, jobs_worker_pools)
    done = wait_done(http_s3_own, keys.read, first.json()["job_id"])
    assert done["status"] == "succeeded", done
    assert done["source"] == f"upload:sha256:{hashlib.sha256(data).hexdigest()}"  # never the staging path
    with object_store.open_read(ObjectLocation(Scheme.S3, "signed/up.jpg", bucket)) as reader:
        signed = reader.read()
    assert hashlib.sha256(signed).hexdigest() == done["result"]["sha256"]
    assert done["result"]["verdict"]["state"] in ("trusted", "valid")
    assert done["result"]["verdict"]["title"] == "sunset at sea.jpg"  # the client's name, not the hash
    entries = [e for e in store.entries(limit=10) if e.media_id == "up-1"]
    assert len(entries) == 1 and entries[0].input_sha256 == hashlib.sha256(data).hexdigest()
    assert _staged_keys(object_store, bucket) == []  # deleted once the job was final


def test_an_uploaded_file_is_verified_on_sqlite_by_the_server_itself(
    jobs_base_settings, jobs_worker_pools, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade_database(url)
    objects_dir = tmp_path / "objects"
    settings = jobs_base_settings.model_copy(update={"database_url": url, "objects_dir": objects_dir})
    data = jpeg_bytes(seed=62)
    with open_store(url) as sqlite_store:
        token = sqlite_store.create_key(name="all", scopes=frozenset({Scope.VERIFY, Scope.READ}))[1]
        app = create_app(settings, store=sqlite_store, worker_pools=jobs_worker_pools)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            removals = record_spool_removals(monkeypatch)
            answer = client.post(
                "/v1/jobs/verify", data={"media_id": "emb-up"}, files={"file": ("a.jpg", data)}, headers=auth(token)
            )
            assert answer.status_code == 202, answer.text
            assert removals and True not in removals  # the spool folder (and any job worker's): off the event loop
            done = wait_done(client, token, answer.json()["job_id"])
            assert done["status"] == "succeeded", done
            assert done["result"]["sha256"] == hashlib.sha256(data).hexdigest()
            verdict = sqlite_store.verdict_by_media_id("default", "emb-up")
            assert verdict is not None and verdict.sha256 == done["result"]["sha256"]
            # The same upload with another media id is another job (and another staged object).
            other = client.post(
                "/v1/jobs/verify", data={"media_id": "emb-up-2"}, files={"file": ("a.jpg", data)}, headers=auth(token)
            ).json()
            assert other["job_id"] != answer.json()["job_id"] and other["created"] is True
            assert wait_done(client, token, other["job_id"])["status"] == "succeeded"
    assert not list((objects_dir / "job-uploads").iterdir())


def test_a_staged_upload_of_a_job_that_failed_for_good_is_removed_too(own_bucket, store, jobs_worker_pools, keys):
    """A sign job whose every attempt fails (the destination bucket does not exist) still frees its upload."""
    object_store, bucket, settings = own_bucket
    grant_object_prefixes(store, "s3://no-such-bucket-here/")  # allowed, but missing: every attempt fails
    token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))[1]
    app = create_app(settings, store=store, worker_pools=jobs_worker_pools)
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        answer = client.post(
            "/v1/jobs/sign",
            data={"destination": "s3://no-such-bucket-here/x.jpg", "generator": "TestGen"},
            files={"file": ("b.jpg", jpeg_bytes(seed=63))},
            headers=auth(token),
        )
        assert answer.status_code == 202, answer.text
        _drain(settings, store, jobs_worker_pools)
        done = wait_done(client, keys.read, answer.json()["job_id"])
    assert done["status"] == "failed" and done["attempts"] == settings.jobs_max_attempts
    assert _staged_keys(object_store, bucket) == []


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"content": b"source=s3://b/k", "headers": {"content-type": "text/plain"}}, 415, "unsupported_content_type"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "malformed_body"),
        ({"json": {"source": "s3://bucket-name/k", "extra": 1}}, 422, "validation_error"),
        ({"data": {"media_id": "m"}, "files": {"other": ("a.jpg", b"x")}}, 422, None),
        ({"data": {"source": "s3://bucket-name/k"}, "files": {"file": ("a.jpg", jpeg_bytes(seed=64))}}, 422, None),
        ({"files": {"file": ("a.txt", b"just some text, not media")}}, 415, "unsupported_media_type"),
        ({"files": {"file": ("a.jpg", b"")}}, 422, "empty_file"),
        ({"content": b"x" * (70 * 1024), "headers": {"content-type": "application/json"}}, 413, None),
    ],
)
def test_bad_job_bodies_get_clear_answers_and_queue_nothing(http, keys, store, request_kwargs, status, code):
    request_kwargs = dict(request_kwargs)
    headers = {**auth(keys.verify), **request_kwargs.pop("headers", {})}
    answer = http.post("/v1/jobs/verify", headers=headers, **request_kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert code is None or error["code"] == code
    assert error["message"]
    import sqlalchemy as sa

    with store.db_engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM originmark_jobs")).scalar_one() == 0


def test_an_upload_over_the_job_limit_is_413(own_bucket, store, jobs_worker_pools, keys):
    object_store, bucket, settings = own_bucket
    app = create_app(
        settings.model_copy(update={"jobs_max_upload_bytes": 1_000}), store=store, worker_pools=jobs_worker_pools
    )
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        answer = client.post(
            "/v1/jobs/verify", files={"file": ("big.jpg", jpeg_bytes((400, 400), seed=65))}, headers=auth(keys.verify)
        )
    assert answer.status_code == 413, answer.text
    assert _staged_keys(object_store, bucket) == []


def test_the_openapi_document_offers_both_bodies(http):
    spec = http.get("/openapi.json").json()
    for path, required in (("/v1/jobs/verify", ["file"]), ("/v1/jobs/sign", ["file", "destination", "generator"])):
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}
        assert "source" in content["application/json"]["schema"]["properties"]
        form = content["multipart/form-data"]["schema"]
        assert "source" not in form["properties"] and sorted(form["required"]) == sorted(required)


def _drain(settings, store, jobs_worker_pools) -> None:
    import asyncio

    import sqlalchemy as sa

    from app.jobs.worker import run_worker
    from app.wiring import build_object_stores

    runtime = build_job_runtime(
        settings, store=store, objects=build_object_stores(settings), worker_pools=jobs_worker_pools
    )
    for _ in range(10):
        asyncio.run(run_worker(settings, runtime, concurrency=2, wait=False, install_signal_handlers=False))
        with store.db_engine.connect() as connection:
            if (
                connection.execute(
                    sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
                ).scalar_one()
                == 0
            ):
                return
    raise AssertionError("the queue did not drain")


def test_release_deletes_only_what_staging_made(tmp_path):
    from app.jobs import staging
    from app.objects.local import LocalFolderStore
    from app.objects.location import parse_object_uri

    store = LocalFolderStore(root=tmp_path)
    own = parse_object_uri(tmp_path.as_uri() + "/")
    name = staging.upload_name(
        tenant="default", kind="verify", content_sha256="a" * 64, media_id=None, destination=None, params=None
    )
    staged = staging.staged_location(own, name)
    store.put(staged, io.BytesIO(b"bytes"))
    theirs = own.with_key(own.key + "job-uploads/not-a-hash.jpg")
    store.put(theirs, io.BytesIO(b"theirs"))
    assert staging.release_upload(store, own, theirs) is False
    assert staging.release_upload(store, own, staged) is True
    with pytest.raises(ObjectNotFound):
        store.stat(staged)
    assert store.stat(theirs).size == 6
