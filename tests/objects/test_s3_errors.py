"""The S3 backend's failures, each as its typed error, against real servers (or a closed port)."""

from __future__ import annotations

import io
import logging
import os

import pytest

from app.objects.errors import ObjectAccessDenied, ObjectNotFound, ObjectStoreUnavailable, ObjectTooLarge
from app.objects.location import ObjectLocation, Scheme
from app.objects.s3 import MAX_OBJECT_BYTES, MiB, S3ObjectStore, S3Options
from tests.support import free_port

from .s3_server import moto_s3_server

SECRET = "secret-value-that-must-never-show-1234567890"


def test_unreachable_endpoint_is_unavailable():
    store = S3ObjectStore(
        options=S3Options(
            endpoint_url=f"http://127.0.0.1:{free_port()}",
            region="us-east-1",
            max_attempts=1,
            connect_timeout_seconds=2,
        )
    )
    where = ObjectLocation(Scheme.S3, "x.jpg", "media")
    for call in (
        lambda: store.stat(where),
        lambda: store.open_read(where),
        lambda: store.put(where, io.BytesIO(b"x")),
        lambda: store.list_page(where.with_key("")),
        lambda: store.delete(where),
    ):
        with pytest.raises(ObjectStoreUnavailable, match="could not be reached"):
            call()


def test_missing_bucket_is_not_found(s3_server):
    store = s3_server.store()
    with pytest.raises(ObjectNotFound, match="no such bucket"):
        store.list_page(ObjectLocation(Scheme.S3, "", "no-such-bucket-here"))
    with pytest.raises(ObjectNotFound):
        store.stat(ObjectLocation(Scheme.S3, "x", "no-such-bucket-here"))
    with pytest.raises(ObjectNotFound):
        store.put(ObjectLocation(Scheme.S3, "x", "no-such-bucket-here"), io.BytesIO(b"x"))


def test_no_credentials_is_access_denied(s3_server, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    store = s3_server.store()
    with pytest.raises(ObjectAccessDenied, match="no usable AWS credentials"):
        store.stat(ObjectLocation(Scheme.S3, "x", "media"))


@pytest.fixture(scope="module")
def checking_server(tmp_path_factory):
    """A second moto server that checks credentials (INITIAL_NO_AUTH_ACTION_COUNT=0)."""
    with moto_s3_server(tmp_path_factory.mktemp("moto-auth") / "moto.log", check_credentials=True) as server:
        yield server


def test_wrong_credentials_are_access_denied_and_never_shown(checking_server, monkeypatch, caplog):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    caplog.set_level(logging.DEBUG, logger="originmark")
    store = checking_server.store()
    where = ObjectLocation(Scheme.S3, "x.jpg", "media")
    failures = []
    for call in (lambda: store.stat(where), lambda: store.put(where, io.BytesIO(b"x")), lambda: store.list_page(where)):
        with pytest.raises(ObjectAccessDenied) as raised:
            call()
        failures.append(raised.value)
    assert "InvalidAccessKeyId" in failures[1].message
    assert "may not list its bucket" in failures[0].message  # HEAD's 403 can also mean "missing"
    shown = " ".join([*(str(f) for f in failures), repr(store), caplog.text])
    assert SECRET not in shown and SECRET[:12] not in shown


def test_over_s3s_object_limit_is_too_large_before_any_request(s3_server, tmp_path):
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as output:
        try:
            output.truncate(MAX_OBJECT_BYTES + 1)  # a sparse file: no disk used
        except OSError as error:
            pytest.skip(f"this file system cannot hold a sparse 5 TiB file: {error}")
    store = s3_server.store()
    with sparse.open("rb") as source, pytest.raises(ObjectTooLarge, match="5 TiB") as raised:
        store.put(ObjectLocation(Scheme.S3, "huge.mp4", "any-bucket"), source)
    assert raised.value.size == MAX_OBJECT_BYTES + 1


def test_part_size_grows_for_s3s_10000_part_limit():
    options = S3Options(part_size=16 * MiB)
    assert options.part_size_for(2 * 1024 * MiB) == 16 * MiB
    assert options.part_size_for(10_000 * 16 * MiB) == 16 * MiB
    grown = options.part_size_for(1024 * 1024 * MiB)  # 1 TiB
    assert grown % MiB == 0 and grown * 10_000 >= 1024 * 1024 * MiB and grown < 16 * MiB * 10


@pytest.mark.parametrize(
    "changes",
    [{"part_size": 4 * MiB}, {"part_size": 6 * 1024 * MiB}, {"endpoint_url": "minio:9000"}, {"max_attempts": 0}],
)
def test_options_are_checked_when_built(changes):
    with pytest.raises(ValueError):
        S3Options(**changes)


def test_aws_test_credentials_are_in_use():
    # The conformance tests must never reach a developer's real account.
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["AWS_CONFIG_FILE"] == os.devnull
