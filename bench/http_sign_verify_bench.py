"""Sign and verify through HTTP against the raw engine, same settings, same cores, same run.

    python bench/http_sign_verify_bench.py [--server-cores N] [--seconds 15] [--concurrency N]
                                          [--workers N] [--sign-concurrency N] [--verify-workers N]
                                          [--env ORIGINMARK_X=V] [--loadgen auto|wrk|python] [--keep]

Targets (issue 16), each HTTP figure with a raw-body upload (the JPEG as the request body), against
its floor — the least any such service must do on the same CPUs, computed in the same run:
- HTTP verify (`refresh=true`) >= 0.8 x floor_verify = raw verify + SHA-256 of the upload;
- HTTP sign >= 0.8 x floor_sign = raw sign + raw verify of the output + SHA-256 of input and output;
- an answer from the store at least 3x faster than 9 ms (the issue's figure): <= 3.0 ms per answer.
Printed for context: issue 3's ratio against the raw engine alone (target 0.85, not reachable while
the service also hashes and verifies what it signs), every load in both upload forms
(multipart and raw body) side by side, and HTTP sign against a second floor, "floor with the
required soft binding": issue 16's sign floor (written before issue 14 was resolved) plus the
ISCC Image-Code that issue 14 requires in every signed image, made with the plain libraries
(Pillow decoding the JPEG at the service's reduced scale, iscc-core's `gen_image_code_v0`; no
originmark code), measured in the same run. The issue's floor and its PASS/FAIL line are unchanged.

Layout, all in one run on one scratch folder (temporary SQLite database, development keys):
- CPUs: the machine's CPUs are split: the first `--server-cores` (default: half of them) run
  the server (`--workers`, default one per server CPU) and, while it idles, the raw-engine
  reference; the others run the load generator, so that it takes no CPU from what is
  measured. `--server-cores 0` pins nothing (server, load generator and reference share
  every CPU).
- Raw-engine reference, in child processes pinned to the server's CPUs, over the same file:
  * sign: c2pa `Builder(manifest, context)` + `Signer.from_info` (ES256, the same development
    key and chain), with the Context the service signs with (`signer.engine_settings
    .signing_settings`: thumbnails off, verify-after-sign off, the same EKU trust_config),
    file to file; the same manifest definition originmark builds.
  * verify: c2pa `Reader(mime, stream, context)` + `json()` + the validation state, with the
    Context of the service's trust policy (`TrustPolicy.engine_settings()`: the same trust
    lists, EKUs, no remote fetches), on the file the service signed.
  Each runs as N threads in one process and as N processes of one thread (N = server
  cores); the faster of the two is the reference, measured before and after the HTTP loads
  (the mean counts; both are printed). Printed for context, not compared: the same loops
  through originmark's own in-process classes (ContentSigner, Verifier), and a "floor": the
  raw engine plus the SHA-256 hashing any such service must do per request (verify: the
  upload, the stored verdict's key; sign: the input for the audit log and the output for its
  verdict), from hashlib's rate on the same file and CPUs. No HTTP service that stores what
  the issue asks for can beat the floor on these cores. `plain_fingerprint` (the plain-library
  soft binding above) runs the same way; with it the second floor.
- Server: `originmark serve` in its own process (see bench/http_harness.py), pinned.
- Load: bench/http_loadgen.py in another process (wrk when installed, else Python), pinned
  to the other CPUs, `--concurrency` keep-alive connections (default 2 per server CPU: more
  only lengthens the queue), one prepared request per load, in each upload form (`--forms`):
  multipart (`file` and the text fields) and raw body (the JPEG as the body, Content-Type
  image/jpeg, the fields as query parameters):
  * POST /v1/sign: the JPEG, `generator`, `generator_version`; every answer is a new
    signed file (a new manifest), so every request signs, verifies its output and stores it.
  * POST /v1/verify?refresh=true: the same signed file each time; `refresh=true` makes every
    request a fresh verification (none is answered from the store).
  * POST /v1/verify without refresh: the same bytes are answered from the store — upload,
    hashing and one lookup, i.e. the HTTP path's own cost.
CPU use of the server's process tree and of the load generator is printed for each load, and the
server's CPU milliseconds per request (robust to a busy machine, where req/s is not).

What the service does per sign request beyond the raw engine's signing: receiving and
hashing the upload, sniffing its type, verifying the signed output in an isolated worker
process (so the stored verdict is exactly what /v1/verify says), one committed database
transaction (audit entry + verdict), and streaming the output back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.*

from bench.http_harness import PROJECT, ServerConfig, ServerUnderTest, print_table, split_cpus
from bench.http_loadgen import LoadSpec, MeasuredLoad, choose_loadgen, run_in_process

ENGINE_RATIO = 0.85  # issue 3: HTTP against the raw engine alone (context)
FLOOR_RATIO = 0.8  # issue 16: HTTP (raw body) against the floor of the same path
STORED_TARGET_MS = 3.0  # issue 16: an answer from the store at least 3x faster than 9 ms
FORMS = ("multipart", "raw")
# The reference fingerprint's decode scale: the service's JPEG decode for its soft binding stops at
# the DCT scale (down to 1/8) that keeps both sides at least this long (verifier/fingerprint.py).
PLAIN_DECODE_EDGE = 256
GENERATOR = "Bench Diffusion"
GENERATOR_VERSION = "1.0"


# --- the raw-engine reference (runs in child processes) ---


def _reference_worker(operation: str, workdir: Path, threads: int, seconds: float) -> dict:
    """Loop `operation` in `threads` threads for `seconds`; returns {"count", "seconds", "cpu_seconds"}
    (the process's CPU time over the loop: robust to a busy machine, where the rate is not)."""
    import c2pa

    from keys.loader import load_signing_key
    from signer.engine import ContentSigner, SignerOptions
    from signer.engine_settings import signing_settings
    from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version
    from signer.self_check import chain_anchor_pem
    from verifier.reader import Verifier
    from verifier.trust import default_trust_policy

    keys = workdir / "keys"
    source, signed = workdir / "input.jpg", workdir / "signed.jpg"
    request = GenerationRequest(generator_name=GENERATOR, generator_version=GENERATOR_VERSION)
    chain_pem = (keys / "chain.pem").read_bytes()
    policy = default_trust_policy(local_anchors_pem=(keys / "ca.pem").read_text())

    def sha256_of(path: Path) -> str:
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()

    if operation == "raw_sign":
        anchor_pem, anchor_is_issuer = chain_anchor_pem(chain_pem.decode("ascii"))
        context = c2pa.Context.from_dict(
            signing_settings(thumbnails=False, local_anchors_pem=anchor_pem if anchor_is_issuer else None)
        )
        engine_signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain_pem, (keys / "key.pem").read_bytes(), None)
        )
        manifest = build_manifest_definition(
            request, default_title="input.jpg", originmark_version=originmark_version()
        )

        def make_step(slot: int):
            destination = workdir / f"raw-{os.getpid()}-{slot}.jpg"

            def step() -> None:
                builder = c2pa.Builder(manifest, context=context)
                with source.open("rb") as src, destination.open("w+b") as dst:
                    builder.sign(engine_signer, "image/jpeg", src, dst)

            return step

    elif operation == "sha256":
        # Hashing the input alone: a service must hash what it stores (the verdict's key, the
        # audit log's input and output hashes) on top of what the engine does.
        def make_step(slot: int):
            return lambda: sha256_of(source)

    elif operation == "plain_fingerprint":
        # The soft binding every signed image must carry (issue 14: the ISCC Image-Code in a
        # c2pa.soft-binding assertion), computed with the plain libraries only, none of originmark's
        # code: Pillow decodes the JPEG at the reduced scale the service decodes at (its codec's
        # draft mode, down to 1/8 while both sides stay >= PLAIN_DECODE_EDGE), to grayscale, 32x32
        # bicubic, and iscc-core makes the 256-bit Image-Code the service writes. No border trim, no
        # index views, no descriptor: those are the service's own choices, left in its share.
        import iscc_core
        from PIL import Image

        def make_step(slot: int):
            def step() -> None:
                with Image.open(source) as image:
                    image.draft("RGB", (PLAIN_DECODE_EDGE, PLAIN_DECODE_EDGE))
                    gray = image.convert("L")
                pixels = list(gray.resize((32, 32), Image.Resampling.BICUBIC).tobytes())
                iscc_core.gen_image_code_v0(pixels, bits=256)

            return step

    elif operation == "ours_sign":
        ours = ContentSigner(
            signing_key=load_signing_key(chain_path=keys / "chain.pem", key_path=keys / "key.pem"),
            options=SignerOptions(),
        )

        def make_step(slot: int):
            destination = workdir / f"ours-{os.getpid()}-{slot}.jpg"
            return lambda: ours.sign_file(source=source, destination=destination, request=request)

    elif operation == "raw_verify":
        context = c2pa.Context.from_dict(policy.engine_settings())

        def make_step(slot: int):
            def step() -> None:
                with signed.open("rb") as stream:
                    reader = c2pa.Reader("image/jpeg", stream, context=context)
                    reader.json()
                    reader.get_validation_state()
                    reader.close()

            return step

    elif operation == "ours_verify":
        verifier = Verifier(policy=policy)

        def make_step(slot: int):
            return lambda: verifier.verify_file(signed)

    else:
        raise SystemExit(f"unknown operation {operation}")

    steps = [make_step(slot) for slot in range(threads)]
    for step in steps:
        step()  # warm: page cache, engine initialisation
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    deadline: list[float] = []

    def loop(slot: int) -> None:
        step, done = steps[slot], 0
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            step()
            done += 1
        counts[slot] = done

    workers = [threading.Thread(target=loop, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline.append(started + seconds)
    barrier.wait()
    for worker in workers:
        worker.join()
    return {
        "count": sum(counts),
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
    }


def reference_rate(
    operation: str, workdir: Path, *, processes: int, threads: int, seconds: float, cpus: set[int] | None
) -> tuple[float, float]:
    """(operations per second, CPU milliseconds per operation) of `processes` child processes x
    `threads` threads, run at the same time."""
    command = [sys.executable, __file__, "--reference-worker", operation, str(workdir), str(threads), str(seconds)]
    children = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        for _ in range(processes)
    ]
    results = []
    for child in children:
        output, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"the reference worker failed ({operation}): {output[-2000:]}")
        results.append(json.loads(output.strip().splitlines()[-1]))
    rate = sum(result["count"] / result["seconds"] for result in results)
    count = sum(result["count"] for result in results)
    return rate, 1000 * sum(result["cpu_seconds"] for result in results) / count if count else 0.0


REFERENCE_OPERATIONS = ("raw_sign", "ours_sign", "raw_verify", "ours_verify", "sha256", "plain_fingerprint")


@dataclass(frozen=True, kw_only=True)
class Reference:
    """One reference operation: operations/s measured before and after the HTTP loads."""

    shape: tuple[int, int]  # (processes, threads)
    before: float
    after: float
    cpu_ms: float = 0.0  # CPU milliseconds per operation, mean of before and after

    @property
    def rate(self) -> float:
        return (self.before + self.after) / 2

    @property
    def describe(self) -> str:
        return f"{self.shape[0]} proc x {self.shape[1]} thr"


def measure_references(
    workdir: Path,
    *,
    cores: int,
    seconds: float,
    cpus: set[int] | None,
    shapes: dict[str, tuple[int, int]] | None = None,
) -> dict[str, tuple[tuple[int, int], float, float]]:
    """Each operation's (shape, rate, CPU ms per operation), in its fastest shape (N threads or N
    processes) unless `shapes` fixes it."""
    measured = {}
    for operation in REFERENCE_OPERATIONS:
        candidates = [shapes[operation]] if shapes else ([(1, cores)] if cores == 1 else [(1, cores), (cores, 1)])
        measured[operation] = max(
            (
                (
                    shape,
                    *reference_rate(
                        operation, workdir, processes=shape[0], threads=shape[1], seconds=seconds, cpus=cpus
                    ),
                )
                for shape in candidates
            ),
            key=lambda triple: triple[1],
        )
    return measured


# --- set-up ---


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = f"originmark-bench-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, mime) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {mime}\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def prepare(workdir: Path, size: int) -> tuple[str, str]:
    """Keys, database, an API key with sign + verify scopes, the input JPEG; returns (db url, token)."""
    from app.store.interface import Scope
    from app.store.migrate import upgrade_database
    from app.store.sql import open_store
    from bench.sign_bench import make_photo_like_jpeg
    from keys.devca import create_development_credentials

    create_development_credentials(workdir / "keys")
    database_url = f"sqlite:///{workdir / 'originmark.db'}"
    upgrade_database(database_url)
    with open_store(database_url, pool_size=1) as store:
        _, token = store.create_key(name="http bench", scopes=frozenset({Scope.SIGN, Scope.VERIFY}))
    make_photo_like_jpeg(workdir / "input.jpg", size)
    return database_url, token


def raw_sign_params() -> dict[str, str]:
    return {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "filename": "input.jpg"}


def check_service(server: ServerUnderTest, token: str, workdir: Path) -> None:
    """One real sign and one verify through HTTP before the load: right answers, not just speed."""
    import hashlib

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        signed = client.post(
            "/v1/sign",
            files={"file": ("input.jpg", (workdir / "input.jpg").read_bytes(), "image/jpeg")},
            data={"generator": GENERATOR, "generator_version": GENERATOR_VERSION},
        )
        if signed.status_code != 200:
            raise SystemExit(f"POST /v1/sign answered {signed.status_code}: {signed.text[:500]}")
        if hashlib.sha256(signed.content).hexdigest() != signed.headers["x-content-sha256"]:
            raise SystemExit("POST /v1/sign: X-Content-SHA256 does not match the body")
        (workdir / "signed.jpg").write_bytes(signed.content)
        verified = client.post(
            "/v1/verify",
            params={"refresh": "true"},
            files={"file": ("signed.jpg", signed.content, "image/jpeg")},
        )
        body = verified.json()
        if verified.status_code != 200 or body["verdict"]["state"] != "trusted" or body["cached"]:
            raise SystemExit(f"POST /v1/verify?refresh=true answered {verified.status_code}: {verified.text[:500]}")
        # The raw-body form: the same answers.
        raw_signed = client.post(
            "/v1/sign",
            params=raw_sign_params(),
            content=(workdir / "input.jpg").read_bytes(),
            headers={"Content-Type": "image/jpeg"},
        )
        if (
            raw_signed.status_code != 200
            or hashlib.sha256(raw_signed.content).hexdigest() != raw_signed.headers["x-content-sha256"]
        ):
            raise SystemExit(f"raw-body POST /v1/sign answered {raw_signed.status_code}: {raw_signed.text[:500]}")
        raw_verified = client.post(
            "/v1/verify", params={"refresh": "true"}, content=signed.content, headers={"Content-Type": "image/jpeg"}
        )
        if raw_verified.status_code != 200 or raw_verified.json()["verdict"] != body["verdict"]:
            raise SystemExit(f"raw-body POST /v1/verify answered {raw_verified.status_code}: {raw_verified.text[:500]}")


LOAD_NAMES = ("sign", "verify", "stored")
LOAD_LABELS = {"sign": "POST /v1/sign", "verify": "POST /v1/verify?refresh=true", "stored": "POST /v1/verify (stored)"}


def run_load(
    server: ServerUnderTest,
    *,
    path: str,
    body: Path,
    content_type: str,
    token: str,
    concurrency: int,
    seconds: float,
    loadgen: str,
    cpus: set[int] | None,
) -> tuple[MeasuredLoad, float, float]:
    """(load result, server CPU seconds over the run, its wall seconds)."""
    spec = LoadSpec(
        base_url=server.base_url,
        shape="fixed",
        method="POST",
        path=path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        body_file=str(body),
        concurrency=concurrency,
        duration=seconds,
        warmup=2.0,
        loadgen=loadgen,
        threads=len(cpus) if cpus else 1,
    )
    cpu_before = server.cpu_seconds()
    measured = run_in_process(spec, cpus=cpus)
    return measured, server.cpu_seconds() - cpu_before, measured.wall_seconds


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--reference-worker":
        operation, workdir, threads, seconds = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        print(json.dumps(_reference_worker(operation, workdir, threads, seconds)))
        return 0

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cpu_count = len(os.sched_getaffinity(0))
    parser.add_argument(
        "--server-cores",
        type=int,
        default=max(1, cpu_count // 2) if cpu_count > 1 else 0,
        help="CPUs for the server and the reference (the rest run the load); 0 = no pinning",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per load (after 2 s warm-up)")
    parser.add_argument("--reference-seconds", type=float, default=3.0, help="per reference operation and pass")
    parser.add_argument("--concurrency", type=int, default=None, help="connections (default: 2 x server cores)")
    parser.add_argument("--workers", type=int, default=None, help="uvicorn workers (default: server cores)")
    parser.add_argument(
        "--sign-concurrency",
        "--engine-threads",
        type=int,
        default=None,
        help="ORIGINMARK_SIGN_CONCURRENCY (--engine-threads: its deprecated older name)",
    )
    parser.add_argument("--verify-workers", type=int, default=None, help="ORIGINMARK_VERIFY_WORKERS")
    parser.add_argument("--log-level", default="info", help="ORIGINMARK_LOG_LEVEL (info: the shipped default)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="ORIGINMARK_X=VALUE",
        help="extra server setting, repeatable (e.g. ORIGINMARK_SPOOL_DIR=/dev/shm)",
    )
    parser.add_argument(
        "--loadgen",
        "--engine",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (--engine: its deprecated older name)",
    )
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument(
        "--loads",
        default=",".join(LOAD_NAMES),
        help="loads to run, comma-separated: sign, verify, stored (targets need all three)",
    )
    parser.add_argument(
        "--forms",
        default=",".join(FORMS),
        help="upload forms to load, comma-separated: multipart, raw (the targets use raw)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (server log, database)")
    args = parser.parse_args()

    forms = tuple(form for form in FORMS if form in args.forms.split(","))
    if not forms:
        raise SystemExit(f"--forms: choose from {', '.join(FORMS)}")
    load_names = tuple(name for name in LOAD_NAMES if name in args.loads.split(","))
    if not load_names:
        raise SystemExit(f"--loads: choose from {', '.join(LOAD_NAMES)}")
    load_at_start = " ".join(f"{value:.2f}" for value in os.getloadavg())
    server_cpus, load_cpus = split_cpus(args.server_cores)
    cores = len(server_cpus) if server_cpus else cpu_count
    concurrency = args.concurrency or 2 * cores
    config = ServerConfig(
        workers=args.workers or cores,
        sign_concurrency=args.sign_concurrency,
        verify_workers=args.verify_workers,
        log_level=args.log_level,
        extra_env=tuple(tuple(setting.split("=", 1)) for setting in args.env),
    )
    loadgen = choose_loadgen(args.loadgen)

    scratch = Path(tempfile.mkdtemp(prefix="originmark-http-bench-"))
    try:
        database_url, token = prepare(scratch, args.size)
        input_size = (scratch / "input.jpg").stat().st_size

        with ServerUnderTest(config=config, database_url=database_url, data_dir=scratch, cpus=server_cpus) as server:
            check_service(server, token, scratch)
            input_bytes, signed_bytes = (scratch / "input.jpg").read_bytes(), (scratch / "signed.jpg").read_bytes()
            sign_body, sign_type = multipart(
                {"generator": GENERATOR, "generator_version": GENERATOR_VERSION},
                {"file": ("input.jpg", input_bytes, "image/jpeg")},
            )
            verify_body, verify_type = multipart({}, {"file": ("signed.jpg", signed_bytes, "image/jpeg")})
            (scratch / "sign.body").write_bytes(sign_body)
            (scratch / "verify.body").write_bytes(verify_body)
            sign_query = urlencode(raw_sign_params())
            # (load name, path, body file, Content-Type) per form: raw bodies are the files themselves.
            requests = {
                "multipart": {
                    "sign": ("/v1/sign", "sign.body", sign_type),
                    "verify": ("/v1/verify?refresh=true", "verify.body", verify_type),
                    "stored": ("/v1/verify", "verify.body", verify_type),
                },
                "raw": {
                    "sign": (f"/v1/sign?{sign_query}", "input.jpg", "image/jpeg"),
                    "verify": ("/v1/verify?refresh=true", "signed.jpg", "image/jpeg"),
                    "stored": ("/v1/verify", "signed.jpg", "image/jpeg"),
                },
            }
            server_processes = server.process_count()

            # The reference runs while the server idles (an idle server costs no CPU), before and
            # after the loads, so that a noisy neighbour hits both sides.
            before = measure_references(scratch, cores=cores, seconds=args.reference_seconds, cpus=server_cpus)
            loads: dict[tuple[str, str], tuple[MeasuredLoad, float, float]] = {}
            for name in load_names:
                for form in forms:
                    path, body, content_type = requests[form][name]
                    loads[(form, name)] = run_load(
                        server,
                        path=path,
                        body=scratch / body,
                        content_type=content_type,
                        token=token,
                        concurrency=concurrency,
                        seconds=args.seconds,
                        loadgen=loadgen,
                        cpus=load_cpus,
                    )
            after = measure_references(
                scratch,
                cores=cores,
                seconds=args.reference_seconds,
                cpus=server_cpus,
                shapes={op: shape for op, (shape, _, _) in before.items()},
            )
            reference = {
                op: Reference(
                    shape=before[op][0],
                    before=before[op][1],
                    after=after[op][1],
                    cpu_ms=(before[op][2] + after[op][2]) / 2,
                )
                for op in REFERENCE_OPERATIONS
            }
            server_log_tail = server.log_tail(5)
    finally:
        if args.keep:
            print(f"scratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    import importlib.metadata

    import c2pa

    print(
        f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}; "
        f"{cpu_count} CPUs on this machine; load average at the start {load_at_start}"
    )
    print(f"input: {args.size}x{args.size} photo-like JPEG, {input_size / 1e6:.2f} MB; database: SQLite (temporary)")
    print(
        f"server: originmark serve {config.describe()} ({server_processes} processes with its verifier workers), "
        f"CPUs {sorted(server_cpus) if server_cpus else 'all (unpinned)'}"
    )
    print(
        f"load: {loadgen}, {concurrency} connections, {args.seconds:.0f} s after 2 s warm-up, "
        f"CPUs {sorted(load_cpus) if load_cpus else 'all (unpinned)'}"
    )
    print(
        f"reference: on the server's CPUs ({cores}), fastest of {cores} threads / {cores} processes, "
        f"{args.reference_seconds:.0f} s before and after the loads (mean)"
    )
    print()
    rows = []
    server_cpu_ms: dict[tuple[str, str], float] = {}
    for name in load_names:
        for form in forms:
            measured, server_cpu, wall = loads[(form, name)]
            result = measured.result
            errors = f"{result.errors}" + (f" {result.error_detail}" if result.errors else "")
            # Server CPU per request: CPU-seconds per wall second (warm-up included) over requests per second.
            cpu_ms = 1000 * (server_cpu / wall) / result.requests_per_second if result.requests_per_second else 0.0
            server_cpu_ms[(form, name)] = cpu_ms
            rows.append(
                [
                    f"{LOAD_LABELS[name]} [{form}]",
                    f"{result.requests_per_second:.1f}",
                    f"{1000 / result.requests_per_second:.2f}" if result.requests_per_second else "-",
                    f"{result.latency_ms['p50']:.1f}",
                    f"{result.latency_ms['p99']:.1f}",
                    errors,
                    f"{server_cpu / wall:.2f}",
                    f"{cpu_ms:.2f}",
                    f"{measured.cpu_seconds / wall:.2f}",
                ]
            )
    print_table(
        ["HTTP", "req/s", "ms/req", "p50 ms", "p99 ms", "errors", "server CPU", "CPU ms/req", "loadgen CPU"], rows
    )
    print(
        "(server CPU: CPU-seconds per wall second over the run incl. warm-up, 1.00 = one core busy; "
        "CPU ms/req: that over req/s)"
    )
    print()
    # The least any HTTP service must do per request on these CPUs (the floors): verify: the
    # engine's verification and the SHA-256 of the upload (the verdict's key); sign: the engine's
    # signing, a verification of the output (the stored verdict must be what /v1/verify says) and
    # the SHA-256 of input and output (audit log, verdict) — moving 3 MB through a socket not counted.
    hash_seconds = 1 / reference["sha256"].rate
    floors = {
        "sign": 1 / (1 / reference["raw_sign"].rate + 1 / reference["raw_verify"].rate + 2 * hash_seconds),
        "verify": 1 / (1 / reference["raw_verify"].rate + hash_seconds),
    }
    # A second floor for sign, for context: issue 16's floor (written before issue 14 was resolved)
    # does not count the soft binding every signed image must now carry; this one adds it, made with
    # the plain libraries (Pillow + iscc-core, `plain_fingerprint`). The floor stays the target.
    floor_sign_soft_binding = 1 / (1 / floors["sign"] + 1 / reference["plain_fingerprint"].rate)
    # The same floors in CPU milliseconds per operation (the references' process CPU time): on a busy
    # machine, where rates are not comparable, the server's CPU ms per request still is.
    floor_cpu_ms = {
        "floor_sign": reference["raw_sign"].cpu_ms + reference["raw_verify"].cpu_ms + 2 * reference["sha256"].cpu_ms,
        "floor_verify": reference["raw_verify"].cpu_ms + reference["sha256"].cpu_ms,
    }
    floor_cpu_ms["floor_sign_sb"] = floor_cpu_ms["floor_sign"] + reference["plain_fingerprint"].cpu_ms
    best_form = "raw" if "raw" in forms else forms[0]
    rows = []
    for op, meaning, http_name in (
        ("raw_sign", "raw engine: Builder.sign, file to file", "sign"),
        ("floor_sign", "raw sign + raw verify + 2 x SHA-256  [issue 16 floor]", "sign"),
        ("plain_fingerprint", "Pillow draft decode + iscc-core Image-Code (plain libraries)", "sign"),
        ("floor_sign_sb", "issue 16 floor + plain fingerprint  [floor with the required soft binding]", "sign"),
        ("ours_sign", "originmark ContentSigner.sign_file, in-process", "sign"),
        ("raw_verify", "raw engine: Reader + json() + state", "verify"),
        ("floor_verify", "raw verify + SHA-256 of the file  [issue 16 floor]", "verify"),
        ("ours_verify", "originmark Verifier.verify_file, in-process", "verify"),
        ("sha256", "hashlib SHA-256 of the input file", "stored"),
    ):
        if op == "floor_sign_sb":
            rate, spread, shape, cpu = floor_sign_soft_binding, "computed", "", floor_cpu_ms[op]
        elif op.startswith("floor"):
            rate, spread, shape, cpu = floors[http_name], "computed", "", floor_cpu_ms[op]
        else:
            ref = reference[op]
            rate, spread, shape, cpu = ref.rate, f"{ref.before:.0f}/{ref.after:.0f}", ref.describe, ref.cpu_ms
        load = loads.get((best_form, http_name))
        against = f"{load[0].result.requests_per_second / rate:.2f}" if load else "-"
        rows.append([op, meaning, f"{rate:.1f}", f"{1000 / rate:.2f}", f"{cpu:.2f}", spread, shape, against])
    print_table(
        ["reference", "what", "ops/s", "ms/op", "CPU ms/op", "before/after", "shape", f"HTTP [{best_form}] / it"], rows
    )
    print()
    if "raw" in forms and "multipart" in forms:
        for name in load_names:
            raw_rate, form_rate = (loads[(f, name)][0].result.requests_per_second for f in ("raw", "multipart"))
            if form_rate:
                print(
                    f"{name:>6}: raw body {raw_rate:.1f}/s vs multipart {form_rate:.1f}/s = {raw_rate / form_rate:.2f}x"
                )
        print()
    ok = set(load_names) == set(LOAD_NAMES)  # a partial run passes no target
    for name, op in (("sign", "raw_sign"), ("verify", "raw_verify")):
        if name not in load_names:
            continue
        rate = loads[(best_form, name)][0].result.requests_per_second
        print(
            f"{name:>6}: HTTP [{best_form}] {rate:.1f}/s vs raw engine {reference[op].rate:.1f}/s = "
            f"{rate / reference[op].rate:.2f} (issue 3's {ENGINE_RATIO:.2f}: context)"
        )
    for name in ("sign", "verify"):
        if name not in load_names:
            continue
        result = loads[(best_form, name)][0].result
        ratio = result.requests_per_second / floors[name]
        passed = ratio >= FLOOR_RATIO and result.errors == 0
        ok &= passed
        print(
            f"{name:>6}: HTTP [{best_form}] {result.requests_per_second:.1f}/s vs floor {floors[name]:.1f}/s = "
            f"{ratio:.2f} (target >= {FLOOR_RATIO:.2f}): {'PASS' if passed else 'FAIL'}"
        )
    if "sign" in load_names:
        rate = loads[(best_form, "sign")][0].result.requests_per_second
        print(
            f"  sign: HTTP [{best_form}] {rate:.1f}/s vs floor with the required soft binding "
            f"{floor_sign_soft_binding:.1f}/s = {rate / floor_sign_soft_binding:.2f} (issue 14's ISCC in every "
            f"signed image counted; context: the issue's floor above is the target)"
        )
        cpu = server_cpu_ms[(best_form, "sign")]
        if cpu:
            print(
                f"  sign, in CPU: server {cpu:.2f} ms per request vs floor {floor_cpu_ms['floor_sign']:.2f} ms = "
                f"{floor_cpu_ms['floor_sign'] / cpu:.2f}, vs floor with the required soft binding "
                f"{floor_cpu_ms['floor_sign_sb']:.2f} ms = {floor_cpu_ms['floor_sign_sb'] / cpu:.2f} (context)"
            )
    if "stored" in load_names:
        stored = loads[(best_form, "stored")][0].result
        stored_ms = 1000 / stored.requests_per_second if stored.requests_per_second else float("inf")
        passed = stored_ms <= STORED_TARGET_MS and stored.errors == 0
        ok &= passed
        print(
            f"stored: HTTP [{best_form}] {stored_ms:.2f} ms per answer ({stored.requests_per_second:.1f}/s), "
            f"SHA-256 of the upload alone {1000 * hash_seconds:.2f} ms (target <= {STORED_TARGET_MS:.1f} ms): "
            f"{'PASS' if passed else 'FAIL'}"
        )
    if any(load[0].result.errors for load in loads.values()):
        print("server log (last lines):\n" + server_log_tail)
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
