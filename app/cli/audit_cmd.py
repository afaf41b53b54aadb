"""`originmark audit`: check the audit log's hash chain and MACs (verify) and read its newest records (show).

Reads the service's database (ORIGINMARK_DATABASE_URL, or --database-url for a copy) and never
changes it: a database whose schema is not this version's is refused, not migrated. `verify`
checks each record's MAC with the configured audit key (ORIGINMARK_AUDIT_KEY_FILE,
ORIGINMARK_AUDIT_KEY or KEYS_DIR/audit.key; never created here) and with older keys given with
--key-file after a rotation.

Exit codes (app.exit_codes): 0 the chain is intact, 1 it is broken (the first broken record is
named), 2 a wrong command line or a database that cannot be read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.audit_keys import verification_audit_keys
from app.cli.render import make_console, safe_text
from app.cli.store_access import cli_settings, fail, open_database
from app.cli.tables import print_table
from app.exit_codes import EXIT_INVALID, EXIT_OK
from app.store.audit import ChainReport, SqlAuditLog
from app.store.interface import DEFAULT_TENANT
from keys.audit_key import AuditKeyring
from keys.errors import KeyProblem

audit_app = typer.Typer(
    help="The audit log of signatures: check its hash chain (verify), show the newest records (show).",
    no_args_is_help=True,
)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

_DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The database to read [default: ORIGINMARK_DATABASE_URL or HOME/originmark.db].",
        show_default=False,
    ),
]


@contextmanager
def _audit_log(database_url: str | None, *, key_files: Sequence[Path] | None = None) -> Iterator[SqlAuditLog]:
    """The audit log of a database already at this version's schema (never created nor migrated
    here); any problem exits 2. `key_files` not None: with the audit keys to check MACs with (the
    configured one and these)."""
    keys: AuditKeyring | None = None
    if key_files is not None:
        try:
            keys = verification_audit_keys(cli_settings(), older_key_files=key_files)
        except KeyProblem as error:
            fail(str(error))
    with open_database(create=False, migrate=False, database_url=database_url) as store:
        yield SqlAuditLog(db_engine=store.db_engine, keys=keys)


def _parse_head(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if _SHA256_HEX.fullmatch(value) is None:
        raise typer.BadParameter("a record hash is 64 hex digits, as `audit verify` prints it")
    return value


@audit_app.command("verify")
def verify(
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            metavar="HASH",
            help="A head hash printed by an earlier `audit verify` and kept outside the database: "
            "the chain must still contain that record (detects records cut from the end, or a chain "
            "recomputed by someone with write access).",
            show_default=False,
        ),
    ] = None,
    key_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--key-file",
            metavar="FILE",
            help="An older audit key (after a rotation), to check the records made with it; repeatable. "
            "The configured key (ORIGINMARK_AUDIT_KEY_FILE, ORIGINMARK_AUDIT_KEY or KEYS_DIR/audit.key) "
            "is always used.",
            show_default=False,
        ),
    ] = None,
    database_url: _DatabaseOption = None,
) -> None:
    """Walk the audit log's hash chain, check each record's MAC, and report the first broken record (exit 1)."""
    anchor = _parse_head(head)
    with _audit_log(database_url, key_files=key_files or []) as audit_log:
        report = audit_log.verify_chain(anchor=anchor)
    _print_report(report, anchor=anchor)
    raise typer.Exit(EXIT_OK if report.intact else EXIT_INVALID)


def _print_report(report: ChainReport, *, anchor: str | None) -> None:
    out = make_console()
    # Hashes are printed whole on one line each (soft_wrap): they are meant to be copied.
    if report.broken is not None:
        broken = report.broken
        where = f"record #{broken.record_id}" if broken.record_id is not None else "the chain's head"
        out.print(Text.assemble(("BROKEN", "bold red"), f" at {where}: ", broken.message), soft_wrap=True)
        out.print(Text.assemble(("  problem   ", "dim"), broken.problem.value), soft_wrap=True)
        out.print(Text.assemble(("  expected  ", "dim"), broken.expected), soft_wrap=True)
        out.print(Text.assemble(("  found     ", "dim"), broken.found), soft_wrap=True)
        if broken.record_id is not None:
            out.print(Text.assemble(("  intact    ", "dim"), _records(report.records - 1) + " before it"))
        _print_authentication(report)
        return
    if report.records == 0:
        out.print(Text.assemble(("OK", "bold green"), ": the audit log is empty."))
        return
    out.print(
        Text.assemble(
            ("OK", "bold green"),
            f": the audit log's hash chain is intact: {_records(report.records)}, #{report.first_id} to "
            f"#{report.last_id}.",
        ),
        soft_wrap=True,
    )
    out.print(Text.assemble(("  head      ", "dim"), report.head_hash or ""), soft_wrap=True)
    _print_authentication(report)
    if anchor is not None:
        out.print(Text.assemble(("  --head    ", "dim"), "found in the chain"))
        return
    out.print(
        Text(
            "Keep the head hash outside this database (a ticket, your log archive): "
            "`originmark audit verify --head HASH` later proves that no record up to it was removed or rewritten.",
            style="dim",
        ),
        soft_wrap=True,
    )


def _print_authentication(report: ChainReport) -> None:
    """How many of the records checked carry a MAC that matched, and which did not have one."""
    if report.records == 0:
        return
    out = make_console()
    keys = f" (audit key {', '.join(report.mac_key_ids)})" if report.mac_key_ids else ""
    out.print(Text.assemble(("  authenticated  ", "dim"), _records(report.authenticated_records) + keys))
    if report.legacy_records:
        out.print(
            Text.assemble(
                ("  not authenticated (written before audit keys)  ", "dim"), _records(report.legacy_records)
            ),
            soft_wrap=True,
        )
    if report.unkeyed_records:
        out.print(
            Text.assemble(
                ("  not authenticated (written without an audit key)  ", "dim"), _records(report.unkeyed_records)
            ),
            soft_wrap=True,
        )
    if report.intact and report.authenticated_records == 0:
        out.print(
            Text(
                "No record is authenticated. If this service has signed since it had an audit key, the log was "
                "rewritten from its start: compare with a head hash kept outside the database (--head).",
                style="yellow",
            ),
            soft_wrap=True,
        )


@audit_app.command("show")
def show(
    last: Annotated[int, typer.Option("--last", min=1, max=10_000, help="How many of the newest records.")] = 20,
    database_url: _DatabaseOption = None,
) -> None:
    """Show the newest audit records: who signed what, claiming which source type, when, under which audit key.

    `prior`: what the signature did with the Content Credentials the file already carried (none,
    kept as its parent ingredient, replaced); `-` for records written before this was recorded.
    """
    with _audit_log(database_url) as audit_log:
        records = audit_log.records(limit=last)
    out = make_console()
    if not records:
        out.print("The audit log is empty: nothing has been signed through the service yet.")
        return
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    tenants = any(record.entry.tenant != DEFAULT_TENANT for record in records)  # one column more only then
    headings = (
        "#",
        "signed (UTC)",
        "key id",
        *(("tenant",) if tenants else ()),
        "generator",
        "source type",
        "title",
        "media id",
        "prior",
        "output",
        "record",
        "mac key",
    )
    for heading in headings:
        free_text = heading in ("generator", "title", "media id")
        table.add_column(heading, overflow="fold", no_wrap=not free_text, min_width=10 if free_text else None)
    for record in reversed(records):  # oldest first, like a log
        entry = record.entry
        generator = entry.generator + (f" {entry.generator_version}" if entry.generator_version else "")
        table.add_row(
            str(record.id),
            f"{entry.signed_at:%Y-%m-%d %H:%M:%S}",
            entry.key_id or Text("cli", style="dim"),
            *((safe_text(entry.tenant, max_chars=64),) if tenants else ()),
            safe_text(generator, max_chars=60),
            safe_text(entry.digital_source_type, max_chars=60) if entry.digital_source_type else Text("-", style="dim"),
            safe_text(entry.title or "", max_chars=60),
            safe_text(entry.media_id or "", max_chars=60),
            _prior_credentials(entry.prior_credentials, entry.replaced_manifest_id),
            entry.output_sha256[:8],  # prefixes: enough to find a record
            record.record_hash[:8],
            record.mac_key_id or Text("none", style="dim"),
        )
    print_table(out, table)


def _prior_credentials(value: str | None, replaced_manifest_id: str | None) -> Text:
    """What the signature did with the credentials the signed file carried (- : not recorded, before migration 0012)."""
    if value is None:
        return Text("-", style="dim")
    if value == "replaced":
        shown = Text(value, style="bold yellow")  # the one an auditor looks for
        return shown + Text(" ") + safe_text(replaced_manifest_id, max_chars=80) if replaced_manifest_id else shown
    return Text(value, style="dim" if value == "none" else "")


def _records(count: int) -> str:
    return f"{count:,} record" + ("" if count == 1 else "s")
