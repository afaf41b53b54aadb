"""Hostile JSON bodies over real HTTP: every endpoint that takes JSON answers a client error, never a 500.

A hostile-caller review found that 100,000 `[` to POST /v1/labels:batch answered 500 (a
RecursionError in json.loads). The bodies here go to every route that reads client JSON
(app/api/json_body.py): the labels batch and the JSON form of both job submissions (refused
before the job queue is touched, so SQLite serves).
"""

from __future__ import annotations

import json

import pytest

from app.api.job_requests import MAX_JSON_BYTES
from app.api.json_body import MAX_JSON_DEPTH, json_depth_exceeds
from app.api.routes.labels import MAX_BATCH_BODY_BYTES

from .helpers import ApiKeys, assert_error

DEEP = 100_000
JSON_BODY_CAPS = {
    "/v1/labels:batch": MAX_BATCH_BODY_BYTES,
    "/v1/jobs/verify": MAX_JSON_BYTES,
    "/v1/jobs/sign": MAX_JSON_BYTES,
    "/v1/jobs/rendition": MAX_JSON_BYTES,
}


def _deep_bodies(cap: int) -> dict[str, bytes]:
    """Nesting as deep as fits under a route's size cap (100,000 lists on the labels batch)."""
    lists = min(DEEP, cap // 2)
    return {
        "deep lists": b"[" * lists + b"]" * lists,
        "deep lists, never closed": b"[" * min(DEEP, cap),
        "deep objects, never closed": b'{"":' * (cap // 4),
        "deep lists and objects": b'[{"":' * (cap // 5),
        "one level past the limit": b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    }


NOT_JSON = {
    "invalid UTF-8": b'["\xff\xfe\xc0\x80"]',
    "UTF-16 with a byte order mark": '["a"]'.encode("utf-16"),
    "a 50,000-digit integer": b"[" + b"9" * 50_000 + b"]",
    "a NUL byte after the value": b'["a"]\x00',
    "a stray closing bracket": b'["a"]]',
}


def _post_json(client, route: str, body: bytes, token: str):
    return client.post(route, content=body, headers={**ApiKeys.header(token), "Content-Type": "application/json"})


def _token_for(route: str, api_keys: ApiKeys) -> str:
    return api_keys.read if route.startswith("/v1/labels") else api_keys.all


@pytest.mark.parametrize("route", list(JSON_BODY_CAPS))
def test_deeply_nested_json_gets_400_on_every_json_route(client, api_keys, route):
    for name, body in _deep_bodies(JSON_BODY_CAPS[route]).items():
        response = _post_json(client, route, body, _token_for(route, api_keys))
        error = assert_error(response, 400, "json_too_deep")
        assert error["max_depth"] == MAX_JSON_DEPTH, name


@pytest.mark.parametrize("route", list(JSON_BODY_CAPS))
def test_nesting_of_100_000_objects_is_over_every_size_cap(client, api_keys, route):
    body = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    assert_error(_post_json(client, route, body, _token_for(route, api_keys)), 413, "payload_too_large")


@pytest.mark.parametrize("route", list(JSON_BODY_CAPS))
@pytest.mark.parametrize("name", list(NOT_JSON))
def test_bytes_that_are_not_json_get_400_on_every_json_route(client, api_keys, route, name):
    assert_error(_post_json(client, route, NOT_JSON[name], _token_for(route, api_keys)), 400, "malformed_body")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'["\\ud800"]', "invalid_media_id"),  # a lone surrogate: valid JSON, no valid id
        (b"[1e999999, -1e999999]", "invalid_media_id"),  # infinities
        (b"[NaN]", "invalid_media_id"),
        (b"[" + b"1." + b"5" * 50_000 + b"]", "invalid_media_id"),  # a float of 50,000 digits
        (json.dumps(["[" * DEEP]).encode(), "invalid_media_id"),  # brackets inside a string do not nest
    ],
)
def test_odd_but_valid_json_reaches_the_id_check(client, api_keys, body, code):
    assert_error(_post_json(client, "/v1/labels:batch", body, api_keys.read), 422, code)


def test_nesting_at_the_limit_is_read(client, api_keys):
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert_error(_post_json(client, "/v1/labels:batch", nested, api_keys.read), 422, "invalid_media_id")
    # A job request at the limit parses and fails validation (a field of the wrong type), not the depth check.
    job = b'{"source": "file:///a.jpg", "media_id": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    assert_error(_post_json(client, "/v1/jobs/verify", job, api_keys.all), 422, "validation_error")


def test_the_server_still_answers_after_the_hostile_bodies(client, api_keys):
    for body in [*_deep_bodies(MAX_BATCH_BODY_BYTES).values(), *NOT_JSON.values()]:
        assert _post_json(client, "/v1/labels:batch", body, api_keys.read).status_code == 400
    response = _post_json(client, "/v1/labels:batch", b'["a-known-nothing"]', api_keys.read)
    assert response.status_code == 200 and response.json() == {"labels": {"a-known-nothing": None}}


@pytest.mark.parametrize(
    ("raw", "deeper"),
    [
        (b"[[[]]]", False),
        (b"[[[[]]]]", True),
        (b'["[[[[", "]]]]"]', False),  # brackets in strings
        (b'["\\"[[[[\\\\", "]"]', False),  # escaped quotes and backslashes stay inside the string
        (b'["unterminated [[[[[[', False),  # the rest of an unterminated string is string
        (b'{"a":{"b":{"c":{}}}}', True),
    ],
)
def test_depth_scan_counts_brackets_outside_strings_only(raw, deeper):
    assert json_depth_exceeds(raw, 3) is deeper
