"""Feed thumbnails made by sign and verify jobs (issue 15, "the feed shows the media"), through the
same use case as POST /v1/sign and /v1/verify (app/usecases/thumbnails.py): real HTTP, a real
procrastinate worker on PostgreSQL (and the embedded jobs of a server on SQLite), the real engine;
the thumbnail carries the item's manifest as its parentOf ingredient, is served to its tenant only,
and the recent labels say it exists."""

from __future__ import annotations

import hashlib
import time

import httpx

from app.api.main import create_app
from app.store.interface import DEFAULT_TENANT, Scope
from app.store.migrate import upgrade_database
from app.store.sql import open_store
from tests.api.helpers import check_signed_thumbnail, jpeg_bytes, serve_in_thread
from tests.jobs.conftest import auth, wait_done

ALL_SCOPES = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})


def _thumbnail(http: httpx.Client, token: str, media_id: str, *, wait: float = 20.0) -> httpx.Response:
    """GET /v1/thumbnails/{media_id}, polled while 404 (made after the job succeeded)."""
    deadline = time.monotonic() + wait
    while True:
        response = http.get(f"/v1/thumbnails/{media_id}", headers=auth(token))
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def _recent(http: httpx.Client, token: str) -> dict[str, bool]:
    response = http.get("/v1/labels/recent", headers=auth(token))
    assert response.status_code == 200, response.text
    return {item["media_id"]: item["has_thumbnail"] for item in response.json()["items"]}


def test_a_sign_job_makes_the_items_signed_thumbnail(http, s3, store, drain_queue, plain_reader):
    _object_store, bucket = s3
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    token = store.create_key(name="platform", scopes=ALL_SCOPES)[1]
    store.create_tenant("other")
    other = store.create_key(name="other", scopes=ALL_SCOPES, tenant="other")[1]
    form = {"destination": f"s3://{bucket}/signed/job.jpg", "generator": "TestGen", "media_id": "job-pic"}
    files = {"file": ("job.jpg", jpeg_bytes((800, 600), seed=71), "image/jpeg")}
    submitted = http.post("/v1/jobs/sign", data=form, files=files, headers=auth(token))
    assert submitted.status_code == 202, submitted.text

    drain_queue()  # a real worker: the job, then its thumbnail, in the worker's thread
    done = wait_done(http, token, submitted.json()["job_id"])
    assert done["status"] == "succeeded", done
    response = _thumbnail(http, token, "job-pic", wait=2)
    check_signed_thumbnail(
        plain_reader,
        response,
        source_sha256=done["result"]["sha256"],  # of the signed output
        size=(320, 240),
        parent=done["result"]["verdict"]["manifests"][0]["label"],
        actions=["c2pa.opened", "c2pa.resized.proportional"],
    )
    # Recorded like a rendition (by content, its label the item's), not as a feed item of its own.
    assert _recent(http, token) == {"job-pic": True}
    by_hash = http.get(f"/v1/verdicts/sha256/{hashlib.sha256(response.content).hexdigest()}", headers=auth(token))
    assert by_hash.status_code == 200 and by_hash.json()["label"]["kind"] == "ai_generated", by_hash.text

    # Another tenant reads neither the thumbnail nor that the item has one.
    assert http.get("/v1/thumbnails/job-pic", headers=auth(other)).status_code == 404
    assert _recent(http, other) == {}


def test_a_sign_job_for_a_tenant_with_thumbnails_off_makes_none(http, s3, store, drain_queue):
    _object_store, bucket = s3
    token = store.create_key(name="platform", scopes=ALL_SCOPES)[1]
    form = {"destination": f"s3://{bucket}/signed/off.jpg", "generator": "TestGen", "media_id": "job-off"}
    files = {"file": ("off.jpg", jpeg_bytes((200, 100), seed=72), "image/jpeg")}
    submitted = http.post("/v1/jobs/sign", data=form, files=files, headers=auth(token))
    assert submitted.status_code == 202, submitted.text
    drain_queue()
    assert wait_done(http, token, submitted.json()["job_id"])["status"] == "succeeded"
    assert http.get("/v1/thumbnails/job-off", headers=auth(token)).status_code == 404
    assert store.thumbnail(DEFAULT_TENANT, "job-off", public=False) is None
    assert _recent(http, token) == {"job-off": False}


def test_a_verify_job_of_the_embedded_server_makes_one_too(
    jobs_base_settings, jobs_worker_pools, tmp_path, plain_reader
):
    """SQLite: the server runs the job itself (app/jobs/embedded.py), and the thumbnail after it."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade_database(url)
    settings = jobs_base_settings.model_copy(update={"database_url": url, "objects_dir": tmp_path / "objects"})
    with open_store(url) as sqlite_store:
        sqlite_store.set_feed_thumbnails(DEFAULT_TENANT, True)
        token = sqlite_store.create_key(name="all", scopes=ALL_SCOPES)[1]
        sqlite_store.create_tenant("other")
        other = sqlite_store.create_key(name="other", scopes=ALL_SCOPES, tenant="other")[1]
        app = create_app(settings, store=sqlite_store, worker_pools=jobs_worker_pools)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
            # Signed elsewhere (no media id: no thumbnail of its own), then verified by a job.
            signed = client.post(
                "/v1/sign",
                files={"file": ("a.jpg", jpeg_bytes((400, 300), seed=73), "image/jpeg")},
                data={"generator": "TestGen"},
                headers=auth(token),
            )
            assert signed.status_code == 200, signed.text
            answer = client.post(
                "/v1/jobs/verify",
                data={"media_id": "job-verified"},
                files={"file": ("a.jpg", signed.content)},
                headers=auth(token),
            )
            assert answer.status_code == 202, answer.text
            done = wait_done(client, token, answer.json()["job_id"])
            assert done["status"] == "succeeded", done
            response = _thumbnail(client, token, "job-verified")
            assert response.status_code == 200, response.text
            assert response.headers["x-source-sha256"] == hashlib.sha256(signed.content).hexdigest()
            report, _ = plain_reader(response.content)
            active = report["manifests"][report["active_manifest"]]
            assert active["ingredients"][0]["active_manifest"] == signed.headers["x-manifest-label"]
            assert _recent(client, token) == {"job-verified": True}
            assert client.get("/v1/thumbnails/job-verified", headers=auth(other)).status_code == 404
            assert _recent(client, other) == {}


def test_a_sign_job_re_pointing_a_media_id_gets_its_thumbnail(http, s3, store, drain_queue):
    """Review 3: a sign job stages its output before recording it, while the media id still points
    at its old content; that content's checks (here: a credentialed file verified without
    keep_manifest, which gives no rendition) are not the new item's: `make` checks the recorded one."""
    _object_store, bucket = s3
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    token = store.create_key(name="platform", scopes=ALL_SCOPES)[1]
    store.create_tenant("other")
    other = store.create_key(name="other", scopes=ALL_SCOPES, tenant="other")[1]
    signed = http.post(
        "/v1/sign",
        files={"file": ("a.jpg", jpeg_bytes((400, 300), seed=301), "image/jpeg")},
        data={"generator": "TestGen", "private": "true"},
        headers=auth(other),
    )
    assert signed.status_code == 200, signed.text
    verified = http.post(
        "/v1/verify", files={"file": ("a.jpg", signed.content)}, data={"media_id": "post-1"}, headers=auth(token)
    )
    assert verified.status_code == 200, verified.text
    assert _thumbnail(http, token, "post-1", wait=1).status_code == 404  # its store is not kept: none

    form = {"destination": f"s3://{bucket}/signed/post-1.jpg", "generator": "TestGen", "media_id": "post-1"}
    files = {"file": ("b.jpg", jpeg_bytes((400, 300), seed=302), "image/jpeg")}
    submitted = http.post("/v1/jobs/sign", data=form, files=files, headers=auth(token))
    assert submitted.status_code == 202, submitted.text
    drain_queue()
    done = wait_done(http, token, submitted.json()["job_id"])
    assert done["status"] == "succeeded", done
    response = _thumbnail(http, token, "post-1")
    assert response.status_code == 200, "the job's new content got no thumbnail"
