"""Keeping manifest stores in the manifest repository (issue 14): what an entry is made of, and
where its bytes go.

- Every manifest store originmark signs is kept (app/usecases/signing.py writes the entry in the
  transaction of the signature's audit entry). Its soft bindings are those of its
  `c2pa.soft-binding` assertion: made again from the fingerprint the signer wrote it from
  (signer/manifest.soft_binding_assertion, the very definition the engine embedded: the same
  values, without parsing the store in this process), or read from the store itself
  (verifier/manifest_store.py) when that fingerprint is not known; a store without one is kept
  all the same, unsearchable by content.
- A tenant may ask to keep the store of a credential it verifies (`keep_manifest`): kept as a
  VERIFIED entry, seen by that tenant only (app/usecases/verification.py decides when).
- A store up to INLINE_MAX_BYTES is kept in the row; a larger one (a long video's Merkle hashes)
  goes to the object store first, under `<own objects>/manifest-repository/<tenant>/<sha256>.c2pa`,
  and the row keeps its URI (read back from that URI: moving the objects setting later does not
  lose it). The object is written before the transaction: a transaction that then fails
  leaves an object nobody points at (content-addressed, so a retry writes the same one), never
  a row pointing at nothing.
- For io.iscc.v0 the binding value is the ISCC unit in binary (2-byte header, then the body;
  ISO 24138) or its canonical text `ISCC:...`; the 64-bit code searched by the band index is the
  first 64 bits of its body (app/store/iscc_units.py: an Image-Code's in the image key space, a
  Video-Code's in its own).
- Each block of an assertion is one binding: a video's assertion has one block per fingerprinted
  key frame (its scope a timespan), so each key frame is searchable on its own (with its
  descriptor, when this service signed it) and a re-encoded copy's key frame, or a still taken
  from it, finds the entry; and one with the ISCC Video-Code, its code64 in the Video-Code key
  space of the band index (app/usecases/video_code_match.py searches it). The timespan is not kept (the entry is what a
  lookup finds). A value repeated (a still scene gives its key frames one code) is kept once, and
  at most MAX_BINDINGS_PER_ENTRY are kept, in the order the store lists them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from typing import TYPE_CHECKING

from app.objects.location import ObjectLocation
from app.objects.router import ObjectStores
from app.store.iscc_units import indexed_code
from app.store.repository import (
    ISCC_ALG,
    MAX_ALG_LENGTH,
    MAX_BINDING_VALUE_BYTES,
    MAX_BINDINGS_PER_ENTRY,
    VIEW_ALG,
    EntryOrigin,
    ManifestRepository,
    NewEntry,
    RepositoryEntry,
    SoftBinding,
    StoredManifest,
)
from signer.manifest import soft_binding_assertion
from verifier.manifest_store import SoftBindingValue, read_manifest_store, soft_binding_values

if TYPE_CHECKING:
    from verifier.fingerprint import ImageFingerprint
    from verifier.video_fingerprint import VideoFingerprint

INLINE_MAX_BYTES = 256 * 1024
REPOSITORY_FOLDER = "manifest-repository/"


class KeptStoreMissing(Exception):
    """An entry's manifest store is not (or no longer) what the entry says: missing or changed."""


def soft_bindings(
    values: tuple[SoftBindingValue, ...], fingerprint: ImageFingerprint | VideoFingerprint | None = None
) -> tuple[SoftBinding, ...]:
    """The repository's bindings for a manifest's soft-binding values (an ISCC Image-Code or
    Video-Code with its code64), each (alg, value) once, at most MAX_BINDINGS_PER_ENTRY; an io.iscc.v0 one that is the
    Image-Code of `fingerprint` (an image's, or one of a video's key frames) carries its descriptor;
    an image's own Image-Code is followed by the index-only rows of its views (VIEW_ALG: its centre
    crops, each with its own descriptor)."""
    distinct = dict.fromkeys((value.alg, value.value) for value in values)
    bindings = tuple(
        SoftBinding(alg=alg, value=value, code64=_code64(alg, value))
        for alg, value in list(distinct)[:MAX_BINDINGS_PER_ENTRY]
    )
    if fingerprint is None:
        return bindings
    # Only a binding whose value is this very code: the descriptor describes the same pixels. Key
    # frames with one code (a still scene) describe one picture: the first one's is kept.
    from verifier.fingerprint import ImageFingerprint

    pictures = (
        (fingerprint,) if isinstance(fingerprint, ImageFingerprint) else [f.fingerprint for f in fingerprint.key_frames]
    )
    descriptors: dict[bytes, bytes] = {}
    for picture in pictures:
        descriptors.setdefault(picture.iscc_digest, picture.descriptor)
    described = tuple(
        dataclasses.replace(binding, descriptor=descriptors[binding.value])
        if binding.alg == ISCC_ALG and binding.code64 is not None and binding.value in descriptors
        else binding
        for binding in bindings
    )
    if not isinstance(fingerprint, ImageFingerprint) or not any(
        binding.alg == ISCC_ALG and binding.code64 is not None and binding.value == fingerprint.iscc_digest
        for binding in bindings
    ):
        # A video's key frames keep no views; and a fingerprint that is not this manifest's own
        # describes other pixels than its views would.
        return described
    views = tuple(
        SoftBinding(alg=VIEW_ALG, value=view.view.value.encode("ascii"), code64=view.code64, descriptor=view.descriptor)
        for view in fingerprint.views
    )
    return described + views[: MAX_BINDINGS_PER_ENTRY - len(described)]


def _code64(alg: str, value: bytes) -> int | None:
    indexed = indexed_code(alg, value)
    return None if indexed is None else indexed[0]


def _signed_soft_binding_values(
    manifest_store: bytes, fingerprint: ImageFingerprint | VideoFingerprint | None
) -> tuple[SoftBindingValue, ...]:
    """The soft-binding values of a store this service signed. With the fingerprint the signer made
    its assertion from, that assertion is made again (0.02 ms): reading the store costs the engine's
    parse of it in this process (~2 ms of a signature's ~8 ms of store work). Without (a sign job
    recorded before fingerprints were kept), the store is read."""
    if fingerprint is not None:
        return soft_binding_values(soft_binding_assertion(fingerprint)["data"])
    contents = read_manifest_store(manifest_store)
    return contents.soft_bindings if contents is not None else ()


def _keepable(value: SoftBindingValue) -> bool:
    return (
        0 < len(value.alg) <= MAX_ALG_LENGTH
        and value.alg.isprintable()
        and 0 < len(value.value) <= MAX_BINDING_VALUE_BYTES
    )


class ManifestKeeper:
    """Makes repository entries and finds their bytes again; thread-safe (holds immutable parts)."""

    def __init__(
        self,
        *,
        repository: ManifestRepository,
        objects: ObjectStores,
        own_objects: ObjectLocation,
        inline_max_bytes: int = INLINE_MAX_BYTES,
    ) -> None:
        self.repository = repository
        self._objects = objects
        self._folder = own_objects.key.rstrip("/") + "/" + REPOSITORY_FOLDER if own_objects.key else REPOSITORY_FOLDER
        self._own_objects = own_objects
        self._inline_max_bytes = inline_max_bytes

    def signed_entry(
        self,
        *,
        tenant: str,
        manifest_id: str,
        asset_sha256: str,
        manifest_store: bytes,
        fingerprint: ImageFingerprint | VideoFingerprint | None = None,
        private_by: str | None = None,
    ) -> NewEntry:
        """The entry for a store this service just signed (its large bytes already in the object
        store); `fingerprint`: the signed image's or video's (SignResult.soft_binding), whose
        descriptors the io.iscc.v0 bindings keep for the second check of a lookup (a video's: one
        per key frame). `private_by`: the entry is private from the start, made so by this actor
        (None: shared, a public statement)."""
        entry = self._entry(
            origin=EntryOrigin.SIGNED,
            tenant=tenant,
            manifest_id=manifest_id,
            asset_sha256=asset_sha256,
            manifest_store=manifest_store,
            bindings=soft_bindings(_signed_soft_binding_values(manifest_store, fingerprint), fingerprint),
        )
        return entry if private_by is None else dataclasses.replace(entry, private=True, private_by=private_by)

    def verified_entry(
        self,
        *,
        tenant: str,
        manifest_id: str,
        asset_sha256: str,
        manifest_store: bytes,
        bindings: tuple[SoftBindingValue, ...],
    ) -> NewEntry:
        """The entry for a store a tenant verified and asked to keep (only that tenant sees it).
        `bindings`: read from the store by a verifier worker (an upload's store is never parsed in
        this process); its large bytes go to the object store now, as for a signed one."""
        return self._entry(
            origin=EntryOrigin.VERIFIED,
            tenant=tenant,
            manifest_id=manifest_id,
            asset_sha256=asset_sha256,
            manifest_store=manifest_store,
            # An upload's store may declare anything: a binding the repository cannot hold is left
            # out (unsearchable by it), the store is kept all the same.
            bindings=soft_bindings(tuple(value for value in bindings if _keepable(value))),
        )

    def _entry(
        self,
        *,
        origin: EntryOrigin,
        tenant: str,
        manifest_id: str,
        asset_sha256: str,
        manifest_store: bytes,
        bindings: tuple[SoftBinding, ...],
    ) -> NewEntry:
        return NewEntry(
            manifest_id=manifest_id,
            tenant=tenant,
            asset_sha256=asset_sha256,
            origin=origin,
            store=self._keep(manifest_store, tenant=tenant),
            bindings=bindings,
        )

    def manifest_store(self, entry: RepositoryEntry) -> bytes:
        """The entry's store bytes, from its row or the object store; KeptStoreMissing if gone or changed."""
        if entry.store.inline is not None:
            return entry.store.inline
        assert entry.store.object_uri is not None
        from app.objects.errors import ObjectNotFound

        try:
            with self._objects.open_read(self._objects.parse(entry.store.object_uri)) as reader:
                data = reader.read(entry.store.size + 1)
        except ObjectNotFound:
            raise KeptStoreMissing(
                f"the manifest store of {entry.manifest_id} is missing at {entry.store.object_uri}"
            ) from None
        if hashlib.sha256(data).hexdigest() != entry.store.sha256:
            raise KeptStoreMissing(f"the manifest store of {entry.manifest_id} at {entry.store.object_uri} has changed")
        return data

    def forget_object(self, object_uri: str | None) -> None:
        """After a takedown: the store's object, if it had one (keyed by tenant and hash: only that entry's)."""
        if object_uri is not None:
            self._objects.delete(self._objects.parse(object_uri))

    def _keep(self, data: bytes, *, tenant: str) -> StoredManifest:
        sha256 = hashlib.sha256(data).hexdigest()
        if len(data) <= self._inline_max_bytes:
            return StoredManifest(size=len(data), sha256=sha256, inline=data)
        location = self._own_objects.with_key(f"{self._folder}{tenant}/{sha256}.c2pa")
        info = self._objects.put(location, io.BytesIO(data))
        return StoredManifest(size=len(data), sha256=sha256, object_uri=info.uri)
