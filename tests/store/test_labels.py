"""The feed's batch label read: one query per batch, unknown ids answered None, and the bulk loader."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from app.codec import label_to_json
from app.store.interface import MAX_LABEL_BATCH
from app.store.seed import SeedItem, seed_items


@contextmanager
def counted_statements(db_engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    event.listen(db_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db_engine, "before_cursor_execute", record)


def test_a_thousand_ids_known_and_unknown_are_answered_in_one_query(store, real_verdicts):
    seeded = store.bulk_seed_labels(
        seed_items(verdict=real_verdicts.trusted, label=real_verdicts.trusted_label, count=600, media_id_prefix="k"),
        trust_fingerprint="t",
    )
    assert seeded == 600
    known = [f"k{n}" for n in range(500)]
    unknown = [f"unknown-{n}" for n in range(500)]
    ids = [value for pair in zip(known, unknown, strict=True) for value in pair]  # interleaved
    assert len(ids) == MAX_LABEL_BATCH

    with counted_statements(store.db_engine) as statements:
        labels = store.labels_json_for("default", ids)

    assert len(statements) == 1
    assert "media" in statements[0] and "verdicts" not in statements[0]  # the label copy: no join
    expected = label_to_json(real_verdicts.trusted_label)
    assert labels == {**dict.fromkeys(known, expected), **dict.fromkeys(unknown)}
    assert list(labels) == ids  # in the order asked


def test_ids_that_cannot_be_media_ids_are_answered_none_and_duplicates_once(store, real_verdicts):
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.plain,
        label=real_verdicts.plain_label,
        trust_fingerprint="t",
        media_id="p",
    )
    odd = ["", "x" * 201, "nul\x00", "p", "p"]
    with counted_statements(store.db_engine) as statements:
        labels = store.labels_json_for("default", odd)
    assert labels == {"": None, "x" * 201: None, "nul\x00": None, "p": label_to_json(real_verdicts.plain_label)}
    assert len(statements) == 1


def test_no_ids_or_only_impossible_ids_need_no_query(store):
    with counted_statements(store.db_engine) as statements:
        assert store.labels_json_for("default", []) == {}
        assert store.labels_json_for("default", ["", "y" * 300]) == {"": None, "y" * 300: None}
    assert statements == []


def test_more_than_the_batch_limit_is_refused(store):
    with pytest.raises(ValueError, match="at most 1000"):
        store.labels_json_for("default", [f"id-{n}" for n in range(MAX_LABEL_BATCH + 1)])


def test_seeded_rows_are_stored_verdicts_like_any_other(store, real_verdicts):
    items = list(seed_items(verdict=real_verdicts.trusted, label=real_verdicts.trusted_label, count=3))
    assert store.bulk_seed_labels(iter(items), trust_fingerprint="seeded", batch_size=2) == 3  # two batches
    for item in items:
        stored = store.verdict_by_media_id("default", item.media_id)
        assert stored.sha256 == item.sha256 == hashlib.sha256(item.media_id.encode()).hexdigest()
        assert stored.verdict == dataclasses.replace(real_verdicts.trusted, sha256=item.sha256)
        assert stored.label == real_verdicts.trusted_label
        assert stored.trust_fingerprint == "seeded"
    # A later save of the same content updates seeded label copies too.
    store.save_verdict(
        tenant="default",
        verdict=dataclasses.replace(real_verdicts.untrusted, sha256=items[0].sha256),
        label=real_verdicts.untrusted_label,
        trust_fingerprint="t",
    )
    assert store.labels_json_for("default", [items[0].media_id])[items[0].media_id] == label_to_json(
        real_verdicts.untrusted_label
    )


def test_seeding_a_media_id_that_exists_fails_the_batch_and_writes_none_of_it(store, real_verdicts):
    store.bulk_seed_labels(
        seed_items(verdict=real_verdicts.plain, label=real_verdicts.plain_label, count=1), trust_fingerprint="t"
    )
    fresh = SeedItem(
        media_id="fresh",
        sha256="f" * 64,
        state="none",
        label_kind="none",
        verdict_json="{}",
        label_json="{}",
    )
    again = next(seed_items(verdict=real_verdicts.plain, label=real_verdicts.plain_label, count=1))
    with pytest.raises(IntegrityError, match="(?i)unique|duplicate"):
        store.bulk_seed_labels([fresh, again], trust_fingerprint="t")
    assert store.labels_json_for("default", ["fresh"]) == {"fresh": None}
