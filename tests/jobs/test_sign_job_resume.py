"""A sign job whose worker dies mid-job never signs twice: the retry finds the recorded output at
the destination and finishes with it. If the worker died before the upload completed, nothing was
delivered, and the retry's signature is the only one that ever reaches the destination."""

from __future__ import annotations

import hashlib
import io

import pytest

from app.jobs import records
from app.jobs.records import JobKind, JobRecord, JobStatus, SignedOutput
from app.jobs.tasks import run_sign_job
from app.objects.errors import ObjectNotFound
from app.objects.location import ObjectLocation, Scheme
from app.store.interface import Scope
from app.wiring import build_job_runtime, build_object_stores
from tests.api.helpers import jpeg_bytes


class WorkerDied(BaseException):
    """Stands for SIGKILL at that point: no `except Exception` handler runs, nothing after it either."""


class CountingSigner:
    def __init__(self, signer) -> None:
        self._signer = signer
        self.signatures = 0

    def sign_file(self, **kwargs):
        self.signatures += 1
        return self._signer.sign_file(**kwargs)


class DiesOnCommit:
    """The store of a worker killed after uploading the signed output, before committing the job."""

    def __init__(self, store) -> None:
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def record_signature(self, **kwargs):
        raise WorkerDied


class DiesDuringUpload:
    """Object stores that die while uploading (S3 keeps nothing of an incomplete upload)."""

    def __init__(self, objects) -> None:
        self._objects = objects

    def __getattr__(self, name):
        return getattr(self._objects, name)

    def put(self, location, source):
        source.read(4096)  # the upload had begun
        raise WorkerDied


class PoolsWithCountingSigner:
    def __init__(self, worker_pools, signer) -> None:
        self._worker_pools = worker_pools
        self.signer = signer

    def __getattr__(self, name):
        return getattr(self._worker_pools, name)


def _submit(store, source: str, destination: str) -> str:
    params = {"generator": "TestGen", "generator_version": "1", "digital_source_type": None, "title": None}
    key, _token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))  # re-read before each attempt
    submitted = records.submit(
        store.db_engine,
        tenant="default",
        kind=JobKind.SIGN,
        source=source,
        media_id="resume-1",
        key=hashlib.sha256(destination.encode()).hexdigest(),
        destination=destination,
        params=params,
        key_id=key.key_id,
        enqueue=lambda _connection, _job_id: None,
    )
    return submitted.job.id


def _job(store, job_id: str) -> JobRecord:
    job = records.get(store.db_engine, job_id)
    assert job is not None, f"no job {job_id}"
    return job


def _signed(job: JobRecord) -> SignedOutput:
    assert job.signed_output is not None, f"job {job.id} recorded no signed output"
    return job.signed_output


def _read(object_store, bucket: str, key: str) -> bytes:
    with object_store.open_read(ObjectLocation(Scheme.S3, key, bucket)) as reader:
        return reader.read()


@pytest.fixture
def parts(settings, store, jobs_worker_pools, s3):
    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, "gen/in.jpg", bucket), io.BytesIO(jpeg_bytes(seed=41)))
    signer = CountingSigner(jobs_worker_pools.signer)
    return (
        object_store,
        bucket,
        signer,
        PoolsWithCountingSigner(jobs_worker_pools, signer),
        build_object_stores(settings),
    )


def test_a_worker_killed_after_the_upload_leaves_a_job_that_finishes_without_signing_again(settings, store, parts):
    object_store, bucket, signer, worker_pools, objects = parts
    job_id = _submit(store, f"s3://{bucket}/gen/in.jpg", f"s3://{bucket}/signed/out.jpg")

    dying = build_job_runtime(settings, store=DiesOnCommit(store), objects=objects, worker_pools=worker_pools)
    with pytest.raises(WorkerDied):
        run_sign_job(dying, job_id, previous_attempts=0)
    delivered = _read(object_store, bucket, "signed/out.jpg")
    recorded = _job(store, job_id)
    assert recorded.status is JobStatus.RUNNING and signer.signatures == 1
    assert _signed(recorded).output_sha256 == hashlib.sha256(delivered).hexdigest()
    assert [e for e in store.entries(limit=10) if e.media_id == "resume-1"] == []
    assert store.repository.stats().entries == 0
    assert _signed(recorded).manifest_store in delivered  # recorded with the job, for the retry

    # The stalled-job recovery hands the job to another worker.
    run_sign_job(
        build_job_runtime(settings, store=store, objects=objects, worker_pools=worker_pools),
        job_id,
        previous_attempts=1,
    )
    done = _job(store, job_id)
    assert done.status is JobStatus.SUCCEEDED
    assert signer.signatures == 1  # not signed again
    assert _read(object_store, bucket, "signed/out.jpg") == delivered
    assert done.sha256 == hashlib.sha256(delivered).hexdigest()
    entries = [e for e in store.entries(limit=10) if e.media_id == "resume-1"]
    assert len(entries) == 1 and entries[0].output_sha256 == done.sha256
    assert entries[0].input_sha256 == _signed(recorded).source_sha256
    assert entries[0].manifest_label == _signed(recorded).manifest_label
    verdict = store.verdict_by_media_id("default", "resume-1")
    assert verdict is not None and verdict.sha256 == done.sha256
    # The retry keeps the manifest store the first attempt made (from the job's record).
    kept = store.repository.entry_by_manifest_id("default", _signed(recorded).manifest_label or "")
    assert kept is not None and kept.asset_sha256 == done.sha256
    assert kept.store.inline == _signed(recorded).manifest_store


def test_a_worker_killed_during_the_upload_delivered_nothing_so_the_retry_signs(settings, store, parts):
    object_store, bucket, signer, worker_pools, objects = parts
    job_id = _submit(store, f"s3://{bucket}/gen/in.jpg", f"s3://{bucket}/signed/up.jpg")

    dying = build_job_runtime(settings, store=store, objects=DiesDuringUpload(objects), worker_pools=worker_pools)
    with pytest.raises(WorkerDied):
        run_sign_job(dying, job_id, previous_attempts=0)
    first = _job(store, job_id).signed_output
    assert first is not None and signer.signatures == 1
    with pytest.raises(ObjectNotFound):
        object_store.stat(ObjectLocation(Scheme.S3, "signed/up.jpg", bucket))

    run_sign_job(
        build_job_runtime(settings, store=store, objects=objects, worker_pools=worker_pools),
        job_id,
        previous_attempts=1,
    )
    done = _job(store, job_id)
    assert done.status is JobStatus.SUCCEEDED and signer.signatures == 2
    delivered = _read(object_store, bucket, "signed/up.jpg")
    assert done.sha256 == hashlib.sha256(delivered).hexdigest() == _signed(done).output_sha256
    assert done.sha256 != first.output_sha256  # the first signature never left the dead worker
    entries = [e for e in store.entries(limit=10) if e.media_id == "resume-1"]
    assert len(entries) == 1 and entries[0].output_sha256 == done.sha256


def test_a_destination_replaced_since_the_recorded_signature_is_signed_again(settings, store, parts):
    object_store, bucket, signer, worker_pools, objects = parts
    job_id = _submit(store, f"s3://{bucket}/gen/in.jpg", f"s3://{bucket}/signed/re.jpg")
    with pytest.raises(WorkerDied):
        run_sign_job(
            build_job_runtime(settings, store=DiesOnCommit(store), objects=objects, worker_pools=worker_pools),
            job_id,
            previous_attempts=0,
        )
    object_store.put(ObjectLocation(Scheme.S3, "signed/re.jpg", bucket), io.BytesIO(b"someone else's bytes"))

    run_sign_job(
        build_job_runtime(settings, store=store, objects=objects, worker_pools=worker_pools),
        job_id,
        previous_attempts=1,
    )
    done = _job(store, job_id)
    assert done.status is JobStatus.SUCCEEDED and signer.signatures == 2
    assert hashlib.sha256(_read(object_store, bucket, "signed/re.jpg")).hexdigest() == done.sha256


class FailsOnCommit(DiesOnCommit):
    """The store of a worker whose database went away after the upload: the attempt fails (retried)."""

    def record_signature(self, **kwargs):
        raise RuntimeError("the database went away")


def test_a_job_failed_for_good_after_its_upload_takes_its_output_back_and_nothing_else(settings, store, parts):
    """Attempt 1 uploads its signed output and then fails (the database); the key is revoked before
    attempt 2, which is refused (key_revoked): the job is failed for good, and its output, never
    recorded, is deleted from the destination. A destination holding anything else is left alone."""
    object_store, bucket, _signer, worker_pools, objects = parts
    runtime = build_job_runtime(settings, store=store, objects=objects, worker_pools=worker_pools)
    failing = build_job_runtime(settings, store=FailsOnCommit(store), objects=objects, worker_pools=worker_pools)
    taken_back = _submit(store, f"s3://{bucket}/gen/in.jpg", f"s3://{bucket}/signed/back.jpg")
    replaced = _submit(store, f"s3://{bucket}/gen/in.jpg", f"s3://{bucket}/signed/other.jpg")
    for job_id in (taken_back, replaced):
        with pytest.raises(RuntimeError):
            run_sign_job(failing, job_id, previous_attempts=0)
        assert _job(store, job_id).status is JobStatus.QUEUED  # to be retried
        store.revoke(_job(store, job_id).key_id or "")
    assert (
        hashlib.sha256(_read(object_store, bucket, "signed/back.jpg")).hexdigest()
        == _signed(_job(store, taken_back)).output_sha256
    )
    object_store.put(ObjectLocation(Scheme.S3, "signed/other.jpg", bucket), io.BytesIO(b"someone else's bytes"))

    for job_id in (taken_back, replaced):
        run_sign_job(runtime, job_id, previous_attempts=1)
        done = _job(store, job_id)
        assert done.status is JobStatus.FAILED and done.error_code == "key_revoked", done
    with pytest.raises(ObjectNotFound):
        object_store.stat(ObjectLocation(Scheme.S3, "signed/back.jpg", bucket))
    assert _read(object_store, bucket, "signed/other.jpg") == b"someone else's bytes"
    assert [e for e in store.entries(limit=10) if e.media_id == "resume-1"] == []
