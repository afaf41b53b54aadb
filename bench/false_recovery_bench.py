"""False recoveries at scale: unrelated images queried against a repository of 100 k real fingerprints (issue 14).

    python bench/false_recovery_bench.py [--entries 100000] [--no-install] [--workers 2]
        [--backend both|sqlite|postgresql] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The corpus is bench/softbinding_bench.py's (Debian's Tux Paint stamps and GNOME, MATE and Plasma
wallpapers, installed by that bench's setup; the same "signed original" rule and the same
same-picture deduplication, 511 distinct originals here). They are split in two, by position in
that list: every third original is HELD OUT (never in the repository, in any form), the others
fill it.

Repository, on each backend of one run (`--backend both`, the default): SQLite in a temporary
folder, and PostgreSQL in a schema of its own in the database of `--pg-url` (dropped at the end,
so parallel runs and tests never collide); migrated schema, filled through
SqlManifestRepository.write_entry, 1,000 entries a transaction, the same entries in the same
order on both (the same-picture check below is made once, on the first backend); searched through
its candidates_near. Each filling original, then non-overlapping square tiles of it on a grid at
each edge of TILE_EDGES (384 .. 40 px; a tile is fingerprinted as an image of its own, with
fingerprint_decoded, the rule for stills), until `--entries` entries. Each entry is kept as
signing keeps one: its io.iscc.v0 binding and the index-only rows of its views (INDEX_VIEWS:
centre crops), each with its descriptor. Tiles are distinct regions
of a picture at one scale; one region reappears nested at the other scales, so every tile that
is the same picture as an entry already kept (code within 8 bits and descriptor at or above
DESCRIPTOR_THRESHOLD, the softbinding bench's rule, looked up in the repository itself) is left
out, and so is every blank one (descriptor below MIN_DESCRIPTOR_STD: it matches nothing).

Queries: each held-out original under every transform of the softbinding bench (JPEG q90/70/50,
WebP, PNG, downscale 50%/25%, crop 5%/10%, mirror, screenshot-like, stripped): none of them has a
counterpart in the repository, so anything reported is a false recovery. Each query takes the
full two-stage check of recovery on verify and of /sbr/v1/matches/byContent
(app/usecases/content_match.py): probes with its own code and its views' (QUERY_VIEWS: mirrored, tolerant
trim, symmetrised when nearly symmetric),
candidates within SEARCH_RADIUS bits of a probe, the view rows included (first stage), then
descriptor similarity at least DESCRIPTOR_THRESHOLD (second stage). Also the binding-only rule (within BINDING_ONLY_RADIUS bits, no descriptor: a
lookup by binding value and a video's key frames). Reported: false recoveries, candidates per
query from the first stage (mean, p99, max), the nearest unrelated entry's distance, the
highest unrelated descriptor similarity among the candidates, and the lookup latency (p50/p99),
per backend, beside the backend's raw round trip (`SELECT 1` on the same pool, the floor of any
lookup); and whether both backends returned the same candidates for every query.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pg_schema import PostgresSchema
from bench.softbinding_bench import (
    DEFAULT_CACHE,
    SAME_PICTURE_BITS,
    TRANSFORMS,
    build_repository,
    corpus_files,
    distribution,
    install_packages,
    percentile,
    signed_original,
)
from verifier.fingerprint import (
    DESCRIPTOR_THRESHOLD,
    INDEX_VIEWS,
    QUERY_VIEWS,
    SEARCH_RADIUS,
    ImageFingerprint,
    descriptor_similarity,
    fingerprint_decoded,
    fingerprint_image,
)

TILE_EDGES = (384, 256, 192, 128, 96, 80, 64, 48, 40)
HELD_OUT_EVERY = 3
TENANT = "bench"
BATCH = 1_000
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def tile_fingerprints(name: str) -> list[ImageFingerprint]:
    """The original at `name`, then its grid tiles at every edge of TILE_EDGES (a worker's job)."""
    image = signed_original(Path(name))
    if image is None:
        return []
    found = [fingerprint_decoded(image, views=INDEX_VIEWS)]
    width, height = image.size
    for edge in TILE_EDGES:
        for top in range(0, height - edge + 1, edge):
            for left in range(0, width - edge + 1, edge):
                found.append(fingerprint_decoded(image.crop((left, top, left + edge, top + edge)), views=INDEX_VIEWS))
    return found


def blank(fingerprint: ImageFingerprint) -> bool:
    return descriptor_similarity(fingerprint.descriptor, fingerprint.descriptor) == 0.0


def new_entry(number: int, fingerprint: ImageFingerprint):
    from app.store.repository import ISCC_ALG, VIEW_ALG, EntryOrigin, NewEntry, SoftBinding, StoredManifest

    store = b"bench manifest store %d" % number
    return NewEntry(
        manifest_id=f"urn:c2pa:false-recovery-bench-{number}",
        tenant=TENANT,
        asset_sha256=hashlib.sha256(b"asset %d" % number).hexdigest(),
        origin=EntryOrigin.SIGNED,
        store=StoredManifest(size=len(store), sha256=hashlib.sha256(store).hexdigest(), inline=store),
        bindings=(
            SoftBinding(
                alg=ISCC_ALG,
                value=fingerprint.iscc_digest,
                code64=fingerprint.code64,
                descriptor=fingerprint.descriptor,
            ),
            *(
                SoftBinding(
                    alg=VIEW_ALG, value=view.view.value.encode(), code64=view.code64, descriptor=view.descriptor
                )
                for view in fingerprint.views
            ),
        ),
    )


def same_picture_kept(repository, fingerprint: ImageFingerprint) -> bool:
    return any(
        candidate.descriptor is not None
        and descriptor_similarity(candidate.descriptor, fingerprint.descriptor) >= DESCRIPTOR_THRESHOLD
        for candidate in repository.candidates_near(fingerprint.code64, SAME_PICTURE_BITS, TENANT)
    )


def fill(stores: list, names: list[str], target: int, workers: int) -> dict[str, int]:
    """Fill every store's repository up to `target` entries (the same ones, in the same order; the
    same-picture check made on the first); counts of what was kept and left out."""
    counts = {"kept": 0, "blank": 0, "same picture": 0, "originals used": 0}
    pending: list[ImageFingerprint] = []
    first = stores[0]

    def flush() -> None:
        kept_in_batch: list[ImageFingerprint] = []
        entries = []
        for fingerprint in pending:
            if counts["kept"] >= target:
                break
            if same_picture_kept(first.repository, fingerprint) or any(
                (fingerprint.code64 ^ other.code64).bit_count() <= SAME_PICTURE_BITS
                and descriptor_similarity(fingerprint.descriptor, other.descriptor) >= DESCRIPTOR_THRESHOLD
                for other in kept_in_batch
            ):
                counts["same picture"] += 1
                continue
            entries.append(new_entry(counts["kept"], fingerprint))
            kept_in_batch.append(fingerprint)
            counts["kept"] += 1
        for store in stores:
            with store.db_engine.begin() as connection:
                for entry in entries:
                    store.repository.write_entry(connection, entry)
        pending.clear()

    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results: Iterator[list[ImageFingerprint]] = pool.imap(tile_fingerprints, names, chunksize=2)
        for fingerprints in results:
            counts["originals used"] += 1
            for fingerprint in fingerprints:
                if blank(fingerprint):
                    counts["blank"] += 1
                else:
                    pending.append(fingerprint)
                if len(pending) >= BATCH:
                    flush()
            if counts["kept"] >= target:
                pool.terminate()
                break
            if counts["originals used"] % 50 == 0:
                print(
                    f"  {counts['originals used']} originals tiled, {counts['kept']:,} entries, "
                    f"{time.perf_counter() - started:.0f} s",
                    flush=True,
                )
    if pending and counts["kept"] < target:
        flush()
    return counts


def query_fingerprints(held_out) -> list[tuple[str, ImageFingerprint]]:
    return [
        (name, fingerprint_image(transform(entry.image), views=QUERY_VIEWS))
        for entry in held_out
        for name, transform in TRANSFORMS.items()
    ]


def round_trips(store, count: int = 1_000) -> list[float]:
    """The backend's raw round trip on the store's own pool (`SELECT 1`), in ms: a lookup's floor."""
    times = []
    with store.db_engine.connect() as connection:
        for _ in range(count):
            began = time.perf_counter()
            connection.exec_driver_sql("SELECT 1").scalar_one()
            times.append((time.perf_counter() - began) * 1000)
    return times


def query_backend(label: str, store, queries: list[tuple[str, ImageFingerprint]]) -> tuple[int, list[tuple[int, ...]]]:
    """Run every query on one backend and print its figures; (false recoveries, candidates per query)."""
    from app.usecases.soft_binding_resolution import BINDING_ONLY_RADIUS

    repository = store.repository
    for _transform, warm_up in queries[:50]:
        repository.candidates_near(warm_up.code64, SEARCH_RADIUS, TENANT, views=True)
    candidates_per_query: list[int] = []
    found: list[tuple[int, ...]] = []
    latencies: list[float] = []
    nearest: list[int] = []
    top_similarity: list[float] = []
    false_recoveries: list[tuple[str, int, float]] = []
    binding_only_false = 0
    queries_with_false = 0
    capped = 0
    for name, fingerprint in queries:
        # The first stage of content_matches, probe by probe (its own code, then its views').
        probes = [(fingerprint.code64, fingerprint.descriptor)]
        probes += [(view.code64, view.descriptor) for view in fingerprint.views]
        began = time.perf_counter()
        near_by_probe = [
            (descriptor, repository.candidates_near(code64, SEARCH_RADIUS, TENANT, views=True))
            for code64, descriptor in probes
        ]
        latencies.append((time.perf_counter() - began) * 1000)
        candidates = [c for _descriptor, near in near_by_probe for c in near]
        candidates_per_query.append(len(candidates))
        found.append(tuple(sorted({int(c.manifest_id.rsplit("-", 1)[1]) for c in candidates})))
        capped += any(len(near) >= 100 for _descriptor, near in near_by_probe)
        nearest.append(min((c.distance for c in candidates), default=SEARCH_RADIUS + 1))
        similarities = [
            descriptor_similarity(descriptor, c.descriptor or b"\0" * 256)
            for descriptor, near in near_by_probe
            for c in near
        ]
        if similarities:
            top_similarity.append(max(similarities))
        reported = [
            (name, c.distance, s) for c, s in zip(candidates, similarities, strict=True) if s >= DESCRIPTOR_THRESHOLD
        ]
        false_recoveries += reported
        queries_with_false += bool(reported)
        # The binding-only rule searches the manifests' own bindings with the code alone.
        binding_only_false += any(
            c.distance <= BINDING_ONLY_RADIUS and c.view is None
            for _descriptor, near in near_by_probe[:1]
            for c in near
        )
    raw = round_trips(store)

    print(f"\n== {label} ==")
    print(
        f"first stage, candidates per query: mean {statistics.fmean(candidates_per_query):.2f}  "
        f"p50 {percentile(candidates_per_query, 0.5):.0f}  p99 {percentile(candidates_per_query, 0.99):.0f}  "
        f"max {max(candidates_per_query)}  queries with none {candidates_per_query.count(0):,}  at the cap of 100 {capped}"
    )
    print(f"nearest unrelated entry (bits; {SEARCH_RADIUS + 1} = none within the radius): {distribution(nearest)}")
    if top_similarity:
        print(
            f"highest descriptor similarity among a query's candidates ({len(top_similarity):,} queries with any): "
            f"{distribution(top_similarity)}"
        )
    print(
        f"first stage latency (candidates_near for every probe): p50 {percentile(latencies, 0.5):.2f} ms  p99 {percentile(latencies, 0.99):.2f} ms  "
        f"(raw round trip SELECT 1: p50 {percentile(raw, 0.5):.3f} ms  p99 {percentile(raw, 0.99):.3f} ms)"
    )
    print(
        f"binding-only rule (<= {BINDING_ONLY_RADIUS} bits, no descriptor): {binding_only_false} of {len(queries):,} "
        f"queries would report an unrelated entry"
    )
    print(
        f"FALSE RECOVERIES (both checks passed): {queries_with_false} queries "
        f"({len(false_recoveries)} entries) of {len(queries):,} unrelated queries"
    )
    for name, distance, similarity in false_recoveries[:20]:
        print(f"  {name:14s} d {distance:2d} sim {similarity:.3f}")
    return len(false_recoveries), found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="processes that fingerprint tiles")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install missing packages")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="the cached list of corpus files")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a database the bench makes a schema of its own in")
    args = parser.parse_args()

    from contextlib import ExitStack

    from app.store.migrate import upgrade_database
    from app.store.sql import open_store
    from app.usecases.soft_binding_resolution import BINDING_ONLY_RADIUS

    if not args.no_install and shutil.which("apt-get"):
        install_packages()
    files = corpus_files(args.cache)
    originals, dropped, blanks, _ = build_repository(files, None)
    held_out = originals[::HELD_OUT_EVERY]
    filling = [entry for index, entry in enumerate(originals) if index % HELD_OUT_EVERY]
    print(
        f"corpus: {len(originals)} distinct originals ({dropped} same-picture and {blanks} blank files left out): "
        f"{len(held_out)} held out, {len(filling)} fill the repository",
        flush=True,
    )

    with ExitStack() as stack:
        backends: list[tuple[str, object]] = []
        if args.backend in ("both", "sqlite"):
            scratch = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite:///{scratch}/repository.db"
            upgrade_database(url)
            backends.append(("SQLite", stack.enter_context(open_store(url, pool_size=2, sqlite_synchronous="NORMAL"))))
        if args.backend in ("both", "postgresql"):
            schema = stack.enter_context(PostgresSchema(args.pg_url, suffix="false_recovery"))
            upgrade_database(schema.url)
            backends.append(("PostgreSQL", stack.enter_context(open_store(schema.url, pool_size=2))))
        stores = [store for _label, store in backends]
        started = time.perf_counter()
        counts = fill(stores, [entry.name for entry in filling], args.entries, args.workers)
        print(
            f"repository: {counts['kept']:,} entries from {counts['originals used']} originals and their tiles "
            f"(left out: {counts['blank']:,} blank, {counts['same picture']:,} the same picture as a kept entry), "
            f"written to {', '.join(label for label, _ in backends)} in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if counts["kept"] < args.entries:
            print(f"!! only {counts['kept']:,} entries: fewer than --entries")

        queries = query_fingerprints(held_out)
        print(
            f"queries: {len(queries):,} ({len(held_out)} held-out originals x {len(TRANSFORMS)} transforms)", flush=True
        )
        print(
            f"SEARCH_RADIUS = {SEARCH_RADIUS}, DESCRIPTOR_THRESHOLD = {DESCRIPTOR_THRESHOLD}, "
            f"BINDING_ONLY_RADIUS = {BINDING_ONLY_RADIUS}"
        )
        results = [
            (label, *query_backend(f"{label}, {counts['kept']:,} entries", store, queries)) for label, store in backends
        ]

    if len(results) == 2:
        agree = sum(a == b for a, b in zip(results[0][2], results[1][2], strict=True))
        print(f"\nsame candidates on both backends: {agree:,} of {len(queries):,} queries")
    failed = any(false for _label, false, _found in results)
    return 0 if not failed and counts["kept"] >= args.entries else 1


if __name__ == "__main__":
    sys.exit(main())
