"""How an audit record is encoded for its hash and its MAC: one frozen encoding per record version.

Each record says which encoding it was written with (`audit_log.hash_version`):

- version 1 (migrations 0002 to 0006): the nine fields of `ENTRY_FIELDS_V1` and `prev_hash`,
  hashed under `_HASH_DOMAIN_V1`; no MAC. Frozen: records written with it must verify forever.
- version 2 (migration 0007): the fields of `ENTRY_FIELDS_V2` (v1's plus the claimed digital
  source type, the title and the tenant), `prev_hash` and `mac_key_id`, hashed under
  `_HASH_DOMAIN_V2`; the same bytes under `_MAC_DOMAIN_V2` are authenticated with HMAC-SHA256 under
  the audit key named by `mac_key_id` (None: written by a store that had no audit key).
- version 3 (migration 0012): version 2's fields plus `prior_credentials` (what the signature did
  with the Content Credentials the signed file already carried: "none", "kept" or "replaced") and
  `replaced_manifest_id` (the active manifest a replacement dropped),
  with `prev_hash` and `mac_key_id`, under `_HASH_DOMAIN_V3` and `_MAC_DOMAIN_V3`. A replacement
  is therefore covered by the hash and the MAC like the rest of the claim.

All are JSON with sorted keys, no whitespace and ASCII escapes, times as UTC ISO 8601 with
microseconds (both databases keep microseconds); a naive time is UTC (how SQLite keeps it).
Distinct domain prefixes keep one version's bytes from ever being read as another's, and the
MAC's from being the hash's. A change to any of this is a new version with new prefixes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from keys.audit_key import AuditKey

ENTRY_FIELDS_V1 = (
    "key_id",
    "signed_at",
    "input_sha256",
    "output_sha256",
    "manifest_label",
    "certificate_fingerprint",
    "generator",
    "generator_version",
    "media_id",
)
FIELDS_ADDED_IN_V2 = ("digital_source_type", "title", "tenant")
ENTRY_FIELDS_V2 = (*ENTRY_FIELDS_V1, *FIELDS_ADDED_IN_V2)
FIELDS_ADDED_IN_V3 = ("prior_credentials", "replaced_manifest_id")
ENTRY_FIELDS_V3 = (*ENTRY_FIELDS_V2, *FIELDS_ADDED_IN_V3)
ENTRY_FIELDS = ENTRY_FIELDS_V3  # every field of an entry: what the current version covers

VERSION_1 = 1
VERSION_2 = 2
VERSION_3 = 3
CURRENT_VERSION = VERSION_3

GENESIS_HASH = "0" * 64  # what the first record chains to
_HASH_DOMAIN_V1 = b"originmark audit record v1\n"
_HASH_DOMAIN_V2 = b"originmark audit record v2\n"
_MAC_DOMAIN_V2 = b"originmark audit mac v2\n"
_HASH_DOMAIN_V3 = b"originmark audit record v3\n"
_MAC_DOMAIN_V3 = b"originmark audit mac v3\n"
# The versions whose encoding names the MAC key (2 onwards): their fields and domain prefixes.
_KEYED_ENCODINGS: dict[int, tuple[tuple[str, ...], bytes, bytes]] = {
    VERSION_2: (ENTRY_FIELDS_V2, _HASH_DOMAIN_V2, _MAC_DOMAIN_V2),
    VERSION_3: (ENTRY_FIELDS_V3, _HASH_DOMAIN_V3, _MAC_DOMAIN_V3),
}
KEYED_VERSIONS = frozenset(_KEYED_ENCODINGS)


def record_hash(fields: Mapping[str, Any], *, prev_hash: str) -> str:
    """Version 1: SHA-256 (hex) of a record's nine fields and its predecessor's hash (migration 0002 uses it)."""
    return hashlib.sha256(_HASH_DOMAIN_V1 + _encode(fields, ENTRY_FIELDS_V1, prev_hash=prev_hash)).hexdigest()


def keyed_record_hash(version: int, fields: Mapping[str, Any], *, prev_hash: str, mac_key_id: str | None) -> str:
    """Version 2 or 3: SHA-256 (hex) of the version's fields, the predecessor's hash and the MAC key's id."""
    names, hash_domain, _mac_domain = _KEYED_ENCODINGS[version]
    return hashlib.sha256(hash_domain + _encode(fields, names, prev_hash=prev_hash, mac_key_id=mac_key_id)).hexdigest()


def keyed_record_mac(version: int, key: AuditKey, fields: Mapping[str, Any], *, prev_hash: str) -> str:
    """Version 2 or 3: HMAC-SHA256 (hex) under `key` of what `keyed_record_hash` hashes (with key.key_id)."""
    names, _hash_domain, mac_domain = _KEYED_ENCODINGS[version]
    return key.mac(mac_domain + _encode(fields, names, prev_hash=prev_hash, mac_key_id=key.key_id))


def _encode(fields: Mapping[str, Any], names: tuple[str, ...], **chain: str | None) -> bytes:
    canonical: dict[str, Any] = {name: _canonical_value(fields[name]) for name in names}
    canonical.update(chain)
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return encoded.encode("ascii")


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"an audit field holds a {type(value).__name__}, which has no canonical encoding")
