"""Raw-body uploads (the media as the request body, the fields as query parameters) to /v1/sign and
/v1/verify, over real HTTP: the same answers as multipart, the same limits, errors, keys and tenants."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pytest

from app.store.interface import Scope
from tests.slow_clients import Trickler

from .helpers import TEST_UPLOAD_LIMIT, ApiKeys, assert_error, jpeg_bytes, raw_exchange, sign_form

ENDPOINTS = ["/v1/sign", "/v1/verify"]
JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture
def token_for(api_keys):
    return {"/v1/sign": api_keys.sign, "/v1/verify": api_keys.verify}


def _query(endpoint: str, **extra: str) -> dict[str, str]:
    return sign_form(**extra) if endpoint == "/v1/sign" else dict(extra)


def _raw(client, token: str, endpoint: str, data: bytes, *, content_type: str = "image/jpeg", **params: str):
    return client.post(
        endpoint, params=params, content=data, headers={**ApiKeys.header(token), "Content-Type": content_type}
    )


def _multipart_sign(client, token: str, data: bytes, **fields: str):
    return client.post(
        "/v1/sign",
        headers=ApiKeys.header(token),
        files={"file": ("gen.jpg", data, "image/jpeg")},
        data=sign_form(**fields),
    )


def _signed_jpeg(client, api_keys) -> bytes:
    response = _multipart_sign(client, api_keys.sign, jpeg_bytes())
    assert response.status_code == 200, response.text
    return response.content


# --- the same answers ---


def test_raw_verify_answers_exactly_as_multipart(client, api_keys):
    signed = _signed_jpeg(client, api_keys)
    form = client.post(
        "/v1/verify?refresh=true",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("signed.jpg", signed, "image/jpeg")},
        data={"media_id": "form-1"},
    )
    raw = _raw(client, api_keys.verify, "/v1/verify", signed, refresh="true", media_id="raw-1")
    assert form.status_code == raw.status_code == 200, (form.text, raw.text)
    assert raw.headers["content-type"] == form.headers["content-type"] == "application/json"
    form_body, raw_body = form.json(), raw.json()
    assert raw_body["media_id"] == "raw-1" and form_body["media_id"] == "form-1"
    assert {**raw_body, "media_id": None} == {**form_body, "media_id": None}
    assert raw_body["verdict"]["state"] == "trusted" and raw_body["cached"] is False
    assert raw_body["sha256"] == hashlib.sha256(signed).hexdigest()

    # Answered from the store just as a multipart repeat is, and the media id is recorded.
    again = _raw(client, api_keys.verify, "/v1/verify", signed)
    assert again.status_code == 200 and again.json()["cached"] is True
    assert again.json()["verdict"] == form_body["verdict"]
    stored = client.get("/v1/verdicts/raw-1", headers=ApiKeys.header(api_keys.read))
    assert stored.status_code == 200 and stored.json()["verdict"] == form_body["verdict"]


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream", "video/mp4", "IMAGE/JPEG; x=1"])
def test_the_bytes_decide_the_format_not_the_declared_type(client, api_keys, content_type):
    plain = jpeg_bytes()
    response = _raw(client, api_keys.verify, "/v1/verify", plain, content_type=content_type)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"]["format"] == "image/jpeg"
    assert response.json()["sha256"] == hashlib.sha256(plain).hexdigest()


def test_raw_sign_answers_as_multipart(client, api_keys):
    data = jpeg_bytes()
    fields = {"generator": "Acme Diffusion", "generator_version": "2.1", "media_id": "gen-raw"}
    form = _multipart_sign(client, api_keys.sign, data, **{**fields, "media_id": "gen-form"})
    raw = _raw(client, api_keys.sign, "/v1/sign", data, filename="gen.jpg", **fields)
    assert form.status_code == raw.status_code == 200, (form.text, raw.text)
    for header in ("content-type", "content-disposition"):
        assert raw.headers[header] == form.headers[header]
    assert raw.headers["x-media-id"] == "gen-raw"
    assert raw.headers["x-content-sha256"] == hashlib.sha256(raw.content).hexdigest()
    assert raw.headers["x-manifest-label"] != form.headers["x-manifest-label"]  # two signatures

    def stored(response):
        body = client.get(
            f"/v1/verdicts/sha256/{response.headers['x-content-sha256']}", headers=ApiKeys.header(api_keys.read)
        ).json()
        return body["verdict"], body["label"], body["media_ids"]

    (form_verdict, form_label, form_ids), (raw_verdict, raw_label, raw_ids) = stored(form), stored(raw)
    assert (form_ids, raw_ids) == (["gen-form"], ["gen-raw"])
    assert raw_label == form_label and raw_label["kind"] == "ai_generated"
    assert raw_verdict["state"] == form_verdict["state"] == "trusted"
    assert raw_verdict["title"] == form_verdict["title"] == "gen.jpg"  # the name given is the default title
    assert raw_verdict["format"] == form_verdict["format"]


def test_raw_sign_without_a_filename_is_titled_as_a_nameless_multipart_file(client, api_keys):
    raw = _raw(client, api_keys.sign, "/v1/sign", jpeg_bytes(), generator="G", title="Poster")
    assert raw.status_code == 200, raw.text
    assert raw.headers["content-disposition"] == 'attachment; filename="file"'
    body = client.get(
        f"/v1/verdicts/sha256/{raw.headers['x-content-sha256']}", headers=ApiKeys.header(api_keys.read)
    ).json()
    assert body["verdict"]["title"] == "Poster"


def test_keep_manifest_as_a_query_parameter(client, api_keys):
    assert_error(_raw(client, api_keys.verify, "/v1/verify", jpeg_bytes(), keep_manifest="maybe"), 422, "invalid_flag")
    answer = _raw(client, api_keys.verify, "/v1/verify", jpeg_bytes(), keep_manifest="false")
    assert answer.status_code == 200 and answer.json()["kept_manifest_id"] is None


# --- the same limits and errors ---


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_oversize_raw_body_is_413(client, token_for, endpoint):
    response = _raw(
        client, token_for[endpoint], endpoint, b"\xff\xd8\xff" + bytes(TEST_UPLOAD_LIMIT), **_query(endpoint)
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["limit_bytes"] == TEST_UPLOAD_LIMIT


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_oversize_chunked_raw_body_is_counted_as_it_arrives(client, token_for, endpoint):
    def body():
        yield b"\xff\xd8\xff"
        for _ in range(TEST_UPLOAD_LIMIT // 65536 + 2):
            yield bytes(65536)

    response = client.post(
        endpoint,
        params=_query(endpoint),
        content=body(),
        headers={**ApiKeys.header(token_for[endpoint]), **JPEG},
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_declared_raw_length_far_over_the_limit_is_refused_without_reading_it(client, token_for, endpoint):
    # A few bytes of a body declared 100 times the limit: the answer comes at once, the rest is never sent.
    query = urlencode(_query(endpoint))
    request = (
        f"POST {endpoint}?{query} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token_for[endpoint]}\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {100 * TEST_UPLOAD_LIMIT}\r\n\r\n"
    ).encode() + b"\xff\xd8\xff"
    status, received = raw_exchange(str(client.base_url), request)
    assert status == 413
    assert b'"code":"payload_too_large"' in received


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_empty_raw_body(client, token_for, endpoint):
    error = assert_error(_raw(client, token_for[endpoint], endpoint, b"", **_query(endpoint)), 422, "empty_file")
    assert error["field"] == "file"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_raw_body_that_is_no_media(client, token_for, endpoint):
    response = _raw(client, token_for[endpoint], endpoint, b"just some text\n", **_query(endpoint))
    error = assert_error(response, 415, "unsupported_media_type")
    assert "JPEG" in error["supported"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json", "application/xml"])
def test_a_body_of_no_supported_content_type_names_both_forms(client, token_for, endpoint, content_type):
    headers = ApiKeys.header(token_for[endpoint])
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post(endpoint, params=_query(endpoint), content=jpeg_bytes(), headers=headers)
    assert content_type is not None or "content-type" not in response.request.headers
    error = assert_error(response, 415, "unsupported_content_type")
    assert error["supported"][0] == "multipart/form-data"
    assert {"image/*", "video/*", "application/octet-stream"} <= set(error["supported"])
    assert "Content-Type" in error["message"] and "multipart/form-data" in error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_chunked_body_without_content_type_is_refused_like_any_body_of_no_type(client, token_for, endpoint):
    # Not "an empty request" (no Content-Length, but a body): refused and drained, never held open.
    def body():
        yield jpeg_bytes()

    headers = ApiKeys.header(token_for[endpoint])
    response = client.post(endpoint, params=_query(endpoint), content=body(), headers=headers)
    assert "content-length" not in response.request.headers and "content-type" not in response.request.headers
    assert_error(response, 415, "unsupported_content_type")


# --- the fields as query parameters, under the multipart rules ---


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unknown_query_parameter(client, token_for, endpoint):
    response = _raw(client, token_for[endpoint], endpoint, jpeg_bytes(), **_query(endpoint, colour="blue"))
    error = assert_error(response, 422, "unknown_field")
    assert error["field"] == "colour" and "media_id" in error["message"]


def test_a_parent_needs_the_multipart_form(client, api_keys):
    response = _raw(client, api_keys.sign, "/v1/sign", jpeg_bytes(), **sign_form(parent="x"))
    error = assert_error(response, 422, "unknown_field")
    assert error["field"] == "parent" and "multipart" in error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_repeated_query_parameter(client, token_for, endpoint):
    params = [*_query(endpoint).items(), ("media_id", "a"), ("media_id", "b")]
    response = client.post(
        endpoint, params=params, content=jpeg_bytes(), headers={**ApiKeys.header(token_for[endpoint]), **JPEG}
    )
    assert_error(response, 422, "duplicate_field")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_query_parameter_over_its_size_cap(client, token_for, endpoint):
    response = _raw(client, token_for[endpoint], endpoint, jpeg_bytes(), **_query(endpoint, media_id="m" * 5000))
    assert_error(response, 422, "field_too_long")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_query_parameter_that_is_not_utf8(client, token_for, endpoint):
    query = urlencode(_query(endpoint)) + "&media_id=%FF%FE"
    response = client.post(
        f"{endpoint}?{query}", content=jpeg_bytes(), headers={**ApiKeys.header(token_for[endpoint]), **JPEG}
    )
    assert_error(response, 422, "invalid_text")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("media_id", ["x" * 201, "has space", "slash/inside", ""])
def test_malformed_media_id_in_the_query(client, token_for, endpoint, media_id):
    response = _raw(client, token_for[endpoint], endpoint, jpeg_bytes(), **_query(endpoint, media_id=media_id))
    error = assert_error(response, 422, "invalid_media_id")
    assert error["field"] == "media_id"


def test_raw_sign_without_a_generator(client, api_keys):
    error = assert_error(_raw(client, api_keys.sign, "/v1/sign", jpeg_bytes()), 422, "missing_field")
    assert error["field"] == "generator" and "query parameter" in error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_form_field_in_the_query_of_a_multipart_upload_is_not_dropped_silently(client, token_for, endpoint):
    response = client.post(
        endpoint,
        params={"media_id": "lost"},
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
        data=_query(endpoint),
    )
    error = assert_error(response, 422, "misplaced_field")
    assert error["field"] == "media_id"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", ["filename", "bogus", "file"])
def test_an_unknown_query_parameter_of_a_multipart_upload_is_422_as_with_a_raw_body(client, token_for, endpoint, name):
    response = client.post(
        endpoint,
        params={name: "x.jpg"},
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
        data=_query(endpoint),
    )
    error = assert_error(response, 422, "unknown_field")
    assert error["field"] == name and "filename=" in error["message"]


def test_the_routes_own_query_parameter_still_goes_with_a_multipart_upload(client, api_keys):
    def verify(params: dict[str, str]) -> dict:
        files = {"file": ("a.jpg", jpeg_bytes(seed=7), "image/jpeg")}
        response = client.post("/v1/verify", params=params, headers=ApiKeys.header(api_keys.verify), files=files)
        assert response.status_code == 200, response.text
        return response.json()

    verify({})
    assert verify({})["cached"] is True
    assert verify({"refresh": "true"})["cached"] is False


# --- the same deadline ---


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_raw_body_that_stops_arriving_gets_408(make_client, api_keys, endpoint):
    client = make_client(upload_receive_timeout_seconds=1.0, upload_min_bytes_per_second=0)
    token = api_keys.sign if endpoint == "/v1/sign" else api_keys.verify
    trickler = Trickler(
        base_url=str(client.base_url).rstrip("/"),
        path=f"{endpoint}?{urlencode(_query(endpoint))}",
        body=b"\xff\xd8\xff" + bytes(10_000),
        content_type="image/jpeg",
        headers=ApiKeys.header(token),
        first_bytes=300,
    ).start()
    try:
        answer = trickler.answer(timeout=10)
    finally:
        trickler.close()
    assert answer.status == 408, answer.raw[:300]
    head, _, body = answer.raw.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert b'"code":"upload_too_slow"' in body
    assert 0.9 <= answer.seconds <= 4, answer.seconds


# --- the same keys and scopes ---


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_raw_uploads_need_a_key(client, endpoint):
    response = client.post(endpoint, params=_query(endpoint), content=jpeg_bytes(), headers=JPEG)
    assert_error(response, 401, "missing_api_key")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_scope_is_checked_before_a_raw_body_is_read(client, api_keys, endpoint):
    # A read key, and a body declared 100 times the limit of which nothing is sent: 403 at once.
    request = (
        f"POST {endpoint}?{urlencode(_query(endpoint))} HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {api_keys.read}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {100 * TEST_UPLOAD_LIMIT}\r\n\r\n"
    ).encode()
    status, received = raw_exchange(str(client.base_url), request)
    assert status == 403
    assert b'"code":"insufficient_scope"' in received


def test_raw_sign_is_rate_limited_like_multipart(make_client, api_keys):
    client = make_client(sign_rate_per_second=0.001, sign_rate_burst=1)
    assert _raw(client, api_keys.sign, "/v1/sign", jpeg_bytes(), generator="G").status_code == 200
    refused = _raw(client, api_keys.sign, "/v1/sign", jpeg_bytes(), generator="G")
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1


# --- tenants: a media id in the query is the caller's tenant's ---


def test_a_media_id_in_the_query_names_only_the_callers_tenants_item(client, store):
    store.create_tenant("tenant-a")
    store.create_tenant("tenant-b")
    scopes = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})
    a = store.create_key(name="a", scopes=scopes, tenant="tenant-a")[1]
    b = store.create_key(name="b", scopes=scopes, tenant="tenant-b")[1]
    a_signed = _raw(client, a, "/v1/sign", jpeg_bytes(seed=71), generator="A Diffusion", media_id="post-1")
    assert a_signed.status_code == 200, a_signed.text
    a_plain = _raw(client, a, "/v1/verify", jpeg_bytes(seed=72), media_id="post-2")
    assert a_plain.status_code == 200

    def a_view() -> dict:
        headers = ApiKeys.header(a)
        labels = client.get("/v1/labels?media_id=post-1&media_id=post-2", headers=headers).json()
        verdicts = {m: client.get(f"/v1/verdicts/{m}", headers=headers).json() for m in ("post-1", "post-2")}
        return {"labels": labels, "verdicts": verdicts}

    before = a_view()
    assert before["labels"]["labels"]["post-1"]["kind"] == "ai_generated"
    # B names A's ids: its own items, never A's.
    b_plain = _raw(client, b, "/v1/verify", jpeg_bytes(seed=73), media_id="post-1")
    assert b_plain.status_code == 200 and b_plain.json()["label"]["kind"] == "none"
    b_signed = _raw(client, b, "/v1/sign", jpeg_bytes(seed=74), generator="B Diffusion", media_id="post-2")
    assert b_signed.status_code == 200
    # B sending A's signed bytes under A's id: answered (a verdict is a fact about bytes), recorded for B only.
    b_copy = _raw(client, b, "/v1/verify", a_signed.content, media_id="post-2")
    assert b_copy.status_code == 200 and b_copy.json()["cached"] is False
    assert a_view() == before
    b_labels = client.get("/v1/labels?media_id=post-1&media_id=post-2", headers=ApiKeys.header(b)).json()["labels"]
    assert b_labels["post-1"]["kind"] == "none" and b_labels["post-2"]["kind"] == "ai_generated"
    assert client.get(f"/v1/verdicts/sha256/{a_plain.json()['sha256']}", headers=ApiKeys.header(b)).status_code == 404


def test_openapi_documents_both_forms(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/verify"]["post"]
    content = operation["requestBody"]["content"]
    assert {"multipart/form-data", "image/*", "video/*", "application/octet-stream"} <= set(content)
    query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"refresh", "media_id", "keep_manifest", "filename"} <= query
    sign = client.get("/openapi.json").json()["paths"]["/v1/sign"]["post"]
    assert "parent" in sign["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert "parent" not in {p["name"] for p in sign["parameters"]}
    assert {"generator", "title", "filename"} <= {p["name"] for p in sign["parameters"]}
