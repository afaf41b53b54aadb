"""A job's uploaded source: kept in originmark's own objects until a worker has finished with it.

`POST /v1/jobs/verify` and `/v1/jobs/sign` take, instead of a `source` URI, the media itself
(multipart). The API process stores it under `job-uploads/<sha256>` in ORIGINMARK_OBJECTS_URL
(default: the local objects folder; with API and workers on several machines, a shared
`s3://bucket/prefix/`), and the job's source is that object, so a worker anywhere reads it like
any other source.

One staged object per job: its name is a hash of the upload's SHA-256 and everything else that
makes the job (kind, media id, destination, generator fields), so the same request sent again
names the same object and the same job (records.idempotency_key over that URI and the content
hash), and the object can be deleted once its job is final (app/jobs/tasks.py) without taking
another job's source away. A leftover (a request that raced its own job's end) lies under
`job-uploads/`: a lifecycle rule on that prefix may expire objects older than a day or so.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from app.objects.errors import ObjectNotFound
from app.objects.interface import ObjectInfo, ObjectStore
from app.objects.location import ObjectLocation
from app.objects.transfer import upload_file

UPLOAD_FOLDER = "job-uploads/"


def upload_name(
    *, tenant: str, kind: str, content_sha256: str, media_id: str | None, destination: str | None, params: dict | None
) -> str:
    """The staged object's name: one per (tenant, upload, job)."""
    described = json.dumps([tenant, kind, content_sha256, media_id, destination, params], sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()


def staging_prefix(own: ObjectLocation) -> ObjectLocation:
    """The folder every staged upload lies in (no tenant's URI may reach it: app/objects/access.py)."""
    prefix = own.key if not own.key or own.key.endswith("/") else own.key + "/"
    return own.with_key(f"{prefix}{UPLOAD_FOLDER}")


def staged_location(own: ObjectLocation, name: str) -> ObjectLocation:
    """Where the upload named `name` (upload_name) is kept, under the own-objects prefix."""
    prefix = own.key if not own.key or own.key.endswith("/") else own.key + "/"
    return own.with_key(f"{prefix}{UPLOAD_FOLDER}{name}")


def is_staged(own: ObjectLocation, location: ObjectLocation) -> bool:
    """Whether `location` is an upload staged by `stage_upload` (and so originmark's to delete)."""
    prefix = own.key if not own.key or own.key.endswith("/") else own.key + "/"
    if (location.scheme, location.bucket) != (own.scheme, own.bucket):
        return False
    name = location.key.removeprefix(prefix + UPLOAD_FOLDER)
    return (
        location.key.startswith(prefix + UPLOAD_FOLDER)
        and len(name) == 64
        and all(c in "0123456789abcdef" for c in name)
    )


def stage_upload(objects: ObjectStore, location: ObjectLocation, *, path: Path, size: int) -> ObjectInfo:
    """Store the received file as the job's source object (kept when the same upload is there)."""
    try:
        present = objects.stat(location)
    except ObjectNotFound:
        present = None
    if present is not None and present.size == size:
        return present  # the same request was staged before (the name covers the content hash)
    return upload_file(objects, path, location)


def release_upload(objects: ObjectStore, own: ObjectLocation, source: ObjectLocation) -> bool:
    """Delete a final job's staged source; False when `source` was not staged by originmark."""
    if not is_staged(own, source):
        return False
    objects.delete(source)  # one already gone is not an error
    return True
