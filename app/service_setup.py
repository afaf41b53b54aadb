"""What must exist before any server process starts: signing credentials (development ones on
first start, with a loud warning) and the database schema.

`originmark serve` runs `prepare_service` once before starting its worker processes; each app and
job worker runs it again at start-up, where it finds nothing to do.
"""

from __future__ import annotations

import logging

from app.settings import Settings
from app.wiring import identities_in_use
from keys.devca import create_development_credentials
from keys.errors import CredentialsAlreadyExist

log = logging.getLogger("originmark.api")

_DEVELOPMENT_WARNING = (
    "!!! DEVELOPMENT SIGNING CREDENTIALS CREATED in %s !!! For trying originmark out ONLY: other verifiers "
    'show everything signed with them as "unrecognized" (their root CA is on no public trust list) and the '
    "private key sits unprotected on this disk. For production set ORIGINMARK_SIGNING_CHAIN and "
    "ORIGINMARK_SIGNING_KEY (or ORIGINMARK_KEYS_DIR) to real credentials and check them with "
    "`originmark keys check`."
)


def ensure_signing_credentials(settings: Settings) -> bool:
    """Create development credentials in keys_dir when there are none; True if created.

    Never when an explicit chain + key are configured, and never over a partial set (a
    chain without its key is reported by the key loader, not papered over).
    """
    if settings.signing_chain is not None:
        return False
    if settings.key_backend != "pem" or identities_in_use(settings):
        return False  # a key in an HSM/KMS, or several identities: never papered over with a PEM key
    if settings.chain_path.exists() or settings.key_path.exists():
        return False
    try:
        created = create_development_credentials(settings.keys_dir)
    except CredentialsAlreadyExist:
        return False  # another server process created them a moment ago
    log.warning(_DEVELOPMENT_WARNING, created.directory, extra={"fields": {"development_credentials": True}})
    return True


def prepare_service(settings: Settings) -> bool:
    """Signing credentials and the database schema: idempotent, safe to run in every process.
    True when this created the SQLite database file (the caller says where).

    (The audit key is made, if need be, where the store is opened: app.audit_keys.service_audit_keys.)
    """
    from app.store.database_url import missing_sqlite_file
    from app.store.migrate import upgrade_database

    ensure_signing_credentials(settings)
    created = missing_sqlite_file(settings.database_url) is not None
    upgrade_database(settings.database_url)
    warn_deprecated_settings(settings)
    return created


def warn_deprecated_settings(settings: Settings) -> None:
    """Say which deprecated settings are still set, and what replaces them (they keep working)."""
    names = settings.deprecated_sbr_public_tenants
    if names:
        log.warning(
            "ORIGINMARK_SBR_PUBLIC_TENANTS is deprecated (still honoured): open each tenant with "
            "`originmark tenants update NAME --sbr-public`, then unset it (lists %s)",
            ", ".join(sorted(names)),
            extra={"fields": {"deprecated_setting": "ORIGINMARK_SBR_PUBLIC_TENANTS"}},
        )
