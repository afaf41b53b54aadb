"""Long variants (ORIGINMARK_TEST_LONG=1): S3 pagination past 1,000 keys at the default page size,
and a 1 GiB round trip in bounded memory. Off by default: they take about a minute here."""

from __future__ import annotations

import os
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.objects.transfer import iter_objects, local_copy, upload_file

from .media_files import MiB, write_large_file

pytestmark = pytest.mark.skipif(
    os.environ.get("ORIGINMARK_TEST_LONG") != "1", reason="long variant: set ORIGINMARK_TEST_LONG=1"
)


def test_s3_listing_past_1000_keys(s3_backend):
    client = s3_backend.store.client()
    bucket = s3_backend.at("").bucket
    keys = [f"many/{n:05d}.jpg" for n in range(1100)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b""), keys))
    first = s3_backend.store.list_page(s3_backend.at("many/"))
    assert len(first.items) == 1000 and first.next_token is not None  # S3's own page limit
    assert [item.location.key for item in iter_objects(s3_backend.store, s3_backend.at("many/"))] == keys


def test_1_gib_round_trip_in_bounded_memory(backend, tmp_path, spool):
    source = tmp_path / "master.bin"
    digest = write_large_file(source, 1024 * MiB)
    tracemalloc.start()
    try:
        upload_file(backend.store, source, backend.at("master.bin"))
        with local_copy(backend.store, backend.at("master.bin"), spool) as copy:
            assert copy.sha256 == digest
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * MiB
