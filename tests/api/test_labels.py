"""Label reads: one query for the page, null for unknown ids, ETag/304, Cache-Control, limits."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from app.codec import label_to_dict
from app.store.interface import MAX_LABEL_BATCH
from verifier.label import label_for
from verifier.verdict import Verdict, VerdictState

from .helpers import BACKENDS, ApiKeys, assert_error, backend_database


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Everything in this module runs on SQLite and on PostgreSQL."""
    with backend_database(request.param, request=request, tmp_path=tmp_path) as url:
        yield url


def _verdict(sha_seed: int, state: VerdictState = VerdictState.NONE) -> Verdict:
    return Verdict(state=state, sha256=f"{sha_seed:064x}", size=10, engine_version="test", format="image/jpeg")


@pytest.fixture
def stored_ids(store, worker_pools) -> dict[str, dict]:
    """Three media ids with stored verdicts; returns id -> expected label JSON."""
    expected = {}
    for seed, media_id in enumerate(["post-1", "post-2", "post:3"], start=1):
        verdict = _verdict(seed)
        label = label_for(verdict)
        store.save_verdict(
            tenant="default",
            verdict=verdict,
            label=label,
            trust_fingerprint=worker_pools.trust_fingerprint,
            media_id=media_id,
        )
        expected[media_id] = label_to_dict(label)
    return expected


def _count_queries(store):
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(store.db_engine, "before_cursor_execute", record)
    return statements, lambda: event.remove(store.db_engine, "before_cursor_execute", record)


def test_get_labels_answers_each_id_in_one_query(client, api_keys, store, stored_ids):
    statements, stop = _count_queries(store)
    try:
        response = client.get(
            "/v1/labels",
            params=[("media_id", "post-2"), ("media_id", "nope"), ("media_id", "post-1"), ("media_id", "post-2")],
            headers=ApiKeys.header(api_keys.read),
        )
    finally:
        stop()
    assert response.status_code == 200
    labels = response.json()["labels"]
    assert list(labels) == ["post-2", "nope", "post-1"]  # first-seen order, each id once
    assert labels == {"post-2": stored_ids["post-2"], "nope": None, "post-1": stored_ids["post-1"]}
    label_queries = [s for s in statements if "media" in s and "api_keys" not in s]
    assert len(label_queries) == 1, statements


def test_batch_of_the_maximum_size(client, api_keys, stored_ids):
    ids = ["post:3"] + [f"unknown-{i}" for i in range(MAX_LABEL_BATCH - 1)]
    response = client.post("/v1/labels:batch", json=ids, headers=ApiKeys.header(api_keys.read))
    assert response.status_code == 200
    labels = response.json()["labels"]
    assert len(labels) == MAX_LABEL_BATCH
    assert labels["post:3"] == stored_ids["post:3"]
    assert labels["unknown-998"] is None


def test_body_is_the_stored_json_spliced_as_is(client, api_keys, stored_ids):
    response = client.post("/v1/labels:batch", json=["post-1"], headers=ApiKeys.header(api_keys.read))
    stored_json = json.dumps(stored_ids["post-1"], separators=(",", ":")).encode()
    assert response.content == b'{"labels":{"post-1":' + stored_json + b"}}"


def test_etag_changes_when_a_label_changes(client, api_keys, store, worker_pools, stored_ids):
    first = client.get("/v1/labels?media_id=post-1", headers=ApiKeys.header(api_keys.read))
    again = client.get("/v1/labels?media_id=post-1", headers=ApiKeys.header(api_keys.read))
    assert first.headers["etag"] == again.headers["etag"]
    assert first.headers["vary"] == "Authorization"

    newer = _verdict(99, VerdictState.ERROR)
    store.save_verdict(
        tenant="default",
        verdict=newer,
        label=label_for(newer),
        trust_fingerprint=worker_pools.trust_fingerprint,
        media_id="post-1",
    )
    conditional = client.get(
        "/v1/labels?media_id=post-1",
        headers={**ApiKeys.header(api_keys.read), "If-None-Match": first.headers["etag"]},
    )
    assert conditional.status_code == 200
    assert conditional.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize("if_none_match", ['"other", {etag}', "W/{etag}", "*"])
def test_if_none_match_forms(client, api_keys, stored_ids, if_none_match):
    first = client.get("/v1/labels?media_id=post-1", headers=ApiKeys.header(api_keys.read))
    response = client.get(
        "/v1/labels?media_id=post-1",
        headers={**ApiKeys.header(api_keys.read), "If-None-Match": if_none_match.format(etag=first.headers["etag"])},
    )
    assert response.status_code == 304
    assert response.headers["cache-control"] == "private, max-age=60"


def test_post_batch_carries_an_etag_but_never_answers_304(client, api_keys, stored_ids):
    first = client.post("/v1/labels:batch", json=["post-1"], headers=ApiKeys.header(api_keys.read))
    again = client.post(
        "/v1/labels:batch",
        json=["post-1"],
        headers={**ApiKeys.header(api_keys.read), "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 200 and again.headers["etag"] == first.headers["etag"]


def test_more_than_the_maximum_ids(client, api_keys):
    ids = [f"id-{i}" for i in range(MAX_LABEL_BATCH + 1)]
    error = assert_error(
        client.post("/v1/labels:batch", json=ids, headers=ApiKeys.header(api_keys.read)), 422, "too_many_media_ids"
    )
    assert str(MAX_LABEL_BATCH) in error["message"]


def test_more_than_the_maximum_ids_on_get(client, api_keys):
    query = "&".join(f"media_id=i{i}" for i in range(MAX_LABEL_BATCH + 1))
    assert_error(client.get(f"/v1/labels?{query}", headers=ApiKeys.header(api_keys.read)), 422, "too_many_media_ids")


@pytest.mark.parametrize("bad", ["x" * 201, "with space", "", "a/b", "emoji-\U0001f600"])
def test_malformed_id_in_a_batch(client, api_keys, bad):
    response = client.post("/v1/labels:batch", json=["fine", bad], headers=ApiKeys.header(api_keys.read))
    error = assert_error(response, 422, "invalid_media_id")
    assert "media_id[1]" in error["message"]


def test_malformed_id_on_get(client, api_keys):
    response = client.get("/v1/labels", params={"media_id": "a b"}, headers=ApiKeys.header(api_keys.read))
    assert_error(response, 422, "invalid_media_id")


def test_no_ids(client, api_keys):
    assert_error(client.get("/v1/labels", headers=ApiKeys.header(api_keys.read)), 422, "no_media_ids")
    assert_error(client.post("/v1/labels:batch", json=[], headers=ApiKeys.header(api_keys.read)), 422, "no_media_ids")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'["a", ', 400, "malformed_body"),
        (b"\xff\xfe", 400, "malformed_body"),
        (b"", 400, "malformed_body"),
        (b'{"media_ids": ["a"]}', 422, "invalid_body"),
        (b"[1, 2]", 422, "invalid_media_id"),
        (b'[["a"]]', 422, "invalid_media_id"),
    ],
)
def test_batch_bodies_that_are_not_a_list_of_ids(client, api_keys, body, status, code):
    response = client.post(
        "/v1/labels:batch", content=body, headers={**ApiKeys.header(api_keys.read), "Content-Type": "application/json"}
    )
    assert_error(response, status, code)


def test_batch_body_over_its_size_cap(client, api_keys):
    huge = json.dumps(["a" * 200] * 5000).encode()
    response = client.post(
        "/v1/labels:batch", content=huge, headers={**ApiKeys.header(api_keys.read), "Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")
