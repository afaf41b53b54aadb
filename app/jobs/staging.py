"""A job's uploaded source: kept in originmark's own objects until a worker has finished with it.

`POST /v1/jobs/verify` and `/v1/jobs/sign` take, instead of a `source` URI, the media itself
(multipart). The API process stores it under `job-uploads/<sha256>` in ORIGINMARK_OBJECTS_URL
(default: the local objects folder; with API and workers on several machines, a shared
`s3://bucket/prefix/`), and the job's source is that object, so a worker anywhere reads it like
any other source. Content-addressed: the same bytes sent twice are stored once and, with the same
media id, are the same job (the jobs' idempotency key includes the source URI and its size).
The staged object is deleted once the job is final (app/jobs/tasks.py).
"""

from __future__ import annotations

from pathlib import Path

from app.objects.errors import ObjectNotFound
from app.objects.interface import ObjectInfo, ObjectStore
from app.objects.location import ObjectLocation
from app.objects.transfer import upload_file

UPLOAD_FOLDER = "job-uploads/"


def staged_location(own: ObjectLocation, sha256: str) -> ObjectLocation:
    """Where the upload with this SHA-256 is kept, under the own-objects prefix."""
    prefix = own.key if not own.key or own.key.endswith("/") else own.key + "/"
    return own.with_key(f"{prefix}{UPLOAD_FOLDER}{sha256}")


def is_staged(own: ObjectLocation, location: ObjectLocation) -> bool:
    """Whether `location` is an upload staged by `stage_upload` (and so originmark's to delete)."""
    prefix = own.key if not own.key or own.key.endswith("/") else own.key + "/"
    if (location.scheme, location.bucket) != (own.scheme, own.bucket):
        return False
    name = location.key.removeprefix(prefix + UPLOAD_FOLDER)
    return location.key.startswith(prefix + UPLOAD_FOLDER) and len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def stage_upload(
    objects: ObjectStore, own: ObjectLocation, *, path: Path, sha256: str, size: int
) -> tuple[ObjectLocation, ObjectInfo]:
    """Store the received file (already hashed while it arrived) as the job's source object."""
    location = staged_location(own, sha256)
    try:
        present = objects.stat(location)
    except ObjectNotFound:
        present = None
    if present is not None and present.size == size:
        return location, present  # the same bytes were staged before (content-addressed)
    return location, upload_file(objects, path, location)
