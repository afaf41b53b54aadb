"""VerdictStore conformance on both backends, with verdicts the real verifier made."""

from __future__ import annotations

import datetime
import threading

import pytest
from sqlalchemy import func, select

from app.codec import label_to_json
from app.store.interface import MAX_MEDIA_ID_LENGTH
from app.store.schema import media, verdicts
from app.store.sql import open_store
from verifier.label_types import LabelKind
from verifier.verdict import VerdictState


def _count(store, table) -> int:
    with store.db_engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_real_verdicts_are_what_the_tests_below_assume(real_verdicts):
    assert real_verdicts.trusted.state is VerdictState.TRUSTED
    assert real_verdicts.trusted_label.kind is LabelKind.AI_GENERATED and real_verdicts.trusted_label.trusted
    assert real_verdicts.untrusted.state is VerdictState.VALID
    assert real_verdicts.untrusted.sha256 == real_verdicts.trusted.sha256
    assert real_verdicts.untrusted_label != real_verdicts.trusted_label
    assert real_verdicts.plain.state is VerdictState.NONE
    assert real_verdicts.plain_label.kind is LabelKind.NONE


def test_a_saved_verdict_reads_back_equal_by_hash_and_by_media_id(store, real_verdicts):
    before = datetime.datetime.now(datetime.UTC)
    saved = store.save_verdict(
        tenant="default",
        verdict=real_verdicts.trusted,
        label=real_verdicts.trusted_label,
        trust_fingerprint="trust-1",
        media_id="post:1",
    )
    assert saved.sha256 == real_verdicts.trusted.sha256
    assert saved.media_id == "post:1"
    assert before <= saved.stored_at <= datetime.datetime.now(datetime.UTC)

    by_hash = store.verdict_by_sha256("default", real_verdicts.trusted.sha256)
    by_media = store.verdict_by_media_id("default", "post:1")
    assert by_hash is not None and by_media is not None
    assert by_hash.verdict == real_verdicts.trusted  # every field, manifests and datetimes included
    assert by_hash.label == real_verdicts.trusted_label
    assert by_hash.trust_fingerprint == "trust-1"
    assert by_hash.stored_at == saved.stored_at
    assert by_hash.stored_at.tzinfo is not None and by_hash.stored_at.utcoffset() == datetime.timedelta(0)
    assert by_hash.media_id is None
    assert by_media == saved  # the whole StoredVerdict, media id included


def test_unknown_hashes_and_media_ids_read_as_none(store):
    assert store.verdict_by_sha256("default", "0" * 64) is None
    assert store.verdict_by_media_id("default", "never-stored") is None
    # Values nothing could have been stored under are None too, not a database error.
    for impossible in ("", "A" * 64, "0" * 65, "nul\x00" + "0" * 60):
        assert store.verdict_by_sha256("default", impossible) is None
    for impossible in ("", "x" * 201, "nul\x00"):
        assert store.verdict_by_media_id("default", impossible) is None


def test_saving_the_same_hash_again_replaces_its_verdict_and_every_label_copy(store, real_verdicts):
    sha256 = real_verdicts.trusted.sha256
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.trusted,
        label=real_verdicts.trusted_label,
        trust_fingerprint="with-dev-ca",
        media_id="a",
    )
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.trusted,
        label=real_verdicts.trusted_label,
        trust_fingerprint="with-dev-ca",
        media_id="b",
    )
    # The trust configuration changed: the same bytes are verified again and stored without a media id.
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.untrusted,
        label=real_verdicts.untrusted_label,
        trust_fingerprint="no-dev-ca",
    )

    stored = store.verdict_by_sha256("default", sha256)
    assert stored.verdict == real_verdicts.untrusted
    assert stored.label == real_verdicts.untrusted_label
    assert stored.trust_fingerprint == "no-dev-ca"
    assert _count(store, verdicts) == 1
    # Both media ids point at the rewritten verdict, and their denormalised label copies follow it.
    assert store.verdict_by_media_id("default", "a").verdict == real_verdicts.untrusted
    new_label = label_to_json(real_verdicts.untrusted_label)
    assert store.labels_json_for("default", ["a", "b"]) == {"a": new_label, "b": new_label}


def test_a_media_id_can_be_pointed_at_other_content(store, real_verdicts):
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.trusted,
        label=real_verdicts.trusted_label,
        trust_fingerprint="t",
        media_id="avatar:7",
    )
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.plain,
        label=real_verdicts.plain_label,
        trust_fingerprint="t",
        media_id="avatar:7",
    )
    assert store.verdict_by_media_id("default", "avatar:7").verdict == real_verdicts.plain
    assert store.labels_json_for("default", ["avatar:7"]) == {"avatar:7": label_to_json(real_verdicts.plain_label)}
    # The earlier content keeps its own verdict, reachable by hash.
    assert store.verdict_by_sha256("default", real_verdicts.trusted.sha256).verdict == real_verdicts.trusted
    assert _count(store, media) == 1 and _count(store, verdicts) == 2


def test_a_verdict_is_committed_when_save_returns(store, database_url, real_verdicts):
    other_process = open_store(database_url, pool_size=1)  # its own SQLAlchemy engine, pool and connections
    try:
        assert other_process.verdict_by_media_id("default", "fresh") is None
        store.save_verdict(
            tenant="default",
            verdict=real_verdicts.plain,
            label=real_verdicts.plain_label,
            trust_fingerprint="t",
            media_id="fresh",
        )
        seen = other_process.verdict_by_media_id("default", "fresh")
        assert seen is not None and seen.verdict == real_verdicts.plain
    finally:
        other_process.close()


@pytest.mark.parametrize(
    ("media_id", "problem"),
    [
        ("", "1 to 200 characters"),
        ("x" * (MAX_MEDIA_ID_LENGTH + 1), "1 to 200 characters"),
        ("nul\x00byte", "control characters"),
        ("post/1", "A-Z a-z 0-9 . _ : -"),  # the API's rule is the store's (app/store/validation.py)
    ],
)
def test_a_media_id_that_cannot_be_stored_is_a_value_error_and_nothing_is_written(
    store, real_verdicts, media_id, problem
):
    with pytest.raises(ValueError, match=problem):
        store.save_verdict(
            tenant="default",
            verdict=real_verdicts.plain,
            label=real_verdicts.plain_label,
            trust_fingerprint="t",
            media_id=media_id,
        )
    assert _count(store, verdicts) == 0


def test_the_longest_allowed_media_id_is_stored(store, real_verdicts):
    longest = "m" * MAX_MEDIA_ID_LENGTH
    store.save_verdict(
        tenant="default",
        verdict=real_verdicts.plain,
        label=real_verdicts.plain_label,
        trust_fingerprint="t",
        media_id=longest,
    )
    assert store.verdict_by_media_id("default", longest).media_id == longest


def test_concurrent_saves_and_reads_from_eight_threads_all_succeed(store, real_verdicts):
    """SQLite: writers queue on BEGIN IMMEDIATE + busy_timeout, never "database is locked"."""
    import dataclasses
    import hashlib

    errors: list[BaseException] = []
    per_thread = 25
    labels = {}

    def work(thread: int) -> None:
        try:
            for n in range(per_thread):
                media_id = f"t{thread}-{n}"
                verdict = dataclasses.replace(real_verdicts.plain, sha256=hashlib.sha256(media_id.encode()).hexdigest())
                store.save_verdict(
                    tenant="default",
                    verdict=verdict,
                    label=real_verdicts.plain_label,
                    trust_fingerprint="t",
                    media_id=media_id,
                )
                # Re-verifying shared content from every thread: upserts of one row race each other.
                store.save_verdict(
                    tenant="default",
                    verdict=real_verdicts.trusted,
                    label=real_verdicts.trusted_label,
                    trust_fingerprint="t",
                )
                assert store.verdict_by_media_id("default", media_id).verdict == verdict
                labels.update(store.labels_json_for("default", [media_id, f"t{(thread + 1) % 8}-{n}"]))
        except BaseException as error:  # noqa: BLE001 - reported below with the thread's failure
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(store, media) == 8 * per_thread
    assert _count(store, verdicts) == 8 * per_thread + 1
