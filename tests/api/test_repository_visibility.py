"""PUT /v1/repository/{manifestId}/visibility over real HTTP: a tenant marks its own entry private,
and other tenants stop finding it every way (SBR by id, by binding, by content, recovery on
verify) while the owner still does; public again restores it; another tenant's attempt reads like
an unknown id and changes nothing; `originmark repository private|public` does the same."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from app.cli import cli
from app.store.interface import Scope
from app.store.sql import SqlStore

from . import test_sbr
from .helpers import ApiKeys, assert_error
from .sbr_support import SBR, binding_value, encoded, platform_copy, sign, textured_image

UNKNOWN_ID = "urn:c2pa:00000000-0000-0000-0000-000000000000"

# The /sbr/v1 tests' fixtures: SQLite and PostgreSQL (ownership and visibility are in the queries), two tenants.
database_url = test_sbr.database_url
tenants = test_sbr.tenants


def _visibility(client: httpx.Client, headers: dict[str, str], manifest_id: str, body: object) -> httpx.Response:
    return client.put(f"/v1/repository/{manifest_id}/visibility", json=body, headers=headers)


def _found(client: httpx.Client, headers: dict[str, str], signed: bytes, manifest_id: str) -> dict[str, bool]:
    """Whether the caller finds the entry each way another tenant could."""
    copy = platform_copy(signed)
    by_id = client.get(f"{SBR}/manifests/{manifest_id}", headers=headers)
    by_binding = client.get(
        f"{SBR}/matches/byBinding", params={"alg": "io.iscc.v0", "value": binding_value(signed)}, headers=headers
    )
    by_content = client.post(
        f"{SBR}/matches/byContent", content=copy, headers={**headers, "Content-Type": "image/jpeg"}
    )
    # refresh: the verification cache is shared by content; recovery must be decided now.
    verified = client.post(
        "/v1/verify", params={"refresh": "true"}, headers=headers, files={"file": ("copy.jpg", copy, "image/jpeg")}
    )
    assert by_id.status_code in (200, 404) and verified.status_code == 200, (by_id.text, verified.text)
    recovered = verified.json()["verdict"]["recovered"]
    return {
        "id": by_id.status_code == 200,
        "binding": [m["manifestId"] for m in by_binding.json()["matches"]] == [manifest_id],
        "content": [m["manifestId"] for m in by_content.json()["matches"]] == [manifest_id],
        "recovery": recovered is not None and recovered["manifest_id"] == manifest_id,
    }


EVERY_WAY = {"id": True, "binding": True, "content": True, "recovery": True}
NO_WAY = {"id": False, "binding": False, "content": False, "recovery": False}


def test_private_hides_the_entry_from_other_tenants_every_way_and_public_restores_it(client, tenants, store):
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(21)))
    assert _found(client, tenants.b, signed, manifest_id) == EVERY_WAY

    answer = _visibility(client, tenants.a, manifest_id, {"private": True})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"manifestId": manifest_id, "private": True}
    assert _found(client, tenants.b, signed, manifest_id) == NO_WAY
    assert _found(client, tenants.a, signed, manifest_id) == EVERY_WAY  # the owner still does
    assert_error(client.get(f"{SBR}/manifests/{manifest_id}", headers=tenants.b), 404, "not_found")

    again = _visibility(client, tenants.a, manifest_id, {"private": False})
    assert again.status_code == 200 and again.json() == {"manifestId": manifest_id, "private": False}
    assert _found(client, tenants.b, signed, manifest_id) == EVERY_WAY

    # Each change is recorded with the key that made it (its public id).
    key_id = next(key.key_id for key in store.list_keys() if key.tenant == "tenant-a")
    assert _changes(store) == [
        (manifest_id, "tenant-a", True, f"key:{key_id}"),
        (manifest_id, "tenant-a", False, f"key:{key_id}"),
    ]


def test_another_tenants_id_answers_like_an_unknown_one_and_changes_nothing(client, tenants, store):
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(22)))
    theirs = assert_error(_visibility(client, tenants.b, manifest_id, {"private": True}), 404, "not_found")
    unknown = assert_error(_visibility(client, tenants.b, UNKNOWN_ID, {"private": True}), 404, "not_found")
    assert theirs["message"].replace(manifest_id, "ID") == unknown["message"].replace(UNKNOWN_ID, "ID")
    assert set(theirs) == set(unknown)
    # Nothing changed: A's entry is still public, and no change is recorded.
    assert _found(client, tenants.b, signed, manifest_id) == EVERY_WAY
    assert not store.repository.entry_by_manifest_id("tenant-a", manifest_id).private
    assert _changes(store) == []
    # B's own attempt to make A's private entry public again fails the same way.
    assert _visibility(client, tenants.a, manifest_id, {"private": True}).status_code == 200
    assert_error(_visibility(client, tenants.b, manifest_id, {"private": False}), 404, "not_found")
    assert store.repository.entry_by_manifest_id("tenant-a", manifest_id).private


def test_it_needs_a_key_with_the_sign_scope_and_a_boolean(client, tenants, store):
    _, manifest_id = sign(client, tenants.a, encoded(textured_image(23)))
    assert_error(_visibility(client, {}, manifest_id, {"private": True}), 401, "missing_api_key")
    no_sign = store.create_key(name="no-sign", scopes=frozenset(set(Scope) - {Scope.SIGN}), tenant="tenant-a")[1]
    refused = assert_error(
        _visibility(client, ApiKeys.header(no_sign), manifest_id, {"private": True}), 403, "insufficient_scope"
    )
    assert refused["required_scope"] == "sign"
    for body in ({"private": "true"}, {"private": 1}, {}, [True], {"private": True, "other": 1}):
        assert_error(_visibility(client, tenants.a, manifest_id, body), 422, "invalid_body")
    malformed = client.put(
        f"/v1/repository/{manifest_id}/visibility",
        content=b"{private",
        headers={**tenants.a, "Content-Type": "application/json"},
    )
    assert_error(malformed, 400, "malformed_body")
    assert _changes(store) == []


def test_the_cli_marks_an_entry_private_and_public(client, tenants, database_url):
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(24)))
    _cli(database_url, "repository", "private", manifest_id, "--tenant", "tenant-a")
    assert _found(client, tenants.b, signed, manifest_id) == NO_WAY
    assert _found(client, tenants.a, signed, manifest_id) == EVERY_WAY
    _cli(database_url, "repository", "public", manifest_id, "--tenant", "tenant-a")
    assert _found(client, tenants.b, signed, manifest_id) == EVERY_WAY


def _cli(database_url: str, *args: str) -> None:
    result = CliRunner().invoke(cli, list(args), env={"ORIGINMARK_DATABASE_URL": database_url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _changes(store: SqlStore) -> list[tuple[str, str, bool, str]]:
    with store.db_engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT manifest_id, tenant, private, actor FROM repository_visibility_changes ORDER BY id"
        ).all()
    return [(manifest_id, tenant, bool(private), actor) for manifest_id, tenant, private, actor in rows]


def test_made_private_its_labels_leave_other_tenants_feeds_but_not_the_owners(client, tenants):
    from .test_recovery import labels

    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(24)))
    copy = platform_copy(signed)
    for headers, media_id in ((tenants.a, "a-post"), (tenants.b, "b-post")):
        verified = client.post(
            "/v1/verify", headers=headers, data={"media_id": media_id}, files={"file": ("copy.jpg", copy, "image/jpeg")}
        )
        assert verified.status_code == 200 and verified.json()["verdict"]["recovered"] is not None, verified.text
    assert labels(client, tenants.b, "b-post")["b-post"]["recovered"] is True

    assert _visibility(client, tenants.a, manifest_id, {"private": True}).status_code == 200
    assert labels(client, tenants.b, "b-post")["b-post"]["recovered"] is False  # its content's own label again
    assert labels(client, tenants.a, "a-post")["a-post"]["recovered"] is True  # the owner's stays


def test_a_verify_kept_copy_made_private_leaves_other_tenants_recovered_labels(client, tenants, store):
    """Review 3: labels are recovered from the signer's entry; another tenant's verify-kept copy with
    the same manifest id made private takes none of them away (only the signer's change does)."""
    from .test_recovery import labels

    store.create_tenant("tenant-c")
    c = ApiKeys.header(store.create_key(name="c", scopes=frozenset(Scope), tenant="tenant-c")[1])
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(25)))
    copy = platform_copy(signed)
    verified = client.post(
        "/v1/verify", headers=c, data={"media_id": "c-post"}, files={"file": ("copy.jpg", copy, "image/jpeg")}
    )
    assert verified.status_code == 200 and verified.json()["verdict"]["recovered"] is not None, verified.text
    kept = client.post(
        "/v1/verify",
        headers=tenants.b,
        data={"keep_manifest": "true"},
        files={"file": ("signed.jpg", signed, "image/jpeg")},
    )
    assert kept.status_code == 200 and kept.json()["kept_manifest_id"] == manifest_id, kept.text

    assert _visibility(client, tenants.b, manifest_id, {"private": True}).status_code == 200
    assert labels(client, c, "c-post")["c-post"]["recovered"] is True
    assert _found(client, c, signed, manifest_id) == EVERY_WAY
