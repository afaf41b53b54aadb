"""The audit key: read from a file or the environment, or a development file made on first start
(mode 0600, a loud warning that names the file and never the key)."""

from __future__ import annotations

import hashlib
import logging

import pytest
from pydantic import SecretStr, ValidationError

from app.audit_keys import ensure_audit_key, service_audit_keys, verification_audit_keys
from app.settings import Settings
from keys.audit_key import AuditKey, create_audit_key_file, read_audit_key_file
from keys.errors import CredentialsAlreadyExist, UnreadableCredentials

SECRET = "correct horse battery staple, but longer than 32"


def test_a_key_is_named_by_the_first_8_hex_of_its_sha256_and_never_shown():
    key = AuditKey.from_text(f"  {SECRET}\n")
    assert key.key_id == hashlib.sha256(SECRET.encode()).hexdigest()[:8]
    assert SECRET not in repr(key) and SECRET not in str(key)
    with pytest.raises(ValueError, match="at least 32"):
        AuditKey.from_text("too short")


def test_a_created_key_file_is_private_and_never_replaced(tmp_path):
    path = tmp_path / "keys" / "audit.key"
    key = create_audit_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text().strip()) == 64 and read_audit_key_file(path) == key
    with pytest.raises(CredentialsAlreadyExist):
        create_audit_key_file(path)
    assert read_audit_key_file(path) == key


def test_an_unreadable_or_short_key_file_names_the_file_not_its_content(tmp_path):
    with pytest.raises(UnreadableCredentials, match="Cannot read the audit key file"):
        read_audit_key_file(tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_text("s3cr3t-but-short")
    with pytest.raises(UnreadableCredentials, match="fewer than 32 characters") as refused:
        read_audit_key_file(short)
    assert "s3cr3t" not in str(refused.value)


def test_with_no_configuration_the_service_makes_a_development_key_once_with_a_warning(tmp_path, caplog):
    settings = Settings(keys_dir=tmp_path / "keys")
    assert verification_audit_keys(settings).current is None  # looking never creates one
    assert not (tmp_path / "keys").exists()

    with caplog.at_level(logging.WARNING, logger="originmark.audit"):
        keys = service_audit_keys(settings)
    path = tmp_path / "keys" / "audit.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert keys.current == read_audit_key_file(path)
    [warning] = [record for record in caplog.records if record.name == "originmark.audit"]
    assert "DEVELOPMENT AUDIT KEY CREATED" in warning.getMessage() and str(path) in warning.getMessage()
    assert path.read_text().strip() not in caplog.text

    assert ensure_audit_key(settings) is False  # the second start finds it
    assert service_audit_keys(settings).current == keys.current
    assert verification_audit_keys(settings).current == keys.current


def test_a_configured_key_is_used_and_nothing_is_created(tmp_path):
    from_env = Settings(keys_dir=tmp_path / "keys", audit_key=SecretStr(SECRET))
    assert service_audit_keys(from_env).current == AuditKey.from_text(SECRET)
    assert not (tmp_path / "keys").exists()

    missing = Settings(keys_dir=tmp_path / "keys", audit_key_file=tmp_path / "elsewhere" / "audit.key")
    assert ensure_audit_key(missing) is False
    with pytest.raises(UnreadableCredentials, match="elsewhere"):
        service_audit_keys(missing)  # a configured file that is not there stops the service
    with pytest.raises(UnreadableCredentials):
        verification_audit_keys(missing)
    assert not (tmp_path / "keys").exists()


def test_older_keys_are_added_for_verification(tmp_path):
    old = create_audit_key_file(tmp_path / "old.key")
    keys = verification_audit_keys(Settings(audit_key=SecretStr(SECRET)), older_key_files=[tmp_path / "old.key"])
    assert keys.key(old.key_id) == old and keys.current == AuditKey.from_text(SECRET)
    assert keys.key("00000000") is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"audit_key": SECRET, "audit_key_file": "/x/audit.key"}, "not both"),
        ({"audit_key": "short"}, "at least 32 characters"),
    ],
)
def test_settings_refuse_two_keys_or_a_short_one(changes, message):
    with pytest.raises(ValidationError, match=message) as refused:
        Settings(**changes)
    assert SECRET not in str(refused.value)


def test_a_keys_dir_that_cannot_be_written_says_how_to_configure_a_key(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(UnreadableCredentials, match="ORIGINMARK_AUDIT_KEY_FILE"):
        ensure_audit_key(Settings(keys_dir=blocked / "keys"))
