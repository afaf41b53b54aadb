"""The feed's recent-items read (issue 7): newest first, bounded, one query along its index, both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app.codec import label_to_json
from app.store.interface import MAX_RECENT_LABELS
from app.store.seed import seed_items


@contextmanager
def executed(db_engine) -> Iterator[list[tuple[str, object]]]:
    statements: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany):
        statements.append((statement, parameters))

    event.listen(db_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db_engine, "before_cursor_execute", record)


def test_the_newest_media_come_first_ties_by_media_id_and_the_limit_holds(store, real_verdicts):
    # One bulk seed: every row has the same updated_at, so the media id alone orders them.
    store.bulk_seed_labels(
        seed_items(verdict=real_verdicts.trusted, label=real_verdicts.trusted_label, count=12, media_id_prefix="s"),
        trust_fingerprint="t",
    )
    # Written after the seed (and named to sort first even on an equal clock reading).
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.plain,
        label=real_verdicts.plain_label,
        trust_fingerprint="t",
        media_id="z-newest",
    )

    recent = store.recent_labels("default", 5)

    assert [item.media_id for item in recent] == ["z-newest", "s9", "s8", "s7", "s6"]
    assert recent[0].label_json == label_to_json(real_verdicts.plain_label)
    assert recent[1].label_json == label_to_json(real_verdicts.trusted_label)
    assert recent[0].updated_at >= recent[1].updated_at
    assert all(item.updated_at.tzinfo is not None for item in recent)
    assert len(store.recent_labels("default", MAX_RECENT_LABELS)) == 13


def test_pointing_an_old_id_at_a_verdict_again_moves_it_to_the_top(store, real_verdicts):
    for media_id in ("a", "b", "c"):
        store.save_verdict(
            tenant="default",
            verdict=real_verdicts.plain,
            label=real_verdicts.plain_label,
            trust_fingerprint="t",
            media_id=media_id,
        )
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.trusted,
        label=real_verdicts.trusted_label,
        trust_fingerprint="t",
        media_id="a",
    )
    after = store.recent_labels("default", 3)
    assert after[0].media_id == "a"
    assert after[0].label_json == label_to_json(real_verdicts.trusted_label)


def test_an_empty_store_answers_an_empty_list(store):
    assert store.recent_labels("default", 10) == []


@pytest.mark.parametrize("limit", [0, -1, MAX_RECENT_LABELS + 1])
def test_a_limit_out_of_range_is_refused(store, limit):
    with pytest.raises(ValueError, match="1 to 100"):
        store.recent_labels("default", limit)


def test_the_read_is_one_query_that_walks_the_index_without_sorting(store, real_verdicts):
    store.bulk_seed_labels(
        seed_items(verdict=real_verdicts.trusted, label=real_verdicts.trusted_label, count=300, media_id_prefix="m"),
        trust_fingerprint="t",
    )
    with executed(store.db_engine) as statements:
        assert len(store.recent_labels("default", 20)) == 20
    assert len(statements) == 1
    sql, parameters = statements[0]
    assert "verdicts" not in sql  # the label copy on media: no join

    with store.db_engine.connect() as connection:
        if store.dialect == "postgresql":
            # A 300-row table would be read whole; ask whether the index CAN serve the order.
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql, parameters))
            assert "Index Scan Backward using ix_media_tenant_updated_at" in plan, plan
            assert "Sort" not in plan, plan
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "USING INDEX ix_media_tenant_updated_at" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # no sort step


def test_rewriting_a_verdict_refreshes_the_label_copies_time(store, real_verdicts):
    """A verdict re-made under a new trust configuration changes its ids' labels: they count as updated."""
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.untrusted,
        label=real_verdicts.untrusted_label,
        trust_fingerprint="t1",
        media_id="x",
    )
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.plain,
        label=real_verdicts.plain_label,
        trust_fingerprint="t1",
        media_id="y",
    )
    first = {item.media_id: item for item in store.recent_labels("default", 10)}
    # The same bytes (same SHA-256) verified again with the development CA trusted.
    store.save_verdict(
        tenant="default", verdict=real_verdicts.trusted, label=real_verdicts.trusted_label, trust_fingerprint="t2"
    )
    second = store.recent_labels("default", 10)
    assert second[0].media_id == "x"
    assert second[0].label_json == label_to_json(real_verdicts.trusted_label)
    assert second[0].updated_at >= first["y"].updated_at
