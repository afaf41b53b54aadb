"""Sign jobs: POST /v1/jobs/sign (S3 to S3) over real HTTP, a real worker, the signed object,
its verdict and one audit entry; the key's signing policy checked at submit."""

from __future__ import annotations

import io

from app.objects.location import ObjectLocation, Scheme
from app.store.interface import Scope
from signer.policy import SigningPolicy
from tests.api.helpers import jpeg_bytes
from tests.jobs.conftest import auth, wait_done


def test_a_sign_job_signs_once_into_the_destination(http, keys, s3, store, drain_queue):
    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, "gen/in.jpg", bucket), io.BytesIO(jpeg_bytes(seed=21)))
    sign_token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))[1]
    body = {
        "source": f"s3://{bucket}/gen/in.jpg",
        "destination": f"s3://{bucket}/signed/out.jpg",
        "generator": "TestGen",
        "generator_version": "1.0",
        "title": "a job's picture",
        "media_id": "gen-1",
    }
    first = http.post("/v1/jobs/sign", json=body, headers=auth(sign_token))
    assert first.status_code == 202, first.text
    again = http.post("/v1/jobs/sign", json=body, headers=auth(sign_token)).json()
    assert again["job_id"] == first.json()["job_id"] and again["created"] is False

    drain_queue()
    done = wait_done(http, keys.read, first.json()["job_id"])
    assert done["status"] == "succeeded", done
    assert done["kind"] == "sign" and done["result"]["destination"] == body["destination"]
    assert done["result"]["verdict"]["state"] in ("trusted", "valid")
    with object_store.open_read(ObjectLocation(Scheme.S3, "signed/out.jpg", bucket)) as reader:
        signed = reader.read()
    import hashlib

    assert hashlib.sha256(signed).hexdigest() == done["result"]["sha256"]
    entries = [e for e in store.entries(limit=10) if e.media_id == "gen-1"]
    assert len(entries) == 1 and entries[0].output_sha256 == done["result"]["sha256"]
    assert entries[0].generator == "TestGen"
    assert entries[0].digital_source_type == "trainedAlgorithmicMedia" and entries[0].title == "a job's picture"
    assert store.verdict_by_media_id("default", "gen-1").sha256 == done["result"]["sha256"]


def test_a_sign_job_outside_the_keys_policy_is_refused_at_submit(http, s3, store, pg_url):
    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, "gen/p.jpg", bucket), io.BytesIO(jpeg_bytes(seed=22)))
    policy = SigningPolicy(generators=("OnlyThis",), source_types=SigningPolicy.default().source_types)
    token = store.create_key(name="narrow", scopes=frozenset({Scope.SIGN}), signing_policy=policy)[1]
    body = {"source": f"s3://{bucket}/gen/p.jpg", "destination": f"s3://{bucket}/signed/p.jpg", "generator": "Other"}
    refused = http.post("/v1/jobs/sign", json=body, headers=auth(token))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "signing_policy"
    onto_itself = http.post(
        "/v1/jobs/sign", json={**body, "generator": "OnlyThis", "destination": body["source"]}, headers=auth(token)
    )
    assert onto_itself.status_code == 422 and onto_itself.json()["error"]["code"] == "invalid_object_uri"
    import psycopg

    from tests.support import libpq_url, one_row

    with psycopg.connect(libpq_url(pg_url)) as connection:
        present = one_row(connection, "SELECT to_regclass('procrastinate_jobs')")[0]
        queued = one_row(connection, "SELECT count(*) FROM procrastinate_jobs")[0] if present else 0
    assert queued == 0


def test_private_sign_and_keep_manifest_verify_jobs_on_postgresql(http, keys, s3, store, drain_queue):
    """The queued path (procrastinate, a real worker) takes both options like the embedded one."""
    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, "gen/private.jpg", bucket), io.BytesIO(jpeg_bytes(seed=23)))
    sign_key, sign_token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))
    body = {
        "source": f"s3://{bucket}/gen/private.jpg",
        "destination": f"s3://{bucket}/signed/private.jpg",
        "generator": "TestGen",
        "private": True,
    }
    submitted = http.post("/v1/jobs/sign", json=body, headers=auth(sign_token))
    assert submitted.status_code == 202, submitted.text
    drain_queue()
    done = wait_done(http, keys.read, submitted.json()["job_id"])
    assert done["status"] == "succeeded", done
    manifest_id = done["result"]["verdict"]["manifests"][0]["label"]
    (entry,) = store.repository.entries_with_manifest_id(manifest_id)
    assert entry.private and entry.tenant == "default"
    assert store.repository.entry_by_manifest_id("other-tenant", manifest_id) is None
    with store.db_engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT manifest_id, private, actor FROM repository_visibility_changes").all()
    assert [tuple(row) for row in rows] == [(manifest_id, True, f"key:{sign_key.key_id}")]

    # A verify job of the signed object that keeps its store: the tenant owns that entry already
    # (signed), so it keeps nothing new and names it; a tenant without one keeps a verified entry.
    store.create_tenant("platform")
    platform_token = store.create_key(name="p", scopes=frozenset({Scope.VERIFY, Scope.READ}), tenant="platform")[1]
    store.set_object_prefixes("platform", [f"s3://{bucket}/signed/"])
    verify = http.post(
        "/v1/jobs/verify",
        json={"source": body["destination"], "keep_manifest": True},
        headers=auth(platform_token),
    )
    assert verify.status_code == 202, verify.text
    drain_queue()
    verified = wait_done(http, platform_token, verify.json()["job_id"])
    assert verified["status"] == "succeeded", verified
    assert verified["result"]["kept_manifest_id"] == manifest_id
    owners = {e.tenant: e.origin.value for e in store.repository.entries_with_manifest_id(manifest_id)}
    assert owners == {"default": "signed", "platform": "verified"}


def test_a_sign_job_keeps_the_credentials_its_source_carries(http, keys, s3, store, shared_dir, drain_queue):
    object_store, bucket = s3
    firefly = shared_dir / "corpus" / "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
    object_store.put(ObjectLocation(Scheme.S3, "gen/ff.jpg", bucket), io.BytesIO(firefly.read_bytes()))
    token = store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))[1]
    body = {"source": f"s3://{bucket}/gen/ff.jpg", "destination": f"s3://{bucket}/signed/ff.jpg", "generator": "Up"}
    # Dropping them needs a policy that allows it: refused at submit, nothing queued or signed.
    refused = http.post("/v1/jobs/sign", json={**body, "replace_credentials": True}, headers=auth(token))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["refused"] == {"replace_credentials": "true"}
    not_a_flag = http.post("/v1/jobs/sign", json={**body, "replace_credentials": "yes"}, headers=auth(token))
    assert not_a_flag.status_code == 422, not_a_flag.text

    submitted = http.post("/v1/jobs/sign", json={**body, "media_id": "ff-job"}, headers=auth(token))
    assert submitted.status_code == 202, submitted.text
    drain_queue()
    done = wait_done(http, keys.read, submitted.json()["job_id"])
    assert done["status"] == "succeeded", done
    verdict = store.verdict_by_media_id("default", "ff-job").verdict
    assert len(verdict.manifests) == 2
    assert [(i.relationship, i.manifest_label) for i in verdict.ingredients] == [
        ("parentOf", "adobe:5468a4d3-0dc5-4550-8248-590eb7c520ec")
    ]
    assert [entry.prior_credentials for entry in store.entries()] == ["kept"]

    # A key granted replacing (apikey policy --allow-replace-credentials): done, and audited as such.
    granted = SigningPolicy.of(
        generators=["*"], source_types=SigningPolicy.default().source_types, may_replace_credentials=True
    )
    replacer = store.create_key(name="replacer", scopes=frozenset({Scope.SIGN}), signing_policy=granted)[1]
    replacing = {**body, "destination": f"s3://{bucket}/signed/ff2.jpg", "media_id": "ff-replaced"}
    submitted = http.post("/v1/jobs/sign", json={**replacing, "replace_credentials": True}, headers=auth(replacer))
    assert submitted.status_code == 202, submitted.text
    drain_queue()
    assert wait_done(http, keys.read, submitted.json()["job_id"])["status"] == "succeeded"
    assert len(store.verdict_by_media_id("default", "ff-replaced").verdict.manifests) == 1
    assert [(e.prior_credentials, e.replaced_manifest_id) for e in store.entries()] == [
        ("replaced", "adobe:5468a4d3-0dc5-4550-8248-590eb7c520ec"),
        ("kept", None),
    ]
