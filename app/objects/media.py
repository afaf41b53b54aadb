"""Signing and verifying objects: what a job worker does with one asset in object storage.

    sign_object(store=..., signer=..., source="s3://in/gen.jpg", destination="s3://out/gen.jpg", ...)
    verify_object(store=..., verifier=..., uri="s3://uploads/x.mp4", ...)

Each copies the object (and a parent) to a private spool folder, runs the engine on local
files (it seeks: app/objects/interface.py), uploads a signed output (multipart when large) and
removes the folder whatever happens. `signer` is anything with ContentSigner's `sign_file`
(ContentSigner, IsolatedSigner, RotatingSigner); `verifier` anything with Verifier's
`verify_file` (Verifier, IsolatedVerifier). Neither is imported here: c2pa stays in signer/
and verifier/.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.objects.errors import InvalidObjectUri, ObjectChangedSinceSubmit
from app.objects.interface import ObjectInfo, ObjectStore
from app.objects.location import ObjectLocation
from app.objects.transfer import as_location, local_copy, spool_folder, upload_file

_HASH_CHUNK = 1024 * 1024


class FileSigner(Protocol):
    def sign_file(self, *, source: Path, destination: Path, request: Any) -> Any: ...


class FileVerifier(Protocol):
    def verify_file(self, path: Path, *, known_sha256: str | None = None) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcePin:
    """What a job's source was when it was submitted: the store's etag (S3's ETag; the local
    store's mtime, size and inode) and size, or for an upload staged by originmark its content
    SHA-256. `check` compares it with what a run actually downloaded (the GET's own etag and the
    bytes' hash), so there is no window between a check and the read."""

    size: int
    etag: str | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, info: ObjectInfo) -> SourcePin:
        return cls(size=info.size, etag=info.etag or None)

    def to_json(self) -> dict:
        return {"size": self.size, "etag": self.etag, "sha256": self.sha256}

    @classmethod
    def from_json(cls, fields: dict) -> SourcePin:
        return cls(size=int(fields["size"]), etag=fields.get("etag"), sha256=fields.get("sha256"))

    def check(self, *, info: ObjectInfo, sha256: str) -> None:
        changed = (
            info.size != self.size
            or (self.etag is not None and info.etag != self.etag)
            or (self.sha256 is not None and sha256 != self.sha256)
        )
        if changed:
            raise ObjectChangedSinceSubmit(
                f"{info.uri} is not the object that was submitted (it changed since: another version, "
                "size or content); submit a new job for the new content",
                uri=info.uri,
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedObject:
    source: ObjectInfo
    source_sha256: str
    destination: ObjectInfo  # the stored signed object (its etag as the store gave it)
    output_sha256: str  # of the signed bytes stored at `destination`
    result: Any  # the signer's SignResult (its paths were spool files, gone by now)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedFile:
    """The signed output, made and hashed, before it is uploaded (what `before_upload` is given)."""

    source_sha256: str
    output_sha256: str
    result: Any  # the signer's SignResult
    path: Path  # the output's local file, there until the upload is done (a job verifies it before)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedObject:
    object: ObjectInfo
    sha256: str
    verdict: Any  # verifier.verdict.Verdict


def sign_object(
    *,
    store: ObjectStore,
    signer: FileSigner,
    source: str | ObjectLocation,
    destination: str | ObjectLocation,
    request: Any,
    spool_dir: Path | None,
    parent: str | ObjectLocation | None = None,
    max_bytes: int | None = None,
    before_upload: Callable[[SignedFile], None] | None = None,
    source_pin: SourcePin | None = None,
    check_source: Callable[[Path, str], None] | None = None,
) -> SignedObject:
    """Sign the object `source` into the object `destination` (written all or nothing).

        `request`: a signer.manifest.GenerationRequest; with no title, the source's name is the
        title (the engine would otherwise take the spool file's). `parent`: an object to record as
        the edit's parent ingredient (replaces `request.parent`). `max_bytes` bounds each download.
    `before_upload` is called with the signed output once it is made and hashed, before any of it
    is uploaded (a job records it there: app/jobs/tasks.py); if it raises, nothing is uploaded.
    `check_source(path, sha256)` is called with the source's copy before anything is signed (a
    rendition job refuses one that carries credentials of its own there); if it raises, nothing is.
        Raises the store's errors (app/objects/errors.py) and the signer's (signer/errors.py).
    """
    source_location = as_location(source).require_object()
    destination_location = as_location(destination).require_object()
    if destination_location == source_location:
        raise InvalidObjectUri(
            f"{destination_location.uri} is the source itself; originmark never overwrites an original: "
            "choose another destination",
            uri=destination_location.uri,
        )
    with spool_folder(spool_dir) as folder, contextlib.ExitStack() as copies:
        copy = copies.enter_context(local_copy(store, source_location, folder, max_bytes=max_bytes))
        if source_pin is not None:
            source_pin.check(info=copy.info, sha256=copy.sha256)  # before anything is signed
        if check_source is not None:
            check_source(copy.path, copy.sha256)
        changes: dict[str, Any] = {}
        if getattr(request, "title", None) is None:
            changes["title"] = source_location.name
        if parent is not None:
            parent_location = as_location(parent).require_object()
            # Named after the object (made harmless): the engine records it as the ingredient's title.
            # (in a folder of its own: no name can clash with the source's copy or the output)
            parent_folder = folder / "parent"
            parent_folder.mkdir()
            parent_copy = copies.enter_context(
                local_copy(store, parent_location, parent_folder, max_bytes=max_bytes, filename=parent_location.name)
            )
            changes["parent"] = parent_copy.path
        output = folder / "signed"
        result = signer.sign_file(source=copy.path, destination=output, request=dataclasses.replace(request, **changes))
        output_sha256 = file_sha256(output)
        if before_upload is not None:
            before_upload(
                SignedFile(source_sha256=copy.sha256, output_sha256=output_sha256, result=result, path=output)
            )
        stored = upload_file(store, output, destination_location)
        source_info, source_sha256 = copy.info, copy.sha256
    return SignedObject(
        source=source_info,
        source_sha256=source_sha256,
        destination=stored,
        output_sha256=output_sha256,
        result=result,
    )


def verify_object(
    *,
    store: ObjectStore,
    verifier: FileVerifier,
    uri: str | ObjectLocation,
    spool_dir: Path | None,
    max_bytes: int | None = None,
    source_pin: SourcePin | None = None,
    with_copy: Callable[[Path, Any], None] | None = None,
) -> VerifiedObject:
    """The verdict on the object at `uri`, from a spooled copy (hashed while it downloaded);
    ObjectChangedSinceSubmit, before any verification, when the copy is not what `source_pin` describes.
    `with_copy(path, verdict)` runs while the copy still exists (a verify job looks a file without
    valid credentials up by content with it)."""
    location = as_location(uri).require_object()
    with local_copy(store, location, spool_dir, max_bytes=max_bytes) as copy:
        if source_pin is not None:
            source_pin.check(info=copy.info, sha256=copy.sha256)
        verdict = verifier.verify_file(copy.path, known_sha256=copy.sha256)
        if with_copy is not None:
            with_copy(copy.path, verdict)
    return VerifiedObject(object=copy.info, sha256=copy.sha256, verdict=verdict)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
