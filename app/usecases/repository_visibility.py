"""A tenant marks its own manifest repository entry private, or public again (issue 14).

Entries of signed credentials are public statements: every tenant finds them by id, by binding
and by content (and recovers them on verify). The owner may take one out of that: a private entry
is its own only, in every read (the visibility is in the queries themselves:
app/store/repository_sql.py). Made public again, it is found as before.

- Only the owner changes it: the store changes the entry of `tenant` with this id and no other.
  Another tenant's id, like an id nobody has, is `ManifestNotFound` with the same message (the
  answer never confirms that someone else keeps it), and nothing changes.
- Every change is recorded (`repository_visibility_changes`) with who made it, in the entry's
  own transaction: `key:<key id>` through the API, `cli:<OS user>` from the operator's CLI.
- Setting the visibility it already has is a change like any other (recorded): the call says
  what the entry is now, so a retry after a lost answer is harmless.
- Made private, the entry leaves other tenants' feeds too: labels they recovered from it while
  it was public show their content's own label again (as after a takedown; the owner's stay),
  and a verification that found it before the change does not write its recovered label after
  (app/store/verdicts.py checks the entry's visibility in the label's own transaction).
- Made private, what carries its store goes with it, in the same transaction (the store:
  SqlManifestRepository.set_private): the signed entries of renditions and feed thumbnails whose
  history names the manifest id (whoever signed them), and the feed thumbnails made of those files
  or of the entry's own bytes. Made public again, they stay private: their owners decide.
  Only the signer's own entry carries that store: a tenant's verify-kept copy (keep_manifest, the
  same manifest id) made private takes along only that tenant's own thumbnails of its bytes, and
  no other tenant's recovered labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.store.repository import MAX_MANIFEST_ID_LENGTH, EntryOrigin, ManifestRepository
from app.usecases.errors import ManifestNotFound


class VisibilityStore(Protocol):
    """What a change of visibility writes (app.store.sql.SqlStore provides it)."""

    @property
    def repository(self) -> ManifestRepository: ...

    def forget_recovered_labels(self, manifest_id: str, *, except_tenant: str | None = None) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryVisibility:
    """What an entry's visibility is after a change."""

    manifest_id: str
    private: bool


def api_actor(key_id: str) -> str:
    """How the record names a change made with an API key (its public id, never the secret)."""
    return f"key:{key_id}"


def cli_actor(user: str) -> str:
    """How the record names a change made from the operator's CLI (the OS user), as takedowns do."""
    return f"cli:{user}"


def set_visibility(
    store: VisibilityStore, *, tenant: str, manifest_id: str, private: bool, actor: str
) -> EntryVisibility:
    """Mark `tenant`'s own entry private (or public) and record it; ManifestNotFound when it keeps none."""
    if not store.repository.set_private(tenant, manifest_id, private, actor=actor):
        raise ManifestNotFound(f"no manifest {manifest_id[:MAX_MANIFEST_ID_LENGTH]!r} is known here")
    if private and _signed_by(store, tenant, manifest_id):
        store.forget_recovered_labels(manifest_id, except_tenant=tenant)
    return EntryVisibility(manifest_id=manifest_id, private=private)


def _signed_by(store: VisibilityStore, tenant: str, manifest_id: str) -> bool:
    """Whether the tenant's entry is the signer's own: labels are recovered from signed entries only,
    so a verify-kept copy made private leaves other tenants' recovered labels as they are."""
    entry = store.repository.entry_by_manifest_id(tenant, manifest_id)
    return entry is not None and entry.tenant == tenant and entry.origin is EntryOrigin.SIGNED
