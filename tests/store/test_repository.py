"""The manifest repository's conformance suite, on SQLite and PostgreSQL: keeping entries, the band
index's exact answers, and the visibility rules (another tenant's private or kept-from-verify entry
is never returned, by id or by similarity, and reads exactly like one that does not exist)."""

from __future__ import annotations

import dataclasses
import hashlib
import random

import pytest
from sqlalchemy import text

from app.store.repository import (
    ISCC_ALG,
    MAX_CANDIDATES,
    VIEW_ALG,
    EntryOrigin,
    NewEntry,
    SoftBinding,
    StoredManifest,
)
from app.store.similarity import MAX_RADIUS, hamming64

CODE = 0xF0E1_D2C3_B4A5_9687  # top bit set: stored as a negative BIGINT


def _sha(text_: str) -> str:
    return hashlib.sha256(text_.encode()).hexdigest()


def _entry(
    manifest_id: str,
    *,
    tenant: str = "tenant-a",
    code64: int | None = CODE,
    origin: EntryOrigin = EntryOrigin.SIGNED,
    private: bool = False,
    descriptor: bytes | None = b"\x01" * 32,
    store: bytes = b"jumbf manifest store",
) -> NewEntry:
    bindings = (
        ()
        if code64 is None
        else (
            SoftBinding(alg=ISCC_ALG, value=b"\x00" + code64.to_bytes(9, "big"), code64=code64, descriptor=descriptor),
        )
    )
    return NewEntry(
        manifest_id=manifest_id,
        tenant=tenant,
        asset_sha256=_sha(manifest_id),
        origin=origin,
        private=private,
        private_by="cli:test" if private else None,
        store=StoredManifest(size=len(store), sha256=_sha(store.decode()), inline=store),
        bindings=bindings,
    )


def _flip(code64: int, *bits: int) -> int:
    for bit in bits:
        code64 ^= 1 << bit
    return code64


@pytest.fixture
def repository(store):
    return store.repository


def test_an_entry_is_kept_with_its_store_and_bindings(repository):
    watermark = SoftBinding(alg="com.example.watermark", value=b"\x00\xff")
    entry = _entry("urn:c2pa:one")
    repository.add_entry(NewEntry(**{**_fields(entry), "bindings": (*entry.bindings, watermark)}))
    found = repository.entry_by_manifest_id("tenant-a", "urn:c2pa:one")
    assert found.manifest_id == "urn:c2pa:one" and found.tenant == "tenant-a"
    assert found.asset_sha256 == _sha("urn:c2pa:one") and found.origin is EntryOrigin.SIGNED and not found.private
    assert found.store.inline == b"jumbf manifest store" and found.store.object_uri is None
    assert found.bindings == (entry.bindings[0], watermark)
    assert found.bindings[0].code64 == CODE  # unsigned again after the signed BIGINT


def test_a_store_kept_in_the_object_store_is_read_back_as_its_uri(repository):
    kept = StoredManifest(size=900_000, sha256=_sha("big"), object_uri="file:///objects/manifest-repository/x.c2pa")
    repository.add_entry(NewEntry(**{**_fields(_entry("urn:c2pa:big")), "store": kept}))
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:big").store == kept


def test_a_tenant_keeps_one_entry_per_manifest_id_and_a_duplicate_changes_nothing(repository):
    repository.add_entry(_entry("urn:c2pa:dup"))
    with pytest.raises(ValueError, match="already"):
        repository.add_entry(_entry("urn:c2pa:dup", code64=_flip(CODE, 1)))
    assert repository.stats().entries == 1
    # Another tenant may keep the same credential it verified.
    repository.add_entry(_entry("urn:c2pa:dup", tenant="tenant-b", origin=EntryOrigin.VERIFIED))
    assert repository.stats().entries == 2


def test_malformed_values_are_refused(repository):
    with pytest.raises(ValueError, match="manifest id"):
        repository.add_entry(_entry("urn with space"))
    with pytest.raises(ValueError, match="tenant"):
        repository.add_entry(_entry("urn:c2pa:x", tenant="Not A Tenant"))
    with pytest.raises(ValueError, match="code64"):
        repository.add_entry(_entry("urn:c2pa:x", code64=1 << 64))
    other = SoftBinding(alg="com.example.watermark", value=b"\x01", code64=5)
    with pytest.raises(ValueError, match="only io.iscc.v0"):
        repository.add_entry(NewEntry(**{**_fields(_entry("urn:c2pa:x")), "bindings": (other,)}))
    with pytest.raises(ValueError, match="radius"):
        repository.candidates_near(CODE, 21, "tenant-a")
    assert repository.stats().entries == 0


def _with_view(entry: NewEntry, view_code: int, *, descriptor: bytes = b"\x02" * 32) -> NewEntry:
    view = SoftBinding(alg=VIEW_ALG, value=b"crop 5%", code64=view_code, descriptor=descriptor)
    return NewEntry(**{**_fields(entry), "bindings": (*entry.bindings, view)})


VIEW_CODE = _flip(CODE, *range(0, 64, 3))  # 22 bits away from CODE: another view's code


def test_view_rows_are_searched_only_when_asked_and_are_not_the_entrys_bindings(repository):
    repository.add_entry(_with_view(_entry("urn:c2pa:viewed"), VIEW_CODE))
    # Not a soft binding of the manifest: not in the entry, nor found by a lookup that does not ask.
    assert [b.alg for b in repository.entry_by_manifest_id("tenant-a", "urn:c2pa:viewed").bindings] == [ISCC_ALG]
    assert [b.alg for b in next(repository.export()).bindings] == [ISCC_ALG]
    assert repository.candidates_near(VIEW_CODE, 4, "tenant-a") == []
    # A lookup by content asks: the view's row, with its own descriptor and name.
    (found,) = repository.candidates_near(_flip(VIEW_CODE, 1), 4, "tenant-a", views=True)
    assert (found.manifest_id, found.view, found.distance, found.descriptor) == (
        "urn:c2pa:viewed",
        "crop 5%",
        1,
        b"\x02" * 32,
    )
    (own,) = repository.candidates_near(CODE, 0, "tenant-a", views=True)
    assert own.view is None and own.descriptor == b"\x01" * 32
    # Visibility and takedowns hold for view rows as for the binding.
    repository.set_private("tenant-a", "urn:c2pa:viewed", True, actor="owner")
    assert repository.candidates_near(VIEW_CODE, 0, "tenant-b", views=True) == []
    repository.delete_entry("tenant-a", "urn:c2pa:viewed", actor="operator", reason="takedown")
    assert repository.candidates_near(VIEW_CODE, 0, "tenant-a", views=True) == []


def test_a_view_row_without_a_code_is_refused(repository):
    view = SoftBinding(alg=VIEW_ALG, value=b"crop 5%")
    with pytest.raises(ValueError, match="view"):
        repository.add_entry(NewEntry(**{**_fields(_entry("urn:c2pa:x")), "bindings": (view,)}))
    assert repository.stats().entries == 0


@pytest.mark.parametrize("radius", [0, 3, 4, 7, 8, 12])
def test_candidates_near_finds_exactly_the_codes_within_the_radius(repository, radius):
    rng = random.Random(radius)
    query = rng.getrandbits(64)
    codes = {}
    for distance in range(0, 16):
        # Flipped bits spread over the bands as unevenly as the pigeonhole bound allows.
        code = _flip(query, *rng.sample(range(64), distance))
        codes[f"urn:c2pa:d{distance}"] = code
    for number in range(40):
        codes[f"urn:c2pa:random{number}"] = rng.getrandbits(64)
    for manifest_id, code in codes.items():
        repository.add_entry(_entry(manifest_id, code64=code))
    found = repository.candidates_near(query, radius, "tenant-b")
    expected = sorted(
        (hamming64(query, code), manifest_id) for manifest_id, code in codes.items() if hamming64(query, code) <= radius
    )
    assert [(candidate.distance, candidate.manifest_id) for candidate in found] == expected
    assert all(candidate.code64 == codes[candidate.manifest_id] for candidate in found)
    assert all(candidate.descriptor == b"\x01" * 32 for candidate in found)


@pytest.mark.parametrize("keys_per_read", [30_000, 7])
@pytest.mark.parametrize("radius", [4, 10, MAX_RADIUS])
def test_the_probes_of_one_lookup_read_together_answer_as_each_alone(repository, radius, keys_per_read, monkeypatch):
    # One read of the band rows for several codes (a lookup's probes): each answer is the one its code
    # gets alone, in the same order, rows another probe brought in included or not. At MAX_RADIUS two
    # probes' band rows are more keys than SQLite binds in one statement; 7 a read: many chunks.
    monkeypatch.setattr("app.store.repository_sql._KEYS_PER_READ", keys_per_read)
    rng = random.Random(radius)
    probes = [rng.getrandbits(64) for _ in range(2)]
    probes.append(probes[0] ^ (0b101 << 48))  # shares three bands with the first: their rows overlap
    probes.append(probes[0])  # the same code twice: answered twice
    number = 0
    for probe in probes[:3]:
        for distance in (0, radius // 2, radius, radius + 1, radius + 6):
            repository.add_entry(_entry(f"urn:c2pa:e{number}", code64=_flip(probe, *rng.sample(range(64), distance))))
            number += 1
    # An entry whose code and view are each within the radius, at the same distance: a tie but for the row.
    code, view = _flip(probes[0], 0, 17), _flip(probes[0], 33, 50)
    repository.add_entry(_with_view(_entry("urn:c2pa:tie", code64=code), view))
    together = repository.candidates_near_each(probes, radius, "tenant-b", views=True)
    alone = [repository.candidates_near(probe, radius, "tenant-b", views=True) for probe in probes]
    assert together == alone
    tie = [(c.view, c.distance) for c in together[0] if c.manifest_id == "urn:c2pa:tie"]
    assert tie == [(None, 2), ("crop 5%", 2)]  # the image row first: it was written first
    assert repository.candidates_near_each([], radius, "tenant-b") == []
    assert repository.candidates_near_each(probes, radius, "not a tenant!") == [[], [], [], []]


def test_a_code_whose_flips_fall_in_one_band_each_is_found_at_the_bound(repository):
    # 12 bits: 3 in each band. Only the radius-3 probes of each band can reach it.
    code = _flip(CODE, 0, 1, 2, 16, 17, 18, 32, 33, 34, 48, 49, 50)
    repository.add_entry(_entry("urn:c2pa:spread", code64=code))
    assert [c.distance for c in repository.candidates_near(CODE, 12, "tenant-a")] == [12]
    assert repository.candidates_near(CODE, 11, "tenant-a") == []


def test_at_most_max_candidates_come_back_nearest_first(repository):
    for number in range(MAX_CANDIDATES + 5):
        repository.add_entry(_entry(f"urn:c2pa:n{number}", code64=_flip(CODE, number % 3)))
    found = repository.candidates_near(CODE, 2, "tenant-a")
    assert len(found) == MAX_CANDIDATES
    assert [c.distance for c in found] == sorted(c.distance for c in found)


def test_entries_without_a_code_are_kept_but_not_searchable(repository):
    repository.add_entry(_entry("urn:c2pa:plain", code64=None))
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:plain").bindings == ()
    assert repository.candidates_near(CODE, 12, "tenant-a") == []
    assert repository.stats().fingerprinted == 0


def test_signed_entries_are_visible_to_every_tenant(repository):
    repository.add_entry(_entry("urn:c2pa:public"))
    assert repository.entry_by_manifest_id("tenant-b", "urn:c2pa:public").tenant == "tenant-a"
    assert [c.manifest_id for c in repository.candidates_near(CODE, 0, "tenant-b")] == ["urn:c2pa:public"]


@pytest.mark.parametrize(
    ("origin", "private"), [(EntryOrigin.SIGNED, True), (EntryOrigin.VERIFIED, False), (EntryOrigin.VERIFIED, True)]
)
def test_private_and_kept_from_verify_entries_are_only_their_tenants(repository, origin, private):
    repository.add_entry(_entry("urn:c2pa:mine", origin=origin, private=private))
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:mine") is not None
    assert [c.manifest_id for c in repository.candidates_near(CODE, 4, "tenant-a")] == ["urn:c2pa:mine"]
    # Another tenant: by id and by similarity exactly as for an id nobody has.
    assert repository.entry_by_manifest_id("tenant-b", "urn:c2pa:mine") is None
    assert repository.entry_by_manifest_id("tenant-b", "urn:c2pa:mine") == repository.entry_by_manifest_id(
        "tenant-b", "urn:c2pa:nobody"
    )
    assert repository.candidates_near(CODE, 4, "tenant-b") == []
    assert repository.set_private("tenant-b", "urn:c2pa:mine", False, actor="b") is False
    assert repository.delete_entry("tenant-b", "urn:c2pa:mine", actor="b", reason="r") is None
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:mine") is not None


def test_marking_private_hides_an_entry_from_others_and_public_again_shows_it(store, repository):
    repository.add_entry(_entry("urn:c2pa:toggle"))
    assert repository.set_private("tenant-a", "urn:c2pa:toggle", True, actor="key:a1")
    assert repository.entry_by_manifest_id("tenant-b", "urn:c2pa:toggle") is None
    assert repository.candidates_near(CODE, 0, "tenant-b") == []
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:toggle").private
    assert repository.set_private("tenant-a", "urn:c2pa:toggle", False, actor="cli:ops")
    assert len(repository.candidates_near(CODE, 0, "tenant-b")) == 1
    # Each change is recorded with who made it (a refused one, by another tenant, is not).
    assert repository.set_private("tenant-b", "urn:c2pa:toggle", True, actor="key:b1") is False
    with store.db_engine.connect() as connection:
        rows = connection.execute(
            text("SELECT manifest_id, tenant, private, actor FROM repository_visibility_changes ORDER BY id")
        ).all()
    assert [(m, t, bool(p), a) for m, t, p, a in rows] == [
        ("urn:c2pa:toggle", "tenant-a", True, "key:a1"),
        ("urn:c2pa:toggle", "tenant-a", False, "cli:ops"),
    ]


def test_an_entry_private_from_the_start_is_recorded_like_a_later_change(store, repository):
    with pytest.raises(ValueError, match="private_by"):
        NewEntry(**{**_fields(_entry("urn:c2pa:born-private")), "private": True, "private_by": None})
    repository.add_entry(
        NewEntry(**{**_fields(_entry("urn:c2pa:born-private")), "private": True, "private_by": "key:a1"})
    )
    repository.add_entry(_entry("urn:c2pa:born-public"))
    assert repository.entry_by_manifest_id("tenant-b", "urn:c2pa:born-private") is None
    assert [c.manifest_id for c in repository.candidates_near(CODE, 0, "tenant-b")] == ["urn:c2pa:born-public"]
    # A duplicate is refused before it writes anything: no second record of a change of visibility.
    with pytest.raises(ValueError, match="already"):
        repository.add_entry(
            NewEntry(**{**_fields(_entry("urn:c2pa:born-private")), "private": True, "private_by": "key:a2"})
        )
    with store.db_engine.connect() as connection:
        rows = connection.execute(
            text("SELECT manifest_id, tenant, private, actor FROM repository_visibility_changes ORDER BY id")
        ).all()
    assert [(m, t, bool(p), a) for m, t, p, a in rows] == [("urn:c2pa:born-private", "tenant-a", True, "key:a1")]


def test_a_tenant_reads_its_own_entry_before_anothers_shared_one(repository):
    repository.add_entry(_entry("urn:c2pa:both", tenant="tenant-b"))
    repository.add_entry(_entry("urn:c2pa:both", tenant="tenant-a", origin=EntryOrigin.VERIFIED))
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:both").origin is EntryOrigin.VERIFIED
    assert repository.entry_by_manifest_id("tenant-c", "urn:c2pa:both").tenant == "tenant-b"
    # The operator's view: every owner, private or not.
    assert [e.tenant for e in repository.entries_with_manifest_id("urn:c2pa:both")] == ["tenant-a", "tenant-b"]
    assert repository.entries_with_manifest_id("urn:c2pa:nobody") == []


def test_entries_by_manifest_ids_read_each_id_as_entry_by_manifest_id_does(repository):
    repository.add_entry(_entry("urn:c2pa:both", tenant="tenant-b"))
    repository.add_entry(_entry("urn:c2pa:both", tenant="tenant-d"))  # newer: others see tenant-b's
    repository.add_entry(_entry("urn:c2pa:both", tenant="tenant-a", origin=EntryOrigin.VERIFIED))
    repository.add_entry(_entry("urn:c2pa:shared", tenant="tenant-b"))
    repository.add_entry(_entry("urn:c2pa:private", tenant="tenant-b", private=True))
    ids = ["urn:c2pa:both", "urn:c2pa:shared", "urn:c2pa:private", "urn:c2pa:nobody", "not an id", "urn:c2pa:both"]
    for viewer in ("tenant-a", "tenant-b", "tenant-c", None):
        together = repository.entries_by_manifest_ids(viewer, ids)
        alone = {i: repository.entry_by_manifest_id(viewer, i) for i in ids if i != "not an id"}
        assert together == {i: entry for i, entry in alone.items() if entry is not None}
    assert set(repository.entries_by_manifest_ids("tenant-a", ids)) == {"urn:c2pa:both", "urn:c2pa:shared"}
    assert repository.entries_by_manifest_ids("tenant-a", ids)["urn:c2pa:both"].origin is EntryOrigin.VERIFIED
    assert repository.entries_by_manifest_ids("tenant-c", ids)["urn:c2pa:both"].tenant == "tenant-b"
    assert repository.entries_by_manifest_ids("tenant-d", ids)["urn:c2pa:both"].tenant == "tenant-d"
    assert set(repository.entries_by_manifest_ids("tenant-b", ids)) == {
        "urn:c2pa:both",
        "urn:c2pa:shared",
        "urn:c2pa:private",
    }
    assert repository.entries_by_manifest_ids("tenant-a", []) == {}
    assert repository.entries_by_manifest_ids("not a tenant!", ids) == {}


def test_delete_removes_the_entry_from_every_read_and_records_the_takedown(store, repository):
    repository.add_entry(_entry("urn:c2pa:gone"))
    deletion = repository.delete_entry("tenant-a", "urn:c2pa:gone", actor="operator", reason="takedown 42")
    assert deletion.manifest_id == "urn:c2pa:gone" and deletion.asset_sha256 == _sha("urn:c2pa:gone")
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:gone") is None
    assert repository.candidates_near(CODE, 12, "tenant-a") == []
    assert repository.delete_entry("tenant-a", "urn:c2pa:gone", actor="operator", reason="again") is None
    stats = repository.stats()
    assert (stats.entries, stats.deletions) == (0, 1)
    with store.db_engine.connect() as connection:
        row = connection.execute(text("SELECT tenant, actor, reason FROM repository_deletions")).one()
        assert tuple(row) == ("tenant-a", "operator", "takedown 42")
        assert connection.execute(text("SELECT count(*) FROM repository_bindings")).scalar_one() == 0


def test_export_yields_every_entry_oldest_first_and_can_be_limited_to_a_tenant(repository):
    for number in range(1203):  # more than two export batches
        repository.add_entry(_entry(f"urn:c2pa:e{number}", tenant="tenant-a" if number % 2 else "tenant-b"))
    exported = list(repository.export())
    assert [e.manifest_id for e in exported] == [f"urn:c2pa:e{number}" for number in range(1203)]
    assert all(e.bindings and e.bindings[0].code64 == CODE for e in exported)
    assert {e.tenant for e in repository.export("tenant-a")} == {"tenant-a"}
    assert len(list(repository.export("tenant-a"))) == 601


def test_stats_count_by_origin_privacy_and_storage(repository):
    repository.add_entry(_entry("urn:c2pa:s1"))
    repository.add_entry(_entry("urn:c2pa:s2", private=True, code64=None))
    repository.add_entry(_entry("urn:c2pa:v1", origin=EntryOrigin.VERIFIED, tenant="tenant-b"))
    kept = StoredManifest(size=10, sha256=_sha("o"), object_uri="file:///o.c2pa")
    repository.add_entry(NewEntry(**{**_fields(_entry("urn:c2pa:o1")), "store": kept}))
    stats = repository.stats()
    assert (stats.entries, stats.signed, stats.verified, stats.private) == (4, 3, 1, 1)
    assert (stats.fingerprinted, stats.object_stored, stats.inline_bytes) == (3, 1, 3 * len(b"jumbf manifest store"))
    assert repository.stats("tenant-b").entries == 1


def test_a_duplicate_inside_a_callers_transaction_leaves_that_transaction_usable(store, repository):
    repository.add_entry(_entry("urn:c2pa:tx"))
    with store.db_engine.begin() as connection:
        with pytest.raises(ValueError):
            repository.write_entry(connection, _entry("urn:c2pa:tx"))
        repository.write_entry(connection, _entry("urn:c2pa:tx2"))
    assert repository.entry_by_manifest_id("tenant-a", "urn:c2pa:tx2") is not None


def _fields(entry: NewEntry) -> dict:
    return {name: getattr(entry, name) for name in NewEntry.__dataclass_fields__}


def test_deleting_one_of_two_entries_in_the_same_band_rows_leaves_the_other_found(store, repository):
    repository.add_entry(_entry("urn:c2pa:first"))
    repository.add_entry(_entry("urn:c2pa:second", code64=_flip(CODE, 0)))  # shares three band rows
    with store.db_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM repository_buckets")).scalar_one() == 5
    repository.delete_entry("tenant-a", "urn:c2pa:first", actor="operator", reason="r")
    assert [c.manifest_id for c in repository.candidates_near(CODE, 1, "tenant-a")] == ["urn:c2pa:second"]
    repository.delete_entry("tenant-a", "urn:c2pa:second", actor="operator", reason="r")
    with store.db_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM repository_buckets")).scalar_one() == 0


def test_a_label_recovered_from_a_manifest_taken_down_meanwhile_shows_the_contents_own(
    store, repository, real_verdicts
):
    """A verification finds an entry, a takedown deletes it and resets the recovered labels, then the
    verification saves: the media id shows the content's own label, not the taken-down recovery
    (the entry's existence is checked in the transaction that writes the label)."""
    import dataclasses

    from app.codec import label_from_json

    recovered = dataclasses.replace(real_verdicts.trusted_label, recovered=True, recovered_manifest_id="urn:c2pa:kept")
    repository.add_entry(_entry("urn:c2pa:kept"))
    plain, own = real_verdicts.plain, real_verdicts.plain_label
    store.save_verdict(
        tenant="tenant-b", verdict=plain, label=own, trust_fingerprint="t", media_id="while-kept", media_label=recovered
    )
    repository.delete_entry("tenant-a", "urn:c2pa:kept", actor="operator", reason="takedown")
    store.forget_recovered_labels("urn:c2pa:kept")
    stored = store.save_verdict(
        tenant="tenant-b",
        verdict=plain,
        label=own,
        trust_fingerprint="t",
        media_id="after-takedown",
        media_label=recovered,
    )
    store.record_submission(tenant="tenant-b", stored=stored, media_id="submitted-after", media_label=recovered)
    shown = store.labels_json_for("tenant-b", ["while-kept", "after-takedown", "submitted-after"])
    assert {media_id: label_from_json(text_ or "") for media_id, text_ in shown.items()} == {
        "while-kept": own,
        "after-takedown": own,
        "submitted-after": own,
    }


def test_a_label_recovered_from_a_kept_manifest_is_shown(store, repository, real_verdicts):
    import dataclasses

    from app.codec import label_from_json

    recovered = dataclasses.replace(real_verdicts.trusted_label, recovered=True, recovered_manifest_id="urn:c2pa:kept")
    repository.add_entry(_entry("urn:c2pa:kept"))
    store.save_verdict(
        tenant="tenant-b",
        verdict=real_verdicts.plain,
        label=real_verdicts.plain_label,
        trust_fingerprint="t",
        media_id="recovered",
        media_label=recovered,
    )
    assert label_from_json(store.labels_json_for("tenant-b", ["recovered"])["recovered"] or "") == recovered


def test_a_binding_outside_the_band_index_is_found_by_its_exact_value(repository):
    """A video's Video-Code is kept without a code64: candidates_with_value finds it, by (alg, value)
    exactly, with the visibility of candidates_near."""
    video_code = bytes([0x23, 0x01]) + CODE.to_bytes(8, "big")
    for manifest_id, tenant, private in (("urn:c2pa:old", "tenant-a", False), ("urn:c2pa:new", "tenant-a", False),
                                         ("urn:c2pa:hidden", "tenant-c", True)):  # fmt: skip
        entry = _entry(manifest_id, tenant=tenant, private=private)
        unindexed = SoftBinding(alg=ISCC_ALG, value=video_code)
        repository.add_entry(dataclasses.replace(entry, bindings=(*entry.bindings, unindexed)))
    found = repository.candidates_with_value(ISCC_ALG, video_code, "tenant-b")
    assert [(c.manifest_id, c.code64, c.descriptor, c.distance) for c in found] == [
        ("urn:c2pa:new", None, None, 0),  # newest first
        ("urn:c2pa:old", None, None, 0),
    ]
    own = repository.candidates_with_value(ISCC_ALG, video_code, "tenant-c")  # its own private entry too
    assert [c.manifest_id for c in own] == ["urn:c2pa:hidden", "urn:c2pa:new", "urn:c2pa:old"]
    assert repository.candidates_with_value(ISCC_ALG, video_code[:-1] + b"\x00", "tenant-b") == []
    assert repository.candidates_with_value("other.alg", video_code, "tenant-b") == []
    # Not in the band index: a similarity search for the same 64 bits finds only the Image-Code bindings.
    assert {c.code64 for c in repository.candidates_near(CODE, 0, "tenant-b")} == {CODE}


def _video_code_binding(code64: int) -> SoftBinding:
    """An ISCC Video-Code binding as a signed video's assertion carries it (header 0x23 0x01, 64 bits)."""
    return SoftBinding(alg=ISCC_ALG, value=bytes([0x23, 0x01]) + code64.to_bytes(8, "big"), code64=code64)


def test_a_video_code_is_searched_in_its_own_key_space(repository):
    """A Video-Code's 64 bits are listed in the Video-Code key space of the band index: found there within
    a radius, never by an Image-Code search of the same bits (and an Image-Code never there), with the
    visibility of every search; a takedown takes it out."""
    from app.store.similarity import CodeSpace

    for manifest_id, tenant, private, code in (
        ("urn:c2pa:video", "tenant-a", False, _flip(CODE, 1, 30, 60)),
        ("urn:c2pa:hidden", "tenant-c", True, _flip(CODE, 2)),
    ):
        entry = _entry(manifest_id, tenant=tenant, private=private)  # its Image-Code binding is CODE itself
        repository.add_entry(dataclasses.replace(entry, bindings=(*entry.bindings, _video_code_binding(code))))

    found = repository.candidates_near(CODE, 4, "tenant-b", space=CodeSpace.VIDEO)
    assert [(c.manifest_id, c.distance, c.code64, c.descriptor) for c in found] == [
        ("urn:c2pa:video", 3, _flip(CODE, 1, 30, 60), None)
    ]
    assert repository.candidates_near(CODE, 2, "tenant-b", space=CodeSpace.VIDEO) == []
    own = repository.candidates_near(CODE, 4, "tenant-c", space=CodeSpace.VIDEO)
    assert [(c.manifest_id, c.distance) for c in own] == [("urn:c2pa:hidden", 1), ("urn:c2pa:video", 3)]
    # The Image-Code search of the same bits finds the Image-Code bindings only.
    assert {c.code64 for c in repository.candidates_near(CODE, 4, "tenant-c")} == {CODE}
    assert repository.candidates_near(_flip(CODE, 2), 0, "tenant-c") == []

    assert repository.delete_entry("tenant-a", "urn:c2pa:video", actor="test", reason="takedown") is not None
    assert repository.candidates_near(CODE, 4, "tenant-b", space=CodeSpace.VIDEO) == []
    assert [c.manifest_id for c in repository.candidates_near(CODE, 4, "tenant-c", space=CodeSpace.VIDEO)] == [
        "urn:c2pa:hidden"
    ]


def test_a_video_code_binding_keeps_its_own_code(repository):
    """Its band rows follow from its value: a code64 that is not the value's own is refused."""
    wrong = dataclasses.replace(_video_code_binding(CODE), code64=_flip(CODE, 5))
    with pytest.raises(ValueError, match="Video-Code"):
        repository.add_entry(dataclasses.replace(_entry("urn:c2pa:wrong"), bindings=(wrong,)))
