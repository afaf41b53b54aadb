"""kill -9 of the whole server in the middle of the mixed load, then a restart on the same database
and spool: no acknowledged verdict lost, the database consistent, nothing half-written served or kept.

A client never mistakes a cut-off download for a signed file: every signed answer carries its
Content-Length, so a body cut short by the kill is a transport error, never an acknowledgement.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from app.store.sql import open_store
from tests.faults.conftest import BACKENDS
from tests.faults.load import MixedLoad, broken_promises, inconsistencies
from tests.faults.service import Service, audit_keys_of, service_environment
from tests.faults.spool import spool_contents, stalled_sign_upload, wait_for_file

AFTER_RESTART_SECONDS = 1.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_under_load_loses_nothing_acknowledged(
    backend, database_url, spool_dir, dev_credentials, samples, tmp_path
):
    small, medium = samples
    env = service_environment(keys_dir=dev_credentials.directory, database_url=database_url, spool_dir=spool_dir)
    service = Service(env=env, log_path=tmp_path / "server.log")
    service.start()
    try:
        token = service.create_token(database_url)
        load = MixedLoad(base_url=service.base_url, token=token, small=small, medium=medium).start()
        load.wait_for_acks(signs=40, verifies=40, seconds=60)
        # An upload held half-received: the kill certainly finds a request folder in use.
        stalled = medium[0]
        with stalled_sign_upload(service.base_url, token, file_name="stalled.jpg", data=stalled.data, sent=200_000):
            wait_for_file("*/file/stalled.jpg", spool_dir)
            service.kill9()  # every server process, verifier workers included, gone (checked)
        report = load.stop()
        print("\n" + report.summary(f"KILL -9 {backend} (before the kill)"))
        assert report.server_errors() == [], service.log_tail()
        assert report.violations == []

        left = spool_contents(spool_dir)
        print(f"left in the spool by the killed server: {left.summary}")
        assert left.folders, "the stalled upload's folder should be there"
        if backend == "sqlite":
            with sqlite3.connect(database_url.removeprefix("sqlite:///")) as database:
                assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                assert database.execute("PRAGMA foreign_key_check").fetchall() == []
        with open_store(database_url) as store:
            assert broken_promises(store, report.acks) == []
            assert inconsistencies(store, audit_keys_of(env)) == []

        service.start()  # same port, same database, same spool
        with httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            # The first upload of each new server process sweeps the folders no living process holds.
            first = http.post(
                "/v1/sign",
                files={"file": (small[0].name, small[0].data, small[0].mime)},
                data={"generator": "After Restart"},
            )
            assert first.status_code == 200, first.text
            remaining = {p.name for p in spool_dir.iterdir()} & set(left.folders)
            assert remaining == set(), f"folders of the killed server are still in the spool: {remaining}"
            # An output renamed into place before the kill is whole: it verifies like any signed file.
            for path, data in left.complete_outputs.items():
                answer = http.post("/v1/verify", files={"file": (path.name, data, "application/octet-stream")})
                assert answer.status_code == 200, answer.text
                assert answer.json()["verdict"]["state"] in ("trusted", "valid"), (path, answer.json()["verdict"])

        after = MixedLoad(base_url=service.base_url, token=token, small=small, medium=medium, seed=5)
        after_report = after.run_for(AFTER_RESTART_SECONDS)
        assert {o.status for o in after_report.outcomes} == {200}, after_report.summary("after the restart")
        assert after_report.violations == []
        with open_store(database_url) as store:
            assert broken_promises(store, report.acks + after_report.acks) == []
            assert inconsistencies(store, audit_keys_of(env)) == []
    finally:
        service.stop()
    assert sorted(p.name for p in spool_dir.iterdir()) == []
