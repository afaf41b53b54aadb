"""Sustained mixed load on the real server: no 5xx, and every acknowledged verdict stored as answered.

Two server processes (`--workers 2`), six client threads on loopback signing (seven formats,
small and medium), verifying (fresh uploads and earlier outputs) and reading labels, for
ORIGINMARK_TEST_LOAD_SECONDS (default 10 s) on each backend. Run with `-s` for the figures.
"""

from __future__ import annotations

import pytest

from app.store.sql import open_store
from tests.faults.conftest import BACKENDS, load_seconds
from tests.faults.load import MixedLoad, broken_promises, inconsistencies
from tests.faults.service import Service, audit_keys_of, running, service_environment

DEFAULT_SECONDS = 10.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_sustained_mixed_load_keeps_every_promise(backend, database_url, spool_dir, dev_credentials, samples, tmp_path):
    small, medium = samples
    env = service_environment(keys_dir=dev_credentials.directory, database_url=database_url, spool_dir=spool_dir)
    service = Service(env=env, log_path=tmp_path / "server.log", workers=2)
    with running(service):
        token = service.create_token(database_url)
        load = MixedLoad(base_url=service.base_url, token=token, small=small, medium=medium)
        report = load.run_for(load_seconds(DEFAULT_SECONDS))
        print("\n" + report.summary(f"LOAD {backend}"))

        assert report.server_errors() == [], service.log_tail()
        assert report.transport_errors() == []
        assert {o.status for o in report.outcomes} == {200}, [o for o in report.outcomes if o.status != 200][:5]
        assert report.violations == []
        for operation in ("sign", "verify", "labels"):
            assert report.count(operation=operation, status=200) >= 5, f"too few {operation} requests to mean anything"
        with open_store(database_url) as store:
            assert broken_promises(store, report.acks) == []
            assert inconsistencies(store, audit_keys_of(env)) == []
    assert sorted(p.name for p in spool_dir.iterdir()) == []  # every request cleaned up after itself
