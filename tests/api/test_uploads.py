"""Bad uploads to /v1/sign and /v1/verify: each gets its 4xx and a JSON reason, never a 500."""

from __future__ import annotations

import pytest

from signer.formats import SUPPORTED_FORMAT_NAMES

from .helpers import TEST_UPLOAD_LIMIT, ApiKeys, assert_error, jpeg_bytes, raw_exchange, sign_form

ENDPOINTS = ["/v1/sign", "/v1/verify"]


@pytest.fixture
def token_for(api_keys):
    return {"/v1/sign": api_keys.sign, "/v1/verify": api_keys.verify}


def _fields(endpoint: str, **extra: str) -> dict[str, str]:
    return sign_form(**extra) if endpoint == "/v1/sign" else dict(extra)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_missing_file(client, token_for, endpoint):
    response = client.post(endpoint, headers=ApiKeys.header(token_for[endpoint]), data=_fields(endpoint, media_id="a"))
    error = assert_error(response, 422, "missing_file")
    assert error["field"] == "file"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_body_at_all_is_a_missing_file(client, token_for, endpoint):
    response = client.post(endpoint, headers=ApiKeys.header(token_for[endpoint]))
    assert_error(response, 422, "missing_file")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_empty_file(client, token_for, endpoint):
    response = client.post(
        endpoint,
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("empty.jpg", b"", "image/jpeg")},
        data=_fields(endpoint),
    )
    assert_error(response, 422, "empty_file")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unknown_field(client, token_for, endpoint):
    response = client.post(
        endpoint,
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
        data=_fields(endpoint, colour="blue"),
    )
    error = assert_error(response, 422, "unknown_field")
    assert error["field"] == "colour"
    assert "media_id" in error["message"]  # says what is accepted


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_repeated_field(client, token_for, endpoint):
    response = client.post(
        endpoint,
        headers=ApiKeys.header(token_for[endpoint]),
        files=[("file", ("a.jpg", jpeg_bytes(), "image/jpeg")), ("file", ("b.jpg", jpeg_bytes(), "image/jpeg"))],
        data=_fields(endpoint),
    )
    assert_error(response, 422, "duplicate_field")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_oversize_upload_with_content_length(client, token_for, endpoint):
    response = client.post(
        endpoint,
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("big.jpg", b"\xff\xd8\xff" + b"\0" * TEST_UPLOAD_LIMIT, "image/jpeg")},
        data=_fields(endpoint),
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["limit_bytes"] == TEST_UPLOAD_LIMIT


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_oversize_upload_without_content_length(client, token_for, endpoint):
    """A chunked body has no Content-Length to trust: the bytes are counted as they arrive."""
    boundary = "limitboundary"

    def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'.encode()
        yield b"\xff\xd8\xff"
        for _ in range(TEST_UPLOAD_LIMIT // 65536 + 2):
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        endpoint,
        headers={**ApiKeys.header(token_for[endpoint]), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_declared_length_far_over_the_limit_is_refused_before_reading(client, token_for, endpoint):
    # httpx will not send a Content-Length it does not honour: write the request by hand.
    request = (
        f"POST {endpoint} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token_for[endpoint]}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {100 * TEST_UPLOAD_LIMIT}\r\n\r\n"
        "--x\r\n"
    ).encode()
    status, received = raw_exchange(str(client.base_url), request)
    assert status == 413
    assert b'"code":"payload_too_large"' in received


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unsupported_media_type_lists_what_is_supported(client, token_for, endpoint):
    response = client.post(
        endpoint,
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("notes.txt", b"just some text, not media\n", "text/plain")},
        data=_fields(endpoint),
    )
    error = assert_error(response, 415, "unsupported_media_type")
    assert set(SUPPORTED_FORMAT_NAMES) <= set(error["supported"])
    assert "JPEG" in error["message"] or endpoint == "/v1/verify"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_body_that_is_not_multipart(client, token_for, endpoint):
    response = client.post(endpoint, headers=ApiKeys.header(token_for[endpoint]), json={"file": "aGVsbG8="})
    error = assert_error(response, 415, "unsupported_content_type")
    # The two forms: multipart, or the media itself as the body (tests/api/test_raw_body.py).
    assert error["supported"][0] == "multipart/form-data" and "image/*" in error["supported"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_multipart_without_closing_boundary(client, token_for, endpoint):
    truncated = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n' + jpeg_bytes()
    response = client.post(
        endpoint,
        headers={**ApiKeys.header(token_for[endpoint]), "Content-Type": "multipart/form-data; boundary=b"},
        content=truncated,
    )
    assert_error(response, 400, "malformed_body")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_multipart_content_type_without_boundary(client, token_for, endpoint):
    response = client.post(
        endpoint,
        headers={**ApiKeys.header(token_for[endpoint]), "Content-Type": "multipart/form-data"},
        content=b"whatever",
    )
    assert_error(response, 400, "malformed_body")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("media_id", ["x" * 201, "has space", "semi;colon", "slash/inside", "ünïcode", ""])
def test_malformed_or_overlong_media_id(client, token_for, endpoint, media_id):
    response = client.post(
        endpoint,
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
        data=_fields(endpoint, media_id=media_id),
    )
    error = assert_error(response, 422, "invalid_media_id")
    assert error["field"] == "media_id"


def test_longest_allowed_media_id_is_accepted(client, api_keys):
    media_id = "A-z0.9_:" * 25
    assert len(media_id) == 200
    response = client.post(
        "/v1/verify",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
        data={"media_id": media_id},
    )
    assert response.status_code == 200, response.text
    assert response.json()["media_id"] == media_id


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_text_field_over_its_size_cap(client, token_for, endpoint):
    response = client.post(
        endpoint,
        headers=ApiKeys.header(token_for[endpoint]),
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
        data=_fields(endpoint, media_id="m" * 5000),
    )
    assert_error(response, 422, "field_too_long")


def test_refresh_that_is_not_a_boolean(client, api_keys):
    response = client.post(
        "/v1/verify?refresh=maybe",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "refresh"
