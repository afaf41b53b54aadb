"""The audit key from the settings (keys/audit_key.py has the key itself).

- `ensure_audit_key`: with no key configured, a development key file in KEYS_DIR on first start,
  with a loud warning (as `ensure_signing_credentials` does for signing credentials), so the
  service starts with no configuration and still authenticates every record.
- `service_audit_keys`: what the server and the job workers append with (always a current key).
- `verification_audit_keys`: what `originmark audit verify` checks with: the configured key if
  there is one (never created by looking), plus older keys given after a rotation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from app.settings import Settings
from keys.audit_key import AuditKey, AuditKeyring, create_audit_key_file, read_audit_key_file
from keys.errors import CredentialsAlreadyExist, UnreadableCredentials

log = logging.getLogger("originmark.audit")

# One line (the logs are JSON lines). The path only: the key is never logged.
_DEVELOPMENT_WARNING = (
    "!!! DEVELOPMENT AUDIT KEY CREATED in %s !!! Every audit record is authenticated with it: copy it "
    "somewhere off the database host now (whoever holds it can forge audit records; without it nobody can "
    "check them). For production set ORIGINMARK_AUDIT_KEY_FILE (or ORIGINMARK_AUDIT_KEY) to a key kept "
    "outside the database's backups."
)


def ensure_audit_key(settings: Settings) -> bool:
    """Create KEYS_DIR/audit.key when no audit key is configured and there is none; True if created."""
    if settings.audit_key is not None or settings.audit_key_file is not None:
        return False  # configured: a missing file is an error when it is read, never papered over
    path = settings.audit_key_path
    if path.exists():
        return False
    try:
        create_audit_key_file(path)
    except CredentialsAlreadyExist:
        return False  # another server process created it a moment ago
    except UnreadableCredentials as error:
        raise UnreadableCredentials(
            f"no audit key is configured and none can be created in {path.parent} ({error.problem})",
            "set ORIGINMARK_AUDIT_KEY_FILE to a key file (`openssl rand -hex 32`, mode 0600), or make "
            "ORIGINMARK_KEYS_DIR writable for the first start",
        ) from None
    log.warning(_DEVELOPMENT_WARNING, path, extra={"fields": {"development_audit_key": True}})
    return True


def service_audit_keys(settings: Settings) -> AuditKeyring:
    """The key the service authenticates new records with (created first if need be)."""
    ensure_audit_key(settings)
    return AuditKeyring(current=_configured_key(settings))


def verification_audit_keys(settings: Settings, *, older_key_files: Sequence[Path] = ()) -> AuditKeyring:
    """The configured key (None if there is none yet) and the older keys in `older_key_files`.

    Raises keys.errors.UnreadableCredentials for a configured or given file that cannot be read.
    """
    configured = (
        settings.audit_key is not None or settings.audit_key_file is not None or settings.audit_key_path.exists()
    )
    current = _configured_key(settings) if configured else None
    older = tuple(read_audit_key_file(path) for path in older_key_files)
    return AuditKeyring(current=current, retired=older)


def _configured_key(settings: Settings) -> AuditKey:
    if settings.audit_key is not None:
        return AuditKey.from_text(settings.audit_key.get_secret_value())
    return read_audit_key_file(settings.audit_key_path)
