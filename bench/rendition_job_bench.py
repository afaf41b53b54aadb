"""What a video rendition job costs beside a plain sign job of the same file, and the raw engine.

    python bench/rendition_job_bench.py [--rounds 10] [--size 640x360] [--scenes 8]

In this process, on SQLite, with local objects: a job worker's path (app/jobs/tasks.py), as
`originmark worker` or the embedded pool runs it: the object copied to the spool, the checks,
signing in the signer's worker process, the output written to the destination and verified back
from there, recorded. A synthetic video (tests/videos.py, H.264) is signed by a sign job as the
original; a platform's transcode of the signed video (MPEG-4 Part 2, half the size, its metadata
dropped) is the rendition. Each round runs, interleaved so machine noise hits all equally: a
rendition job of it (the original's kept store re-validated, the rendition read by the verifier,
signed with the store as its parentOf ingredient, label kind checked), a sign job of the same file
(new AI output) and the raw engine signing the file (a Builder with one created action, no
ingredient, no fingerprint, no read-back). Prints medians in milliseconds.

Imports c2pa (through bench.raw_engine) directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root: bench.*, tests.*

from app.jobs import records
from app.jobs.records import JobKind, JobStatus, RenditionParams
from app.jobs.runtime import JobRuntime
from app.jobs.tasks import run_rendition_job, run_sign_job
from app.settings import Settings
from app.store.interface import Scope
from app.store.migrate import upgrade_database
from app.wiring import build_job_runtime, build_worker_pools, open_service_store
from bench.raw_engine import RawEngineSigner
from keys.devca import create_development_credentials
from tests.videos import reencode, write_scenes_video

SIGN_PARAMS = {"generator": "bench", "generator_version": None, "digital_source_type": None, "title": None}


def _run(runtime: JobRuntime, kind: JobKind, *, source: Path, destination: Path, media_id: str, key_id: str,
         params: dict) -> float:  # fmt: skip
    """One job submitted (no queue) and run once, as a worker runs it; its milliseconds."""
    submitted = records.submit(
        runtime.store.db_engine,
        tenant="default",
        kind=kind,
        source=source.as_uri(),
        media_id=media_id,
        key=f"{kind.value}-{media_id}",
        enqueue=lambda _connection, _job_id: None,
        destination=destination.as_uri(),
        params=params,
        key_id=key_id,
    )
    runner = run_rendition_job if kind is JobKind.RENDITION else run_sign_job
    started = time.perf_counter()
    runner(runtime, submitted.job.id, previous_attempts=0)
    elapsed = (time.perf_counter() - started) * 1000
    done = records.get(runtime.store.db_engine, submitted.job.id)
    if done is None or done.status is not JobStatus.SUCCEEDED:
        raise SystemExit(f"{kind.value} job {media_id} did not succeed: {done}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--size", default="640x360", help="the original's size (the rendition is half of it)")
    parser.add_argument("--scenes", type=int, default=8, help="scenes of 10 frames at 10 fps")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))

    with tempfile.TemporaryDirectory() as name:
        work = Path(name)
        objects = work / "objects"
        (objects / "in").mkdir(parents=True)
        (work / "spool").mkdir()
        credentials = create_development_credentials(work / "keys")
        settings = Settings(
            keys_dir=credentials.directory,
            database_url=f"sqlite:///{work}/bench.db",
            spool_dir=work / "spool",
            objects_dir=objects,
            sign_concurrency=1,
            verify_workers=1,
        )
        upgrade_database(settings.database_url)
        store = open_service_store(settings)
        pools = build_worker_pools(settings)
        try:
            runtime = build_job_runtime(settings, store=store, worker_pools=pools)
            tenant = store.tenant("default")
            assert tenant is not None
            store.set_object_prefixes("default", [*tenant.object_prefixes, objects.as_uri() + "/"])
            key_id = store.create_key(name="bench", scopes=frozenset({Scope.SIGN}))[0].key_id

            seeds = tuple(range(11, 11 + args.scenes))
            original = write_scenes_video(objects / "in" / "original.mp4", seeds=seeds, size=(width, height))
            signed = objects / "signed-original.mp4"
            _run(runtime, JobKind.SIGN, source=original, destination=signed, media_id="original", key_id=key_id,
                 params=SIGN_PARAMS)  # fmt: skip
            rendition = reencode(signed, objects / "in" / "rendition.mp4", size=(width // 2, height // 2))
            params = RenditionParams(
                source_media_id="original", source_sha256=None, actions=("c2pa.transcoded", "c2pa.resized.proportional")
            ).to_json()
            raw_engine = RawEngineSigner(credentials)
            times: dict[str, list[float]] = {"rendition job": [], "sign job": [], "raw engine": []}
            for number in range(args.rounds):
                times["rendition job"].append(
                    _run(
                        runtime,
                        JobKind.RENDITION,
                        source=rendition,
                        destination=objects / f"r-{number}.mp4",
                        media_id=f"r-{number}",
                        key_id=key_id,
                        params=params,
                    )  # fmt: skip
                )
                times["sign job"].append(
                    _run(
                        runtime,
                        JobKind.SIGN,
                        source=rendition,
                        destination=objects / f"s-{number}.mp4",
                        media_id=f"s-{number}",
                        key_id=key_id,
                        params=SIGN_PARAMS,
                    )  # fmt: skip
                )
                started = time.perf_counter()
                with rendition.open("rb") as source:
                    raw_engine.sign(source, "video/mp4")
                times["raw engine"].append((time.perf_counter() - started) * 1000)
        finally:
            pools.close()
            store.close()
        size = rendition.stat().st_size
        medians = ", ".join(f"{kind} {statistics.median(values):.1f} ms" for kind, values in times.items())
        print(
            f"a {size // 1024} KB MP4 rendition ({width // 2}x{height // 2}, {args.scenes * 10} frames): {medians} "
            f"(medians of {args.rounds})"
        )


if __name__ == "__main__":
    main()
