"""Verify jobs end to end: POST /v1/jobs/verify over real HTTP, a real procrastinate worker on
the real PostgreSQL queue, the source in moto's S3 server, GET /v1/jobs/{id} until done."""

from __future__ import annotations

import httpx
import psycopg
import sqlalchemy as sa

from app.jobs.schema import jobs as jobs_table
from app.objects.location import ObjectLocation, Scheme
from tests.api.helpers import jpeg_bytes
from tests.jobs.conftest import auth, grant_object_prefixes, put_object, submit_verify_record, wait_done
from tests.support import libpq_url, one_row


def test_a_verify_job_stores_the_verdict(http, keys, s3, store, drain_queue):
    data = jpeg_bytes(seed=1)
    uri = put_object(s3, "uploads/a.jpg", data)
    answer = http.post("/v1/jobs/verify", json={"source": uri, "media_id": "post-1"}, headers=auth(keys.verify))
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    assert answer.json()["status"] == "queued"

    queued = http.get(f"/v1/jobs/{job_id}", headers=auth(keys.read)).json()
    assert queued["status"] == "queued" and queued["attempts"] == 0 and queued["result"] is None

    drain_queue()
    done = wait_done(http, keys.read, job_id)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 1
    result = done["result"]
    import hashlib

    sha256 = hashlib.sha256(data).hexdigest()
    assert result["sha256"] == sha256
    assert result["media_id"] == "post-1"
    assert result["verdict"]["state"] and result["label"] is not None
    stored = store.verdict_by_sha256("default", sha256)
    assert stored is not None and stored.verdict.state.value == result["verdict"]["state"]
    assert store.verdict_by_media_id("default", "post-1").sha256 == sha256


def test_the_same_job_twice_is_one_job_and_one_verdict(http, keys, s3, store, pg_url, drain_queue):
    uri = put_object(s3, "uploads/b.jpg", jpeg_bytes(seed=2))
    first = http.post("/v1/jobs/verify", json={"source": uri}, headers=auth(keys.verify)).json()
    second = http.post("/v1/jobs/verify", json={"source": uri}, headers=auth(keys.verify)).json()
    assert first["job_id"] == second["job_id"]
    assert first["created"] is True and second["created"] is False
    drain_queue()
    assert wait_done(http, keys.read, first["job_id"])["status"] == "succeeded"
    # Submitted again after it succeeded: still the same job, nothing queued.
    third = http.post("/v1/jobs/verify", json={"source": uri}, headers=auth(keys.verify)).json()
    assert third["job_id"] == first["job_id"] and third["status"] == "succeeded"
    with psycopg.connect(libpq_url(pg_url)) as connection:
        assert one_row(connection, "SELECT count(*) FROM procrastinate_jobs")[0] == 1
        assert one_row(connection, "SELECT count(*) FROM verdicts")[0] == 1
    # A second delivery of the same queue job (at-least-once) does not verify or store again.
    with store.db_engine.begin() as connection:
        before = connection.execute(sa.select(jobs_table.c.updated_at)).scalar_one()
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as connection:
        connection.execute("UPDATE procrastinate_jobs SET status = 'todo'")
    drain_queue()
    with store.db_engine.begin() as connection:
        row = connection.execute(sa.select(jobs_table)).one()
    assert row.updated_at == before and row.attempts == 1 and row.status == "succeeded"


def test_a_missing_source_fails_after_the_retries(http, keys, s3, drain_queue):
    object_store, bucket = s3
    uri = put_object(s3, "uploads/gone.jpg", jpeg_bytes(seed=3))
    job_id = http.post("/v1/jobs/verify", json={"source": uri}, headers=auth(keys.verify)).json()["job_id"]
    object_store.delete(ObjectLocation(Scheme.S3, "uploads/gone.jpg", bucket))  # gone before a worker runs
    drain_queue()
    done = wait_done(http, keys.read, job_id)
    assert done["status"] == "failed", done
    assert done["attempts"] == 2  # jobs_max_attempts in the test settings
    assert done["error"]["code"] == "object_not_found"
    assert "gone.jpg" in done["error"]["message"]
    assert done["result"] is None


def test_bad_submissions_are_clear_4xx(http, keys, s3):
    object_store, bucket = s3
    missing = http.post("/v1/jobs/verify", json={"source": f"s3://{bucket}/nothing.jpg"}, headers=auth(keys.verify))
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "object_not_found"
    folder = http.post("/v1/jobs/verify", json={"source": f"s3://{bucket}/folder/"}, headers=auth(keys.verify))
    assert folder.status_code == 422 and folder.json()["error"]["code"] == "invalid_object_uri"
    no_source = http.post("/v1/jobs/verify", json={}, headers=auth(keys.verify))
    assert no_source.status_code in (400, 422) and "error" in no_source.json()
    wrong_scope = http.post("/v1/jobs/verify", json={"source": f"s3://{bucket}/x.jpg"}, headers=auth(keys.read))
    assert wrong_scope.status_code == 403
    unknown = http.get("/v1/jobs/" + "0" * 32, headers=auth(keys.read))
    assert unknown.status_code == 404
    malformed = http.get("/v1/jobs/not-a-job", headers=auth(keys.read))
    assert malformed.status_code == 404
    bad_media_id = http.post(
        "/v1/jobs/verify", json={"source": f"s3://{bucket}/x.jpg", "media_id": "bad id\n"}, headers=auth(keys.verify)
    )
    assert 400 <= bad_media_id.status_code < 500


def test_on_sqlite_jobs_run_in_the_server_process(jobs_base_settings, jobs_worker_pools, s3, tmp_path):
    """The embedded default: no PostgreSQL, no worker; the same routes and statuses."""
    from app.api.main import create_app
    from app.store.interface import Scope
    from app.store.migrate import upgrade_database
    from app.store.sql import open_store
    from tests.api.helpers import serve_in_thread

    object_store, bucket = s3
    data = jpeg_bytes(seed=31)
    uri = put_object(s3, "embedded/e.jpg", data)
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade_database(url)
    with open_store(url) as sqlite_store:
        grant_object_prefixes(sqlite_store, uri.rsplit("/", 1)[0] + "/")
        token = sqlite_store.create_key(name="all", scopes=frozenset({Scope.VERIFY, Scope.READ}))[1]
        app = create_app(
            jobs_base_settings.model_copy(update={"database_url": url}),
            store=sqlite_store,
            worker_pools=jobs_worker_pools,
        )
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            answer = client.post("/v1/jobs/verify", json={"source": uri, "media_id": "e-1"}, headers=auth(token))
            assert answer.status_code == 202, answer.text
            done = wait_done(client, token, answer.json()["job_id"])
            assert done["status"] == "succeeded", done
            import hashlib

            assert done["result"]["sha256"] == hashlib.sha256(data).hexdigest()
            assert sqlite_store.verdict_by_media_id("default", "e-1") is not None
            again = client.post("/v1/jobs/verify", json={"source": uri, "media_id": "e-1"}, headers=auth(token)).json()
            assert again["job_id"] == answer.json()["job_id"] and again["created"] is False


def test_the_job_row_and_the_queue_job_commit_together(settings, store, pg_url):
    from app.jobs.deferral import defer_verify
    from app.jobs.queue import build_queue_app

    queue_app = build_queue_app(settings)

    def defer_then_fail(connection, job_id):
        defer_verify(queue_app, connection, job_id=job_id, lock="k")
        raise RuntimeError("the transaction fails after the defer")

    import pytest

    with pytest.raises(RuntimeError):
        submit_verify_record(store, enqueue=defer_then_fail)
    with psycopg.connect(libpq_url(pg_url)) as connection:
        assert one_row(connection, "SELECT count(*) FROM procrastinate_jobs")[0] == 0
        assert one_row(connection, "SELECT count(*) FROM originmark_jobs")[0] == 0
    submitted = submit_verify_record(
        store, enqueue=lambda connection, job_id: defer_verify(queue_app, connection, job_id=job_id, lock="k")
    )
    with psycopg.connect(libpq_url(pg_url)) as connection:
        (args,) = one_row(connection, "SELECT args FROM procrastinate_jobs")
    assert args == {"job_id": submitted.job.id}
