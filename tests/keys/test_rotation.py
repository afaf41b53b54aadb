"""Signing identities and rotation: the identities layout, `keys rotate`, the service's RotatingSigner,
the CLI on every backend, and a time-stamped signature outliving its short-lived certificate."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings
from app.wiring import build_rotating_signer
from keys.algorithms import SigningAlgorithm
from keys.backends.spec import PemKeySpec
from keys.certificates import chain_pem, generate_private_key, private_key_pem
from keys.credential import load_credential
from keys.devca import (
    DevelopmentCredentials,
    create_development_ca,
    create_development_credentials,
    issue_development_certificate,
)
from keys.errors import IdentityProblem
from keys.identities import IdentityDirectory, write_atomically
from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

runner = CliRunner()
ORIGINMARK = Path(sys.executable).with_name("originmark")


def _keys(*args: str, keys_dir: Path, env: dict[str, str] | None = None):
    return runner.invoke(cli, ["keys", *args], env={"ORIGINMARK_KEYS_DIR": str(keys_dir), **(env or {})})


def _flat(text: str) -> str:
    return "".join(text.split())


def _jpeg(path: Path, shade: int = 0) -> Path:
    Image.new("RGB", (40, 30), (shade % 256, 120, 200)).save(path, "JPEG")
    return path


def _verify(path: Path, *anchor_files: Path, tsa_pem: str | None = None):
    anchors = "".join(file.read_text() for file in anchor_files)
    return Verifier(policy=default_trust_policy(local_anchors_pem=anchors, tsa_anchors_pem=tsa_pem)).verify_file(path)


# --- the layout ---


def test_activate_replaces_the_active_file_atomically_and_changes_the_marker(tmp_path):
    identities = IdentityDirectory(tmp_path)
    for name in ("a", "b"):
        create_development_credentials(identities.create_directory(name))
    assert identities.active_name() is None and identities.marker() is None
    identities.activate("a")
    first = identities.marker()
    identities.activate("b")
    assert identities.active().name == "b" and identities.marker() != first
    assert (tmp_path / "active").read_text() == "b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["active", "identities"]  # no temporary file left
    with pytest.raises(IdentityProblem, match="no signing identity 'c'"):
        identities.activate("c")
    assert identities.active_name() == "b"


@pytest.mark.parametrize("name", ["", "A", "../x", "a/b", ".hidden", "x" * 64])
def test_identity_names_cannot_escape_the_folder(tmp_path, name):
    with pytest.raises(IdentityProblem, match="not a valid identity name"):
        IdentityDirectory(tmp_path).create_directory(name)


def test_a_pin_is_never_read_from_backend_json(tmp_path):
    identities = IdentityDirectory(tmp_path)
    directory = identities.create_directory("hsm")
    (directory / "backend.json").write_text(
        json.dumps({"backend": "pkcs11", "module": "/m.so", "token_label": "t", "key_label": "k", "pin": "1234"})
    )
    with pytest.raises(IdentityProblem, match="a PIN is never stored here: use pin_file"):
        identities.get("hsm")


def test_an_active_file_naming_nothing_is_a_problem_with_the_fix(tmp_path):
    identities = IdentityDirectory(tmp_path)
    create_development_credentials(identities.create_directory("a"))
    write_atomically(tmp_path / "active", b"gone\n", mode=0o644)
    with pytest.raises(IdentityProblem, match="no signing identity 'gone'") as raised:
        identities.active()
    assert "keys init --identity NAME" in raised.value.fix


# --- the service's signer ---


def _pem_spec(made: DevelopmentCredentials) -> PemKeySpec:
    assert made.key_path is not None  # create_development_credentials writes the key file
    return PemKeySpec(chain_path=made.chain_path, key_path=made.key_path)


def _settings(keys_dir: Path) -> Settings:
    return Settings(keys_dir=keys_dir, sign_workers=1, sign_timeout_seconds=60)


def test_the_rotating_signer_switches_identity_and_retires_the_old_pool(tmp_path, caplog):
    keys_dir = tmp_path / "keys"
    identities = IdentityDirectory(keys_dir)
    made = {
        name: create_development_credentials(identities.create_directory(name), organisation=f"Org {name}")
        for name in "ab"
    }
    identities.activate("a")
    fingerprints = {name: load_credential(_pem_spec(m)).certificate_fingerprint for name, m in made.items()}
    signer = build_rotating_signer(_settings(keys_dir))
    try:
        request = GenerationRequest(generator_name="rotation")
        first = signer.sign_file(source=_jpeg(tmp_path / "1.jpg"), destination=tmp_path / "s1.jpg", request=request)
        assert first.certificate_fingerprint == fingerprints["a"]
        old_pids = signer.worker_pids

        identities.activate("b")
        switching = signer.notice_rotation()
        assert switching is not None
        # While the new pool starts, calls still go to the old one.
        during = signer.sign_file(source=_jpeg(tmp_path / "2.jpg", 1), destination=tmp_path / "s2.jpg", request=request)
        assert during.certificate_fingerprint in (fingerprints["a"], fingerprints["b"])
        switching.join(timeout=60)
        after = signer.sign_file(source=_jpeg(tmp_path / "3.jpg", 2), destination=tmp_path / "s3.jpg", request=request)
        assert after.certificate_fingerprint == fingerprints["b"]
        assert signer.identity.name == "b" and signer.certificate_fingerprint == fingerprints["b"]
        deadline = time.monotonic() + 20
        while any(Path(f"/proc/{pid}").exists() for pid in old_pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(Path(f"/proc/{pid}").exists() for pid in old_pids), "the old identity's workers were not stopped"

        # A hand-edited `active` naming a broken identity: logged, and b keeps signing.
        broken = identities.create_directory("broken")
        (broken / "chain.pem").write_text(made["a"].chain_path.read_text())
        (broken / "key.pem").write_bytes(_pem_spec(made["b"]).key_path.read_bytes())
        write_atomically(keys_dir / "active", b"broken\n", mode=0o644)
        with caplog.at_level("ERROR", logger="originmark.signer"):
            refusing = signer.notice_rotation()
            assert refusing is not None
            refusing.join(timeout=60)
        assert "cannot switch the signing identity" in caplog.text and "still signing as 'b'" in caplog.text
        assert signer.notice_rotation() is None  # not retried until `active` changes again
        kept = signer.sign_file(source=_jpeg(tmp_path / "4.jpg", 3), destination=tmp_path / "s4.jpg", request=request)
        assert kept.certificate_fingerprint == fingerprints["b"]
    finally:
        signer.close()
    verdict = _verify(tmp_path / "s3.jpg", made["b"].ca_path)
    assert verdict.state is VerdictState.TRUSTED and verdict.signer.common_name == "Org b signer (development only)"


# --- the CLI on every backend ---


def test_the_cli_manages_and_signs_with_identities_on_every_backend(tmp_path, softhsm, kms):
    keys_dir = tmp_path / "keys"
    key_label = "cli-identity"
    softhsm.generate_key_pair(key_label)
    kms_key_id, _public = kms.create_signing_key()

    assert _keys("init", "--identity", "local", keys_dir=keys_dir).exit_code == 0
    made = _keys(
        "init",
        "--identity",
        "hsm",
        "--backend",
        "pkcs11",
        "--pkcs11-module",
        str(softhsm.module),
        "--token-label",
        softhsm.label,
        "--key-label",
        key_label,
        "--pin-file",
        str(softhsm.pin_file),
        keys_dir=keys_dir,
    )
    assert made.exit_code == 0, made.output
    assert "private key" not in made.output  # the key stays in the token: only ca.pem and chain.pem are written
    assert sorted(p.name for p in (keys_dir / "identities" / "hsm").iterdir()) == [
        "backend.json",
        "ca.pem",
        "chain.pem",
    ]
    made = _keys(
        "init",
        "--identity",
        "cloud",
        "--backend",
        "aws-kms",
        "--kms-key-id",
        kms_key_id,
        "--kms-region",
        kms.region,
        "--kms-endpoint-url",
        kms.endpoint_url,
        keys_dir=keys_dir,
    )
    assert made.exit_code == 0, made.output

    listed = _keys("list", keys_dir=keys_dir)
    assert listed.exit_code == 0, listed.output
    rows = {
        line.split()[1] if line.startswith("  *") else line.split()[0]: line
        for line in listed.output.splitlines()[1:]
        if line.strip() and not line.startswith(" " * 10)
    }
    assert rows["local"].lstrip().startswith("*") and "pem" in rows["local"]
    assert "pkcs11" in rows["hsm"] and "aws-kms" in rows["cloud"]

    for name, backend_words in (("hsm", "PKCS#11 key 'cli-identity'"), ("cloud", f"AWS KMS key {kms_key_id}")):
        rotated = _keys("rotate", "--to", name, keys_dir=keys_dir)
        assert rotated.exit_code == 0, rotated.output
        assert "→" in rotated.output and name in rotated.output
        checked = _keys("check", keys_dir=keys_dir)
        assert checked.exit_code == 0, checked.output
        assert _flat(backend_words) in _flat(checked.output)  # a narrow terminal folds the table's cells
        assert "signed a random challenge" in checked.output
        source = _jpeg(tmp_path / f"{name}.jpg")
        # Through the installed entry point, as an operator runs it (SOFTHSM2_CONF and the AWS
        # variables are inherited from the fixtures).
        signed = subprocess.run(
            [str(ORIGINMARK), "sign", str(source), "--generator", "cli", "--out", str(tmp_path / f"out-{name}")],
            env={**os.environ, "ORIGINMARK_KEYS_DIR": str(keys_dir)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert signed.returncode == 0, signed.stdout + signed.stderr
        verdict = _verify(tmp_path / f"out-{name}" / source.name, keys_dir / "identities" / name / "ca.pem")
        assert verdict.state is VerdictState.TRUSTED, verdict.failure_codes
    assert (keys_dir / "active").read_text() == "cloud\n"


def test_add_identity_refuses_a_broken_one_and_leaves_nothing(tmp_path):
    keys_dir = tmp_path / "keys"
    a = create_development_credentials(tmp_path / "a")
    b = create_development_credentials(tmp_path / "b")
    refused = _keys("add-identity", "mixed", "--chain", str(a.chain_path), "--key", str(b.key_path), keys_dir=keys_dir)
    assert refused.exit_code == 2
    assert "does not belong to the signing certificate" in refused.output
    assert not (keys_dir / "identities" / "mixed").exists()
    added = _keys("add-identity", "good", "--chain", str(a.chain_path), "--key", str(a.key_path), keys_dir=keys_dir)
    assert added.exit_code == 0, added.output
    assert oct((keys_dir / "identities" / "good" / "key.pem").stat().st_mode & 0o777) == "0o600"
    assert not (keys_dir / "active").exists()  # adding never activates
    refused = _keys("rotate", "--to", "mixed", keys_dir=keys_dir)
    assert refused.exit_code == 2 and "Refused: the active identity stays (none)" in refused.output


def test_the_single_layout_with_a_token_key_works_from_settings(tmp_path, softhsm):
    # No identities: ORIGINMARK_KEY_BACKEND=pkcs11 with the chain in KEYS_DIR (one identity, always active).
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    public_key = softhsm.generate_key_pair("single-layout")
    ca = create_development_ca()
    (keys_dir / "chain.pem").write_text(chain_pem([issue_development_certificate(ca, public_key), ca.certificate]))
    env = {
        "ORIGINMARK_KEY_BACKEND": "pkcs11",
        "ORIGINMARK_PKCS11_MODULE": str(softhsm.module),
        "ORIGINMARK_PKCS11_TOKEN_LABEL": softhsm.label,
        "ORIGINMARK_PKCS11_KEY_LABEL": "single-layout",
        "ORIGINMARK_PKCS11_PIN": softhsm.pin,
    }
    checked = _keys("check", keys_dir=keys_dir, env=env)
    assert checked.exit_code == 0, checked.output
    assert _flat("PKCS#11 key 'single-layout'") in _flat(checked.output) and softhsm.pin not in checked.output
    shown = _keys("show", keys_dir=keys_dir, env=env)
    assert shown.exit_code == 0 and "#1 signing certificate" in shown.output
    incomplete = _keys("check", keys_dir=keys_dir, env={**env, "ORIGINMARK_PKCS11_PIN": ""})
    assert incomplete.exit_code == 2


# --- the old certificate's signatures after it expires ---


def test_content_signed_under_an_expired_certificate_stays_trusted_when_time_stamped(tmp_path, local_tsa):
    ca = create_development_ca(organisation="short-lived")
    private_key = generate_private_key(SigningAlgorithm.ES256)
    certificate = issue_development_certificate(ca, private_key.public_key(), validity=datetime.timedelta(seconds=5))
    (tmp_path / "chain.pem").write_text(chain_pem([certificate, ca.certificate]))
    (tmp_path / "key.pem").write_bytes(private_key_pem(private_key))
    (tmp_path / "ca.pem").write_text(ca.pem)
    signing_key = load_credential(PemKeySpec(chain_path=tmp_path / "chain.pem", key_path=tmp_path / "key.pem"))
    signed_at = datetime.datetime.now(datetime.UTC)
    for name, url in (("stamped", local_tsa.url), ("unstamped", None)):
        signer = ContentSigner(signing_key=signing_key, options=SignerOptions(time_stamp_url=url))
        try:
            signer.sign_file(
                source=_jpeg(tmp_path / "in.jpg"),
                destination=tmp_path / f"{name}.jpg",
                request=GenerationRequest(generator_name="short-lived"),
            )
        finally:
            signer.close()
    if datetime.datetime.now(datetime.UTC) >= certificate.not_valid_after_utc:
        pytest.skip("this machine took longer than the certificate's 5 s to sign twice: nothing to show")
    while datetime.datetime.now(datetime.UTC) <= certificate.not_valid_after_utc + datetime.timedelta(seconds=1):
        time.sleep(0.2)

    stamped = _verify(tmp_path / "stamped.jpg", tmp_path / "ca.pem", tsa_pem=local_tsa.ca_pem)
    assert stamped.state is VerdictState.TRUSTED, stamped.failure_codes
    assert stamped.time_stamped and stamped.time_stamp is not None
    assert stamped.time_stamp.trusted and stamped.time_stamp.trust_list == "local-tsa"
    assert signed_at - datetime.timedelta(seconds=2) <= stamped.time_stamp.time <= certificate.not_valid_after_utc

    unstamped = _verify(tmp_path / "unstamped.jpg", tmp_path / "ca.pem", tsa_pem=local_tsa.ca_pem)
    assert unstamped.state is not VerdictState.TRUSTED
    assert "signingCredential.expired" in unstamped.failure_codes


def test_the_first_identity_adopts_the_single_layouts_credential_as_default(tmp_path):
    keys_dir = tmp_path / "keys"
    single = create_development_credentials(keys_dir)
    fingerprint = load_credential(_pem_spec(single)).certificate_fingerprint
    other = create_development_credentials(tmp_path / "other")
    added = _keys(
        "add-identity", "next", "--chain", str(other.chain_path), "--key", str(other.key_path), keys_dir=keys_dir
    )
    assert added.exit_code == 0, added.output
    assert "in as default, active" in " ".join(added.output.split())
    identities = IdentityDirectory(keys_dir)
    assert identities.names() == ("default", "next") and identities.active_name() == "default"
    assert not (keys_dir / "chain.pem").exists() and not (keys_dir / "key.pem").exists()  # moved, one copy of the key
    assert (keys_dir / "ca.pem").is_file()  # still the local anchor
    adopted = load_credential(identities.active().spec)
    assert adopted.certificate_fingerprint == fingerprint
    adopted.close()
