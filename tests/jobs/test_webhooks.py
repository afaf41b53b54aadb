"""Job webhooks end to end: a real loopback HTTP receiver, the service over real HTTP, a real
procrastinate worker on the real PostgreSQL queue (and the embedded pool on SQLite), the sources
in moto's S3 server. Signatures are checked with the helper receivers use."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from app.jobs import records
from app.jobs.records import JobStatus
from app.jobs.schema import jobs as jobs_table
from app.jobs.tenant_secrets import tenant_webhook_secret
from app.jobs.webhook_signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureCheck,
    signature_header,
    verify_signature,
)
from app.jobs.webhook_targets import MAX_URL_LENGTH, WebhookAllowlist, WebhookUrlRefused
from app.objects.location import ObjectLocation, Scheme
from app.wiring import build_job_runtime
from tests.api.helpers import jpeg_bytes
from tests.jobs.conftest import auth, grant_object_prefixes, put_object, submit_verify_record, wait_done
from tests.support import libpq_url, one_row

SECRET = "master-key-test-0123456789abcdefghijklmnop"  # the server's (ORIGINMARK_WEBHOOK_MASTER_KEY)
# What the default tenant's receivers check with (app/jobs/tenant_secrets.py): derived, never the operator's.
TENANT_SECRET = tenant_webhook_secret(SECRET, tenant="default", generation=1)


# --- a real receiver on loopback ---


@dataclasses.dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request and every connection, and
    answers with the next status of `statuses` (200 once they run out)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.connections = 0
        self.statuses: list[int] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._arrived:
                    receiver.requests.append(
                        Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver._arrived.notify_all()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/redirected")
                payload = b'{"ok": true}' if status < 300 else b"x" * 100_000  # a large body nobody should read
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(payload)

            do_POST = do_GET = do_PUT = _record  # any contact is recorded

            def log_message(self, *args) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):  # counts every accepted connection
                accepted = super().get_request()
                with receiver._arrived:
                    receiver.connections += 1
                return accepted

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-receiver")
        self._thread.start()

    @property
    def host_entry(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/hooks/originmark?token=t0k") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, *, seconds: float = 15) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout=seconds)
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.close()


def _webhook_settings(receiver: Receiver) -> dict:
    return {
        "webhook_hosts": receiver.host_entry,
        "webhook_master_key": SecretStr(SECRET),
        "webhook_allow_http": True,  # the loopback receiver speaks plain http
        "webhook_max_attempts": 3,
        "webhook_retry_wait_seconds": 0,
        "webhook_timeout_seconds": 5,
    }


@pytest.fixture
def settings(jobs_base_settings, pg_url, receiver):
    """Overrides the jobs conftest's: the same, with webhooks to this test's receiver."""
    return jobs_base_settings.model_copy(update={"database_url": pg_url, **_webhook_settings(receiver)})


def _event(received: Received) -> dict:
    return json.loads(received.body)


def _assert_signed(received: Received) -> None:
    assert received.method == "POST"
    assert received.headers["content-type"] == "application/json"
    header = received.headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(secret=TENANT_SECRET, body=received.body, header=header) is SignatureCheck.VALID
    assert verify_signature(secret=SECRET, body=received.body, header=header) is SignatureCheck.MISMATCH
    assert header.startswith(f"t={received.headers[TIMESTAMP_HEADER.lower()]},v1=")
    assert len(received.headers[DELIVERY_HEADER.lower()]) == 32


def _webhook_queue_jobs(pg_url: str) -> list[tuple[str, int]]:
    with psycopg.connect(libpq_url(pg_url)) as connection:
        return connection.execute(
            "SELECT status::text, attempts FROM procrastinate_jobs WHERE task_name = 'originmark.webhook' ORDER BY id"
        ).fetchall()


# --- the signature helper and the allowlist (no network) ---


def test_the_signature_verifies_only_for_the_same_body_secret_and_time():
    body = b'{"event":"job.succeeded","job_id":"abc"}'
    now = 1_800_000_000
    header = signature_header(SECRET, timestamp=now, body=body)
    assert verify_signature(secret=SECRET, body=body, header=header, now=now + 10) is SignatureCheck.VALID
    assert verify_signature(secret=SECRET.encode(), body=body, header=header, now=now) is SignatureCheck.VALID
    assert verify_signature(secret=SECRET, body=body + b" ", header=header, now=now) is SignatureCheck.MISMATCH
    assert verify_signature(secret="another", body=body, header=header, now=now) is SignatureCheck.MISMATCH
    moved = header.replace(f"t={now}", f"t={now + 1}")  # the time is signed too
    assert verify_signature(secret=SECRET, body=body, header=moved, now=now) is SignatureCheck.MISMATCH
    assert verify_signature(secret=SECRET, body=body, header=header, now=now + 301) is SignatureCheck.STALE
    assert verify_signature(secret=SECRET, body=body, header=header, now=now - 301) is SignatureCheck.STALE
    for broken in (None, "", "v1=abc", f"t={now}", "t=x,v1=abc", "garbage"):
        assert verify_signature(secret=SECRET, body=body, header=broken, now=now) is SignatureCheck.MALFORMED
    # Several v1 values (a secret being rotated): any one matching is enough.
    rotated = f"t={now},v1={'0' * 64},{header.split(',')[1]}"
    assert verify_signature(secret=SECRET, body=body, header=rotated, now=now) is SignatureCheck.VALID


def test_the_allowlist_takes_hosts_ports_and_subdomains_and_nothing_else():
    allowlist = WebhookAllowlist.parse("hooks.example.com, 10.0.0.5:8443, *.partner.example, [::1]:9000")
    for url in (
        "https://hooks.example.com/originmark",
        "https://hooks.example.com:444/x?token=1",
        "https://HOOKS.example.com./x",
        "https://10.0.0.5:8443/x",
        "https://a.partner.example/x",
        "https://b.a.partner.example/x",
        "https://[::1]:9000/x",
    ):
        assert allowlist.check(url) == url
    refused = {
        "http://hooks.example.com/x": "https://",  # http needs webhook_allow_http
        "https://evil.example.com/x": "allowlist",
        "https://hooks.example.com.evil.net/x": "allowlist",
        "https://10.0.0.5/x": "allowlist",  # the entry names port 8443
        "https://partner.example/x": "allowlist",  # *.domain is subdomains only
        "https://[::1]:9001/x": "allowlist",
        "https://user:pw@hooks.example.com/x": "user name",
        "https://hooks.example.com@evil.net/x": "user name",
        "https://hooks.example.com/x#frag": "fragment",
        "https://hooks.example.com/a b": "whitespace",
        "https://hooks.example.com/\nx": "whitespace",
        "ftp://hooks.example.com/x": "https://",
        "https://hooks.example.com:99999/x": "not a URL",
        "https:///x": "no host",
        "https://evil.net\\.a.partner.example/x": "backslash",  # httpx would go to evil.net
        "https://hooks.example.com/" + "a" * MAX_URL_LENGTH: "longer",
    }
    for url, why in refused.items():
        with pytest.raises(WebhookUrlRefused) as caught:
            allowlist.check(url)
        assert why in caught.value.message, (url, caught.value.message)
    http_too = WebhookAllowlist.parse("127.0.0.1:8080", allow_http=True)
    assert http_too.check("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"
    with pytest.raises(WebhookUrlRefused):
        http_too.check("http://127.0.0.1:8081/x")
    with pytest.raises(WebhookUrlRefused):
        WebhookAllowlist.parse("").check("https://hooks.example.com/x")  # empty: nothing allowed
    for bad_entry in ("a b", "user@host", "host/path", "*", "*.[::1]", "host:port"):
        with pytest.raises(ValueError):
            WebhookAllowlist.parse(bad_entry)


# --- PostgreSQL: the queue and a real worker ---


def test_a_verify_job_posts_one_signed_succeeded_event(http, keys, s3, store, pg_url, receiver, drain_queue):
    data = jpeg_bytes(seed=41)
    uri = put_object(s3, "hooks/ok.jpg", data)
    answer = http.post(
        "/v1/jobs/verify",
        json={"source": uri, "media_id": "hook-1", "webhook_url": receiver.url()},
        headers=auth(keys.verify),
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    with store.db_engine.connect() as connection:
        assert connection.execute(sa.select(jobs_table.c.webhook_url)).scalar_one() == receiver.url()
    assert receiver.connections == 0  # nothing is sent before the job is final

    drain_queue()
    done = wait_done(http, keys.read, job_id)
    assert done["status"] == "succeeded" and done["webhook"] is True, done
    (received,) = receiver.wait_for(1)
    assert received.path == "/hooks/originmark?token=t0k"
    _assert_signed(received)
    assert received.headers[EVENT_HEADER.lower()] == "job.succeeded"
    event = _event(received)
    import hashlib

    assert event["event"] == "job.succeeded" and event["job_id"] == job_id
    assert event["kind"] == "verify" and event["status"] == "succeeded" and event["attempts"] == 1
    assert event["source"] == uri and event["destination"] is None and event["media_id"] == "hook-1"
    assert event["sha256"] == hashlib.sha256(data).hexdigest() == done["result"]["sha256"]
    assert event["state"] == done["result"]["verdict"]["state"]
    assert event["label"] == done["result"]["label"]
    assert event["error"] is None
    assert event["delivery_id"] == received.headers[DELIVERY_HEADER.lower()]
    assert event["created_at"].endswith("+00:00") and event["finished_at"] >= event["created_at"]
    # Anything changed, and the helper says so.
    tampered = received.body.replace(b'"job.succeeded"', b'"job.failed"')
    header = received.headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(secret=TENANT_SECRET, body=tampered, header=header) is SignatureCheck.MISMATCH
    assert verify_signature(secret=TENANT_SECRET + "x", body=received.body, header=header) is SignatureCheck.MISMATCH
    # One delivery, queued once; the queue job ended well. Running the worker again sends nothing.
    assert _webhook_queue_jobs(pg_url) == [("succeeded", 1)]  # procrastinate counts runs
    drain_queue()
    time.sleep(0.2)
    assert len(receiver.requests) == 1


def test_a_receiver_failing_then_answering_is_retried_until_delivered(http, keys, s3, pg_url, receiver, drain_queue):
    receiver.statuses = [500, 503]
    uri = put_object(s3, "hooks/retry.jpg", jpeg_bytes(seed=42))
    job_id = http.post(
        "/v1/jobs/verify", json={"source": uri, "webhook_url": receiver.url()}, headers=auth(keys.verify)
    ).json()["job_id"]
    drain_queue()
    received = receiver.wait_for(3)
    assert len(received) == 3
    for each in received:
        _assert_signed(each)
        assert _event(each)["job_id"] == job_id
    # One delivery (one id, the same body), attempted three times and signed afresh each time.
    assert len({each.headers[DELIVERY_HEADER.lower()] for each in received}) == 1
    assert [each.headers["originmark-delivery-attempt"] for each in received] == ["1", "2", "3"]
    assert len({each.body for each in received}) == 1
    assert _webhook_queue_jobs(pg_url) == [("succeeded", 3)]
    time.sleep(0.2)
    assert len(receiver.requests) == 3  # delivered at the 2xx: nothing after it


def test_a_failed_job_posts_one_failed_event(http, keys, s3, receiver, drain_queue):
    object_store, bucket = s3
    uri = put_object(s3, "hooks/gone.jpg", jpeg_bytes(seed=43))
    job_id = http.post(
        "/v1/jobs/verify", json={"source": uri, "webhook_url": receiver.url()}, headers=auth(keys.verify)
    ).json()["job_id"]
    object_store.delete(ObjectLocation(Scheme.S3, "hooks/gone.jpg", bucket))
    drain_queue()
    done = wait_done(http, keys.read, job_id)
    assert done["status"] == "failed" and done["attempts"] == 2, done
    (received,) = receiver.wait_for(1)  # one event for the job, not one per failed attempt
    _assert_signed(received)
    event = _event(received)
    assert event["event"] == "job.failed" and received.headers[EVENT_HEADER.lower()] == "job.failed"
    assert event["status"] == "failed" and event["attempts"] == 2
    assert event["error"]["code"] == "object_not_found" and "gone.jpg" in event["error"]["message"]
    assert event["state"] is None and event["label"] is None
    time.sleep(0.2)
    assert len(receiver.requests) == 1


def test_a_receiver_never_answering_2xx_is_given_up_and_redirects_are_not_followed(
    http, keys, s3, pg_url, receiver, drain_queue
):
    receiver.statuses = [302, 500, 307, 200]  # 3 attempts (webhook_max_attempts): the 200 is never reached
    uri = put_object(s3, "hooks/never.jpg", jpeg_bytes(seed=44))
    http.post("/v1/jobs/verify", json={"source": uri, "webhook_url": receiver.url()}, headers=auth(keys.verify))
    drain_queue()
    received = receiver.wait_for(3)
    time.sleep(0.3)
    assert len(receiver.requests) == 3
    assert all(each.path == "/hooks/originmark?token=t0k" for each in receiver.requests)  # never /redirected
    assert _webhook_queue_jobs(pg_url) == [("failed", 3)]
    assert len({each.headers[DELIVERY_HEADER.lower()] for each in received}) == 1


def test_urls_not_allowed_are_refused_at_submit_and_never_contacted(http, keys, s3, store, receiver):
    _object_store, bucket = s3
    uri = put_object(s3, "hooks/refused.jpg", jpeg_bytes(seed=45))
    port = receiver.port
    refused = [
        f"http://localhost:{port}/hook",  # resolves to the receiver, but is not the allowlisted name
        f"http://127.0.0.1:{port + 1}/hook",  # another port
        f"http://user:secret@127.0.0.1:{port}/hook",
        f"ftp://127.0.0.1:{port}/hook",
        f"http://127.0.0.1:{port}/" + "a" * MAX_URL_LENGTH,
        "not a url",
    ]
    for url in refused:
        answer = http.post("/v1/jobs/verify", json={"source": uri, "webhook_url": url}, headers=auth(keys.verify))
        assert answer.status_code == 422, (url, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "webhook_url_not_allowed" and error["field"] == "webhook_url", error
    sign_token = store.create_key(name="signer", scopes=frozenset({records_scope_sign()}))[1]
    sign = http.post(
        "/v1/jobs/sign",
        json={
            "source": uri,
            "destination": f"s3://{bucket}/hooks/out.jpg",
            "generator": "TestGen",
            "webhook_url": f"http://localhost:{port}/hook",
        },
        headers=auth(sign_token),
    )
    assert sign.status_code == 422 and sign.json()["error"]["code"] == "webhook_url_not_allowed", sign.text
    with store.db_engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(jobs_table)).scalar_one() == 0
    time.sleep(0.2)
    assert receiver.connections == 0


def records_scope_sign():
    from app.store.interface import Scope

    return Scope.SIGN


def test_without_a_secret_a_webhook_is_refused_as_not_configured(
    settings, store, jobs_worker_pools, keys, s3, receiver
):
    from app.api.main import create_app
    from tests.api.helpers import serve_in_thread

    uri = put_object(s3, "hooks/nosecret.jpg", jpeg_bytes(seed=46))
    app = create_app(
        settings.model_copy(update={"webhook_master_key": None}), store=store, worker_pools=jobs_worker_pools
    )
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        answer = client.post(
            "/v1/jobs/verify", json={"source": uri, "webhook_url": receiver.url()}, headers=auth(keys.verify)
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "webhooks_not_configured"
        assert "ORIGINMARK_WEBHOOK_MASTER_KEY" in answer.json()["error"]["message"]
        plain = client.post("/v1/jobs/verify", json={"source": uri}, headers=auth(keys.verify))
        assert plain.status_code == 202 and plain.json()["created"] is True  # jobs without webhooks still work
    assert receiver.connections == 0


def test_a_host_removed_from_the_allowlist_before_delivery_is_not_called(
    http, keys, s3, settings, store, jobs_worker_pools, pg_url, receiver
):
    from app.jobs.worker import run_worker
    from app.wiring import build_object_stores

    uri = put_object(s3, "hooks/shrunk.jpg", jpeg_bytes(seed=47))
    job_id = http.post(
        "/v1/jobs/verify", json={"source": uri, "webhook_url": receiver.url()}, headers=auth(keys.verify)
    ).json()["job_id"]
    shrunk = settings.model_copy(update={"webhook_hosts": "hooks.example.com"})  # the operator removed it
    runtime = build_job_runtime(
        shrunk, store=store, objects=build_object_stores(shrunk), worker_pools=jobs_worker_pools
    )
    for _ in range(3):
        asyncio.run(run_worker(shrunk, runtime, concurrency=2, wait=False, install_signal_handlers=False))
    assert wait_done(http, keys.read, job_id)["status"] == "succeeded"
    assert _webhook_queue_jobs(pg_url) == [("succeeded", 1)]  # dropped, not retried
    time.sleep(0.2)
    assert receiver.connections == 0


def test_the_delivery_is_queued_in_the_transaction_that_makes_the_job_final(settings, store, pg_url, receiver):
    from app.jobs.webhooks import on_job_final

    submitted = submit_verify_record(store, webhook_url=receiver.url())
    job_id = submitted.job.id
    with pytest.raises(RuntimeError), store.db_engine.begin() as connection:
        records.mark_succeeded(connection, job_id, sha256="0" * 64, on_final=on_job_final)
        raise RuntimeError("the verdict's transaction fails after the job was marked")
    assert _webhook_queue_jobs(pg_url) == []
    job = records.get(store.db_engine, job_id)
    assert job is not None and job.status is JobStatus.QUEUED
    with store.db_engine.begin() as connection:
        records.mark_succeeded(connection, job_id, sha256="0" * 64, on_final=on_job_final)
    with store.db_engine.begin() as connection:  # a second delivery of the same queue job finishing
        records.mark_succeeded(connection, job_id, sha256="0" * 64, on_final=on_job_final)
    assert _webhook_queue_jobs(pg_url) == [("todo", 0)]
    with psycopg.connect(libpq_url(pg_url)) as connection:
        (args,) = one_row(connection, "SELECT args FROM procrastinate_jobs")
    assert args["job_id"] == job_id and len(args["delivery_id"]) == 32
    # A non-final failure queues nothing; the final one (a job without a webhook: nothing either).
    other = submit_verify_record(store, key="k2").job.id
    records.mark_attempt_failed(store.db_engine, other, final=True, code="x", message="y", on_final=on_job_final)
    assert len(_webhook_queue_jobs(pg_url)) == 1


def test_a_sign_job_event_names_the_destination(http, keys, s3, store, receiver, drain_queue):
    from app.store.interface import Scope

    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, "gen/hook-in.jpg", bucket), io.BytesIO(jpeg_bytes(seed=48)))
    token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))[1]
    body = {
        "source": f"s3://{bucket}/gen/hook-in.jpg",
        "destination": f"s3://{bucket}/signed/hook-out.jpg",
        "generator": "TestGen",
        "media_id": "gen-hook",
        "webhook_url": receiver.url("/sign-hook"),
    }
    answer = http.post("/v1/jobs/sign", json=body, headers=auth(token))
    assert answer.status_code == 202, answer.text
    drain_queue()
    done = wait_done(http, keys.read, answer.json()["job_id"])
    assert done["status"] == "succeeded", done
    (received,) = receiver.wait_for(1)
    _assert_signed(received)
    event = _event(received)
    assert event["kind"] == "sign" and event["destination"] == body["destination"]
    assert event["sha256"] == done["result"]["sha256"]  # the signed output's
    assert event["state"] in ("trusted", "valid") and event["label"] == done["result"]["label"]


# --- SQLite: the embedded pool ---


def test_on_sqlite_the_server_posts_the_event_itself_with_retries(
    jobs_base_settings, jobs_worker_pools, s3, tmp_path, receiver
):
    from app.api.main import create_app
    from app.store.interface import Scope
    from app.store.migrate import upgrade_database
    from app.store.sql import open_store
    from tests.api.helpers import serve_in_thread

    receiver.statuses = [502]
    data = jpeg_bytes(seed=49)
    uri = put_object(s3, "hooks/embedded.jpg", data)
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade_database(url)
    embedded_settings = jobs_base_settings.model_copy(update={"database_url": url, **_webhook_settings(receiver)})
    with open_store(url) as sqlite_store:
        grant_object_prefixes(sqlite_store, uri.rsplit("/", 1)[0] + "/")
        token = sqlite_store.create_key(name="all", scopes=frozenset({Scope.VERIFY, Scope.READ}))[1]
        app = create_app(embedded_settings, store=sqlite_store, worker_pools=jobs_worker_pools)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            refused = client.post(
                "/v1/jobs/verify",
                json={"source": uri, "webhook_url": f"http://localhost:{receiver.port}/"},
                headers=auth(token),
            )
            assert refused.status_code == 422 and refused.json()["error"]["code"] == "webhook_url_not_allowed"
            answer = client.post(
                "/v1/jobs/verify",
                json={"source": uri, "media_id": "emb-1", "webhook_url": receiver.url()},
                headers=auth(token),
            )
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["job_id"]
            done = wait_done(client, token, job_id)
            assert done["status"] == "succeeded", done
            received = receiver.wait_for(2)
            time.sleep(0.2)
    assert len(receiver.requests) == 2  # 502, then delivered
    for each in received:
        _assert_signed(each)
    assert [each.headers["originmark-delivery-attempt"] for each in received] == ["1", "2"]
    event = _event(received[1])
    import hashlib

    assert event["event"] == "job.succeeded" and event["job_id"] == job_id and event["media_id"] == "emb-1"
    assert event["sha256"] == hashlib.sha256(data).hexdigest()
    assert event["label"] == done["result"]["label"]
    assert event["created_at"].endswith("+00:00")


def test_on_sqlite_a_webhook_pending_when_the_server_stops_is_sent_by_the_next_one(
    jobs_base_settings, jobs_worker_pools, s3, tmp_path, receiver
):
    from app.api.main import create_app
    from app.store.interface import Scope
    from app.store.migrate import upgrade_database
    from app.store.sql import open_store
    from tests.api.helpers import serve_in_thread

    receiver.statuses = [503]  # the first attempt fails; the retry is an hour away when the server stops
    uri = put_object(s3, "hooks/restart.jpg", jpeg_bytes(seed=51))
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade_database(url)
    embedded_settings = jobs_base_settings.model_copy(
        update={"database_url": url, **_webhook_settings(receiver), "webhook_retry_wait_seconds": 3600}
    )

    def pending(sqlite_store) -> list[bool]:
        with sqlite_store.db_engine.connect() as connection:
            return connection.execute(sa.text("SELECT webhook_pending FROM originmark_jobs")).scalars().all()

    with open_store(url) as sqlite_store:
        grant_object_prefixes(sqlite_store, uri.rsplit("/", 1)[0] + "/")
        token = sqlite_store.create_key(name="all", scopes=frozenset({Scope.VERIFY, Scope.READ}))[1]
        app = create_app(embedded_settings, store=sqlite_store, worker_pools=jobs_worker_pools)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            job_id = client.post(
                "/v1/jobs/verify", json={"source": uri, "webhook_url": receiver.url()}, headers=auth(token)
            ).json()["job_id"]
            assert wait_done(client, token, job_id)["status"] == "succeeded"
            receiver.wait_for(1)
        assert pending(sqlite_store) == [True]  # stopped with the retry still to come

        restarted = create_app(embedded_settings, store=sqlite_store, worker_pools=jobs_worker_pools)
        with serve_in_thread(restarted) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            client.get(f"/v1/jobs/{job_id}", headers=auth(token))  # the job side starts with the first job request
            received = receiver.wait_for(2)
            deadline = time.monotonic() + 10
            while pending(sqlite_store) != [False] and time.monotonic() < deadline:
                time.sleep(0.05)
        assert pending(sqlite_store) == [False]
    assert len(received) == 2 and receiver.requests[1].headers["originmark-delivery-attempt"] == "1"
    _assert_signed(received[1])
    assert _event(received[1])["job_id"] == job_id and _event(received[1])["event"] == "job.succeeded"


def test_each_tenant_has_its_own_webhook_secret_and_rotation_keeps_the_previous_one_signing(
    http, keys, s3, store, receiver, drain_queue
):
    """A receiver of tenant A cannot forge or accept tenant B's events: B's deliveries are signed
    with B's derived secret only (after a rotation: B's new and previous ones)."""
    from app.store.interface import Scope

    _object_store, bucket = s3
    store.create_tenant("tenant-b", object_prefixes=[f"s3://{bucket}/"])
    b = store.create_key(name="b", scopes=frozenset({Scope.VERIFY, Scope.READ}), tenant="tenant-b")[1]
    b_first = tenant_webhook_secret(SECRET, tenant="tenant-b", generation=1)
    b_second = tenant_webhook_secret(SECRET, tenant="tenant-b", generation=2)
    assert len({TENANT_SECRET, b_first, b_second, SECRET}) == 4

    first = http.post(
        "/v1/jobs/verify",
        json={"source": put_object(s3, "hooks/b1.jpg", jpeg_bytes(seed=71)), "webhook_url": receiver.url()},
        headers=auth(b),
    )
    assert first.status_code == 202, first.text
    drain_queue()
    (received,) = receiver.wait_for(1)
    header = received.headers[SIGNATURE_HEADER.lower()]
    assert _event(received)["tenant"] == "tenant-b"
    assert verify_signature(secret=b_first, body=received.body, header=header) is SignatureCheck.VALID
    for other in (TENANT_SECRET, SECRET, b_second):  # tenant default's receiver, the operator's secret
        assert verify_signature(secret=other, body=received.body, header=header) is SignatureCheck.MISMATCH

    assert store.rotate_webhook_secret("tenant-b").webhook_secret_generation == 2
    second = http.post(
        "/v1/jobs/verify",
        json={"source": put_object(s3, "hooks/b2.jpg", jpeg_bytes(seed=72)), "webhook_url": receiver.url()},
        headers=auth(b),
    )
    assert second.status_code == 202, second.text
    drain_queue()
    received = receiver.wait_for(2)[1]
    header = received.headers[SIGNATURE_HEADER.lower()]
    assert header.count("v1=") == 2  # the new secret's and the previous one's, for a switch at the receiver's pace
    assert verify_signature(secret=b_second, body=received.body, header=header) is SignatureCheck.VALID
    assert verify_signature(secret=b_first, body=received.body, header=header) is SignatureCheck.VALID
    assert verify_signature(secret=TENANT_SECRET, body=received.body, header=header) is SignatureCheck.MISMATCH
