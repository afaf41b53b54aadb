"""POST /v1/verify with the media as the raw body: held in memory and read by a verifier worker in the
memory it shares with the server (IsolatedVerifier.verify_bytes), never written to the spool for the
engine. Over real HTTP on real corpus files: the same answers as the same bytes sent as multipart
(spooled, read from a file by the worker). A worker timing out or crashing on bytes in memory is
the same clean answer as on a file: tests/api/test_isolation_api.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app.api.main import create_app
from app.wiring import build_trust_policy, build_verify_limits
from verifier.isolation import IsolatedVerifier

from .helpers import TEST_UPLOAD_LIMIT, ApiKeys, sign_form
from .test_recovery import picture, stripped_copy

OCTETS = {"Content-Type": "application/octet-stream"}


def _one_per_format_and_outcome(corpus: Path) -> list[Path]:
    """The smallest corpus file of each (format, documented outcome) within the tests' upload limit."""
    chosen: dict[tuple[str, str], dict] = {}
    for entry in json.loads((corpus / "index.json").read_text())["files"]:
        if entry["bytes"] > TEST_UPLOAD_LIMIT:
            continue
        key = (entry["format"], entry["expected"]["outcome"])
        if key not in chosen or entry["bytes"] < chosen[key]["bytes"]:
            chosen[key] = entry
    return [corpus / entry["path"] for _key, entry in sorted(chosen.items())]


@pytest.fixture
def spooled_reads(worker_pools, monkeypatch) -> list[Path]:
    """Every file the verifier pool is asked to verify from disk, during the test."""
    verifier = worker_pools.verifier
    reads: list[Path] = []
    from_file = verifier.verify_file

    def recording(path: Path, **options):
        reads.append(path)
        return from_file(path, **options)

    monkeypatch.setattr(verifier, "verify_file", recording)
    return reads


def test_raw_bodies_verified_in_memory_answer_as_the_same_files_spooled(
    client, api_keys, worker_pools, shared_dir, spooled_reads
):
    assert worker_pools.verifier.shared_bytes == TEST_UPLOAD_LIMIT  # the server's pool takes held bodies
    files = _one_per_format_and_outcome(shared_dir / "corpus")
    assert len(files) >= 30
    verified = 0
    for path in files:
        data = path.read_bytes()
        raw = client.post(
            "/v1/verify?refresh=true", content=data, headers={**ApiKeys.header(api_keys.verify), **OCTETS}
        )
        assert spooled_reads == [], f"{path}: the engine read a spooled file"
        form = client.post(
            "/v1/verify?refresh=true",
            headers=ApiKeys.header(api_keys.verify),
            files={"file": (path.name, data, "application/octet-stream")},
        )
        assert len(spooled_reads) == (1 if form.status_code == 200 else 0), path
        spooled_reads.clear()
        assert (raw.status_code, raw.json()) == (form.status_code, form.json()), path
        verified += raw.status_code == 200
    assert verified >= 30  # most formats are verified (a few are no media type the verifier knows: 415)


def test_without_shared_regions_a_held_body_is_spooled_for_the_engine(
    app_switch, make_settings, store, api_keys, base_settings, worker_pools, corpus_file
):
    # A pool built without regions (IsolatedVerifier's default): the held body is written out for it.
    plain = IsolatedVerifier(
        policy=build_trust_policy(base_settings), limits=build_verify_limits(base_settings), workers=1
    )
    switch, http = app_switch
    pools = dataclasses.replace(worker_pools, verifier=plain)
    try:
        with switch.installed(create_app(make_settings(), store=store, worker_pools=pools)):
            reads: list[Path] = []
            from_file = plain.verify_file

            def recording(path: Path, **options):
                reads.append(path)
                return from_file(path, **options)

            plain.verify_file = recording  # type: ignore[method-assign]
            data = corpus_file.read_bytes()
            raw = http.post(
                "/v1/verify?refresh=true", content=data, headers={**ApiKeys.header(api_keys.verify), **OCTETS}
            )
            assert raw.status_code == 200, raw.text
            assert len(reads) == 1 and reads[0].name == "file"  # the spool layout of a raw body
            assert raw.json()["verdict"]["state"] == "valid"  # signed under roots the service does not trust
    finally:
        plain.close()


@pytest.fixture
def corpus_file(shared_dir) -> Path:
    return shared_dir / "corpus" / "c2pa-c/tests/fixtures/for_trusted_read.jpg"


def test_recovery_and_keeping_after_a_verification_in_memory_read_the_upload_written_out(
    client, api_keys, spooled_reads
):
    # The worker verifies the held body in memory; recovery (a stripped copy) and keeping (a signed
    # file) then read it as a file, written to the spool only for them: same answers as multipart.
    headers = ApiKeys.header(api_keys.all)
    signed = client.post(
        "/v1/sign", headers=headers, files={"file": ("gen.jpg", picture(3), "image/jpeg")}, data=sign_form()
    )
    assert signed.status_code == 200, signed.text
    manifest_id = signed.headers["x-manifest-label"]
    spooled_reads.clear()  # signing verifies its output from its file

    copy = stripped_copy(signed.content)
    raw = client.post(
        "/v1/verify", params={"refresh": "true", "media_id": "copy-1"}, content=copy, headers={**headers, **OCTETS}
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["verdict"]["recovered"]["manifest_id"] == manifest_id
    assert raw.json()["label"]["recovered"] is True

    kept = client.post(
        "/v1/verify",
        params={"refresh": "true", "keep_manifest": "true"},
        content=signed.content,
        headers={**headers, **OCTETS},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["verdict"]["state"] == "trusted" and kept.json()["kept_manifest_id"] == manifest_id
    assert spooled_reads == []  # neither verdict came from a spooled file
