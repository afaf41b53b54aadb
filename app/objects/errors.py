"""What can go wrong with object storage, as a job or the service needs to tell it apart.

Every backend raises these and only these for a storage problem (the S3 backend translates
botocore's errors in app/objects/s3.py; the local backend its OSErrors). The HTTP meaning is
given in app/api/error_responses.py, when the job routes need it: InvalidObjectUri 422, ObjectNotFound
404 (or 422 for a job's source), ObjectAccessDenied 403, ObjectTooLarge 413,
ObjectStoreUnavailable 503, ObjectStorageFull 507. A failure reading the caller's own local
file while uploading it is not a storage problem: that OSError is raised as it is.

Messages are user-facing sentences; they name the object (its URI) and never a credential.
"""

from __future__ import annotations


class ObjectStoreError(Exception):
    """Base of the object store's own errors."""

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.uri = uri


class InvalidObjectUri(ObjectStoreError):
    """The URI or key cannot name an object here: unknown scheme, malformed bucket, a key that
    would leave the local store's folder (`..`), an empty key. The caller's mistake; retrying
    will not help."""


class ObjectNotFound(ObjectStoreError):
    """No object under that URI (or its bucket does not exist)."""


class ObjectAccessDenied(ObjectStoreError):
    """The store refused: no credentials, wrong credentials, or no permission for this object."""


class ObjectTooLarge(ObjectStoreError):
    """The object is over a size limit (the caller's, or the store's own: S3's 5 TiB)."""

    def __init__(self, message: str, *, uri: str | None = None, size: int | None = None, limit: int | None = None):
        super().__init__(message, uri=uri)
        self.size = size
        self.limit = limit


class ObjectStoreUnavailable(ObjectStoreError):
    """The store could not be reached, timed out, throttled us or failed on its side (5xx), or a
    download broke off. Transient: the same call may succeed later (a job retries it)."""


class ObjectStorageFull(ObjectStoreError):
    """A local disk had no room: the local store's folder, or the spool a download goes to.
    Nothing partial was kept."""


class ObjectSourceChanged(ObjectStoreError):
    """The local file being uploaded changed size while it was read; the upload was abandoned
    (no object was written) rather than store a mix of two versions."""


class ObjectChangedSinceSubmit(ObjectStoreError):
    """A job's source is no longer the object that was submitted (another ETag / version, size or
    content hash than the one pinned at submit). The job fails rather than sign or verify
    something nobody asked for; submit it again for the new content."""


class ObjectDestinationChanged(ObjectStoreError):
    """A job's destination no longer holds the output the job just uploaded there (another writer
    replaced it). The job records nothing and deletes nothing: the object is someone else's."""


class ObjectNotAllowed(ObjectStoreError):
    """The location is outside every object prefix the caller's tenant may use (or is originmark's
    own staging area). Refused before any request to storage."""
