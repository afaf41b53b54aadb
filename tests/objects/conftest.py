"""Fixtures: moto's S3 server (one per session), a fresh bucket per test, and each backend
behind the same `Backend` helper so the conformance tests run unchanged against both."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from app.objects.interface import ObjectStore
from app.objects.local import LocalFolderStore
from app.objects.location import ObjectLocation, Scheme

from .s3_server import S3Server, aws_test_environment, moto_s3_server


@pytest.fixture(autouse=True)
def aws_credentials() -> Iterator[None]:
    """Throw-away AWS credentials in the environment during each test here (never a developer's
    own); set per test so that tests elsewhere in the session never see them."""
    with aws_test_environment():
        yield


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    with moto_s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@dataclasses.dataclass(frozen=True, kw_only=True)
class Backend:
    name: str
    store: ObjectStore
    at: Callable[[str], ObjectLocation]  # a key -> its location in this backend's bucket/folder
    multipart_parts: Callable[[ObjectLocation], list]  # unfinished multipart uploads (S3), for leak checks


@pytest.fixture
def s3_backend(s3_server) -> Backend:
    store = s3_server.store()
    bucket = s3_server.new_bucket(store)

    def unfinished(_location):
        return store.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])

    return Backend(
        name="s3", store=store, at=lambda key: ObjectLocation(Scheme.S3, key, bucket), multipart_parts=unfinished
    )


@pytest.fixture
def local_backend(tmp_path) -> Backend:
    store = LocalFolderStore(root=tmp_path / "objects")

    def unfinished(_location):
        partial = store.root / ".originmark-partial"
        return sorted(partial.iterdir()) if partial.exists() else []

    return Backend(
        name="local", store=store, at=lambda key: ObjectLocation(Scheme.FILE, key), multipart_parts=unfinished
    )


@pytest.fixture(params=["local", "s3"])
def backend(request) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def spool(tmp_path):
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder
