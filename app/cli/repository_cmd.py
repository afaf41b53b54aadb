"""`originmark repository`: the manifest repository of signed (and kept) manifest stores.

    originmark repository stats [--tenant NAME]
    originmark repository show MANIFEST_ID [--tenant NAME]
    originmark repository delete MANIFEST_ID --reason TEXT [--tenant NAME]
    originmark repository private MANIFEST_ID [--tenant NAME]
    originmark repository public MANIFEST_ID [--tenant NAME]
    originmark repository export [--tenant NAME] [--out FILE]

`show` and `delete` (and `private`, `public`) without --tenant find the entry whoever owns it (the operator's
view); with --tenant, `show` sees what that tenant would, and `delete`, `private` and `public` act
on that tenant's own entry only. `private` makes an entry its owner's only (other tenants no longer
find it by id, binding or content, nor recover it on verify); `public` undoes it; each change is
recorded with the OS user (`cli:<user>`). `delete` is for takedowns: the entry stops being
found by id and by content at once, and a record of who deleted what, and why, stays in the
database. `export` writes JSON lines, one entry each, the manifest store base64-encoded in
`manifest_store` (docs/manifest-repository.md). Works on the service's database, migrated first,
like `originmark apikey`.
"""

from __future__ import annotations

import base64
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.table import Table
from rich.text import Text

from app.cli.render import make_console, safe_text
from app.cli.store_access import cli_settings, fail, open_database
from app.cli.tables import print_table
from app.exit_codes import user_message
from app.store.repository import EntryOrigin, RepositoryEntry
from app.store.sql import SqlStore
from app.usecases.errors import ManifestNotFound
from app.usecases.repository_visibility import cli_actor, set_visibility

repository_app = typer.Typer(
    help="The manifest repository: kept manifest stores (stats, show, delete for takedowns, private/public, export).",
    no_args_is_help=True,
)

_TenantOption = Annotated[
    str | None, typer.Option("--tenant", metavar="NAME", help="Only this tenant's entries.", show_default=False)
]
_ManifestIdArgument = Annotated[
    str, typer.Argument(metavar="MANIFEST_ID", help="The active manifest's id (urn:c2pa:...).", show_default=False)
]


@repository_app.command("stats")
def stats(tenant: _TenantOption = None) -> None:
    """Count the kept manifest stores: by origin, private, searchable by content, where their bytes are."""
    with open_database(create=False) as store:
        counts = store.repository.stats(tenant)
    table = Table(box=None, padding=(0, 2), header_style="bold")
    table.add_column("entries" if tenant is None else f"entries of {tenant}", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    for what, count in (
        ("kept", counts.entries),
        ("signed here", counts.signed),
        ("kept from a verify", counts.verified),
        ("private", counts.private),
        ("searchable by content (io.iscc.v0)", counts.fingerprinted),
        ("store in the object store", counts.object_stored),
        ("store bytes in rows", counts.inline_bytes),
        ("deleted (takedowns)", counts.deletions),
    ):
        table.add_row(what, f"{count:,}")
    print_table(make_console(), table)


@repository_app.command("show")
def show(manifest_id: _ManifestIdArgument, tenant: _TenantOption = None) -> None:
    """Show an entry: owner, origin, asset hash, where its manifest store is, its soft bindings."""
    with open_database(create=False) as store:
        entries = _entries(store, manifest_id, tenant)
    out = make_console()
    for number, entry in enumerate(entries):
        if number:
            out.print()
        _print_entry(entry)


@repository_app.command("delete")
def delete(
    manifest_id: _ManifestIdArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (a takedown request's reference): recorded.")],
    tenant: _TenantOption = None,
) -> None:
    """Delete an entry (a takedown): it is no longer found by id or by content; the deletion is recorded."""
    if not reason.strip():
        fail("--reason says why the entry is deleted (it is recorded with the deletion)")
    with open_database(create=False) as store:
        owner = _owned_entry(store, manifest_id, tenant).tenant
        deletion = store.repository.delete_entry(
            owner, manifest_id, actor=cli_actor(_operator()), reason=reason.strip()
        )
        if deletion is None:  # deleted by someone else meanwhile
            fail(f"there is no entry {manifest_id!r:.120} any more")
        if deletion.store_object_uri is not None:
            _forget_object(store, deletion.store_object_uri)
        # Feeds stop showing labels recovered from it (new verifications stop recovering it already).
        store.forget_recovered_labels(manifest_id)
    make_console().print(
        Text.assemble("Deleted ", safe_text(manifest_id, max_chars=256), f" of tenant {deletion.tenant}"),
        soft_wrap=True,
    )


@repository_app.command("private")
def private(manifest_id: _ManifestIdArgument, tenant: _TenantOption = None) -> None:
    """Make an entry its owner's only: other tenants no longer find it (by id, binding, content, on verify)."""
    _set_visibility(manifest_id, tenant, private=True)


@repository_app.command("public")
def public(manifest_id: _ManifestIdArgument, tenant: _TenantOption = None) -> None:
    """Make a private entry of a signed credential public again: every tenant finds it."""
    _set_visibility(manifest_id, tenant, private=False)


@repository_app.command("export")
def export(
    tenant: _TenantOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write to FILE instead of standard output.", show_default=False),
    ] = None,
) -> None:
    """Write every entry as JSON lines, its manifest store base64-encoded, oldest first."""
    with open_database(create=False) as store:
        keeper = None
        written = 0
        try:
            with _output(out) as stream:
                for entry in store.repository.export(tenant):
                    if entry.store.inline is None and keeper is None:
                        keeper = _keeper(store)
                    stream.write(json.dumps(_exported(entry, keeper), sort_keys=True) + "\n")
                    written += 1
        except OSError as error:
            fail(user_message(error))
    if out is not None:
        make_console(stderr=True).print(f"Exported {written:,} entries to {out}", soft_wrap=True, markup=False)


def _set_visibility(manifest_id: str, tenant: str | None, *, private: bool) -> None:
    with open_database(create=False) as store:
        entry = _owned_entry(store, manifest_id, tenant)
        owner = entry.tenant
        try:
            changed = set_visibility(
                store, tenant=owner, manifest_id=manifest_id, private=private, actor=cli_actor(_operator())
            )
        except ManifestNotFound:  # deleted by someone else meanwhile
            fail(f"there is no entry {manifest_id!r:.120} any more")
    now = "private (its owner's only)" if changed.private else "public"
    if not changed.private and entry.origin is not EntryOrigin.SIGNED:
        # Kept from a verify: never shared, whatever the flag says (docs/manifest-repository.md).
        now = "not private, and still its owner's only (kept from a verify)"
    make_console().print(
        Text.assemble("Entry ", safe_text(manifest_id, max_chars=256), f" of tenant {owner} is now {now}"),
        soft_wrap=True,
    )


def _owned_entry(store: SqlStore, manifest_id: str, tenant: str | None) -> RepositoryEntry:
    """The entry a change acts on: --tenant's own, or the one owner's; exits 2 otherwise."""
    # Owners only: --tenant names whose entry changes, never one it merely sees.
    entries = [entry for entry in _entries(store, manifest_id, None) if tenant is None or entry.tenant == tenant]
    if not entries:
        fail(f"tenant {tenant} keeps no entry {manifest_id!r:.120}")
    if len(entries) > 1:
        owners = ", ".join(entry.tenant for entry in entries)
        fail(f"{len(entries)} tenants keep {manifest_id!r:.120} ({owners}): name one with --tenant")
    return entries[0]


def _entries(store: SqlStore, manifest_id: str, tenant: str | None) -> list[RepositoryEntry]:
    """The entry as `tenant` sees it, or every owner's (operator); exits 2 when there is none."""
    if tenant is not None:
        entry = store.repository.entry_by_manifest_id(tenant, manifest_id)
        entries = [entry] if entry is not None else []
    else:
        entries = store.repository.entries_with_manifest_id(manifest_id)
    if not entries:
        whose = f" visible to tenant {tenant}" if tenant is not None else ""
        fail(f"there is no entry {manifest_id!r:.120}{whose} in the manifest repository")
    return entries


def _print_entry(entry: RepositoryEntry) -> None:
    out = make_console()
    out.print(
        Text.assemble(("Entry ", "bold"), safe_text(entry.manifest_id, style="bold", max_chars=256)), soft_wrap=True
    )
    out.print(f"Tenant: {entry.tenant}" + ("  (private)" if entry.private else ""))
    out.print(f"Origin: {entry.origin.value}")
    out.print(f"Kept: {entry.created_at:%Y-%m-%d %H:%M:%S} UTC")
    out.print(f"Asset SHA-256: {entry.asset_sha256}")
    where = "in the database" if entry.store.object_uri is None else entry.store.object_uri
    out.print(Text.assemble(f"Manifest store: {entry.store.size:,} bytes, ", safe_text(where)), soft_wrap=True)
    if not entry.bindings:
        out.print("Soft bindings: none (not searchable by content)")
    for binding in entry.bindings:
        code = f"  code64 {binding.code64:016x}" if binding.code64 is not None else ""
        out.print(
            Text.assemble(
                "Soft binding: ", safe_text(binding.alg, max_chars=64), f"  {binding.value.hex()[:40]}{code}"
            ),
            soft_wrap=True,
        )


def _exported(entry: RepositoryEntry, keeper) -> dict:
    data = entry.store.inline if entry.store.inline is not None else keeper.manifest_store(entry)
    return {
        "manifest_id": entry.manifest_id,
        "tenant": entry.tenant,
        "asset_sha256": entry.asset_sha256,
        "origin": entry.origin.value,
        "private": entry.private,
        "created_at": entry.created_at.isoformat(),
        "store_sha256": entry.store.sha256,
        "bindings": [
            {
                "alg": binding.alg,
                "value": base64.b64encode(binding.value).decode("ascii"),
                "code64": binding.code64,
                "descriptor": None
                if binding.descriptor is None
                else base64.b64encode(binding.descriptor).decode("ascii"),
            }
            for binding in entry.bindings
        ],
        "manifest_store": base64.b64encode(data).decode("ascii"),
    }


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8") as stream:
        yield stream


def _keeper(store: SqlStore):
    from app.wiring import build_manifest_keeper

    return build_manifest_keeper(cli_settings(), store)


def _forget_object(store: SqlStore, object_uri: str) -> None:
    """The deleted entry's store in the object store goes too (the row said where)."""
    from app.objects.errors import ObjectStoreError

    try:
        _keeper(store).forget_object(object_uri)
    except ObjectStoreError as error:
        fail(f"the entry is deleted, but its manifest store at {object_uri} could not be: {error.message}")


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "unknown"
