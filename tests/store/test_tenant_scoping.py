"""The store's tenant scoping on both backends: every read that takes an id names the tenant in its
query, the verification cache is shared, and a read by hash needs the tenant's own submission."""

from __future__ import annotations

import pytest

from app.store.interface import MAX_MEDIA_IDS_PER_CONTENT, Scope


def _save(store, real_verdicts, tenant, media_id=None, *, which="trusted"):
    return store.save_verdict(
        tenant=tenant,
        verdict=getattr(real_verdicts, which),
        label=getattr(real_verdicts, f"{which}_label"),
        trust_fingerprint="t",
        media_id=media_id,
    )


def test_a_media_id_is_per_tenant(store, real_verdicts):
    _save(store, real_verdicts, "tenant-a", "post-1")
    _save(store, real_verdicts, "tenant-b", "post-1", which="plain")
    assert store.verdict_by_media_id("tenant-a", "post-1").sha256 == real_verdicts.trusted.sha256
    assert store.verdict_by_media_id("tenant-b", "post-1").sha256 == real_verdicts.plain.sha256
    assert store.verdict_by_media_id("tenant-c", "post-1") is None
    labels_a = store.labels_json_for("tenant-a", ["post-1"])["post-1"]
    labels_b = store.labels_json_for("tenant-b", ["post-1"])["post-1"]
    assert labels_a != labels_b and labels_a is not None and labels_b is not None
    assert [item.media_id for item in store.recent_labels("tenant-a", 10)] == ["post-1"]
    assert store.recent_labels("tenant-c", 10) == []


def test_a_read_by_hash_needs_the_tenants_own_submission(store, real_verdicts):
    sha256 = _save(store, real_verdicts, "tenant-a").sha256
    assert store.verdict_by_sha256("tenant-a", sha256) is not None
    assert store.verdict_by_sha256("tenant-b", sha256) is None
    assert store.cached_verdict(sha256) is not None  # the cache is a fact about bytes, for everyone
    assert store.cached_verdict_for("tenant-a", sha256).submitted
    assert not store.cached_verdict_for("tenant-b", sha256).submitted  # the cache answers B all the same
    assert store.cached_verdict_for("tenant-b", sha256).stored.sha256 == sha256

    store.record_submission(tenant="tenant-b", stored=store.cached_verdict(sha256), media_id="mine")
    assert store.verdict_by_sha256("tenant-b", sha256) is not None
    assert store.verdict_by_media_id("tenant-b", "mine").sha256 == sha256
    assert store.verdict_by_media_id("tenant-a", "mine") is None


def test_the_media_ids_of_some_bytes_are_the_tenants_own_sorted(store, real_verdicts):
    sha256 = _save(store, real_verdicts, "tenant-a", "repost-b").sha256
    stored = store.cached_verdict(sha256)
    store.record_submission(tenant="tenant-a", stored=stored, media_id="repost-a")
    store.record_submission(tenant="tenant-b", stored=stored, media_id="theirs")
    _save(store, real_verdicts, "tenant-a", "other-bytes", which="plain")
    assert store.media_ids_for_sha256("tenant-a", sha256) == ["repost-a", "repost-b"]
    assert store.media_ids_for_sha256("tenant-b", sha256) == ["theirs"]
    assert store.media_ids_for_sha256("tenant-c", sha256) == []
    store.record_submission(tenant="tenant-c", stored=stored)  # submitted without an id: none to list
    assert store.media_ids_for_sha256("tenant-c", sha256) == []
    # A media id repointed at other bytes no longer lists under the old ones.
    _save(store, real_verdicts, "tenant-a", "repost-b", which="plain")
    assert store.media_ids_for_sha256("tenant-a", sha256) == ["repost-a"]
    assert store.media_ids_for_sha256("tenant-a", real_verdicts.plain.sha256) == ["other-bytes", "repost-b"]
    assert store.media_ids_for_sha256("tenant-a", sha256.upper()) == []  # stored hashes are lowercase
    assert store.media_ids_for_sha256("tenant-a", "not-a-hash") == []


def test_the_media_ids_of_some_bytes_are_bounded(store, real_verdicts):
    stored = _save(store, real_verdicts, "tenant-a")
    many = [f"id-{n:04d}" for n in range(MAX_MEDIA_IDS_PER_CONTENT + 5)]
    for media_id in reversed(many):
        store.record_submission(tenant="tenant-a", stored=stored, media_id=media_id)
    assert store.media_ids_for_sha256("tenant-a", stored.sha256) == many[:MAX_MEDIA_IDS_PER_CONTENT]


def test_names_that_cannot_be_tenants_read_as_nothing(store, real_verdicts):
    _save(store, real_verdicts, "tenant-a", "post-1")
    for name in ("", "Tenant-A", "tenant-a\x00", "x" * 65, "tenant a", "../tenant-a"):
        assert store.labels_json_for(name, ["post-1"]) == {"post-1": None}
        assert store.verdict_by_media_id(name, "post-1") is None
        assert store.verdict_by_sha256(name, real_verdicts.trusted.sha256) is None
        assert store.recent_labels(name, 5) == []
        assert store.media_ids_for_sha256(name, real_verdicts.trusted.sha256) == []


def test_a_media_id_needs_a_tenant(store, real_verdicts):
    with pytest.raises(ValueError, match="belongs to a tenant"):
        _save(store, real_verdicts, None, "post-1")
    _save(store, real_verdicts, None)  # the public page's stored uploads: by hash only, nobody's
    assert store.cached_verdict(real_verdicts.trusted.sha256) is not None
    assert store.verdict_by_sha256("default", real_verdicts.trusted.sha256) is None


def test_tenants_and_their_keys(store):
    assert [tenant.name for tenant in store.list_tenants()] == ["default"]
    created = store.create_tenant("acme-ai", object_prefixes=["s3://b/acme/", "s3://b/acme/"])
    assert created.object_prefixes == ("s3://b/acme/",)  # duplicates dropped
    with pytest.raises(ValueError, match="exists already"):
        store.create_tenant("acme-ai")
    with pytest.raises(ValueError, match="tenant name"):
        store.create_tenant("Acme AI")
    key, _token = store.create_key(name="k", scopes=frozenset({Scope.READ}), tenant="acme-ai")
    assert key.tenant == "acme-ai" and store.key(key.key_id).tenant == "acme-ai"
    assert store.set_object_prefixes("acme-ai", []).object_prefixes == ()
    assert store.set_object_prefixes("nobody", ["x/"]) is None
    assert store.rotate_webhook_secret("acme-ai").webhook_secret_generation == 2
    assert store.tenant("acme-ai").webhook_secret_generation == 2
