"""API keys: 401 for no usable key (with WWW-Authenticate), 403 for a key without the scope."""

from __future__ import annotations

import pytest

from .helpers import ApiKeys, assert_error, jpeg_bytes, sign_form

# (method, path, needed scope, request kwargs)
PROTECTED = [
    ("POST", "/v1/sign", "sign", {"files": {"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}, "data": sign_form()}),
    ("POST", "/v1/verify", "verify", {"files": {"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}}),
    ("GET", "/v1/labels?media_id=a", "read", {}),
    ("POST", "/v1/labels:batch", "read", {"json": ["a"]}),
    ("GET", "/v1/verdicts/a", "read", {}),
    ("GET", "/v1/verdicts/sha256/" + "0" * 64, "read", {}),
]
IDS = [f"{method} {path.split('?')[0]}" for method, path, _scope, _kwargs in PROTECTED]


@pytest.mark.parametrize(("method", "path", "scope", "kwargs"), PROTECTED, ids=IDS)
def test_missing_key(client, method, path, scope, kwargs):
    response = client.request(method, path, **kwargs)
    assert_error(response, 401, "missing_api_key")
    assert response.headers["www-authenticate"] == 'Bearer realm="originmark"'


@pytest.mark.parametrize(("method", "path", "scope", "kwargs"), PROTECTED, ids=IDS)
def test_unknown_key(client, api_keys, method, path, scope, kwargs):
    forged = api_keys.all[:-4] + ("AAAA" if not api_keys.all.endswith("AAAA") else "BBBB")
    response = client.request(method, path, headers=ApiKeys.header(forged), **kwargs)
    assert_error(response, 401, "invalid_api_key")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(("method", "path", "scope", "kwargs"), PROTECTED, ids=IDS)
def test_revoked_key(client, store, api_keys, method, path, scope, kwargs):
    key_id = api_keys.all.split("_")[1]
    store.revoke(key_id)
    response = client.request(method, path, headers=ApiKeys.header(api_keys.all), **kwargs)
    assert_error(response, 401, "invalid_api_key")


@pytest.mark.parametrize(("method", "path", "scope", "kwargs"), PROTECTED, ids=IDS)
def test_key_without_the_scope(client, api_keys, method, path, scope, kwargs):
    other = {"sign": api_keys.verify, "verify": api_keys.read, "read": api_keys.sign}[scope]
    response = client.request(method, path, headers=ApiKeys.header(other), **kwargs)
    error = assert_error(response, 403, "insufficient_scope")
    assert error["required_scope"] == scope
    assert scope in error["message"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "om_abc", "Token om_abc"])
def test_malformed_authorization_header(client, header):
    response = client.get("/v1/labels?media_id=a", headers={"Authorization": header})
    assert_error(response, 401, "invalid_authorization")


def test_public_label_reads_need_no_key(make_client, store, api_keys):
    public = make_client(public_label_reads=True)
    labels = public.get("/v1/labels?media_id=a&tenant=default")
    assert labels.status_code == 200 and labels.json() == {"labels": {"a": None}}
    assert labels.headers["cache-control"] == "public, max-age=60"
    assert "vary" not in labels.headers
    assert public.post("/v1/labels:batch?tenant=default", json=["a"]).status_code == 200
    assert_error(public.get("/v1/verdicts/a?tenant=default"), 404, "not_found")  # readable, just unknown


def test_public_label_reads_name_the_tenant(make_client):
    public = make_client(public_label_reads=True)
    assert_error(public.get("/v1/labels?media_id=a"), 422, "tenant_required")
    assert_error(public.post("/v1/labels:batch", json=["a"]), 422, "tenant_required")
    assert_error(public.get("/v1/labels/recent"), 422, "tenant_required")
    assert_error(public.get("/v1/verdicts/a"), 422, "tenant_required")
    # A name that is no tenant's reads as a tenant without media: nothing confirms who exists.
    unknown = public.get("/v1/labels?media_id=a&tenant=no-such-tenant")
    assert unknown.status_code == 200 and unknown.json() == {"labels": {"a": None}}


def test_signing_is_never_public(make_client):
    public = make_client(public_label_reads=True)
    response = public.post("/v1/sign", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")}, data=sign_form())
    assert_error(response, 401, "missing_api_key")
    verify = public.post("/v1/verify", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
    assert_error(verify, 401, "missing_api_key")


def test_auth_is_checked_before_the_upload_is_read(client, api_keys):
    """A caller without a key learns that first, whatever the body (no upload is spooled)."""
    response = client.post("/v1/verify", headers=ApiKeys.header(api_keys.read), content=b"not even multipart")
    assert_error(response, 403, "insufficient_scope")
