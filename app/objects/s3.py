"""`S3ObjectStore`: objects in AWS S3 or an S3-compatible server (MinIO, SeaweedFS, Ceph, R2...), via boto3.

Credentials come from the standard AWS chain (environment, AWS_PROFILE, web identity, the
instance or task role), never from originmark's settings; they are never logged, and no error
message quotes them. The settings choose only where and how to connect (S3Options).

Uploads: a file up to one part (16 MiB by default) is one PutObject; a larger one is a
multipart upload, one part at a time, so at most one part is held in memory. The part size
grows when a file would need more than S3's 10,000 parts. Any failure — the network, the store,
reading the local file, an interrupt — aborts the multipart upload, so no partial object
appears and no orphaned parts are billed (for a process killed outright, set the bucket's
AbortIncompleteMultipartUpload lifecycle rule). Downloads are one streamed GetObject.

With checksums "when_supported" (botocore's default) every PUT and part carries a CRC32 the
store checks; some older S3-compatible servers reject those headers: use "when_required".
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal

import boto3
import botocore.exceptions as aws
from botocore.config import Config

from app.objects.checked_reader import CheckedReader
from app.objects.errors import (
    InvalidObjectUri,
    ObjectAccessDenied,
    ObjectNotFound,
    ObjectStoreError,
    ObjectStoreUnavailable,
    ObjectTooLarge,
)
from app.objects.interface import DEFAULT_PAGE_SIZE, ObjectInfo, ObjectPage
from app.objects.local import check_source_ended, read_exactly, source_size
from app.objects.location import ObjectLocation, Scheme

if TYPE_CHECKING:
    # boto3-stubs (a test dependency): types only, never imported at run time.
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        CompletedPartTypeDef,
        CreateMultipartUploadRequestTypeDef,
        ListObjectsV2RequestTypeDef,
        UploadPartRequestTypeDef,
    )

log = logging.getLogger("originmark.objects")

MiB = 1024 * 1024
MIN_PART_BYTES = 5 * MiB  # S3: every part but the last
MAX_PART_BYTES = 5 * 1024 * MiB
MAX_PARTS = 10_000
MAX_OBJECT_BYTES = 5 * 1024 * 1024 * MiB  # 5 TiB
LIST_PAGE_LIMIT = 1000  # S3 returns at most this many keys per ListObjectsV2 call

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404", "NoSuchUpload"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AllAccessDisabled",
    "AccountProblem",
}
_TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "RequestTimeTooSkewed"}
_NETWORK = (
    aws.EndpointConnectionError,
    aws.ConnectionClosedError,
    aws.ConnectTimeoutError,
    aws.ReadTimeoutError,
    aws.ProxyConnectionError,
    aws.SSLError,
    aws.HTTPClientError,
    aws.ResponseStreamingError,
    aws.IncompleteReadError,
    aws.FlexibleChecksumError,  # a body that does not match its checksum: damaged in transit, read again
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Options:
    """Where and how to reach S3; credentials are not here (the AWS chain provides them)."""

    endpoint_url: str | None = None  # None: AWS itself; e.g. http://127.0.0.1:9000 for MinIO
    region: str | None = None  # None: the AWS chain's region (AWS_REGION, the profile...)
    addressing_style: Literal["auto", "virtual", "path"] = "auto"  # most self-hosted servers want "path"
    part_size: int = 16 * MiB
    max_attempts: int = 5  # per request, botocore's "standard" retries (throttling, 5xx, resets)
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    checksums: Literal["when_supported", "when_required"] = "when_supported"

    def __post_init__(self) -> None:
        if not MIN_PART_BYTES <= self.part_size <= MAX_PART_BYTES:
            raise ValueError(f"the S3 part size must be between 5 MiB and 5 GiB, not {self.part_size} bytes")
        if self.endpoint_url is not None and not self.endpoint_url.startswith(("http://", "https://")):
            raise ValueError("the S3 endpoint URL must start with http:// or https://")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def part_size_for(self, size: int) -> int:
        """The part size for a `size`-byte upload: the configured one, larger when S3's 10,000 parts need it."""
        needed = math.ceil(size / MAX_PARTS)
        return max(self.part_size, math.ceil(needed / MiB) * MiB)


class S3ObjectStore:
    """Objects in S3 (any bucket the credentials reach); thread-safe (one boto3 client, made on first use)."""

    def __init__(self, *, options: S3Options) -> None:
        self._options = options
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    @property
    def options(self) -> S3Options:
        return self._options

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self._options.endpoint_url or 'AWS'!r})"

    def client(self) -> S3Client:
        with self._lock:
            if self._client is None:
                options = self._options
                config = Config(
                    s3={"addressing_style": options.addressing_style},
                    retries={"mode": "standard", "max_attempts": options.max_attempts},
                    connect_timeout=options.connect_timeout_seconds,
                    read_timeout=options.read_timeout_seconds,
                    request_checksum_calculation=options.checksums,
                    response_checksum_validation=options.checksums,
                )
                with _translated("the S3 client could not be created", uri=None):
                    # A session per store: boto3's default session is shared process state.
                    session = boto3.session.Session(region_name=options.region)
                    self._client = session.client("s3", endpoint_url=options.endpoint_url, config=config)
            return self._client

    # --- the ObjectStore interface ---

    def stat(self, location: ObjectLocation) -> ObjectInfo:
        bucket, key = _bucket_key(location)
        with _translated(f"cannot read {location.uri}", uri=location.uri, missing_may_be_denied=True):
            head = self.client().head_object(Bucket=bucket, Key=key)
        return _info(location, size=head["ContentLength"], etag=head.get("ETag"), modified=head.get("LastModified"))

    def open_read(self, location: ObjectLocation) -> CheckedReader:
        bucket, key = _bucket_key(location)
        with _translated(f"cannot read {location.uri}", uri=location.uri, missing_may_be_denied=True):
            response = self.client().get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        info = _info(
            location, size=response["ContentLength"], etag=response.get("ETag"), modified=response.get("LastModified")
        )
        return CheckedReader(
            info=info,
            read=body.read,
            close=body.close,
            translate=lambda error: _translate(error, f"the download of {location.uri} failed", uri=location.uri),
        )

    def put(self, location: ObjectLocation, source: BinaryIO) -> ObjectInfo:
        bucket, key = _bucket_key(location)
        uri = location.uri
        size = source_size(source)
        if size > MAX_OBJECT_BYTES:
            raise ObjectTooLarge(
                f"{uri}: {size} bytes is over S3's 5 TiB object limit", uri=uri, size=size, limit=MAX_OBJECT_BYTES
            )
        source.seek(0)
        if size <= self._options.part_size:
            data = read_exactly(source, size, uri=uri, done=0, total=size)
            check_source_ended(source, uri=uri, total=size)
            with _translated(f"cannot write {uri}", uri=uri):
                response = self.client().put_object(Bucket=bucket, Key=key, Body=data)
            return _info(location, size=size, etag=response.get("ETag"), modified=None)
        return self._put_multipart(location, bucket, key, source, size)

    def list_page(
        self, prefix: ObjectLocation, *, page_size: int = DEFAULT_PAGE_SIZE, token: str | None = None
    ) -> ObjectPage:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        bucket, key_prefix = _bucket_key(prefix, allow_prefix=True)
        arguments: ListObjectsV2RequestTypeDef = {
            "Bucket": bucket,
            "Prefix": key_prefix,
            "MaxKeys": min(page_size, LIST_PAGE_LIMIT),
        }
        if token is not None:
            arguments["ContinuationToken"] = token
        with _translated(f"cannot list {prefix.uri}", uri=prefix.uri):
            response = self.client().list_objects_v2(**arguments)
        items = []
        for entry in response.get("Contents", ()):
            # Folder markers ("photos/", made by consoles) are not media; nor is a key no
            # ObjectLocation accepts (control characters): neither stops the listing.
            if entry["Key"].endswith("/"):
                continue
            try:
                location = ObjectLocation(Scheme.S3, entry["Key"], bucket)
            except InvalidObjectUri:
                log.warning("skipped an S3 key with control characters in s3://%s/", bucket)
                continue
            items.append(
                _info(location, size=entry["Size"], etag=entry.get("ETag"), modified=entry.get("LastModified"))
            )
        next_token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return ObjectPage(items=tuple(items), next_token=next_token)

    def delete(self, location: ObjectLocation) -> None:
        bucket, key = _bucket_key(location)
        with _translated(f"cannot delete {location.uri}", uri=location.uri):
            self.client().delete_object(Bucket=bucket, Key=key)

    # --- multipart ---

    def _put_multipart(
        self, location: ObjectLocation, bucket: str, key: str, source: BinaryIO, size: int
    ) -> ObjectInfo:
        uri = location.uri
        client = self.client()
        part_size = self._options.part_size_for(size)
        checksummed = self._options.checksums == "when_supported"
        create: CreateMultipartUploadRequestTypeDef = {"Bucket": bucket, "Key": key}
        if checksummed:
            create["ChecksumAlgorithm"] = "CRC32"
        with _translated(f"cannot write {uri}", uri=uri):
            upload_id = client.create_multipart_upload(**create)["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            done = 0
            for number in range(1, math.ceil(size / part_size) + 1):
                data = read_exactly(source, min(part_size, size - done), uri=uri, done=done, total=size)
                upload: UploadPartRequestTypeDef = {
                    "Bucket": bucket,
                    "Key": key,
                    "UploadId": upload_id,
                    "PartNumber": number,
                    "Body": data,
                }
                if checksummed:
                    upload["ChecksumAlgorithm"] = "CRC32"
                with _translated(f"cannot write {uri} (part {number})", uri=uri):
                    response = client.upload_part(**upload)
                done += len(data)
                del data, upload  # at most one part in memory
                part: CompletedPartTypeDef = {"PartNumber": number, "ETag": response["ETag"]}
                if checksummed and response.get("ChecksumCRC32"):
                    part["ChecksumCRC32"] = response["ChecksumCRC32"]
                parts.append(part)
            check_source_ended(source, uri=uri, total=size)
            with _translated(f"cannot write {uri}", uri=uri):
                completed = client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            self._abort(client, bucket, key, upload_id)
            raise
        return _info(location, size=size, etag=completed.get("ETag"), modified=None)

    @staticmethod
    def _abort(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as error:  # noqa: BLE001 - the upload's own failure is the one to raise
            # Its parts stay until the bucket's lifecycle rule removes them; never an object.
            log.warning(
                "could not abort the multipart upload to s3://%s/%s (%s); set an AbortIncompleteMultipartUpload "
                "lifecycle rule on the bucket",
                bucket,
                key,
                error.__class__.__name__,
            )


def _bucket_key(location: ObjectLocation, *, allow_prefix: bool = False) -> tuple[str, str]:
    if location.scheme is not Scheme.S3:
        raise InvalidObjectUri(f"{location.uri} is not an s3:// URI", uri=location.uri)
    if not allow_prefix:
        location.require_object()
    return location.bucket, location.key


def _info(location: ObjectLocation, *, size: int, etag: str | None, modified) -> ObjectInfo:
    return ObjectInfo(
        location=location, uri=location.uri, size=size, etag=(etag or "").strip('"'), last_modified=modified
    )


@contextlib.contextmanager
def _translated(what: str, *, uri: str | None, missing_may_be_denied: bool = False) -> Iterator[None]:
    try:
        yield
    except ObjectStoreError:
        raise
    except Exception as error:
        raise _translate(error, what, uri=uri, missing_may_be_denied=missing_may_be_denied) from error


def _translate(
    error: Exception, what: str, *, uri: str | None, missing_may_be_denied: bool = False
) -> ObjectStoreError:
    """botocore's exceptions as app.objects.errors types; messages never include credentials."""
    if isinstance(error, aws.ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        said = f"{code}: {details.get('Message')}" if details.get("Message") else code or f"HTTP {status}"
        if code in _NOT_FOUND or status == 404:
            bucket_missing = code == "NoSuchBucket"
            return ObjectNotFound(f"{what}: {'no such bucket' if bucket_missing else 'no such object'}", uri=uri)
        if code in _DENIED or status == 403:
            hint = (
                " (S3 also answers 403 for a missing object when the credentials may not list its bucket)"
                if missing_may_be_denied
                else ""
            )
            return ObjectAccessDenied(f"{what}: access denied ({said}){hint}", uri=uri)
        if code == "EntityTooLarge" or status == 413:
            return ObjectTooLarge(f"{what}: the store refused it as too large ({said})", uri=uri)
        if code in _TRANSIENT or status >= 500 or status == 429:
            return ObjectStoreUnavailable(f"{what}: the store is unavailable ({said})", uri=uri)
        if code == "InvalidBucketName":
            return InvalidObjectUri(f"{what}: {said}", uri=uri)
        return ObjectStoreError(f"{what}: the store refused the request ({said})", uri=uri)
    if isinstance(error, (aws.NoCredentialsError, aws.PartialCredentialsError, aws.CredentialRetrievalError)):
        return ObjectAccessDenied(
            f"{what}: no usable AWS credentials (set them through the standard chain: AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a role)",
            uri=uri,
        )
    if isinstance(error, aws.NoRegionError):
        return ObjectStoreError(
            f"{what}: no AWS region is configured (set ORIGINMARK_S3_REGION or AWS_REGION)", uri=uri
        )
    if isinstance(error, _NETWORK) or _is_urllib3_failure(error):
        return ObjectStoreUnavailable(
            f"{what}: the store could not be reached or broke off ({error.__class__.__name__})", uri=uri
        )
    if isinstance(error, aws.ParamValidationError):
        return InvalidObjectUri(f"{what}: {error}", uri=uri)
    if isinstance(error, aws.BotoCoreError):
        return ObjectStoreError(f"{what}: {error.__class__.__name__}", uri=uri)
    raise error  # not a storage failure (a bug, an interrupt, the caller's file): as it is


def _is_urllib3_failure(error: Exception) -> bool:
    module = type(error).__module__ or ""
    return module.startswith("urllib3")
