"""Similarity lookups in the manifest repository at 1 M entries, on SQLite and PostgreSQL.

    python bench/repository_bench.py [--entries 1000000] [--backend both|sqlite|postgresql]
                                     [--queries 1000] [--radii 4,6,8,10,12] [--probes 1,2,4] [--pg-url URL]

Target: candidates_near p99 under 20 ms at 1 M entries on this machine, on both databases.

- Data (seeded RNG, reproducible): `--entries` entries over 10 tenants (`bench-0` ..), 80 % signed
  and shared, 10 % signed and private, 10 % kept from a verify; 90 % of them a random 64-bit
  code, 10 % in clusters of 10 near-duplicates (a base code and 9 copies with 1 to 6 bits
  flipped). Each entry has one io.iscc.v0 binding (code64 and a 32-byte descriptor) and a
  64-byte manifest store in the row.
- Load: the migrated schema (migration 0009, all indexes in place) filled in bulk, 20,000 rows a
  transaction: executemany on SQLite (1 GB page cache for the load), COPY on PostgreSQL; the band
  rows (4 x 65,536 at most) built in memory and written last, each once; then ANALYZE (VACUUM ANALYZE on
  PostgreSQL, so index-only scans see an all-visible heap). Reported as entries per second. Also
  the store's own `add_entry` (one committed transaction each, as signing writes) for 2,000 more.
- Queries: `--queries` codes, half near-duplicates of stored entries (0 to 4 bits flipped), half
  random; each asked through SqlManifestRepository.candidates_near_each as tenant bench-0 for every
  radius and every `--probes` count (1, 2, 4: a lookup by content searches an image's code and its
  views' codes, 2 to 4 probes read together; the other probes here are random codes), after 100
  warm-up lookups. Latency per lookup (one thread, in process), p50 and p99, the band thresholds
  (app/store/similarity.py), the band rows one probe reads, the codes in them (mean, before the
  exact distance) and the candidates the query's own code gets.
- SQLite: a temporary file, deleted at the end. PostgreSQL: a schema of its own in the database
  of `--pg-url` (default postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pg_schema import PostgresSchema
from bench.sign_bench import percentile

TENANTS = [f"bench-{n}" for n in range(10)]
CLUSTER_SIZE = 10
BATCH = 20_000
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def synthetic_codes(count: int, rng: random.Random) -> list[int]:
    """90 % random codes, 10 % clusters of CLUSTER_SIZE near-duplicates, shuffled."""
    clustered = count // 10 // CLUSTER_SIZE * CLUSTER_SIZE
    codes = [rng.getrandbits(64) for _ in range(count - clustered)]
    for _ in range(clustered // CLUSTER_SIZE):
        base = rng.getrandbits(64)
        codes.append(base)
        for _ in range(CLUSTER_SIZE - 1):
            codes.append(flip(base, rng.sample(range(64), rng.randint(1, 6))))
    rng.shuffle(codes)
    return codes


def flip(code: int, bits: list[int]) -> int:
    for bit in bits:
        code ^= 1 << bit
    return code


def rows(codes: list[int], first_id: int, rng: random.Random):
    """(entry row, binding row) tuples in the column order of repository_entries / repository_bindings."""
    from app.store.similarity import to_signed

    created = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)
    descriptor = bytes(32)
    store = bytes(range(64))
    store_sha = hashlib.sha256(store).hexdigest()
    for offset, code in enumerate(codes):
        entry_id = first_id + offset
        tenant = TENANTS[entry_id % len(TENANTS)]
        kind = rng.random()
        origin, private = ("signed", False) if kind < 0.8 else ("signed", True) if kind < 0.9 else ("verified", False)
        shared = origin == "signed" and not private
        entry = (
            entry_id,
            f"urn:c2pa:bench-{entry_id}",
            tenant,
            hashlib.sha256(b"%d" % entry_id).hexdigest(),
            origin,
            private,
            created,
            len(store),
            store_sha,
            store,
            None,
        )
        binding = (
            entry_id,
            entry_id,
            tenant,
            shared,
            "io.iscc.v0",
            code.to_bytes(8, "big"),
            to_signed(code),
            descriptor,
        )
        yield entry, binding


ENTRY_COLUMNS = (
    "id, manifest_id, tenant, asset_sha256, origin, private, created_at, store_size, store_sha256, "
    "store_bytes, store_object_uri"
)
BINDING_COLUMNS = "id, entry_id, tenant, shared, alg, value, code64, descriptor"


def bulk_load(store, codes: list[int], rng: random.Random) -> float:
    """Entries per second, indexes in place, the band rows written last (each once)."""
    from app.store.similarity import bucket_keys, pack_pairs, to_signed

    started = time.perf_counter()
    batch: list = []
    for pair in rows(codes, 1, rng):
        batch.append(pair)
        if len(batch) == BATCH:
            _write(store.db_engine, batch)
            batch = []
    if batch:
        _write(store.db_engine, batch)
    buckets: dict[int, list[tuple[int, int]]] = {}
    for binding_id, code in enumerate(codes, start=1):
        for key in bucket_keys(code):
            buckets.setdefault(key, []).append((binding_id, to_signed(code)))
    _write_buckets(store.db_engine, [(key, pack_pairs(pairs)) for key, pairs in sorted(buckets.items())])
    rate = len(codes) / (time.perf_counter() - started)
    if store.dialect == "postgresql":  # the rows came with their ids: the next add_entry continues after them
        with store.db_engine.begin() as connection:
            for table in ("repository_entries", "repository_bindings"):
                connection.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {len(codes)})")
    return rate


def _write(engine, batch: list) -> None:
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            with raw.driver_connection.cursor() as cursor:
                with cursor.copy(f"COPY repository_entries ({ENTRY_COLUMNS}) FROM STDIN") as copy:
                    for entry, _ in batch:
                        copy.write_row(entry)
                with cursor.copy(f"COPY repository_bindings ({BINDING_COLUMNS}) FROM STDIN") as copy:
                    for _, binding in batch:
                        copy.write_row(binding)
        else:
            cursor = raw.cursor()
            cursor.execute("PRAGMA cache_size=-1000000")  # 1 GB: the four band indexes take random inserts
            marks = ", ".join("?" * 11)
            cursor.executemany(
                f"INSERT INTO repository_entries ({ENTRY_COLUMNS}) VALUES ({marks})",
                [
                    (*e[:6], e[6].replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"), *e[7:])
                    for e, _ in batch
                ],
            )
            cursor.executemany(
                f"INSERT INTO repository_bindings ({BINDING_COLUMNS}) VALUES ({', '.join('?' * 8)})",
                [binding for _, binding in batch],
            )
            cursor.close()
        raw.commit()
    finally:
        raw.close()


def _write_buckets(engine, buckets: list[tuple[int, bytes]]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy("COPY repository_buckets (key, codes) FROM STDIN") as copy:
                for bucket in buckets:
                    copy.write_row(bucket)
        else:
            cursor.executemany("INSERT INTO repository_buckets (key, codes) VALUES (?, ?)", buckets)
        cursor.close()
        raw.commit()
    finally:
        raw.close()


def settle(store) -> None:
    if store.dialect == "postgresql":
        raw = store.db_engine.raw_connection()
        try:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE repository_entries")
            raw.driver_connection.execute("VACUUM ANALYZE repository_bindings")
            raw.driver_connection.execute("VACUUM ANALYZE repository_buckets")
            raw.driver_connection.autocommit = False  # the pool hands this connection out again
        finally:
            raw.close()
    else:
        with store.db_engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def add_entry_rate(store, count: int, rng: random.Random) -> float:
    from app.store.repository import ISCC_ALG, EntryOrigin, NewEntry, SoftBinding, StoredManifest

    manifest = bytes(range(64))
    kept = StoredManifest(size=len(manifest), sha256=hashlib.sha256(manifest).hexdigest(), inline=manifest)
    started = time.perf_counter()
    for number in range(count):
        code = rng.getrandbits(64)
        store.repository.add_entry(
            NewEntry(
                manifest_id=f"urn:c2pa:added-{number}",
                tenant="bench-0",
                asset_sha256=hashlib.sha256(b"added %d" % number).hexdigest(),
                origin=EntryOrigin.SIGNED,
                store=kept,
                bindings=(SoftBinding(alg=ISCC_ALG, value=code.to_bytes(8, "big"), code64=code, descriptor=bytes(32)),),
            )
        )
    return count / (time.perf_counter() - started)


def band_buckets(codes: list[int]) -> tuple[float, int]:
    """Mean and largest number of codes sharing one band value (over all four bands)."""
    from app.store.similarity import bands_of

    counters: list[Counter[int]] = [Counter() for _ in range(4)]
    for code in codes:
        for band, value in enumerate(bands_of(code)):
            counters[band][value] += 1
    largest = max(max(counter.values()) for counter in counters)
    return len(codes) / 65536, largest


def query_codes(codes: list[int], count: int, rng: random.Random) -> list[int]:
    near = [flip(rng.choice(codes), rng.sample(range(64), rng.randint(0, 4))) for _ in range(count // 2)]
    return near + [rng.getrandbits(64) for _ in range(count - len(near))]


def measure(store, lookups: list[list[int]], radius: int) -> dict:
    """Latency of one lookup: candidates_near_each over its probes (one read of the index)."""
    from app.store.similarity import band_radii

    repository = store.repository
    for probes in lookups[:100]:
        repository.candidates_near_each(probes, radius, "bench-0")
    latencies, found = [], 0
    for probes in lookups:
        started = time.perf_counter()
        found += len(repository.candidates_near_each(probes, radius, "bench-0")[0])
        latencies.append((time.perf_counter() - started) * 1000)
    return {
        "thresholds": band_radii(radius),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "candidates_per_query": found / len(lookups),
    }


def codes_read(store, queries: list[int], radius: int) -> tuple[int, float]:
    """Band rows a query reads, and the mean number of codes in them (before the exact distance), over 50 queries."""
    from app.store.similarity import probe_keys, unpack_pairs

    total = 0
    raw = store.db_engine.raw_connection()
    try:
        cursor = raw.cursor()
        for code in queries[:50]:
            keys = probe_keys(code, radius)
            marks = ", ".join(["%s" if store.dialect == "postgresql" else "?"] * len(keys))
            cursor.execute(f"SELECT codes FROM repository_buckets WHERE key IN ({marks})", keys)
            total += sum(len(unpack_pairs(bytes(blob))) for (blob,) in cursor.fetchall())
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return len(probe_keys(queries[0], radius)), total / 50


def run_backend(name: str, url: str, args) -> None:
    from app.store.migrate import upgrade_database
    from app.store.similarity import band_radii
    from app.store.sql import open_store

    rng = random.Random(14)
    codes = synthetic_codes(args.entries, rng)
    upgrade_database(url)
    with open_store(url, pool_size=2, sqlite_synchronous="NORMAL") as store:
        rate = bulk_load(store, codes, rng)
        settle(store)
        added = add_entry_rate(store, 2000, rng)
        mean_bucket, largest_bucket = band_buckets(codes)
        print(
            f"\n{name}: {args.entries:,} entries; bulk load {rate:,.0f} entries/s; add_entry {added:,.0f}/s "
            f"(one transaction each); band buckets mean {mean_bucket:.1f}, largest {largest_bucket}"
        )
        queries = query_codes(codes, args.queries, rng)
        # A lookup's other probes are its views' codes (mirror, trim, symmetrised): codes of other
        # pictures, so random ones here.
        others = [[rng.getrandbits(64) for _ in range(max(args.probes) - 1)] for _ in queries]
        print(
            f"{'R':>3} {'bands':>8} {'rows read':>10} {'codes read':>11} {'probes':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'found/query':>12}"
        )
        for radius in args.radii:
            rows_read, mean_codes = codes_read(store, queries, radius)
            bands = ",".join(str(bits) for bits in band_radii(radius))
            for probes in args.probes:
                lookups = [[query, *extra[: probes - 1]] for query, extra in zip(queries, others, strict=True)]
                figures = measure(store, lookups, radius)
                print(
                    f"{radius:>3} {bands:>8} {rows_read:>10,} {mean_codes:>11,.0f} {probes:>7} {figures['p50_ms']:>8.2f} "
                    f"{figures['p99_ms']:>8.2f} {figures['candidates_per_query']:>12.2f}",
                    flush=True,
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--radii", type=lambda text: [int(part) for part in text.split(",")], default=[4, 6, 8, 10, 12])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument(
        "--probes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 2, 4],
        help="probes per lookup: the query's code and this many minus one others, read together (a lookup makes 2 to 4)",
    )
    args = parser.parse_args()
    if args.backend in ("both", "sqlite"):
        with tempfile.TemporaryDirectory(prefix="originmark-repository-bench-") as folder:
            run_backend("SQLite", f"sqlite:///{Path(folder) / 'repository.db'}", args)
    if args.backend in ("both", "postgresql"):
        with PostgresSchema(args.pg_url, suffix="repository") as schema:
            run_backend("PostgreSQL", schema.url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
