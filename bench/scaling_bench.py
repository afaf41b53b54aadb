"""Scaling benchmark: 1 then 2 `originmark worker` processes draining the same verify queue.

    python bench/scaling_bench.py [--jobs 200] [--workers 1,2] [--concurrency 2] [--size 2048]
                                  [--video-mb 50] [--video-jobs 8]      (about 75 s)

What it does, all on this machine (real components, no mocks):
  * moto's S3 server in a child process (tests/objects/s3_server.py), a fresh PostgreSQL schema
    `originmark_bench_<pid>_<image|video>_k<K>` per run in the local database (selected with search_path),
    dropped at the end;
  * N distinct 2048x2048 JPEGs (one photo-like image, each copy given its own JPEG comment so the
    bytes and SHA-256 differ), and (--video-mb, 0 for none) a few MP4s grown from tiny.mp4 with
    bench/large_video_bench.py's helper, each signed once with ContentSigner and uploaded to a
    fresh prefix per run;
  * `originmark batch verify s3://bucket/prefix/` submits one verify job per object (the same
    path as POST /v1/jobs/verify), then K `originmark worker --concurrency C` processes start
    and the bench polls the jobs table until every job succeeded;
  * prints jobs/s (from the first job started to the last job succeeded, from procrastinate's
    events; and from worker launch, which includes start-up), mean seconds per job, CPU per job
    of the worker process trees (engine processes included), of moto, of every postgres process
    and of this script's polling (/proc, from the first job started), the machine's busy cores
    (/proc/stat), every process's peak RSS (VmHWM), and, as reference in
    the same run, the raw engine's verify rate on one of the same files: c2pa Reader with the
    service's trust settings, one thread, in this process.

The machine has 2 cores shared by moto, PostgreSQL, the workers and this script: going from 1
to 2 workers here mostly shows what the 2 cores give, not how workers scale on separate nodes.
This script imports c2pa directly for the reference only (not product code).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pg_schema import PostgresSchema  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ORIGINMARK = [str(Path(sys.executable).parent / "originmark")]  # the console script of this virtualenv


def with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The same JPEG with a COM segment right after SOI: other bytes, same image."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + jpeg[2:]


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / ticks, total / ticks


def vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (verifier workers are started from threads, so scan parents)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        for child in parents.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the live processes listed."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        if (fields := _stat_fields(pid)) is not None:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def reference_verify_rate(signed: Path, ca_pem: str, seconds: float, mime: str = "image/jpeg") -> float:
    """Raw engine: Reader + json() + validation state with the service's trust settings, one thread."""
    import c2pa

    from verifier.trust import default_trust_policy

    policy = default_trust_policy(local_anchors_pem=ca_pem)
    context = c2pa.Context.from_dict(policy.engine_settings())
    data = signed.read_bytes()
    import io

    def once() -> str:
        reader = c2pa.Reader(mime, io.BytesIO(data), context=context)
        json.loads(reader.json())
        state = str(reader.get_validation_state())
        reader.close()
        return state

    state = once()
    if "trusted" not in state.lower():
        raise SystemExit(f"reference verify is not trusted: {state}")
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        once()
        count += 1
    return count / (time.perf_counter() - started)


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on the machine (other users' sessions too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(f"/proc/{entry.name}/comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run_once(
    args, env_base: dict, s3, bucket: str, signed: list[bytes], workers: int, *, kind: str, moto_pid: int
) -> dict:
    import sqlalchemy as sa

    client = s3.client()
    prefix = f"run-{kind}-k{workers}/"
    suffix, content_type = (".jpg", "image/jpeg") if kind == "image" else (".mp4", "video/mp4")
    for index, body in enumerate(signed):
        client.put_object(Bucket=bucket, Key=f"{prefix}obj-{index:05d}{suffix}", Body=body, ContentType=content_type)
    with PostgresSchema(args.pg_url, f"{kind}_k{workers}") as schema:
        env = {**env_base, "ORIGINMARK_DATABASE_URL": schema.url}
        submitted = subprocess.run(
            [*ORIGINMARK, "batch", "verify", f"s3://{bucket}/{prefix}", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if submitted.returncode != 0:
            raise SystemExit(f"batch verify failed: {submitted.stderr[-2000:]}")
        db_engine = sa.create_engine(schema.url)
        try:
            with db_engine.connect() as connection:
                queued = connection.execute(sa.text("SELECT count(*) FROM originmark_jobs")).scalar_one()
            if queued != len(signed):
                raise SystemExit(f"expected {len(signed)} jobs, found {queued}")
            rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            busy_before, total_before = machine_cpu_seconds()
            launched = time.perf_counter()
            processes = [
                subprocess.Popen(
                    [*ORIGINMARK, "worker", "--concurrency", str(args.concurrency)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for _ in range(workers)
            ]
            peak_rss: dict[int, float] = {}
            cpu_at_first_start = None
            deadline = time.monotonic() + args.timeout
            while True:
                tree = [pid for process in processes for pid in [process.pid, *descendants(process.pid)]]
                for pid in tree:
                    value = vm_hwm_mb(pid)
                    if value is not None:
                        peak_rss[pid] = max(peak_rss.get(pid, 0.0), value)
                with db_engine.connect() as connection:
                    counts: dict[str, int] = dict(
                        connection.execute(
                            sa.text("SELECT status, count(*) FROM originmark_jobs GROUP BY status")
                        ).all()
                    )
                if cpu_at_first_start is None and counts.get("queued", 0) < queued:
                    cpu_at_first_start = tree_cpu_seconds(tree)  # start-up done: the jobs' CPU from here
                    others_at_first_start = tree_cpu_seconds([moto_pid]), tree_cpu_seconds(postgres_pids())
                    self_at_first_start = time.process_time()
                    busy_first, _total_first, first_seen = *machine_cpu_seconds(), time.perf_counter()
                if counts.get("succeeded", 0) + counts.get("failed", 0) >= queued:
                    break
                if any(p.poll() is not None for p in processes):
                    stderr = processes[0].stderr.read()[-2000:] if processes[0].stderr else b""  # bytes: no text=True
                    raise SystemExit(f"a worker exited: {stderr.decode(errors='replace')}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out: {counts}")
                time.sleep(0.1)
            drained = time.perf_counter() - launched
            busy_after, total_after = machine_cpu_seconds()
            jobs_cpu = tree_cpu_seconds(tree) - (cpu_at_first_start or 0.0)
            moto_cpu = tree_cpu_seconds([moto_pid]) - others_at_first_start[0]
            postgres_cpu = tree_cpu_seconds(postgres_pids()) - others_at_first_start[1]
            self_cpu = time.process_time() - self_at_first_start
            steady_busy = (busy_after - busy_first) / max(time.perf_counter() - first_seen, 1e-6)
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            rusage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            with db_engine.connect() as connection:
                first, last = connection.execute(
                    sa.text(
                        "SELECT min(at) FILTER (WHERE type = 'started'), max(at) FILTER (WHERE type = 'succeeded') "
                        "FROM procrastinate_events"
                    )
                ).one()
                latency = connection.execute(
                    sa.text(
                        "SELECT avg(extract(epoch FROM d.at - s.at)) FROM procrastinate_events s "
                        "JOIN procrastinate_events d ON d.job_id = s.job_id AND d.type = 'succeeded' "
                        "WHERE s.type = 'started'"
                    )
                ).scalar_one()
                failed = counts.get("failed", 0)
                states: dict[str, int] = (
                    dict(
                        connection.execute(
                            sa.text(
                                "SELECT v.state, count(*) FROM originmark_jobs j JOIN verdicts v ON v.sha256 = j.sha256 "
                                "GROUP BY v.state"
                            )
                        ).all()
                    )
                    if _has_table(connection, "verdicts")
                    else {}
                )
        finally:
            db_engine.dispose()
    window = (last - first).total_seconds()
    worker_cpu = (rusage_after.ru_utime - rusage_before.ru_utime) + (rusage_after.ru_stime - rusage_before.ru_stime)
    machine_busy = busy_after - busy_before
    machine_total = total_after - total_before
    return {
        "kind": kind,
        "object_mb": len(signed[0]) / 1e6,
        "workers": workers,
        "jobs": queued,
        "moto_cpu_per_job_ms": 1000 * moto_cpu / queued,
        "postgres_cpu_per_job_ms": 1000 * postgres_cpu / queued,
        "bench_poll_cpu_per_job_ms": 1000 * self_cpu / queued,
        "failed": failed,
        "states": states,
        "window_s": window,
        "mean_job_latency_s": float(latency),
        "jobs_per_s": queued / window,
        "from_launch_s": drained,
        "jobs_per_s_from_launch": queued / drained,
        "worker_cpu_s_with_startup": worker_cpu,
        "jobs_cpu_s": jobs_cpu,
        "cpu_per_job_ms": 1000 * jobs_cpu / queued,
        "steady_busy_cores": steady_busy,
        "machine_busy_cores_from_launch": machine_busy / drained,
        "machine_cores": machine_total / drained,
        "peak_rss_mb": sorted(peak_rss.values(), reverse=True),
    }


def _has_table(connection, name: str) -> bool:
    import sqlalchemy as sa

    return name in sa.inspect(connection).get_table_names()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200, help="verify jobs per run (distinct objects)")
    parser.add_argument("--workers", default="1,2", help="worker process counts to run, comma-separated")
    parser.add_argument("--concurrency", type=int, default=2, help="`originmark worker --concurrency`")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument(
        "--video-mb", type=float, default=50.0, help="also a video run with MP4s of this size (0: none)"
    )
    parser.add_argument("--video-jobs", type=int, default=8, help="distinct videos per video run")
    parser.add_argument("--reference-seconds", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="per run")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()

    from bench.sign_bench import make_photo_like_jpeg
    from keys.devca import create_development_credentials
    from keys.loader import load_signing_key
    from signer.engine import ContentSigner, SignerOptions
    from signer.manifest import GenerationRequest
    from tests.objects.s3_server import AWS_TEST_ENVIRONMENT, AWS_VARIABLES_TO_CLEAR, REGION, moto_s3_server

    for name in AWS_VARIABLES_TO_CLEAR:
        os.environ.pop(name, None)
    os.environ.update(AWS_TEST_ENVIRONMENT)  # throw-away credentials for moto, never real ones
    counts = [int(value) for value in args.workers.split(",")]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scaling-bench-") as scratch:
        work = Path(scratch)
        credentials = create_development_credentials(work / "keys")
        assert credentials.key_path is not None, "create_development_credentials writes the key file"
        signing_key = load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path)
        signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
        request = GenerationRequest(generator_name="Bench Diffusion", generator_version="1.0")
        base = work / "base.jpg"
        make_photo_like_jpeg(base, args.size)
        base_bytes = base.read_bytes()
        signed: list[bytes] = []
        source, destination = work / "source.jpg", work / "signed.jpg"
        for index in range(args.jobs):
            source.write_bytes(with_comment(base_bytes, f"scaling bench {index}".encode()))
            signer.sign_file(source=source, destination=destination, request=request)
            signed.append(destination.read_bytes())
        videos: list[bytes] = []
        if args.video_mb > 0:
            from bench.large_video_bench import make_large_mp4

            for _ in range(args.video_jobs):  # make_large_mp4 fills with random bytes: distinct files
                make_large_mp4(work / "video.mp4", int(args.video_mb * 1024 * 1024))
                signer.sign_file(source=work / "video.mp4", destination=work / "video-signed.mp4", request=request)
                videos.append((work / "video-signed.mp4").read_bytes())
        (work / "spool").mkdir()
        (work / "objects").mkdir()
        busy0, _ = machine_cpu_seconds()
        time.sleep(2)
        background = (machine_cpu_seconds()[0] - busy0) / 2
        reference = reference_verify_rate(destination, (work / "keys" / "ca.pem").read_text(), args.reference_seconds)
        print(
            f"machine: {os.cpu_count()} cores shared by moto (S3), PostgreSQL, the workers and this script; "
            f"background load before the bench {background:.2f} cores busy; {args.jobs} distinct signed {args.size}x{args.size} JPEGs of {len(signed[0]) / 1e6:.1f} MB"
        )
        print(
            f"reference, raw engine verify (Reader + json + state, service trust settings, 1 thread, same "
            f"file, same run): {reference:.1f} files/s = {1000 / reference:.1f} ms per file"
        )
        video_reference = None
        if videos:
            (work / "video-ref.mp4").write_bytes(videos[0])
            video_reference = reference_verify_rate(
                work / "video-ref.mp4", (work / "keys" / "ca.pem").read_text(), args.reference_seconds, "video/mp4"
            )
            print(
                f"reference, raw engine verify of one {len(videos[0]) / 1e6:.1f} MB MP4 (same settings, 1 thread, "
                f"same run): {video_reference:.2f} files/s = {1000 / video_reference:.0f} ms per file"
            )
        results = []
        with moto_s3_server(work / "moto.log") as server:
            s3 = server.store()
            bucket = server.new_bucket(s3)
            env = {
                **{k: v for k, v in os.environ.items() if k not in AWS_VARIABLES_TO_CLEAR},
                "ORIGINMARK_KEYS_DIR": str(work / "keys"),
                "ORIGINMARK_SPOOL_DIR": str(work / "spool"),
                "ORIGINMARK_OBJECTS_DIR": str(work / "objects"),
                "ORIGINMARK_S3_ENDPOINT_URL": server.endpoint_url,
                "ORIGINMARK_S3_REGION": REGION,
                "ORIGINMARK_S3_ADDRESSING_STYLE": "path",
                "ORIGINMARK_LOG_LEVEL": "warning",
                "PYTHONPATH": str(ROOT),
            }
            runs = [("image", signed)] + ([("video", videos)] if videos else [])
            for kind, objects in runs:
                for workers in counts:
                    result = run_once(args, env, s3, bucket, objects, workers, kind=kind, moto_pid=server.process.pid)
                    results.append(result)
                    print(json.dumps(result, default=str), file=sys.stderr)
        print()
        print(
            f"| media | workers x concurrency | jobs | jobs/s (first start to last done) | mean s per job (start to done) | jobs/s from launch "
            f"| worker CPU per job (after start-up) | machine busy cores while draining (of {os.cpu_count()}) | moto / PostgreSQL / this script's polling CPU per job | peak RSS per process (MiB) | verdicts |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in results:
            rss = ", ".join(f"{v:.0f}" for v in r["peak_rss_mb"])
            print(
                f"| {r['kind']} {r['object_mb']:.1f} MB | {r['workers']} x {args.concurrency} | {r['jobs']} ({r['failed']} failed) | {r['jobs_per_s']:.1f} "
                f"| {r['mean_job_latency_s']:.3f} | {r['jobs_per_s_from_launch']:.1f} | {r['cpu_per_job_ms']:.1f} ms "
                f"| {r['steady_busy_cores']:.2f} | {r['moto_cpu_per_job_ms']:.0f} / {r['postgres_cpu_per_job_ms']:.0f} / "
                f"{r['bench_poll_cpu_per_job_ms']:.0f} ms "
                f"| {rss} | {r['states']} |"
            )
        for kind in ("image", "video"):
            rows = [r for r in results if r["kind"] == kind]
            if len(rows) >= 2:
                print(
                    f"{kind}: {rows[-1]['workers']} workers / {rows[0]['workers']} worker: x"
                    f"{rows[-1]['jobs_per_s'] / rows[0]['jobs_per_s']:.2f} (the same 2 cores: not a scaling figure)"
                )
        print(f"raw engine reference (images): {reference:.1f} files/s on one core")
        print(f"total bench time: {time.perf_counter() - started:.0f} s")
    return 0 if all(r["failed"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
