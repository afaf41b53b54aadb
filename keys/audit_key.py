"""The audit log's MAC key: a secret kept off the database host's tables (app/store/audit.py uses it).

Whoever owns the database can rewrite the audit log and recompute its hash chain; they cannot
recompute an HMAC-SHA256 without this key. A key file holds the secret as text: 64 hex digits
(32 random bytes) as `create_audit_key_file` writes them, or any secret of at least 32
characters. Surrounding whitespace is ignored.

Every record names its key by `key_id`: the first 8 hex digits of the SHA-256 of the secret (32
bits of a hash of a 256-bit secret: it names the key, it does not weaken it). After a rotation the
records made with the old key still verify when the old key is given again (`AuditKeyring.retired`).

Secrets are never logged, printed or part of an error message; `repr` does not show them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from keys.errors import UnreadableCredentials
from keys.key_files import KEY_FILE_MODE, make_private_directory, write_files  # the same 0600, write-then-link files

AUDIT_KEY_FILENAME = "audit.key"
MIN_SECRET_LENGTH = 32
KEY_ID_LENGTH = 8
_GENERATED_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuditKey:
    secret: bytes = field(repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"an audit key is at least {MIN_SECRET_LENGTH} characters")
        object.__setattr__(self, "key_id", hashlib.sha256(self.secret).hexdigest()[:KEY_ID_LENGTH])

    @classmethod
    def from_text(cls, text: str) -> AuditKey:
        return cls(text.strip().encode("utf-8"))

    def mac(self, message: bytes) -> str:
        """HMAC-SHA256 of `message` under this key, hex."""
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditKeyring:
    """The key new records are authenticated with, and older keys that verify only."""

    current: AuditKey | None  # None: records are written without a MAC (reported as such)
    retired: tuple[AuditKey, ...] = ()

    def key(self, key_id: str) -> AuditKey | None:
        for candidate in (self.current, *self.retired):
            if candidate is not None and candidate.key_id == key_id:
                return candidate
        return None

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key.key_id for key in (self.current, *self.retired) if key is not None)


def read_audit_key_file(path: Path) -> AuditKey:
    """The key in `path`; UnreadableCredentials (naming the file, never its content) otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise UnreadableCredentials(
            f"cannot read the audit key file {path} ({reason})",
            "point ORIGINMARK_AUDIT_KEY_FILE (or --key-file) at the audit key file, readable by this user",
        ) from None
    try:
        return AuditKey.from_text(text)
    except ValueError:
        raise UnreadableCredentials(
            f"the audit key file {path} holds fewer than {MIN_SECRET_LENGTH} characters",
            "use the file originmark created (64 hex digits), or `openssl rand -hex 32` into a new one",
        ) from None


def create_audit_key_file(path: Path) -> AuditKey:
    """Write a new random key to `path` (mode 0600 from the first byte); CredentialsAlreadyExist if there is one."""
    path = Path(path)
    make_private_directory(path.parent)
    key_text = secrets.token_hex(_GENERATED_BYTES)
    write_files(path.parent, {path.name: (f"{key_text}\n".encode("ascii"), KEY_FILE_MODE)}, overwrite=False)
    return AuditKey.from_text(key_text)
