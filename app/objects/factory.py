"""Builds the object stores from `Settings` (the lead may fold this into app/wiring.py)."""

from __future__ import annotations

from app.objects.local import LocalFolderStore
from app.objects.location import ObjectLocation, parse_object_uri
from app.objects.router import ObjectStores
from app.settings import Settings


def build_s3_options(settings: Settings):
    from app.objects.s3 import S3Options

    return S3Options(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        addressing_style=settings.s3_addressing_style,
        part_size=settings.s3_part_size_mb * 1024 * 1024,
        max_attempts=settings.s3_max_attempts,
        connect_timeout_seconds=settings.s3_connect_timeout_seconds,
        read_timeout_seconds=settings.s3_read_timeout_seconds,
        checksums=settings.s3_checksums,
    )


def build_object_stores(settings: Settings) -> ObjectStores:
    """Both backends: the local folder (created when missing) and S3 (connects on first use)."""
    from app.objects.s3 import S3ObjectStore

    return ObjectStores(
        local=LocalFolderStore(root=settings.objects_dir),
        s3=S3ObjectStore(options=build_s3_options(settings)),
    )


def own_objects_location(settings: Settings) -> ObjectLocation:
    """Where originmark keeps objects of its own (ORIGINMARK_OBJECTS_URL; default the local folder)."""
    if settings.objects_url is None:
        return parse_object_uri(settings.objects_dir.expanduser().absolute().as_uri() + "/")
    return parse_object_uri(settings.objects_url)
