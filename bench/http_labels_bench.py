"""Feed label reads through HTTP: batches of 100 ids at concurrency 8 over a million stored verdicts.

    python bench/http_labels_bench.py [--rows 1000000] [--backend both|sqlite|postgresql]
                                      [--form both|get|post] [--seconds 15] [--concurrency 8]
                                      [--paced-seconds 10] [--server-cores N] [--workers N]
                                      [--tenants 10] [--public] [--env ORIGINMARK_X=V]
                                      [--loadgen auto|wrk|python]

Target (issue 3): at least 20,000 labels per second with p99 latency under 20 ms, on SQLite
and on PostgreSQL, with 1 million stored verdicts.

- Data: `--rows` verdicts over `--tenants` tenants (`bench-0` .. `bench-<N-1>`), each tenant
  with media ids of its own, `seed-0` .. `seed-<rows/N-1>` (the same ids in every tenant, as on
  one platform shared by many; a tenant's rows interleaved with the others' in the table),
  each row with its own content hash (SHA-256 of `<tenant>/<id>`), written by the store's
  bulk loader (SqlStore.bulk_seed_labels) from one real verdict: a JPEG signed by originmark
  and verified `trusted`, its feed label derived by verifier.label.label_for.
  SQLite: the seeded file is kept under bench/out/ (gitignored), keyed by row and tenant count and
  schema revision, so later runs skip seeding. PostgreSQL: a schema of its own in the
  database of `--pg-url` (default postgresql+psycopg://postgres@127.0.0.1:5432/test), named
  originmark_bench_<pid>, seeded with COPY, VACUUMed (ANALYZE: settles the fresh rows as a
  live database would be), and DROPped at the end (nothing else in the database is touched;
  the server reaches it through `search_path`).
- Server: `originmark serve` in its own process (bench/http_harness.py), with an API key of
  scope `read` of tenant `bench-0` (every request authenticates: one key lookup each), or with
  ORIGINMARK_PUBLIC_LABEL_READS=true under `--public` (no key at all; `?tenant=bench-0`).
- Load: bench/http_loadgen.py in another process (wrk with a Lua script when installed, else
  an asyncio client), `--concurrency` keep-alive connections, `--batch` ids per request drawn
  at random from bench-0's ids, with `--unknown` of them ids never stored (answered null):
  GET /v1/labels?media_id=..&media_id=.. and/or POST /v1/labels:batch with a JSON list.
  Labels per second = requests per second x ids per request (unknown ids included: they are
  answered too, with null).
  Two load shapes, both with `--concurrency` connections:
  * closed loop ("max"): every connection sends its next request as soon as the last one is
    answered — the server runs at saturation; throughput is the most it serves, and its
    latency is mostly queueing (p50 ~ concurrency / throughput). This is the strict reading
    of the target: both figures from the same saturated run.
  * paced ("at target"): GET at exactly the target rate (20,000 labels/s = 200 requests/s of
    100 ids), latency counted from when each request was due (Python client, open loop, see
    bench/http_loadgen.py): the latency a feed sees at the target load.
- CPUs: the server runs on the first `--server-cores` CPUs (default: half of them) with one
  uvicorn worker per CPU (`--workers`), the load generator on the others; PostgreSQL is not
  pinned. `--server-cores 0` pins nothing. Why pinned by default: on a small machine an
  unpinned server competes with the load generator and PostgreSQL for every core, and with
  several uvicorn workers the 8 keep-alive connections split unevenly between them (each
  worker accepts on its own), so the tail measures that lottery rather than the service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.*

from bench.http_harness import PROJECT, ServerConfig, ServerUnderTest, print_table, split_cpus
from bench.http_loadgen import LoadSpec, MeasuredLoad, choose_loadgen, run_in_process
from bench.pg_schema import PostgresSchema

if TYPE_CHECKING:
    from verifier.label_types import Label
    from verifier.verdict import Verdict

TARGET_LABELS_PER_SECOND = 20_000
TARGET_P99_MS = 20.0
ID_PREFIX = "seed-"
TENANT_PREFIX = "bench-"
READ_TENANT = f"{TENANT_PREFIX}0"  # the tenant whose key reads (and whose ids the load draws)
EMPTY_TENANT = "bench-empty"  # a tenant with no media: its reads must not see the others' rows
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CACHE_DIR = PROJECT / "bench" / "out"


@dataclass(frozen=True, kw_only=True)
class SeedVerdict:
    verdict: Verdict
    label: Label
    trust_fingerprint: str


def real_verdict(scratch: Path) -> SeedVerdict:
    """A verdict as the service stores it: a JPEG signed by originmark, verified trusted."""
    from PIL import Image

    from app.worker_pools import trust_fingerprint
    from keys.devca import create_development_credentials
    from keys.loader import load_signing_key
    from signer.engine import ContentSigner, SignerOptions
    from signer.manifest import GenerationRequest
    from verifier.label import label_for
    from verifier.reader import Verifier, engine_version
    from verifier.trust import default_trust_policy

    credentials = create_development_credentials(scratch / "keys")
    assert credentials.key_path is not None, "create_development_credentials writes the key file"
    source, signed = scratch / "photo.jpg", scratch / "signed.jpg"
    Image.linear_gradient("L").convert("RGB").save(source, quality=90)
    signer = ContentSigner(
        signing_key=load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path),
        options=SignerOptions(),
    )
    try:
        signer.sign_file(
            source=source,
            destination=signed,
            request=GenerationRequest(generator_name="Bench Diffusion", generator_version="1.0"),
        )
    finally:
        signer.close()
    policy = default_trust_policy(local_anchors_pem=credentials.ca_path.read_text())
    verdict = Verifier(policy=policy).verify_file(signed)
    if verdict.state.value != "trusted":
        raise SystemExit(f"the seed verdict is {verdict.state.value}, expected trusted: {verdict.reason}")
    return SeedVerdict(
        verdict=verdict, label=label_for(verdict), trust_fingerprint=trust_fingerprint(policy, engine=engine_version())
    )


def tenant_names(count: int) -> list[str]:
    return [f"{TENANT_PREFIX}{number}" for number in range(count)]


def seed(database_url: str, rows: int, tenants: int, seed_verdict: SeedVerdict) -> float:
    """Migrate, create the tenants and bulk-load `rows` verdicts, rows/tenants per tenant; returns the seconds."""
    from app.store.migrate import upgrade_database
    from app.store.seed import seed_items
    from app.store.sql import open_store

    started = time.perf_counter()
    upgrade_database(database_url)
    with open_store(database_url, pool_size=1) as store:
        for name in [*tenant_names(tenants), EMPTY_TENANT]:
            store.create_tenant(name)
        written = store.bulk_seed_labels(
            seed_items(
                verdict=seed_verdict.verdict,
                label=seed_verdict.label,
                count=rows,
                media_id_prefix=ID_PREFIX,
                tenants=tenant_names(tenants),
                id_space_per_tenant=True,
            ),
            trust_fingerprint=seed_verdict.trust_fingerprint,
        )
        if written != rows:
            raise SystemExit(f"seeded {written} rows, expected {rows}")
        if store.dialect == "postgresql":
            # A million rows that were just COPYed are not what a running service reads: the first
            # reads of each page would set its hint bits (writing it back) while the benchmark runs,
            # and autovacuum would start on them. VACUUM settles them first, as time would.
            with store.db_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM (ANALYZE) media")
                connection.exec_driver_sql("VACUUM (ANALYZE) verdicts")
    return time.perf_counter() - started


def cached_sqlite(rows: int, tenants: int, seed_verdict: SeedVerdict) -> tuple[str, str]:
    """(database URL, how it was obtained): the seeded SQLite file under bench/out/, made if missing.

    Keyed by row count, tenant count, schema revision and the stored label's JSON, so a change
    to the schema or to the label encoding seeds a new file instead of reading stale rows.
    """
    import hashlib
    import sqlite3

    from app.codec import label_to_json
    from app.store.migrate import head_revision

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    label_key = hashlib.sha256(label_to_json(seed_verdict.label).encode()).hexdigest()[:8]
    path = CACHE_DIR / f"labels-{rows}-t{tenants}-rev{head_revision()}-{label_key}.sqlite"
    if path.exists():
        return f"sqlite:///{path}", f"cached {path.relative_to(PROJECT)}"
    building = path.with_suffix(f".building-{os.getpid()}")
    try:
        seconds = seed(f"sqlite:///{building}", rows, tenants, seed_verdict)
        with sqlite3.connect(building) as connection:  # fold the WAL into the file before it moves
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        building.rename(path)
    finally:
        for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
            leftover.unlink(missing_ok=True)
    return f"sqlite:///{path}", f"seeded in {seconds:.0f} s, cached as {path.relative_to(PROJECT)}"


@dataclass(frozen=True, kw_only=True)
class Reader:
    """How requests read as one tenant: its key's Authorization header, or `?tenant=` on a public server."""

    tenant: str
    headers: dict[str, str]
    params: tuple[tuple[str, str], ...]  # () or (("tenant", NAME),)

    @property
    def query(self) -> str:
        return urlencode(self.params)


def reader_for(database_url: str, tenant: str, *, public: bool) -> Reader:
    if public:
        return Reader(tenant=tenant, headers={}, params=(("tenant", tenant),))
    from app.store.interface import Scope
    from app.store.sql import open_store

    with open_store(database_url, pool_size=1) as store:
        _, token = store.create_key(name=f"labels bench {tenant}", scopes=frozenset({Scope.READ}), tenant=tenant)
    return Reader(tenant=tenant, headers={"Authorization": f"Bearer {token}"}, params=())


def check_labels(server: ServerUnderTest, readers: list[Reader], ids_per_tenant: int) -> None:
    """Right answers before speed, both forms, per reader: the first two readers' tenants (bench-0, bench-1)
    get labels for their ids and null for an unknown id, and the id seed-0 is their own row (the stored
    verdict's hash is SHA-256 of `<tenant>/seed-0`); the last reader's tenant holds no media and gets null
    for the same ids: the read is scoped to the tenant."""
    import hashlib

    known = [f"{ID_PREFIX}0", f"{ID_PREFIX}{ids_per_tenant // 2}", f"{ID_PREFIX}{ids_per_tenant - 1}"]
    ids = [*known, f"{ID_PREFIX}{ids_per_tenant}", "unknown-1"]  # seed-<ids_per_tenant>: in no tenant
    *owners, empty = readers
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for reader in readers:
            answers = [
                client.get(
                    "/v1/labels", params=[*reader.params, *(("media_id", each) for each in ids)], headers=reader.headers
                ),
                client.post("/v1/labels:batch", params=reader.params, json=ids, headers=reader.headers),
            ]
            for answer in answers:
                if answer.status_code != 200:
                    raise SystemExit(
                        f"{answer.request.method} {answer.request.url} answered "
                        f"{answer.status_code}: {answer.text[:300]}"
                    )
                labels = answer.json()["labels"]
                expected_known = reader is not empty
                if any((labels[each] is not None) != expected_known for each in known) or any(
                    labels[each] is not None for each in ids[len(known) :]
                ):
                    raise SystemExit(f"wrong labels for tenant {reader.tenant}: {answer.text[:500]}")
                if "etag" not in answer.headers:
                    raise SystemExit("the label answer carries no ETag")
            if reader in owners:
                answer = client.get(f"/v1/verdicts/{ID_PREFIX}0", params=reader.params, headers=reader.headers)
                own = hashlib.sha256(f"{reader.tenant}/{ID_PREFIX}0".encode()).hexdigest()
                if answer.status_code != 200 or answer.json()["sha256"] != own:
                    raise SystemExit(
                        f"{ID_PREFIX}0 of tenant {reader.tenant} is not its own row: "
                        f"{answer.status_code} {answer.text[:300]}"
                    )


@dataclass(frozen=True, kw_only=True)
class Measurement:
    backend: str
    form: str
    paced: bool
    load: MeasuredLoad
    server_cpu: float  # CPU-seconds of the server's process tree over the load's wall time
    batch: int

    @property
    def labels_per_second(self) -> float:
        return self.load.result.requests_per_second * self.batch

    @property
    def passed(self) -> bool:
        result = self.load.result
        # Paced runs ask for the target rate and get it within the clock's precision.
        throughput_floor = TARGET_LABELS_PER_SECOND * (0.98 if self.paced else 1.0)
        return (
            self.labels_per_second >= throughput_floor
            and result.latency_ms["p99"] < TARGET_P99_MS
            and result.errors == 0
        )


def bench_backend(
    backend: str,
    database_url: str,
    args: argparse.Namespace,
    *,
    config: ServerConfig,
    server_cpus: set[int] | None,
    load_cpus: set[int] | None,
    loadgen: str,
    scratch: Path,
) -> list[Measurement]:
    ids_per_tenant = args.rows // args.tenants
    others = tenant_names(args.tenants)[1:2]  # a second tenant, when there is one
    readers = [reader_for(database_url, tenant, public=args.public) for tenant in [READ_TENANT, *others, EMPTY_TENANT]]
    reader = readers[0]
    measurements = []
    with ServerUnderTest(
        config=config, database_url=database_url, data_dir=scratch / backend, cpus=server_cpus
    ) as server:
        check_labels(server, readers, ids_per_tenant)
        forms = ("get", "post") if args.form == "both" else (args.form,)
        shapes = [(form, False) for form in forms]
        if args.paced_seconds > 0:
            shapes.append(("get", True))
        for form, paced in shapes:
            spec = LoadSpec(
                base_url=server.base_url,
                shape="labels_get" if form == "get" else "labels_post",
                path="/v1/labels" if form == "get" else "/v1/labels:batch",
                headers=reader.headers,
                query=reader.query,
                concurrency=args.concurrency,
                duration=args.paced_seconds if paced else args.seconds,
                warmup=2.0,
                rate=TARGET_LABELS_PER_SECOND / args.batch if paced else 0.0,
                batch=args.batch,
                id_prefix=ID_PREFIX,
                id_count=ids_per_tenant,
                unknown_fraction=args.unknown,
                loadgen="python" if paced else loadgen,
                threads=len(load_cpus) if load_cpus else 1,
            )
            cpu_before = server.cpu_seconds()
            load = run_in_process(spec, cpus=load_cpus)
            server_cpu = (server.cpu_seconds() - cpu_before) / load.wall_seconds
            measurements.append(
                Measurement(backend=backend, form=form, paced=paced, load=load, server_cpu=server_cpu, batch=args.batch)
            )
        if any(m.load.result.errors for m in measurements):
            print(f"[{backend}] server log (last lines):\n{server.log_tail(10)}")
    return measurements


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored verdicts")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="database that gets a temporary schema")
    parser.add_argument("--form", choices=("both", "get", "post"), default="both")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per form (after 2 s warm-up)")
    parser.add_argument(
        "--paced-seconds",
        type=float,
        default=10.0,
        help="measured seconds of the paced run at the target rate (0: skip it)",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100, help="ids per request")
    parser.add_argument("--unknown", type=float, default=0.05, help="share of ids never stored")
    cpu_count = len(os.sched_getaffinity(0))
    parser.add_argument(
        "--server-cores",
        type=int,
        default=max(1, cpu_count // 2) if cpu_count > 1 else 0,
        help="CPUs for the server (default: half); the load runs on the rest; 0 = no pinning",
    )
    parser.add_argument("--workers", type=int, default=None, help="uvicorn workers (default: the server's CPUs)")
    parser.add_argument(
        "--tenants",
        type=int,
        default=10,
        help="tenants holding the rows, rows/tenants media ids each; reads are bench-0's",
    )
    parser.add_argument(
        "--public", action="store_true", help="ORIGINMARK_PUBLIC_LABEL_READS=true, no API key, ?tenant=bench-0"
    )
    parser.add_argument("--log-level", default="info", help="ORIGINMARK_LOG_LEVEL (info: the shipped default)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="ORIGINMARK_X=VALUE", help="extra server setting, repeatable"
    )
    parser.add_argument(
        "--loadgen",
        "--engine",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (--engine: its deprecated older name)",
    )
    args = parser.parse_args()
    if args.tenants < 1 or args.rows % args.tenants:
        parser.error(f"--rows ({args.rows}) must be a multiple of --tenants ({args.tenants}), at least 1")

    server_cpus, load_cpus = split_cpus(args.server_cores)
    cores = len(server_cpus) if server_cpus else len(os.sched_getaffinity(0))
    config = ServerConfig(
        workers=args.workers or cores,
        public_label_reads=args.public,
        log_level=args.log_level,
        extra_env=tuple(tuple(setting.split("=", 1)) for setting in args.env),
    )
    loadgen = choose_loadgen(args.loadgen)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)

    scratch = Path(tempfile.mkdtemp(prefix="originmark-labels-bench-"))
    measurements: list[Measurement] = []
    provenance: dict[str, str] = {}
    try:
        seed_verdict = real_verdict(scratch / "seed")
        for backend in backends:
            if backend == "sqlite":
                database_url, provenance[backend] = cached_sqlite(args.rows, args.tenants, seed_verdict)
                measurements += bench_backend(
                    backend,
                    database_url,
                    args,
                    config=config,
                    server_cpus=server_cpus,
                    load_cpus=load_cpus,
                    loadgen=loadgen,
                    scratch=scratch,
                )
            else:
                with PostgresSchema(args.pg_url) as schema:
                    seconds = seed(schema.url, args.rows, args.tenants, seed_verdict)
                    provenance[backend] = f"schema {schema.name} seeded with COPY in {seconds:.0f} s, dropped after"
                    measurements += bench_backend(
                        backend,
                        schema.url,
                        args,
                        config=config,
                        server_cpus=server_cpus,
                        load_cpus=load_cpus,
                        loadgen=loadgen,
                        scratch=scratch,
                    )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"data: {args.rows:,} stored verdicts over {args.tenants} tenants ({args.rows // args.tenants:,} media ids "
        f"each); requests of {args.batch} ids of {READ_TENANT}, {args.unknown:.0%} of them unknown"
    )
    for backend, how in provenance.items():
        print(f"  {backend}: {how}")
    print(
        f"server: originmark serve {config.describe()}, "
        f"{f'public label reads (no key, ?tenant={READ_TENANT})' if args.public else f'API key of {READ_TENANT} with scope read (one key lookup per request)'}, "
        f"CPUs {sorted(server_cpus) if server_cpus else 'all (unpinned)'} of {len(os.sched_getaffinity(0))}"
    )
    print(
        f"load: {args.concurrency} connections, 2 s warm-up; closed loop ({loadgen}) {args.seconds:.0f} s per form; "
        f"paced (python) {args.paced_seconds:.0f} s; CPUs {sorted(load_cpus) if load_cpus else 'all (unpinned)'}"
    )
    print()
    rows = []
    for m in measurements:
        result = m.load.result
        errors = f"{result.errors}" + (f" {result.error_detail}" if result.errors else "")
        rows.append(
            [
                m.backend,
                "GET /v1/labels" if m.form == "get" else "POST /v1/labels:batch",
                "at target" if m.paced else "max",
                f"{m.labels_per_second:,.0f}",
                f"{result.requests_per_second:,.0f}",
                f"{result.latency_ms['p50']:.2f}",
                f"{result.latency_ms['p95']:.2f}",
                f"{result.latency_ms['p99']:.2f}",
                errors,
                f"{m.server_cpu:.2f}",
                f"{m.load.cpu_seconds / m.load.wall_seconds:.2f}",
                "PASS" if m.passed else "FAIL",
            ]
        )
    print_table(
        [
            "backend",
            "request",
            "load",
            "labels/s",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "server CPU",
            "loadgen CPU",
            "target",
        ],
        rows,
    )
    print()
    print(
        f"target: >= {TARGET_LABELS_PER_SECOND:,} labels/s and p99 < {TARGET_P99_MS:.0f} ms, no errors; "
        "CPU columns: CPU-seconds per wall second (1.00 = one core busy)."
    )
    ok = all(m.passed for m in measurements)
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
