"""Health, readiness, metrics, request ids, structured logs, and JSON for every other answer."""

from __future__ import annotations

import json
import logging
import time

import pytest

from app.api.logs import JsonFormatter
from app.store.sql import SqlStore, open_store

from .helpers import ApiKeys, assert_error, jpeg_bytes, sign_form


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"signer": "ok (trusted probe)", "database": "ok"}}


def test_readyz_when_the_database_cannot_answer(make_client, tmp_path):
    with open_store(f"sqlite:///{tmp_path}/empty.db") as unmigrated:  # no tables: every query fails
        response = make_client(store=unmigrated).get("/readyz")
    error = assert_error(response, 503, "not_ready")
    assert error["checks"]["database"] == "unreachable"


def test_metrics_count_requests_by_route_template_and_outcomes(client, api_keys):
    client.get("/v1/verdicts/some-id", headers=ApiKeys.header(api_keys.read))
    client.get("/v1/verdicts/other-id", headers=ApiKeys.header(api_keys.read))
    signer, verifier = ApiKeys.header(api_keys.sign), ApiKeys.header(api_keys.verify)
    client.post("/v1/sign", headers=signer, files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")}, data=sign_form())
    client.post("/v1/sign", headers=signer, files={"file": ("a.txt", b"text", "text/plain")}, data=sign_form())
    client.post("/v1/verify", headers=verifier, files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert 'originmark_http_requests_total{method="GET",route="/v1/verdicts/{media_id}",status="404"} 2.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "some-id" not in text
    bucket = 'originmark_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/v1/verdicts/{media_id}"}'
    assert bucket in text
    assert 'originmark_sign_outcomes_total{outcome="signed"} 1.0' in text
    assert 'originmark_sign_outcomes_total{outcome="unsupported_media_type"} 1.0' in text
    assert 'originmark_verify_outcomes_total{cached="false",state="none"} 1.0' in text
    assert 'originmark_engine_seconds_count{operation="sign"} 1.0' in text


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "feed-42.a"}).headers["x-request-id"] == "feed-42.a"
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32
    hostile = client.get("/healthz", headers={"X-Request-ID": "x" * 300}).headers["x-request-id"]
    assert hostile != "x" * 300 and len(hostile) == 32


def test_a_request_id_shaped_like_an_api_key_is_replaced_not_echoed(client, api_keys):
    # A confused client might put its key in the request id header: it must not be echoed or logged.
    answered = client.get("/healthz", headers={"X-Request-ID": api_keys.read}).headers["x-request-id"]
    assert answered != api_keys.read and not answered.startswith("om_") and len(answered) == 32


def test_one_structured_log_line_per_request_without_secrets(client, api_keys, caplog):
    with caplog.at_level(logging.INFO, logger="originmark.access"):
        client.get("/v1/verdicts/abc", headers={**ApiKeys.header(api_keys.read), "X-Request-ID": "trace-1"})
        # The line is written once the response is complete, which may be just after the client has it.
        deadline = time.monotonic() + 5
        while not any(r.name == "originmark.access" for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.005)
    [record] = [r for r in caplog.records if r.name == "originmark.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-1"
    assert line["method"] == "GET"
    assert line["route"] == "/v1/verdicts/{media_id}"
    assert line["status"] == 404
    assert line["duration_ms"] > 0
    assert line["key_id"] == api_keys.read.split("_")[1]
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert (
        api_keys.read not in everything and api_keys.read.split("_", 2)[2] not in everything
    )  # the secret may hold "_" too


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v2/labels", 404, "not_found"),
        ("DELETE", "/v1/labels", 405, "method_not_allowed"),
        ("GET", "/v1/sign", 405, "method_not_allowed"),
    ],
)
def test_router_errors_are_json(client, method, path, status, code):
    assert_error(client.request(method, path), status, code)


class _BrokenLabelStore(SqlStore):
    """A real store whose label read fails as a bug would (an exception no handler knows)."""

    def labels_json_for(self, tenant, media_ids):
        raise RuntimeError("secret internal detail /srv/data")


def test_an_unexpected_error_is_a_json_500_without_details(make_client, database_url, caplog):
    with _BrokenLabelStore(db_engine=open_store(database_url).db_engine) as broken:
        client = make_client(store=broken, public_label_reads=True)
        with caplog.at_level(logging.ERROR, logger="originmark.api"):
            response = client.get("/v1/labels?media_id=a&tenant=default")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert error["message"] == "internal error; see the server log"
    logged = [r for r in caplog.records if r.name == "originmark.api" and r.exc_info]
    assert logged and "secret internal detail" in JsonFormatter().format(logged[0])


def test_openapi_documents_every_endpoint(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/v1/sign",
        "/v1/verify",
        "/v1/verdicts/{media_id}",
        "/v1/verdicts/sha256/{sha256}",
        "/v1/labels",
        "/v1/labels:batch",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    sign_body = schema["paths"]["/v1/sign"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert sign_body["required"] == ["file", "generator"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    verify_ok = schema["paths"]["/v1/verify"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert verify_ok == {"$ref": "#/components/schemas/VerifyResponse"}
    by_hash = schema["components"]["schemas"]["StoredVerdictByHashResponse"]["properties"]
    assert by_hash["media_ids"]["type"] == "array" and "media_id" not in by_hash
