"""`originmark verify --server`: the CLI as a client of a real `originmark serve` (own process, real HTTP).

The server and the local verifier share one development keys dir, so both apply the same trust
policy; the records printed through the server must then be exactly the local ones.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli
from app.store.interface import Scope
from app.store.sql import open_store
from tests.cli.gateway import Planned, gateway_to
from tests.support import free_port, running_server, sign_generated_jpeg

ORIGINMARK = Path(sys.executable).with_name("originmark")
FIXTURES = "corpus/c2pa-rs/sdk/tests/fixtures"
UPLOAD_LIMIT = 8 * 1024 * 1024
# name in the batch -> corpus file; together every verdict state (see tests/cli/test_verify_cli.py)
CORPUS_BATCH = {
    "a-trusted-itl.jpg": f"{FIXTURES}/ocsp.jpg",
    "b-tampered.jpg": f"{FIXTURES}/XCA.jpg",
    "c-plain.jpg": f"{FIXTURES}/no_manifest.jpg",
    "d-moov-bomb.mp4": f"{FIXTURES}/nested_moov_1000.mp4",
    "e-test-signer.jpg": f"{FIXTURES}/C.jpg",
    "sub/f-riff-bomb.wav": f"{FIXTURES}/riff_bomb_1000.wav",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    url: str
    database_url: str
    keys_dir: Path
    verify_key: str
    read_key: str
    sign_key: str


@pytest.fixture(scope="module")
def service(dev_credentials, tmp_path_factory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("service")
    database_url = f"sqlite:///{root}/originmark.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "ORIGINMARK_KEYS_DIR": str(dev_credentials.directory),
        "ORIGINMARK_DATABASE_URL": database_url,
        "ORIGINMARK_SPOOL_DIR": str(root),
        "ORIGINMARK_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "ORIGINMARK_VERIFY_WORKERS": "2",
        "ORIGINMARK_SIGN_CONCURRENCY": "2",
    }
    log_path = root / "server.log"
    command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running_server(command, env=environment, log_path=log_path, base_url=url):
        with open_store(database_url) as store:
            tokens = {
                scope: store.create_key(name=f"cli-{scope.value}", scopes=frozenset({scope}))[1] for scope in Scope
            }
        yield Service(
            url=url,
            database_url=database_url,
            keys_dir=dev_credentials.directory,
            verify_key=tokens[Scope.VERIFY],
            read_key=tokens[Scope.READ],
            sign_key=tokens[Scope.SIGN],
        )


@pytest.fixture(scope="module")
def batch_dir(shared_dir: Path, service: Service, tmp_path_factory) -> Path:
    """The corpus batch, plus a JPEG the service signed with the development keys (trusted: local)."""
    root = tmp_path_factory.mktemp("batch")
    for name, source in CORPUS_BATCH.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_dir / source, root / name)
    (root / "g-dev-signed.jpg").write_bytes(sign_generated_jpeg(service.url, service.sign_key))
    return root


def run(env: dict[str, str], *args: object):
    return CliRunner().invoke(cli, ["verify", *map(str, args)], env=env, catch_exceptions=False)


def local_env(service: Service) -> dict[str, str]:
    # ORIGINMARK_SERVER_URL empty: verify here even if the developer's shell sets it.
    return {"ORIGINMARK_KEYS_DIR": str(service.keys_dir), "ORIGINMARK_SERVER_URL": "", "COLUMNS": "200"}


def remote_args(service: Service, key: str | None = None) -> list[str]:
    return ["--server", service.url, "--api-key", key or service.verify_key]


def without_summary(text: str) -> str:
    # The summary's first line carries the elapsed time; everything above it must match exactly.
    return text.split("Verified ", 1)[0]


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "table"])
def test_records_through_the_server_are_the_local_records(service, batch_dir, output_format):
    local = run(local_env(service), batch_dir, "-r", "--format", output_format, "--jobs", "2")
    remote = run(local_env(service), batch_dir, "-r", "--format", output_format, "--jobs", "3", *remote_args(service))
    # Again: now every verdict is answered from the server's store, and must not differ either.
    cached = run(local_env(service), batch_dir, "-r", "--format", output_format, *remote_args(service))

    assert local.exit_code == remote.exit_code == cached.exit_code == 1  # the tampered file
    if output_format == "table":  # the summary follows the table on stdout
        assert without_summary(remote.stdout) == without_summary(cached.stdout) == without_summary(local.stdout)
        assert "Verified 7 files" in remote.stdout
    else:
        assert remote.stdout == cached.stdout == local.stdout
        assert "Verified 7 files" in remote.stderr and "invalid 1" in remote.stderr
    if output_format == "jsonl":
        states = {line.split('"state": "')[1].split('"')[0] for line in remote.stdout.splitlines()}
        assert states == {"trusted", "valid", "invalid", "none", "error"}
        assert '"trust_list": "local"' in remote.stdout  # the service-signed file, under the shared keys
        assert "cached" not in remote.stdout


def test_a_missing_path_gets_the_local_record_and_exit_2(service, batch_dir, tmp_path):
    missing = tmp_path / "gone.jpg"
    local = run(local_env(service), batch_dir / "c-plain.jpg", missing, "--format", "jsonl")
    remote = run(local_env(service), batch_dir / "c-plain.jpg", missing, "--format", "jsonl", *remote_args(service))

    assert local.exit_code == remote.exit_code == 2
    assert remote.stdout == local.stdout
    assert "No such file or directory" in remote.stdout


def test_files_the_server_refuses_get_its_reason_and_keep_the_exit_status(service, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not media\n")
    over_limit = tmp_path / "over-limit.jpg"  # the server reads past the limit and answers 413
    over_limit.write_bytes(b"\xff\xd8\xff" + bytes(UPLOAD_LIMIT + 64 * 1024))
    far_over = tmp_path / "far-over.jpg"  # refused from Content-Length alone, before the body is read
    far_over.write_bytes(b"\xff\xd8\xff" + bytes(3 * UPLOAD_LIMIT))

    result = run(local_env(service), text, over_limit, far_over, "--format", "jsonl", "-j", "3", *remote_args(service))

    assert result.exit_code == 0, result.stderr  # refused media is an `error` record, as from the local engine
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == ["notes.txt", "over-limit.jpg", "far-over.jpg"]
    assert {r["state"] for r in records} == {"error"}
    assert records[0]["reason"].startswith("the server refused the file (HTTP 415 unsupported_media_type): ")
    assert "supported: JPEG, PNG" in records[0]["reason"]
    for record in records[1:]:
        assert record["reason"].startswith("the server refused the file (HTTP 413 payload_too_large): ")
        assert f"limit of {UPLOAD_LIMIT} bytes" in record["reason"]
    assert records[0]["sha256"] is None and records[0]["label"]["kind"] == "none"


def test_a_wrong_key_stops_the_batch_before_any_output(service, batch_dir):
    result = run(local_env(service), batch_dir, "-r", "--format", "json", *remote_args(service, "om_nope_wrong"))

    assert result.exit_code == 2
    assert result.stdout == ""  # not one `error` record per file
    assert "the server refused the API key (HTTP 401 invalid_api_key)" in result.stderr
    assert "unknown or has been revoked" in result.stderr


def test_a_revoked_key_is_refused(service, batch_dir):
    with open_store(service.database_url) as store:
        key, token = store.create_key(name="soon-revoked", scopes=frozenset({Scope.VERIFY}))
        store.revoke(key.key_id)

    result = run(local_env(service), batch_dir / "c-plain.jpg", *remote_args(service, token))

    assert result.exit_code == 2 and result.stdout == ""
    assert "HTTP 401 invalid_api_key" in result.stderr


def test_a_key_without_the_verify_scope_is_told_which_scope_it_needs(service, batch_dir):
    result = run(local_env(service), batch_dir / "c-plain.jpg", *remote_args(service, service.read_key))

    assert result.exit_code == 2 and result.stdout == ""
    assert "HTTP 403 insufficient_scope" in result.stderr
    assert "--scopes verify" in result.stderr


def test_an_unreachable_server_stops_the_batch_with_exit_2(service, batch_dir):
    nobody = f"http://127.0.0.1:{free_port()}"

    result = run(local_env(service), batch_dir, "-r", "--format", "jsonl", "--server", nobody, "--api-key", "k")

    assert result.exit_code == 2 and result.stdout == ""
    assert f"cannot reach the originmark service at {nobody}" in result.stderr
    assert "Connection refused" in result.stderr


def test_a_url_that_is_not_the_service_root_is_reported_as_such(service, batch_dir):
    result = run(
        local_env(service), batch_dir / "c-plain.jpg", "--server", f"{service.url}/api", "--api-key", service.verify_key
    )

    assert result.exit_code == 2 and result.stdout == ""
    assert "is not an originmark service" in result.stderr and "HTTP 404" in result.stderr


def test_server_and_key_come_from_the_settings_when_not_given(service, batch_dir):
    # A trailing slash on the URL and a newline after the key (pasted from a file) are tolerated.
    env = {
        **local_env(service),
        "ORIGINMARK_SERVER_URL": service.url + "/",
        "ORIGINMARK_API_KEY": service.verify_key + "\n",
    }
    result = run(env, batch_dir / "b-tampered.jpg", "--format", "jsonl")

    assert result.exit_code == 1, result.stderr
    assert '"state": "invalid"' in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-key", "k"], "is for --server"),
        (["--server", "ftp://example.org", "--api-key", "k"], "base URL"),
        (["--server", "http://127.0.0.1:1/?x=1", "--api-key", "k"], "no query"),
        (["--server", "http://127.0.0.1:1", "--api-key", "two words"], "one word of printable ASCII"),
        (["--server", "http://127.0.0.1:1", "--api-key", "clé"], "one word of printable ASCII"),
    ],
)
def test_usage_errors_exit_2_without_contacting_anything(service, batch_dir, args, message):
    result = run(local_env(service), batch_dir / "c-plain.jpg", *args)

    assert result.exit_code == 2
    assert message in result.stderr


def test_a_missing_key_is_a_usage_error(service, batch_dir):
    env = {**local_env(service), "ORIGINMARK_API_KEY": ""}
    result = run(env, batch_dir / "c-plain.jpg", "--server", service.url)

    assert result.exit_code == 2
    assert "give an API key" in result.stderr


def test_uploads_stream_from_disk(service, tmp_path):
    """A 7 MiB upload allocates a small fraction of its size in this process (64 KiB chunks)."""
    large = tmp_path / "large.jpg"
    with large.open("wb") as out:  # a JPEG start, then noise: the server answers a verdict (`error`)
        out.write(b"\xff\xd8\xff\xe0")
        out.write(os.urandom(7 * 1024 * 1024))
    run(local_env(service), large, "--format", "jsonl", *remote_args(service))  # warm imports and caches

    tracemalloc.start()
    try:
        result = run(local_env(service), large, "--format", "jsonl", *remote_args(service))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.exit_code == 0, result.stderr
    assert '"state": "error"' in result.stdout or '"state": "none"' in result.stdout
    assert peak < 2 * 1024 * 1024, peak


def test_a_key_revoked_mid_batch_stops_it_with_exit_2(service, tmp_path):
    with open_store(service.database_url) as store:
        key, token = store.create_key(name="revoked-mid-batch", scopes=frozenset({Scope.VERIFY}))
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(png, "PNG")
    for index in range(400):  # the same bytes: after the first, each is a quick answer from the store
        (tmp_path / f"{index:03}.png").write_bytes(png.getvalue())
    command = [str(ORIGINMARK), "verify", str(tmp_path), "--format", "jsonl", "--server", service.url]
    environment = {**os.environ, "ORIGINMARK_API_KEY": token, "ORIGINMARK_SERVER_URL": ""}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None  # stdout=PIPE
    first = process.stdout.readline()  # the batch is under way
    with open_store(service.database_url) as store:
        store.revoke(key.key_id)
    rest, errors = process.communicate(timeout=60)

    assert process.returncode == 2, errors
    records = [json.loads(line) for line in (first + rest).splitlines()]
    assert 1 <= len(records) < 400  # stopped, not one 401 record for each remaining file
    assert {record["state"] for record in records} == {"none"}
    assert "the server refused the API key (HTTP 401 invalid_api_key)" in errors


def test_a_key_of_another_tenant_verifies_through_the_server_without_reaching_the_defaults_data(
    service, batch_dir, tmp_path
):
    """`verify --server` with tenant B's key: B gets the same records, its submissions are B's own,
    and B reads nothing of tenant `default` (whose key signed g-dev-signed.jpg)."""
    import hashlib

    signed_sha256 = hashlib.sha256((batch_dir / "g-dev-signed.jpg").read_bytes()).hexdigest()
    plain = tmp_path / "b-only.jpg"
    Image.new("RGB", (40, 40), (1, 2, 3)).save(plain, "JPEG")
    plain_sha256 = hashlib.sha256(plain.read_bytes()).hexdigest()
    with open_store(service.database_url) as store:
        if store.tenant("tenant-b") is None:
            store.create_tenant("tenant-b")
        b_key = store.create_key(name="b", scopes=frozenset({Scope.VERIFY, Scope.READ}), tenant="tenant-b")[1]
        assert store.verdict_by_sha256("default", signed_sha256) is not None

    answer = run(local_env(service), plain, "--format", "jsonl", *remote_args(service, b_key))
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout.splitlines()[0])["sha256"] == plain_sha256

    headers = {"Authorization": f"Bearer {b_key}"}
    assert httpx.get(f"{service.url}/v1/verdicts/sha256/{plain_sha256}", headers=headers).status_code == 200
    assert httpx.get(f"{service.url}/v1/verdicts/sha256/{signed_sha256}", headers=headers).status_code == 404
    read_default = {"Authorization": f"Bearer {service.read_key}"}
    assert httpx.get(f"{service.url}/v1/verdicts/sha256/{plain_sha256}", headers=read_default).status_code == 404


def _png(path: Path, color: tuple[int, int, int]) -> Path:
    Image.new("RGB", (16, 16), color).save(path, "PNG")
    return path


def test_files_go_as_raw_bodies_typed_from_their_bytes(service, batch_dir, tmp_path):
    """Each file is the request body itself, Content-Type its sniffed media type (not its name's),
    Content-Length its size; the access check before them is an empty raw body."""
    misnamed = tmp_path / "really-a-png.jpg"
    _png(misnamed, (9, 9, 9))
    text = tmp_path / "notes.txt"
    text.write_text("not media\n")
    expected = {
        batch_dir / "c-plain.jpg": "image/jpeg",
        batch_dir / "d-moov-bomb.mp4": "video/mp4",
        batch_dir / "sub" / "f-riff-bomb.wav": "audio/wav",
        misnamed: "image/png",
        text: "application/octet-stream",
    }
    with gateway_to(service.url) as gateway:
        result = run(
            local_env(service), *expected, "-f", "jsonl", "-j", "2", "--server", gateway.url,
            "--api-key", service.verify_key,
        )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert [Path(json.loads(line)["path"]) for line in result.stdout.splitlines()] == list(expected)
    for path, media_type in expected.items():
        sent = gateway.requests_with(path.read_bytes())
        assert [(each.content_type, each.content_length) for each in sent] == [
            (media_type, str(path.stat().st_size))
        ], path
    (probe,) = gateway.requests_with(b"")
    assert probe.content_type == "application/octet-stream" and probe.answered == 422


def test_busy_and_failing_answers_are_each_files_own_and_the_batch_goes_on(service, tmp_path):
    """Through a gateway that answers some files itself: a 429 is sent again after its Retry-After,
    up to 4 sends; a 503 without Retry-After, a 502 and a wait too long to take are not retried;
    each such file gets its `error` record (exit 2: not checked), every other file its verdict. A
    proxy's own HTML 429 and 413 are the file's, not a sign of a wrong URL."""
    files = [_png(tmp_path / f"{name}.png", (index, 80, 160)) for index, name in enumerate("abcdefgh")]
    waited_for, unavailable, bad_gateway, always_busy, plain, far_off, proxy_busy, proxy_too_large = files
    with gateway_to(service.url) as gateway:
        gateway.plan(waited_for.read_bytes(), [Planned(status=429, retry_after="1", code="rate_limited")])
        gateway.plan(unavailable.read_bytes(), [Planned(status=503)])
        gateway.plan(bad_gateway.read_bytes(), [Planned(status=502)])
        gateway.plan(always_busy.read_bytes(), [Planned(status=429, retry_after="0")] * 10)
        gateway.plan(far_off.read_bytes(), [Planned(status=429, retry_after="3600")])
        gateway.plan(proxy_busy.read_bytes(), [Planned(status=429, html=True)])  # no Retry-After: waits 1 s
        gateway.plan(proxy_too_large.read_bytes(), [Planned(status=413, html=True)])
        result = run(
            local_env(service), *files, "-f", "jsonl", "-j", "3", "--server", gateway.url,
            "--api-key", service.verify_key,
        )  # fmt: skip

    assert result.exit_code == 2, result.stderr
    records = {Path(record["path"]).stem: record for record in map(json.loads, result.stdout.splitlines())}
    assert list(records) == list("abcdefgh")  # input order
    assert records["a"]["state"] == records["e"]["state"] == records["g"]["state"] == "none"
    first, second = gateway.requests_with(waited_for.read_bytes())
    assert (first.answered, second.answered) == (429, 200)
    assert second.arrived - first.arrived >= 0.95  # Retry-After: 1
    assert records["b"]["state"] == "error"
    assert (
        records["b"]["reason"] == "the server was too busy for this file (HTTP 503 planned): the gateway answered 503"
    )
    assert records["c"]["reason"] == "the server failed on this file (HTTP 502 planned): the gateway answered 502"
    assert records["d"]["reason"].startswith("the server was too busy for this file (HTTP 429 planned; sent 4 times)")
    assert "asked to wait 3600 s, over the 60 s" in records["f"]["reason"]
    assert records["h"]["reason"] == "the server refused the file (HTTP 413): Request Entity Too Large"
    sends = {path.stem: len(gateway.requests_with(path.read_bytes())) for path in files}
    assert sends == {"a": 2, "b": 1, "c": 1, "d": 4, "e": 1, "f": 1, "g": 2, "h": 1}
    assert "4 path(s) could not be read" in result.stderr


def test_a_busy_answer_holds_back_the_batch_s_next_requests(service, tmp_path):
    """A 429 with Retry-After: 2 on the first file: the requests in flight go on, but no new one
    starts before the wait is over (a rate limit refuses the others too)."""
    files = [_png(tmp_path / f"{index}.png", (index, 10, 200)) for index in range(8)]
    with gateway_to(service.url) as gateway:
        gateway.plan(files[0].read_bytes(), [Planned(status=429, retry_after="2", code="rate_limited")])
        result = run(
            local_env(service), *files, "-f", "jsonl", "-j", "2", "--server", gateway.url,
            "--api-key", service.verify_key,
        )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["state"] for line in result.stdout.splitlines()] == ["none"] * 8
    refused = next(seen for seen in gateway.seen if seen.answered == 429)
    during_the_wait = [seen for seen in gateway.seen if refused.arrived + 0.3 < seen.arrived < refused.arrived + 1.9]
    assert during_the_wait == []
    assert len(gateway.seen) == 1 + 8 + 1  # the access check, each file, the refused file again
