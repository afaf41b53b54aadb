"""Fast bulk loading of stored verdicts, for benchmarks and load tests (a million rows in seconds).

This bypasses `save_verdict`'s per-row upserts: each item is a fresh content hash and a fresh
media id (a duplicate of an existing row fails the batch), written in large transactions —
PostgreSQL through COPY, SQLite through executemany. Rows are in exactly the format
`save_verdict` writes, so every read path serves them.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import psycopg
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from app.codec import label_to_json, verdict_to_json
from app.store.interface import DEFAULT_TENANT
from app.store.schema import media, tenant_content, verdicts
from verifier.label_types import Label
from verifier.verdict import Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedItem:
    """One stored verdict and the media id pointing at it, already encoded."""

    media_id: str
    sha256: str
    state: str  # VerdictState value
    tenant: str = DEFAULT_TENANT  # owns the media id and counts as the submitter of the bytes
    label_kind: str  # LabelKind value
    verdict_json: str  # the codec's JSON of a Verdict whose sha256 is `sha256`
    label_json: str


def seed_items(
    *,
    verdict: Verdict,
    label: Label,
    count: int,
    media_id_prefix: str = "seed-",
    tenants: Sequence[str] = (DEFAULT_TENANT,),
    id_space_per_tenant: bool = False,
) -> Iterator[SeedItem]:
    """`count` copies of one real verdict, each under its own content hash and media id.

    Ids are `<prefix><n>` for n in 0..count-1, owned by `tenants[n % len(tenants)]`; hashes are
    SHA-256 of the id, substituted into the encoded verdict (encoding once keeps a million items
    cheap). With `id_space_per_tenant`, item n is `<prefix><n // len(tenants)>` of that tenant
    instead (every tenant has ids `<prefix>0`, `<prefix>1`, ..., as tenants of one platform do)
    and its hash is SHA-256 of `<tenant>/<id>` (still unique across tenants).
    """
    template = verdict_to_json(verdict)
    if template.count(verdict.sha256) != 1:
        raise ValueError("the template verdict's sha256 must appear exactly once in its JSON")
    label_json = label_to_json(label)
    for number in range(count):
        tenant = tenants[number % len(tenants)]
        if id_space_per_tenant:
            media_id = f"{media_id_prefix}{number // len(tenants)}"
            sha256 = hashlib.sha256(f"{tenant}/{media_id}".encode()).hexdigest()
        else:
            media_id = f"{media_id_prefix}{number}"
            sha256 = hashlib.sha256(media_id.encode()).hexdigest()
        yield SeedItem(
            media_id=media_id,
            tenant=tenant,
            sha256=sha256,
            state=verdict.state.value,
            label_kind=label.kind.value,
            verdict_json=template.replace(verdict.sha256, sha256),
            label_json=label_json,
        )


def bulk_seed(db_engine: Engine, items: Iterable[SeedItem], *, trust_fingerprint: str, batch_size: int = 20_000) -> int:
    """Insert every item (verdict row + media row); returns how many. One transaction per batch.

    A content hash or media id that is already stored raises sqlalchemy's IntegrityError and
    leaves that batch unwritten (earlier batches stay).
    """
    stored_at = datetime.datetime.now(datetime.UTC)
    total = 0
    iterator = iter(items)
    while batch := list(islice(iterator, batch_size)):
        if db_engine.dialect.name == "postgresql":
            _copy_batch(db_engine, batch, trust_fingerprint=trust_fingerprint, stored_at=stored_at)
        else:
            _executemany_batch(db_engine, batch, trust_fingerprint=trust_fingerprint, stored_at=stored_at)
        total += len(batch)
    return total


def _executemany_batch(
    db_engine: Engine, batch: list[SeedItem], *, trust_fingerprint: str, stored_at: datetime.datetime
) -> None:
    with db_engine.begin() as connection:
        connection.execute(
            insert(verdicts),
            [
                {
                    "sha256": item.sha256,
                    "state": item.state,
                    "label_kind": item.label_kind,
                    "verdict_json": item.verdict_json,
                    "label_json": item.label_json,
                    "trust_fingerprint": trust_fingerprint,
                    "stored_at": stored_at,
                }
                for item in batch
            ],
        )
        connection.execute(
            insert(tenant_content),
            [{"tenant": item.tenant, "sha256": item.sha256, "first_seen": stored_at} for item in batch],
        )
        connection.execute(
            insert(media),
            [
                {
                    "tenant": item.tenant,
                    "media_id": item.media_id,
                    "sha256": item.sha256,
                    "label_json": item.label_json,
                    "updated_at": stored_at,
                }
                for item in batch
            ],
        )


def _copy_batch(
    db_engine: Engine, batch: list[SeedItem], *, trust_fingerprint: str, stored_at: datetime.datetime
) -> None:
    raw = db_engine.raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the caller checked the dialect: postgresql is psycopg 3 here
    try:
        with driver.cursor() as cursor:  # a psycopg 3 cursor: COPY without SQL parsing
            with cursor.copy(
                "COPY verdicts (sha256, state, label_kind, verdict_json, label_json, trust_fingerprint, stored_at) "
                "FROM STDIN"
            ) as copy:
                for item in batch:
                    copy.write_row(
                        (
                            item.sha256,
                            item.state,
                            item.label_kind,
                            item.verdict_json,
                            item.label_json,
                            trust_fingerprint,
                            stored_at,
                        )
                    )
            with cursor.copy("COPY tenant_content (tenant, sha256, first_seen) FROM STDIN") as copy:
                for item in batch:
                    copy.write_row((item.tenant, item.sha256, stored_at))
            with cursor.copy("COPY media (tenant, media_id, sha256, label_json, updated_at) FROM STDIN") as copy:
                for item in batch:
                    copy.write_row((item.tenant, item.media_id, item.sha256, item.label_json, stored_at))
        raw.commit()
    except psycopg.IntegrityError as error:
        raw.rollback()
        # The same exception type as SQLite's path (SQLAlchemy's), whatever the backend.
        raise IntegrityError("COPY", None, error) from error
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
