"""PostgreSQL stopped and started again under load: 503 with a JSON reason while it is gone (never
a 500, never a hang), and the same server process recovers by itself when it is back.

Runs on a private PostgreSQL server (tests/faults/private_postgres.py): the shared one at
127.0.0.1:5432 is never stopped. Skips, saying why, where initdb cannot run.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app.store.sql import open_store
from tests.faults.load import MixedLoad, Outcome, broken_promises, inconsistencies
from tests.faults.media import unsigned_jpeg
from tests.faults.service import Service, audit_keys_of, running, service_environment

OUTAGE_SECONDS = 3.0  # how long PostgreSQL stays down at least (the probes may take longer)
PROBE_BOUND_SECONDS = 15.0  # an answer slower than this while the database is down counts as a hang
RECOVERY_BOUND_SECONDS = 30.0
AFTER_RECOVERY_SECONDS = 2.0


@pytest.fixture
def postgres(private_postgres_server):
    return private_postgres_server


@contextlib.contextmanager
def _silent_listener(port: int) -> Iterator[None]:
    """Something on the database's port that completes TCP handshakes and never says a word."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        yield


def _probe(http: httpx.Client, method: str, path: str, **kwargs) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.request(method, path, **kwargs)
    return response, time.monotonic() - started


def _assert_json_503(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("retry-after")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and "Traceback" not in response.text


def test_postgres_restart_under_load_gives_503_then_recovers(postgres, spool_dir, dev_credentials, samples, tmp_path):
    small, medium = samples
    env = service_environment(keys_dir=dev_credentials.directory, database_url=postgres.url, spool_dir=spool_dir)
    service = Service(env=env, log_path=tmp_path / "server.log", workers=1)
    with running(service):
        process = service.process
        assert process is not None  # running() started it
        token = service.create_token(postgres.url)
        load = MixedLoad(base_url=service.base_url, token=token, small=small, medium=medium).start()
        load.wait_for_acks(signs=20, verifies=20, seconds=60)

        postgres.stop(mode="fast")  # what a restart or failover does to the clients' connections
        down_at = time.monotonic()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=service.base_url, headers=headers, timeout=PROBE_BOUND_SECONDS * 2) as http:
            probes = {
                "readyz": _probe(http, "GET", "/readyz"),
                "labels": _probe(http, "GET", "/v1/labels", params={"media_id": "any"}),
                "verdict": _probe(http, "GET", "/v1/verdicts/any"),
                "sign": _probe(
                    http,
                    "POST",
                    "/v1/sign",
                    files={"file": ("a.jpg", small[0].data, "image/jpeg")},
                    data={"generator": "Outage Diffusion"},
                ),
                "verify": _probe(
                    http, "POST", "/v1/verify", files={"file": ("b.jpg", unsigned_jpeg(77), "image/jpeg")}
                ),
            }
            # Then a database host that takes connections and never answers (a hung server, a
            # half-open network path): bounded by connect_timeout, not by the OS TCP timeout.
            with _silent_listener(postgres.port), ThreadPoolExecutor(2) as pool:
                readyz_later = pool.submit(_probe, http, "GET", "/readyz")
                labels_later = pool.submit(_probe, http, "GET", "/v1/labels", params={"media_id": "any"})
                silent = {"readyz": readyz_later.result(), "labels": labels_later.result()}
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
            postgres.start()
            up_at = time.monotonic()
            while time.monotonic() - up_at < RECOVERY_BOUND_SECONDS:
                if http.get("/readyz").status_code == 200:
                    break
                time.sleep(0.1)
            recovered_at = time.monotonic()
        time.sleep(AFTER_RECOVERY_SECONDS)
        report = load.stop()
        assert service.process is process and process.poll() is None  # recovered by itself, no restart

    print("\n" + report.summary("POSTGRES RESTART (whole run)"))
    during = [o for o in report.outcomes if o.ended - o.seconds < up_at and o.ended > down_at]
    after = [o for o in report.outcomes if o.ended - o.seconds > recovered_at]
    print(
        f"outage {up_at - down_at:.1f} s, ready again {recovered_at - up_at:.1f} s after PostgreSQL came back; "
        f"during: {_statuses(during)}; after: {_statuses(after)}; "
        f"slowest answer during the outage {max((o.seconds for o in during), default=0):.2f} s"
    )

    readyz, _ = probes["readyz"]
    assert readyz.status_code == 503 and readyz.json()["error"]["code"] == "not_ready", readyz.text
    assert readyz.json()["error"]["checks"]["database"] == "unreachable"
    for name in ("labels", "verdict", "sign", "verify"):
        _assert_json_503(probes[name][0], "database_unavailable")
    assert max(seconds for _response, seconds in probes.values()) < PROBE_BOUND_SECONDS, probes
    assert silent["readyz"][0].status_code == 503, silent["readyz"][0].text
    _assert_json_503(silent["labels"][0], "database_unavailable")
    print(f"answers while the database host was silent: {[round(seconds, 1) for _r, seconds in silent.values()]} s")
    assert max(seconds for _response, seconds in silent.values()) < PROBE_BOUND_SECONDS, silent
    assert recovered_at - up_at < RECOVERY_BOUND_SECONDS, service.log_tail()

    # The load: only 200s and JSON 503s (database_unavailable), no hang, and all 200s once it is back.
    assert report.transport_errors() == [], report.transport_errors()[:5]
    unexpected = [o for o in report.outcomes if o.status not in (200, 503)]
    assert unexpected == [], unexpected[:5]
    assert {o.error_code for o in report.outcomes if o.status == 503} <= {"database_unavailable"}
    assert after and all(o.status == 200 for o in after), _statuses(after)
    assert report.violations == []
    with open_store(postgres.url) as store:
        assert broken_promises(store, report.acks) == []
        assert inconsistencies(store, audit_keys_of(env)) == []


def _statuses(outcomes: list[Outcome]) -> dict:
    counts: dict = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts
