"""`originmark batch verify` / `batch report`: the real CLI (Typer's runner, in this process) on
real PostgreSQL with a real procrastinate worker and moto's S3, and on SQLite with the embedded
runner over a folder of the objects folder. Sources are real C2PA files from the shared corpus."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from urllib.parse import unquote

import psycopg
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.objects.location import ObjectLocation, Scheme
from tests.api.helpers import jpeg_bytes
from tests.support import libpq_url, one_row

CORPUS = Path("/work/shared/corpus")
SIGNED = CORPUS / "c2pa-rs/sdk/tests/fixtures/C.jpg"  # valid credentials (untrusted test signer)
TAMPERED = CORPUS / "c2pa-rs/sdk/tests/fixtures/E-sig-CA.jpg"  # signature broken: invalid
NO_CREDENTIALS = CORPUS / "c2pa-rs/sdk/tests/fixtures/no_manifest.jpg"

pytestmark = pytest.mark.skipif(not SIGNED.exists(), reason="the shared corpus is not mounted")

# Five objects; one name holds a bidi override (it would reorder what a reader sees, shown raw).
HOSTILE = "photo\u202egpj.exe.jpg"
OBJECTS = {
    "signed.jpg": lambda: SIGNED.read_bytes(),
    "tampered.jpg": lambda: TAMPERED.read_bytes(),
    "plain.jpg": lambda: NO_CREDENTIALS.read_bytes(),
    HOSTILE: lambda: jpeg_bytes(seed=7),
    "notes.txt": lambda: b"not media at all\n",
}


def _env(settings) -> dict[str, str]:
    return {
        "ORIGINMARK_DATABASE_URL": settings.database_url,
        "ORIGINMARK_KEYS_DIR": str(settings.keys_dir),
        "ORIGINMARK_SPOOL_DIR": str(settings.spool_dir),
        "ORIGINMARK_OBJECTS_DIR": str(settings.objects_dir),
        "ORIGINMARK_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "ORIGINMARK_S3_REGION": settings.s3_region or "",
        "ORIGINMARK_S3_ADDRESSING_STYLE": settings.s3_addressing_style,
        "ORIGINMARK_S3_MAX_ATTEMPTS": "1",
        "ORIGINMARK_VERIFY_WORKERS": "1",
        "ORIGINMARK_JOBS_MAX_ATTEMPTS": "1",
        "ORIGINMARK_JOBS_RETRY_WAIT_SECONDS": "0",
        "ORIGINMARK_SERVER_URL": "",
    }


def _run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _check_reports(env: dict[str, str], batch_id: str, prefix_uri: str) -> None:
    as_json = _run(env, "batch", "report", batch_id, "--format", "json")
    assert as_json.exit_code == 1, as_json.output  # something is invalid (and the text file failed)
    report = json.loads(as_json.stdout)
    assert report["jobs"] == 5 and report["prefix"] == prefix_uri
    by_uri = {unquote(row["uri"].rsplit("/", 1)[-1]): row for row in report["objects"]}
    assert set(by_uri) == set(OBJECTS)
    assert by_uri["signed.jpg"]["state"] == "valid" and by_uri["signed.jpg"]["status"] == "succeeded"
    assert by_uri["tampered.jpg"]["state"] == "invalid" and by_uri["tampered.jpg"]["label_kind"] == "invalid"
    assert by_uri["plain.jpg"]["state"] == "none" and by_uri["plain.jpg"]["label_kind"] == "none"
    assert by_uri[HOSTILE]["state"] == "none"
    assert "\u202e" not in as_json.stdout and ("\\u202e" in as_json.stdout or "%E2%80%AE" in as_json.stdout)
    text_row = by_uri["notes.txt"]
    assert sum(report["by_status"].values()) == 5
    assert report["by_state"]["none"] == 2 and report["by_state"]["invalid"] == 1 and report["by_state"]["valid"] == 1
    assert sum(report["by_state"].values()) + report["by_status"].get("failed", 0) == 5
    assert text_row["status"] == "failed" or text_row["state"] == "error"

    as_csv = _run(env, "batch", "report", batch_id, "--format", "csv")
    assert as_csv.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 5
    assert sorted(row["state"] for row in rows) == sorted((row["state"] or "") for row in report["objects"])
    assert "\u202e" not in as_csv.stdout  # shown as the text \\u202e (or percent-encoded in a file URI)
    assert sum(row["state"] == "invalid" for row in rows) == 1

    as_table = _run({**env, "COLUMNS": "200"}, "batch", "report", batch_id)
    assert as_table.exit_code == 1
    assert "tampered.jpg" in as_table.stdout and "invalid" in as_table.stdout and "5 jobs" in as_table.stdout
    assert "\u202e" not in as_table.stdout and any(
        shown in as_table.stdout for shown in ("photo gpj.exe.jpg", "photo%E2%80%AEgpj.exe.jpg")
    )


def test_batch_over_s3_on_postgresql(settings, s3, pg_url, drain_queue):
    object_store, bucket = s3
    for name, data in OBJECTS.items():
        object_store.put(ObjectLocation(Scheme.S3, f"batch/{name}", bucket), io.BytesIO(data()))
    object_store.put(ObjectLocation(Scheme.S3, "elsewhere.jpg", bucket), io.BytesIO(jpeg_bytes(seed=8)))
    env = _env(settings)
    prefix = f"s3://{bucket}/batch/"

    first = _run(env, "batch", "verify", prefix)
    assert first.exit_code == 0, first.output
    batch_id = first.stdout.strip()
    assert len(batch_id) == 32 and "5 jobs (5 new, 0 reused)" in first.stderr

    pending = _run(env, "batch", "report", batch_id, "--format", "json")
    assert pending.exit_code == 1 and json.loads(pending.stdout)["by_status"] == {"queued": 5}

    object_store.delete(ObjectLocation(Scheme.S3, "batch/notes.txt", bucket))  # gone before a worker runs it
    drain_queue()
    _check_reports(env, batch_id, prefix)
    report = json.loads(_run(env, "batch", "report", batch_id, "--format", "json").stdout)
    assert report["by_status"] == {"failed": 1, "succeeded": 4}
    failed = [row for row in report["objects"] if row["status"] == "failed"]
    assert failed[0]["uri"].endswith("/notes.txt") and failed[0]["error"]["code"] == "object_not_found"

    again = _run(env, "batch", "verify", prefix, "--wait")  # all done already: returns at once
    assert "4 jobs (0 new, 4 reused)" in again.stderr, again.output
    assert again.exit_code == 1  # --wait reports the outcome: one invalid
    second_id = again.stdout.strip()
    assert second_id != batch_id
    with psycopg.connect(libpq_url(pg_url)) as connection:
        assert one_row(connection, "SELECT count(*) FROM procrastinate_jobs")[0] == 5
        assert one_row(connection, "SELECT count(*) FROM originmark_jobs")[0] == 5
    assert json.loads(_run(env, "batch", "report", second_id, "--format", "json").stdout)["jobs"] == 4


def test_batch_over_a_local_folder_on_sqlite(jobs_base_settings, tmp_path):
    settings = jobs_base_settings.model_copy(
        update={
            "database_url": f"sqlite:///{tmp_path}/batch.db",
            "objects_dir": tmp_path / "objects",
        }
    )
    folder = settings.objects_dir / "incoming"
    folder.mkdir(parents=True)
    for name, data in OBJECTS.items():
        (folder / name).write_bytes(data())
    env = _env(settings)

    done = _run(env, "batch", "verify", "incoming/")  # SQLite: runs the jobs here and waits
    assert done.exit_code == 1, done.output  # one invalid
    batch_id = done.stdout.strip()
    _check_reports(env, batch_id, "incoming/")

    again = _run(env, "batch", "verify", str(folder.resolve().as_uri()) + "/")
    assert "0 new" in again.stderr, again.output


def test_unknown_batch_and_bad_uri_are_usage_errors(jobs_base_settings, tmp_path):
    settings = jobs_base_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/empty.db"})
    env = _env(settings)
    assert _run(env, "batch", "report", "0" * 32).exit_code == 2
    assert _run(env, "batch", "report", "not-an-id").exit_code == 2
    assert _run(env, "batch", "verify", "gopher://x/y").exit_code == 2
    outside = _run(env, "batch", "verify", "/etc/")  # not in the objects folder: refused, no batch made
    assert outside.exit_code == 2 and outside.stdout == "" and "outside" in outside.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)
