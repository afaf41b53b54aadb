"""The manifest repository: every manifest store originmark signs, searchable by content (issue 14).

An entry is one kept manifest store: the active manifest's id (its URN), the SHA-256 of the asset
it was signed into, its owner tenant, where it came from, and its soft bindings (the
`c2pa.soft-binding` values; for `io.iscc.v0` the 64-bit code and the finer descriptor the
second check compares). The store bytes are in the row up to a size bound, else in the object
store with the key in the row (app/usecases/repository.py decides).

Visibility, in every query itself: an entry is visible to its own tenant; to every other tenant
only when it is a signed credential (a public statement) its owner did not mark private. An
entry another tenant cannot see reads exactly like one that does not exist.

The SQL implementation is app/store/repository_sql.py; tests/store/test_repository.py runs the
conformance checks on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from app.store.similarity import CodeSpace

ISCC_ALG = "io.iscc.v0"  # the one algorithm of a manifest whose code64 is indexed for similarity search
# Index-only rows beside a signed image's io.iscc.v0 binding: the codes of other views of the same
# image (verifier.fingerprint.View: its centre crops), each with its descriptor, the view's name as
# value. Never in a manifest, so never an entry's soft binding (RepositoryEntry.bindings leaves
# them out) nor a match by binding value or by a video's key frames: only a lookup by content,
# whose second check they pass or fail like the binding itself, searches them (`views=True`).
VIEW_ALG = "org.originmark.iscc-view"
MAX_MANIFEST_ID_LENGTH = 256
MAX_ALG_LENGTH = 64
MAX_BINDING_VALUE_BYTES = 1024  # a fingerprint or watermark payload, not a file
MAX_DESCRIPTOR_BYTES = 1024
MAX_BINDINGS_PER_ENTRY = 16
MAX_CANDIDATES = 100  # candidates_near (and candidates_with_value) answer at most this many


class EntryOrigin(enum.StrEnum):
    SIGNED = "signed"  # this service signed it: public unless its owner marked it private
    VERIFIED = "verified"  # kept from a credential a tenant verified (opt-in): only that tenant's


@dataclass(frozen=True, slots=True, kw_only=True)
class SoftBinding:
    """One soft binding of an entry: `alg` and its value as the assertion carries it (decoded bytes).

    For io.iscc.v0 also the 64-bit code (unsigned) that the band index searches (an Image-Code's or
    a Video-Code's first 64 bits, each in its own key space: app/store/iscc_units.py), and the
    second-stage descriptor (None: the assertion carried none, a Video-Code, or another algorithm)."""

    alg: str
    value: bytes
    code64: int | None = None
    descriptor: bytes | None = None

    @property
    def is_view(self) -> bool:
        return self.alg == VIEW_ALG


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredManifest:
    """Where an entry's manifest store bytes are: in the row (`inline`) or in the object store (`object_uri`)."""

    size: int
    sha256: str  # of the manifest store bytes
    inline: bytes | None = None
    object_uri: str | None = None

    def __post_init__(self) -> None:
        if (self.inline is None) == (self.object_uri is None):
            raise ValueError("a manifest store is kept either in the row or in the object store, exactly one")
        if self.inline is not None and len(self.inline) != self.size:
            raise ValueError("the size of an inline manifest store is its length")


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEntry:
    manifest_id: str
    tenant: str
    asset_sha256: str
    origin: EntryOrigin
    store: StoredManifest
    bindings: tuple[SoftBinding, ...] = ()
    private: bool = False
    # Who made it private from the start (`key:<id>`, `cli:<user>`): recorded like a later change
    # (repository_visibility_changes) in the entry's own transaction. Required for a private entry.
    private_by: str | None = None

    def __post_init__(self) -> None:
        if self.private and not self.private_by:
            raise ValueError("an entry private from the start names who made it private (private_by)")


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryEntry:
    manifest_id: str
    tenant: str
    asset_sha256: str
    origin: EntryOrigin
    private: bool
    created_at: datetime.datetime
    store: StoredManifest
    bindings: tuple[SoftBinding, ...]  # the manifest's soft bindings (the index-only VIEW_ALG rows left out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """An entry whose code64 is within the search radius of the query's, before the second check."""

    manifest_id: str
    tenant: str
    asset_sha256: str
    origin: EntryOrigin
    created_at: datetime.datetime
    code64: int | None  # None: a binding found by its exact value that is not in the band index
    descriptor: bytes | None
    distance: int  # exact Hamming distance between the two 64-bit codes (0 for an exact value)
    view: str | None = None  # the index-only view (VIEW_ALG row) that matched; None: the binding itself


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryStats:
    entries: int
    signed: int
    verified: int
    private: int
    fingerprinted: int  # entries with an io.iscc.v0 code64 (searchable by content)
    inline_bytes: int  # manifest store bytes held in rows
    object_stored: int  # entries whose store is in the object store
    deletions: int  # takedowns recorded


@dataclass(frozen=True, slots=True, kw_only=True)
class Deletion:
    """One recorded takedown (the entry itself is gone)."""

    manifest_id: str
    tenant: str
    asset_sha256: str
    store_object_uri: str | None  # the object the caller should delete too, if any
    deleted_at: datetime.datetime
    actor: str
    reason: str


class ManifestRepository(Protocol):
    def add_entry(self, entry: NewEntry) -> None:
        """Keep an entry (committed before returning). ValueError for malformed values, or when the
        tenant has an entry with this manifest id already."""

    def write_entry(self, connection: Connection, entry: NewEntry) -> None:
        """`add_entry` inside the caller's transaction (the signature's audit entry and verdict)."""

    def entry_by_manifest_id(self, tenant: str | None, manifest_id: str) -> RepositoryEntry | None:
        """The entry with this id that `tenant` can see (its own first; None: the public, who see
        public entries only); None for unknown and not visible."""

    def entries_by_manifest_ids(self, tenant: str | None, manifest_ids: Sequence[str]) -> dict[str, RepositoryEntry]:
        """`entry_by_manifest_id` for each id, from one read: id -> the entry `tenant` sees under it
        (ids it sees none under, or malformed, are left out)."""

    def entries_with_manifest_id(self, manifest_id: str) -> list[RepositoryEntry]:
        """Every tenant's entry with this id, by owner: for the operator's CLI only (takedowns), never
        for a tenant's request."""

    def candidates_near(
        self, code64: int, radius: int, tenant: str | None, *, views: bool = False, space: CodeSpace = CodeSpace.IMAGE
    ) -> list[Candidate]:
        """The io.iscc.v0 bindings visible to `tenant` (None: the public, public entries only) within
        `radius` bits of `code64`, nearest first (ties: newest first), at most MAX_CANDIDATES, each
        with its exact distance and descriptor; `views`: the index-only VIEW_ALG rows too (only for
        a lookup whose candidates all pass a descriptor check). `space`: Image-Codes (images and
        a video's key frames) or, CodeSpace.VIDEO, ISCC Video-Codes."""

    def candidates_near_each(
        self,
        codes: Sequence[int],
        radius: int,
        tenant: str | None,
        *,
        views: bool = False,
        space: CodeSpace = CodeSpace.IMAGE,
    ) -> list[list[Candidate]]:
        """`candidates_near` for each code, in order, from one read of the index: the probes of one
        lookup (an image's code and its views') cost one round trip, not one each."""

    def candidates_with_value(self, alg: str, value: bytes, tenant: str | None) -> list[Candidate]:
        """The bindings visible to `tenant` (None: the public) whose (alg, value) is exactly this, newest
        first, at most MAX_CANDIDATES, distance 0 (an io.iscc.v0 Video-Code kept before Video-Codes were
        indexed is found this way only)."""

    def set_private(self, tenant: str, manifest_id: str, private: bool, *, actor: str) -> bool:
        """Mark the tenant's own entry private (or public again) and record who did, in one
        transaction; False (nothing recorded) if it has none with this id."""

    def store_is_public(self, connection: Connection, manifest_id: str, store_sha256: str) -> bool:
        """In the caller's transaction: whether a public signed entry keeps this manifest store (the
        one rule for whether what carries it may be public; app/store/repository_sql.public_store)."""

    def delete_entry(self, tenant: str, manifest_id: str, *, actor: str, reason: str) -> Deletion | None:
        """Remove the tenant's own entry and record the takedown, in one transaction; None if it has none."""

    def export(self, tenant: str | None = None) -> Iterator[RepositoryEntry]:
        """Every entry owned by `tenant` (None: every tenant's), oldest first, read in batches."""

    def stats(self, tenant: str | None = None) -> RepositoryStats:
        """Counts over the entries owned by `tenant` (None: all)."""
