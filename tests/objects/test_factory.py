"""Object storage built from settings: each setting takes effect against the real server."""

from __future__ import annotations

import io

import pytest
from pydantic import ValidationError

from app.objects.location import Scheme
from app.objects.s3 import S3ObjectStore
from app.objects.transfer import upload_file
from app.settings import Settings
from app.wiring import build_object_stores, own_objects_location

from .media_files import MiB, write_large_file


def settings_for(server, tmp_path, **changes) -> Settings:
    values = {
        "objects_dir": tmp_path / "objects",
        "s3_endpoint_url": server.endpoint_url,
        "s3_region": "us-east-1",
        "s3_addressing_style": "path",
    }
    return Settings(**{**values, **changes})


@pytest.mark.parametrize("checksums", ["when_supported", "when_required"])
def test_settings_choose_endpoint_part_size_and_checksums(s3_server, tmp_path, checksums):
    stores = build_object_stores(settings_for(s3_server, tmp_path, s3_part_size_mb=5, s3_checksums=checksums))
    bucket = s3_server.new_bucket(stores.backend(stores.parse("s3://any-bucket/x")))
    source = tmp_path / "twelve.bin"
    write_large_file(source, 12 * MiB)
    info = upload_file(stores, source, f"s3://{bucket}/twelve.bin")
    assert info.etag.endswith("-3")  # 5 MiB parts: ORIGINMARK_S3_PART_SIZE_MB took effect
    backend = stores.backend(info.location)
    assert isinstance(backend, S3ObjectStore)
    client = backend.client()
    # botocore sets Config's options as attributes at run time; botocore-stubs declares only the
    # constructor's parameters, so mypy cannot see these two.
    assert client.meta.config.s3["addressing_style"] == "path"  # type: ignore[attr-defined]
    assert client.meta.config.request_checksum_calculation == checksums  # type: ignore[attr-defined]
    head = client.head_object(Bucket=bucket, Key="twelve.bin", ChecksumMode="ENABLED")
    assert ("ChecksumCRC32" in head) == (checksums == "when_supported")


def test_settings_from_the_environment(s3_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ORIGINMARK_OBJECTS_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("ORIGINMARK_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("ORIGINMARK_S3_ADDRESSING_STYLE", "path")
    monkeypatch.setenv("ORIGINMARK_S3_REGION", "eu-west-1")
    stores = build_object_stores(Settings())
    stores.put(stores.parse("plain/path.jpg"), io.BytesIO(b"local"))
    assert (tmp_path / "from-env" / "plain" / "path.jpg").read_bytes() == b"local"
    s3 = stores.backend(stores.parse("s3://any-bucket/x"))
    assert isinstance(s3, S3ObjectStore)
    assert s3.client().meta.region_name == "eu-west-1"
    assert s3.client().meta.endpoint_url == s3_server.endpoint_url


def test_own_objects_location(tmp_path):
    default = own_objects_location(Settings(objects_dir=tmp_path / "objects"))
    assert default.scheme is Scheme.FILE and default.uri == (tmp_path / "objects").as_uri() + "/"
    shared = own_objects_location(Settings(objects_url="s3://originmark-staging/uploads/"))
    assert (shared.scheme, shared.bucket, shared.key) == (Scheme.S3, "originmark-staging", "uploads/")


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"objects_url": "ftp://host/x"}, "ORIGINMARK_OBJECTS_URL"),
        ({"s3_endpoint_url": "minio:9000"}, "ORIGINMARK_S3_ENDPOINT_URL"),
        ({"s3_part_size_mb": 4}, "s3_part_size_mb"),
        ({"s3_addressing_style": "dns"}, "s3_addressing_style"),
    ],
)
def test_bad_settings_fail_at_load(values, words):
    with pytest.raises(ValidationError, match=words):
        Settings(**values)
