"""GET /v1/labels/recent: the feed page's only data source, over real HTTP."""

from __future__ import annotations

import pytest

from app.codec import label_to_dict
from verifier.label import label_for


@pytest.fixture
def three_items(store, worker_pools, media) -> list[str]:
    """Three media ids pointing at real verdicts, saved oldest first; returns them newest first."""
    ids = []
    for media_id, path in (("post-1", media.plain), ("post-2", media.ai), ("post-3", media.tampered)):
        verdict = worker_pools.verifier.verify_file(path)
        store.save_verdict(
            tenant="default",
            verdict=verdict,
            label=label_for(verdict),
            trust_fingerprint=worker_pools.trust_fingerprint,
            media_id=media_id,
        )
        ids.append(media_id)
    return ids[::-1]


def test_public_reads_answer_the_newest_items_first_without_a_key(serve, client, three_items, worker_pools, media):
    serve(public_label_reads=True)
    response = client.get("/v1/labels/recent", params={"limit": 2, "tenant": "default"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=10"
    items = response.json()["items"]
    assert [item["media_id"] for item in items] == three_items[:2] == ["post-3", "post-2"]
    assert set(items[0]) == {"media_id", "label", "updated_at", "has_thumbnail"}
    assert [item["has_thumbnail"] for item in items] == [False, False]  # the tenant keeps no thumbnails
    assert items[0]["label"]["kind"] == "invalid"
    assert items[1]["label"] == label_to_dict(label_for(worker_pools.verifier.verify_file(media.ai)))
    assert items[1]["label"]["text"] == "AI-generated"
    assert items[0]["updated_at"] >= items[1]["updated_at"]
    assert items[0]["updated_at"].endswith("+00:00")


def test_the_default_limit_is_twenty_and_an_empty_store_answers_no_items(serve, client):
    serve(public_label_reads=True)
    assert client.get("/v1/labels/recent?tenant=default").json() == {"items": []}


def test_without_public_reads_a_read_key_is_needed(client, three_items, read_token, sign_token):
    missing = client.get("/v1/labels/recent")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert "www-authenticate" in missing.headers
    wrong_scope = client.get("/v1/labels/recent", headers={"Authorization": f"Bearer {sign_token}"})
    assert wrong_scope.status_code == 403 and wrong_scope.json()["error"]["required_scope"] == "read"
    allowed = client.get("/v1/labels/recent", headers={"Authorization": f"Bearer {read_token}"})
    assert allowed.status_code == 200
    assert [item["media_id"] for item in allowed.json()["items"]] == three_items
    assert allowed.headers["cache-control"] == "private, max-age=10"
    assert allowed.headers["vary"] == "Authorization"


@pytest.mark.parametrize("limit", ["0", "-1", "101", "ten", "1.5", ""])
def test_a_limit_out_of_range_or_not_a_number_is_422(serve, client, limit):
    serve(public_label_reads=True)
    response = client.get("/v1/labels/recent", params={"limit": limit, "tenant": "default"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "limit" in error["message"]


def test_a_limit_of_one_hundred_is_accepted(serve, client, three_items):
    serve(public_label_reads=True)
    response = client.get("/v1/labels/recent", params={"limit": 100, "tenant": "default"})
    assert response.status_code == 200 and len(response.json()["items"]) == 3


def test_the_endpoint_is_documented(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/labels/recent"]["get"]
    assert sorted(p["name"] for p in operation["parameters"]) == ["limit", "tenant"]
    assert "/" not in schema["paths"] and "/feed" not in schema["paths"]  # pages are not API
