"""`originmark keys init|check|show` through the CLI root and the installed entry point."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from keys.certificates import chain_pem, private_key_pem

from .conftest import DAY, NOW

runner = CliRunner()


def _invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(cli, ["keys", *args], env=env)


def test_init_writes_files_and_says_they_are_development_credentials(tmp_path):
    directory = tmp_path / "keys"
    result = _invoke("init", "--dir", str(directory))

    assert result.exit_code == 0, result.output
    for name in ("ca.pem", "chain.pem", "key.pem"):
        assert str(directory / name) in result.output
    assert stat.S_IMODE((directory / "key.pem").stat().st_mode) == 0o600
    assert "These are DEVELOPMENT credentials" in result.output
    assert '"unrecognized"' in result.output


def test_init_uses_the_keys_dir_setting_by_default(tmp_path):
    result = _invoke("init", env={"ORIGINMARK_KEYS_DIR": str(tmp_path / "from-env")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env" / "key.pem").is_file()


def test_init_refuses_to_overwrite_then_force_replaces(tmp_path):
    assert _invoke("init", "--dir", str(tmp_path)).exit_code == 0
    first_ca = (tmp_path / "ca.pem").read_text()

    refused = _invoke("init", "--dir", str(tmp_path))
    assert refused.exit_code == 2
    assert "already exist" in refused.output
    assert "originmark keys init --force" in refused.output
    assert (tmp_path / "ca.pem").read_text() == first_ca

    forced = _invoke("init", "--dir", str(tmp_path), "--force")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "ca.pem").read_text() != first_ca


@pytest.mark.parametrize("algorithm", ["es384", "ED25519"])
def test_init_takes_an_algorithm(tmp_path, algorithm):
    assert _invoke("init", "--dir", str(tmp_path), "--algorithm", algorithm).exit_code == 0
    checked = _invoke("check", "--dir", str(tmp_path))
    assert checked.exit_code == 0, checked.output
    assert f"algorithm                {algorithm.lower()}" in checked.output


def test_init_rejects_an_unknown_algorithm(tmp_path):
    result = _invoke("init", "--dir", str(tmp_path), "--algorithm", "rs256")
    assert result.exit_code == 2
    assert not (tmp_path / "key.pem").exists()


def test_check_prints_a_summary(tmp_path):
    _invoke("init", "--dir", str(tmp_path), "--organisation", "Acme Labs")
    result = _invoke("check", "--dir", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert "OK: these credentials meet the C2PA signing profile." in result.output
    assert "CN=Acme Labs signer (development only), O=Acme Labs" in result.output
    assert "C2PA claim signing, emailProtection" in result.output
    assert "digitalSignature" in result.output
    assert "(364 days left)" in result.output or "(365 days left)" in result.output
    assert "other verifiers will show signed assets as unrecognized" in result.output


def test_check_uses_explicit_chain_and_key_settings(tmp_path):
    _invoke("init", "--dir", str(tmp_path / "a"))
    env = {
        "ORIGINMARK_SIGNING_CHAIN": str(tmp_path / "a" / "chain.pem"),
        "ORIGINMARK_SIGNING_KEY": str(tmp_path / "a" / "key.pem"),
        "ORIGINMARK_KEYS_DIR": str(tmp_path / "elsewhere"),
    }
    result = _invoke("check", env=env)
    assert result.exit_code == 0, result.output


def test_check_reports_half_configured_settings(tmp_path):
    result = _invoke("check", env={"ORIGINMARK_SIGNING_CHAIN": str(tmp_path / "chain.pem")})
    assert result.exit_code == 2
    assert "set both ORIGINMARK_SIGNING_CHAIN and ORIGINMARK_SIGNING_KEY" in result.output


def test_check_lists_every_problem_with_its_fix(test_ca, leaf_key, tmp_path):
    leaf = test_ca.signing_certificate(
        leaf_key.public_key(), authority_key_identifier=False, not_before=NOW - 9 * DAY, not_after=NOW - DAY
    )
    (tmp_path / "chain.pem").write_text(chain_pem([leaf, test_ca.intermediate, test_ca.root]))
    (tmp_path / "key.pem").write_bytes(private_key_pem(leaf_key))

    result = _invoke("check", "--chain", str(tmp_path / "chain.pem"), "--key", str(tmp_path / "key.pem"))

    assert result.exit_code == 2
    assert "Problem 1: the signing certificate (CN=test signer, O=originmark tests)" in result.output
    assert "has no Authority Key Identifier" in result.output
    assert "Problem 2: the signing certificate" in result.output and "expired on" in result.output
    assert result.output.count("Fix: ") == 2
    assert "Traceback" not in result.output


def test_check_with_swapped_files_says_so(tmp_path):
    _invoke("init", "--dir", str(tmp_path))
    result = _invoke("check", "--chain", str(tmp_path / "key.pem"), "--key", str(tmp_path / "chain.pem"))
    assert result.exit_code == 2
    assert "the chain and key files may be swapped" in result.output


def test_check_on_a_missing_directory(tmp_path):
    result = _invoke("check", "--dir", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert f"the certificate chain file {tmp_path / 'none' / 'chain.pem'} does not exist" in result.output
    assert "originmark keys init --dir DIR" in result.output


@pytest.mark.parametrize(
    "args",
    [["--dir", "x", "--chain", "c.pem", "--key", "k.pem"], ["--chain", "c.pem"]],
    ids=["dir and chain", "chain without key"],
)
def test_check_rejects_conflicting_options(args):
    result = _invoke("check", *args)
    assert result.exit_code == 2


def test_check_warns_about_a_readable_key(tmp_path):
    _invoke("init", "--dir", str(tmp_path))
    (tmp_path / "key.pem").chmod(0o644)
    result = _invoke("check", "--dir", str(tmp_path))
    assert result.exit_code == 0
    assert f"can be read by other users; run `chmod 600 {tmp_path / 'key.pem'}`" in result.output


def test_show_lists_the_chain_without_the_key(tmp_path):
    _invoke("init", "--dir", str(tmp_path))
    (tmp_path / "key.pem").unlink()
    result = _invoke("show", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "#1 signing certificate CN=originmark development signer (development only)" in result.output
    assert "#2 root CA CN=originmark development root CA (development only)" in result.output


def test_hostile_certificate_names_cannot_inject_markup_or_escapes(test_ca, leaf_key, tmp_path):
    hostile = "[bold red]evil[/] \x1b[2J\x1b]8;;http://x\x07link"
    leaf = test_ca.signing_certificate(leaf_key.public_key(), common_name=hostile)
    (tmp_path / "chain.pem").write_text(chain_pem([leaf, test_ca.intermediate, test_ca.root]))
    (tmp_path / "key.pem").write_bytes(private_key_pem(leaf_key))
    (tmp_path / "key.pem").chmod(0o600)
    result = _invoke("show", "--dir", str(tmp_path))
    assert result.exit_code == 0
    assert "[bold red]evil[/]" in result.output  # shown literally, not interpreted
    assert "\x1b" not in result.output and "\x07" not in result.output


def test_installed_entry_point_runs_init_and_check(tmp_path):
    script = Path(sys.executable).parent / "originmark"  # installed by `pip install -e .`
    assert script.is_file(), "run `pip install -e .[test]` to install the originmark console script"
    env = {**os.environ, "ORIGINMARK_KEYS_DIR": str(tmp_path)}
    init = subprocess.run([str(script), "keys", "init"], env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    check = subprocess.run([str(script), "keys", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "OK: these credentials meet the C2PA signing profile." in check.stdout
