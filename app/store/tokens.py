"""API key tokens: `om_<key id>_<secret>`, shown once, stored only as a hash of the secret.

- key id: 10 characters of [a-z0-9] (about 51 bits): public, the row's primary key, shown in
  `apikey list` and in logs; it never contains "_", so a token splits unambiguously.
- secret: 32 random bytes, URL-safe base64 without padding (43 characters).

The secret is 256 random bits, so one SHA-256 is a sound way to store it: there is nothing to
guess that a slow password hash would protect.

Timing: a token is looked up by its key id, which is public (listed, logged), so how long the
lookup takes tells an attacker nothing they could not read anyway. The secret is never used in a
query: its SHA-256 is compared with the stored hash by `hmac.compare_digest`, whose time does not
depend on where the two differ. Even a plain `==` would leak only a prefix of the SHA-256 of the
attacker's own guess, which they cannot steer towards the stored hash (that would need preimages);
the constant-time comparison removes the question altogether. Every path through
`authenticate` for a well-formed token (unknown key id, wrong secret, revoked key, valid key) does
the same work: one primary-key query, one SHA-256, one `compare_digest` (see app/store/api_keys.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

TOKEN_PREFIX = "om"
KEY_ID_CHARS = 10
SECRET_BYTES = 32
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_TOKEN = re.compile(rf"{TOKEN_PREFIX}_([a-z0-9]{{{KEY_ID_CHARS}}})_([A-Za-z0-9_-]{{43}})")
KEY_ID_PATTERN = re.compile(rf"[a-z0-9]{{{KEY_ID_CHARS}}}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedToken:
    key_id: str
    secret: str

    def __repr__(self) -> str:  # a token must not end up in a log through a repr
        return f"ParsedToken(key_id={self.key_id!r}, secret=<hidden>)"


def new_key_id() -> str:
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(KEY_ID_CHARS))


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def format_token(*, key_id: str, secret: str) -> str:
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def parse_token(token: str) -> ParsedToken | None:
    """The parts of a well-formed token, or None (anything else is simply not a key)."""
    match = _TOKEN.fullmatch(token) if len(token) < 128 else None
    if match is None:
        return None
    return ParsedToken(key_id=match.group(1), secret=match.group(2))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


# Compared against when the key id is unknown, so that a miss costs what a hit costs. No secret
# hashes to it (it is not a hex digest), so it can never match.
NO_SUCH_KEY_HASH = "-" * 64


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether `secret` hashes to `stored_hash`, in time independent of where they differ."""
    return hmac.compare_digest(hash_secret(secret).encode("ascii"), stored_hash.encode("ascii"))
