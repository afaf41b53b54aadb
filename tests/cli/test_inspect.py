"""`originmark inspect` through its entry point, on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli
from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest

CORPUS = "corpus"
FIREFLY_2023 = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
TAMPERED = "c2pa-rs/sdk/tests/fixtures/XCA.jpg"
NO_MANIFEST = "c2pa-rs/sdk/tests/fixtures/no_manifest.jpg"
UNSUPPORTED = "c2pa-rs/sdk/tests/fixtures/Purple Square.psd"

HOSTILE_TITLE = "[bold red]x[/] \x1b[2J\x1b]0;owned\x07 [link=https://evil.example]click[/link] :skull: \u202eevil"
HOSTILE_GENERATOR = "[blink]Acme[/blink]\\"


@pytest.fixture()
def run(monkeypatch, dev_credentials):
    """Invoke the CLI as a user would, with the development CA as the local trust anchor."""
    monkeypatch.setenv("ORIGINMARK_KEYS_DIR", str(dev_credentials.ca_path.parent))
    monkeypatch.setenv("COLUMNS", "200")  # keep long lines whole so the assertions can find them

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["inspect", *args])

    return invoke


@pytest.fixture(scope="module")
def hostile_signed_file(tmp_path_factory, signing_key) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    source, signed = folder / "source.jpg", folder / "hostile.jpg"
    Image.new("RGB", (32, 32), (200, 40, 40)).save(source, "JPEG")
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
    try:
        signer.sign_file(
            source=source,
            destination=signed,
            request=GenerationRequest(generator_name=HOSTILE_GENERATOR, generator_version="1.0", title=HOSTILE_TITLE),
        )
    finally:
        signer.close()
    return signed


def test_ai_generated_file_shows_label_signer_and_history(run, shared_dir):
    result = run(str(shared_dir / CORPUS / FIREFLY_2023))
    assert result.exit_code == 0, result.output
    assert "label: AI-generated  issuer: Adobe Inc.  (evidence: generative_ai_assertion)" in result.stdout
    assert "state: trusted  trust list: itl" in result.stdout
    assert "[active] adobe:5468a4d3-0dc5-4550-8248-590eb7c520ec" in result.stdout
    assert "signed by: Adobe Inc. (cai-prod)" in result.stdout
    assert "c2pa.created  (c2pa.actions)" in result.stdout
    assert "com.adobe.generative-ai" in result.stdout


def test_invalid_file_exits_1_and_its_label_claims_nothing(run, shared_dir):
    result = run(str(shared_dir / CORPUS / TAMPERED))
    assert result.exit_code == 1
    assert "label: Content Credentials could not be verified" in result.stdout
    assert "issuer:" not in result.stdout
    assert "nothing they say is confirmed" in result.stdout
    assert "validation codes: signingCredential.untrusted, assertion.dataHash.mismatch" in result.stdout


def test_file_without_credentials_exits_0(run, shared_dir):
    result = run(str(shared_dir / CORPUS / NO_MANIFEST))
    assert result.exit_code == 0
    assert "label: No Content Credentials" in result.stdout
    assert "manifests (" not in result.stdout


def test_unsupported_file_is_an_error_verdict_with_its_reason_not_a_failure(run, shared_dir):
    result = run(str(shared_dir / CORPUS / UNSUPPORTED))
    assert result.exit_code == 0
    assert "state: error" in result.stdout
    assert "reason: unsupported file type" in result.stdout


def test_missing_file_exits_2_with_a_message(run, tmp_path):
    result = run(str(tmp_path / "nope.jpg"))
    assert result.exit_code == 2
    assert "nope.jpg: no such file" in result.stderr
    assert result.stdout == ""


def test_folder_exits_2_and_points_to_verify(run, tmp_path):
    result = run(str(tmp_path))
    assert result.exit_code == 2
    assert "is a folder" in result.stderr and "originmark verify -r" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_exits_2(run, tmp_path):
    locked = tmp_path / "locked.jpg"
    locked.write_bytes(b"\xff\xd8\xff")
    locked.chmod(0)
    result = run(str(locked))
    assert result.exit_code == 2
    assert "permission denied" in result.stderr


def test_bad_settings_exit_2_with_the_setting_named(run, monkeypatch, shared_dir):
    monkeypatch.setenv("ORIGINMARK_VERIFY_TIMEOUT_SECONDS", "-1")
    result = run(str(shared_dir / CORPUS / FIREFLY_2023))
    assert result.exit_code == 2
    assert "configuration: verify_timeout_seconds" in result.stderr
    assert "Traceback" not in result.output


def test_no_argument_is_a_usage_error(run):
    assert run().exit_code == 2


def test_json_output_is_the_story(run, shared_dir):
    result = run(str(shared_dir / CORPUS / FIREFLY_2023), "--json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["path"].endswith("firefly-1.jpg")
    assert record["label"] == {
        "kind": "ai_generated",
        "trusted": True,
        "text": "AI-generated",
        "issuer": "Adobe Inc.",
        "evidence": "generative_ai_assertion",
        "recovered": False,  # its own credentials, not found by content match
        "recovered_manifest_id": None,
    }
    assert record["state"] == "trusted" and record["trust_list"] == "itl"
    active = record["chapters"][0]
    assert active["role"] == "active"
    assert active["actions"][0] == {
        "action": "c2pa.created",
        "form": "c2pa.actions",
        "source_type": None,
        "source_type_term": None,
        "software_agent": None,
        "description": None,
    }
    assert active["signed_at"] == "2023-03-21T00:26:57+00:00"


def test_json_exit_code_follows_the_state_too(run, shared_dir):
    assert run(str(shared_dir / CORPUS / TAMPERED), "--json").exit_code == 1


def test_our_own_signed_file_is_trusted_via_the_local_anchor(run, hostile_signed_file):
    result = run(str(hostile_signed_file))
    assert result.exit_code == 0, result.output
    assert "label: AI-generated" in result.stdout
    assert "state: trusted  trust list: local" in result.stdout
    assert "trainedAlgorithmicMedia" in result.stdout


def test_hostile_manifest_text_is_shown_literally_never_obeyed(run, hostile_signed_file):
    result = run(str(hostile_signed_file))
    output = result.stdout
    assert result.exit_code == 0, output
    assert "[bold red]x[/]" in output
    assert "[link=https://evil.example]click[/link]" in output
    assert ":skull:" in output  # no emoji substitution either
    assert "[blink]Acme[/blink]" in output
    assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output


def test_hostile_manifest_text_survives_json_output_escaped(run, hostile_signed_file):
    result = run(str(hostile_signed_file), "--json")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    record = json.loads(result.stdout)
    assert record["chapters"][0]["title"].startswith("[bold red]x[/]")
