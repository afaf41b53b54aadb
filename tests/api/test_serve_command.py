"""`originmark serve` as an operator runs it: first start on embedded defaults, two workers, real HTTP."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import httpx
import pytest

from app.store.interface import Scope
from app.store.sql import open_store
from tests.support import running_server

from .helpers import ApiKeys, free_port, jpeg_bytes, sign_form

ORIGINMARK = Path(sys.executable).with_name("originmark")


def test_first_start_creates_development_keys_migrates_and_serves(tmp_path):
    port = free_port()
    database_url = f"sqlite:///{tmp_path}/data/originmark.db"
    environment = {
        **os.environ,
        "ORIGINMARK_KEYS_DIR": str(tmp_path / "data" / "keys"),
        "ORIGINMARK_DATABASE_URL": database_url,
        "ORIGINMARK_SPOOL_DIR": str(tmp_path),
        "ORIGINMARK_VERIFY_WORKERS": "1",
        "ORIGINMARK_SIGN_CONCURRENCY": "1",
    }
    log_path = tmp_path / "server.log"
    base_url = f"http://127.0.0.1:{port}"
    command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with running_server(command, env=environment, log_path=log_path, base_url=base_url):
        with open_store(database_url) as store:
            token = store.create_key(name="first-start", scopes=frozenset({Scope.SIGN, Scope.READ}))[1]
        signed = httpx.post(
            f"{base_url}/v1/sign",
            headers=ApiKeys.header(token),
            files={"file": ("gen.jpg", jpeg_bytes(), "image/jpeg")},
            data=sign_form(media_id="first"),
            timeout=30,
        )
        assert signed.status_code == 200, signed.text
        labels = httpx.get(f"{base_url}/v1/labels?media_id=first", headers=ApiKeys.header(token), timeout=10)
        assert labels.json()["labels"]["first"]["kind"] == "ai_generated"

    keys_dir = tmp_path / "data" / "keys"
    assert sorted(p.name for p in keys_dir.iterdir()) == ["audit.key", "ca.pem", "chain.pem", "key.pem"]
    assert (keys_dir / "audit.key").stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    warnings = [line for line in lines if "DEVELOPMENT SIGNING CREDENTIALS" in line["message"]]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"  # once, by the parent process
    audit_warnings = [line for line in lines if "DEVELOPMENT AUDIT KEY CREATED" in line["message"]]
    assert len(audit_warnings) == 1 and audit_warnings[0]["level"] == "warning"
    assert (keys_dir / "audit.key").read_text().strip() not in log_path.read_text()
    # The signature's audit record is authenticated with that key, and names the claim.
    from app.audit_keys import verification_audit_keys
    from app.settings import Settings
    from app.store.audit import SqlAuditLog

    with open_store(database_url) as store:
        keys = verification_audit_keys(Settings(keys_dir=keys_dir))
        report = SqlAuditLog(db_engine=store.db_engine, keys=keys).verify_chain()
        [entry] = store.entries()
    assert keys.current is not None  # the service made its audit key at start-up
    assert report.intact and report.authenticated_records == 1 and report.mac_key_ids == (keys.current.key_id,)
    assert entry.digital_source_type == "trainedAlgorithmicMedia"
    ready = [line for line in lines if line["message"] == "originmark is ready"]
    assert len(ready) == 2  # both workers
    requests = [line for line in lines if line["logger"] == "originmark.access" and line["route"] == "/v1/sign"]
    assert requests and requests[0]["status"] == 200 and requests[0]["key_id"] == token.split("_")[1]
    assert token not in log_path.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("originmark-")] == []  # no spool left


@pytest.fixture(autouse=True)
def logging_is_restored():
    """`serve` configures logging for its process; in-process runs must not change the other tests'."""
    names = ["", "originmark", "uvicorn", "uvicorn.error", "uvicorn.access"]
    saved = {name: (lg.handlers[:], lg.level, lg.propagate) for name in names for lg in [logging.getLogger(name)]}
    yield
    for name, (handlers, level, propagate) in saved.items():
        restored = logging.getLogger(name)
        restored.handlers[:] = handlers
        restored.setLevel(level)
        restored.propagate = propagate


def _serve_refuses(tmp_path, **environment: str):
    from typer.testing import CliRunner

    from app.cli import cli

    env = {"ORIGINMARK_KEYS_DIR": str(tmp_path / "keys"), "ORIGINMARK_DATABASE_URL": f"sqlite:///{tmp_path}/o.db"}
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())], env={**env, **environment})
    assert result.exit_code == 2, result.output
    return result.output


def test_serve_reports_bad_settings_before_starting(tmp_path):
    output = _serve_refuses(tmp_path, ORIGINMARK_MAX_UPLOAD_BYTES="-1")
    assert "configuration" in output and "max_upload_bytes" in output


def test_serve_never_invents_credentials_for_an_explicit_chain(tmp_path):
    output = _serve_refuses(
        tmp_path,
        ORIGINMARK_SIGNING_CHAIN=str(tmp_path / "missing-chain.pem"),
        ORIGINMARK_SIGNING_KEY=str(tmp_path / "missing-key.pem"),
    )
    assert "missing-chain.pem" in output
    assert not (tmp_path / "keys").exists()


def test_serve_reports_an_unusable_database_url(tmp_path):
    output = _serve_refuses(tmp_path, ORIGINMARK_DATABASE_URL="mysql://someone@db/originmark")
    assert "the database cannot be used" in output


def test_with_two_workers_metrics_count_the_requests_of_both(tmp_path):
    port = free_port()
    environment = {
        **os.environ,
        "ORIGINMARK_KEYS_DIR": str(tmp_path / "keys"),
        "ORIGINMARK_DATABASE_URL": f"sqlite:///{tmp_path}/originmark.db",
        "ORIGINMARK_VERIFY_WORKERS": "1",
        "ORIGINMARK_SIGN_WORKERS": "1",
    }
    base_url = f"http://127.0.0.1:{port}"
    command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with running_server(command, env=environment, log_path=tmp_path / "server.log", base_url=base_url):
        answered_by: set[str] = set()
        sent = 0
        # A new connection per request: the kernel spreads them over both workers' accept queues.
        while len(answered_by) < 2 or sent < 40:
            assert sent < 2000, "every request went to the same worker"
            response = httpx.get(f"{base_url}/healthz", headers={"Connection": "close"}, timeout=10)
            assert response.status_code == 200
            answered_by.add(response.headers["x-request-id"][:16])  # the prefix names the worker process
            sent += 1
        for _ in range(4):  # whichever worker answers the scrape, it reports both
            text = httpx.get(f"{base_url}/metrics", headers={"Connection": "close"}, timeout=10).text
            [line] = [
                line
                for line in text.splitlines()
                if line.startswith('originmark_http_requests_total{method="GET",route="/healthz",status="200"}')
            ]
            assert float(line.rsplit(" ", 1)[1]) == sent


def test_serve_refuses_an_audit_key_file_that_is_not_there(tmp_path):
    output = _serve_refuses(tmp_path, ORIGINMARK_AUDIT_KEY_FILE=str(tmp_path / "vault" / "audit.key"))
    assert "Cannot read the audit key file" in output and "ORIGINMARK_AUDIT_KEY_FILE" in output
    assert not (tmp_path / "vault").exists()  # a configured key is never invented
