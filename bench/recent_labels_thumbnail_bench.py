"""What `has_thumbnail` costs the feed's recent-labels read (issue 15): the read's query with the
thumbnails' outer join beside the query it replaced (no join), timed the same way in the same run.

    python bench/recent_labels_thumbnail_bench.py [--items 100000] [--postgres URL]

A scratch SQLite database (and, with --postgres, a schema of its own in that database) seeded with
`--items` labelled media ids of the default tenant; every other one of the newest 200 gets a feed
thumbnail of its current content. Each query runs 300 times for 20 items (the feed's default page)
on one connection; prints the medians, and how many of the 20 had a thumbnail.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root: app.*, bench.*

from sqlalchemy import bindparam, select

from app.store.interface import Thumbnail
from app.store.migrate import upgrade_database
from app.store.schema import media
from app.store.seed import seed_items
from app.store.sql import open_store
from bench.pg_schema import PostgresSchema
from verifier.label import label_for
from verifier.verdict import Verdict, VerdictState

PAGE = 20
ROUNDS = 300


def measure(url: str, name: str, items: int) -> None:
    upgrade_database(url)
    store = open_store(url)
    try:
        verdict = Verdict(state=VerdictState.NONE, sha256="0" * 64, reason="bench", size=1, engine_version="bench")
        seeded = seed_items(verdict=verdict, label=label_for(verdict), count=items, media_id_prefix="m")
        store.bulk_seed_labels(seeded, trust_fingerprint="bench")
        newest = select(media.c.media_id, media.c.sha256).order_by(media.c.updated_at.desc(), media.c.media_id.desc())
        with store.db_engine.connect() as connection:
            rows = connection.execute(newest.limit(200)).all()
        now = datetime.datetime.now(datetime.UTC)
        for media_id, sha256 in rows[::2]:
            store.keep_thumbnail(
                Thumbnail(
                    tenant="default",
                    media_id=media_id,
                    source_sha256=sha256,
                    content_type="image/jpeg",
                    content=b"\xff" * 30_000,
                    private=False,
                    made_at=now,
                )
            )
        before = (
            select(media.c.media_id, media.c.label_json, media.c.updated_at)
            .where(media.c.tenant == bindparam("tenant"))
            .order_by(media.c.updated_at.desc(), media.c.media_id.desc())
            .limit(bindparam("limit"))
        )
        queries = {"without the join": before, "with has_thumbnail": store._verdicts._recent}
        times: dict[str, list[float]] = {label: [] for label in queries}
        with store.db_engine.connect() as connection:
            for round_ in range(ROUNDS + 20):
                for label, query in queries.items():
                    started = time.perf_counter()
                    found = connection.execute(query, {"tenant": "default", "limit": PAGE}).all()
                    if round_ >= 20:  # the first rounds warm the caches
                        times[label].append(time.perf_counter() - started)
        with_thumbnail = sum(1 for row in found if row[3])
        medians = ", ".join(f"{label} {statistics.median(values) * 1000:.3f} ms" for label, values in times.items())
        print(f"{name}, {items} items, {PAGE} read: {medians}; {with_thumbnail}/{PAGE} with a thumbnail")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL: also measured there, in a schema of its own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{folder}/bench.db", "SQLite", args.items)
    if args.postgres:
        with PostgresSchema(args.postgres, "recent") as schema:
            measure(schema.url, "PostgreSQL", args.items)


if __name__ == "__main__":
    main()
