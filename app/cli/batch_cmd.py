"""`originmark batch verify URI` and `originmark batch report ID`: verify jobs for every object under
an S3 prefix or a folder of the objects folder, and what became of them.

- `batch verify` lists the prefix (page by page) and submits one verify job per object through
  the same path as POST /v1/jobs/verify (app/jobs/records.submit: idempotent, so running it again
  over unchanged objects reuses the jobs: a new batch id, no new job). It prints the batch id
  (stdout, alone on its line: scripts can capture it) and shows progress on stderr.
  - PostgreSQL: the jobs go to procrastinate's queue and `originmark worker` runs them; the
    command returns once they are queued, or with `--wait` once they are all done.
  - SQLite: there is no queue and no worker; this process runs the jobs (app/jobs/embedded.py)
    and so always waits for them (`--wait` is implied).
  Exit: 0 submitted (with --wait: every job succeeded, none invalid), 1 (with --wait) something
  invalid or failed or an object was skipped as too large, 2 usage, configuration or I/O error.
- `batch report ID [--format table|csv|json]`: counts by job status, verdict state and label kind,
  then one row per object (URI, status, state, label). Every string is made safe for where it goes
  (terminal: app.cli.render; CSV: formula and control-character safe; JSON: ASCII escapes).
  Exit: 0 every job succeeded and none is invalid, 1 otherwise (invalid, failed or not done yet),
  2 unknown batch id or usage error.
"""

from __future__ import annotations

import csv
import enum
import os
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from app.cli.render import clean_text, label_style, make_console, safe_text, state_style
from app.cli.tables import PathText, print_table
from app.cli.verify_output import csv_cell, json_text
from app.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO, user_message
from app.store.interface import DEFAULT_TENANT

if TYPE_CHECKING:
    from app.jobs.batches import BatchReport  # imported when a command runs (CLI start-up stays light)

batch_app = typer.Typer(
    help="Verify every object under an S3 prefix or folder as jobs, and report on them.", no_args_is_help=True
)

_POLL_SECONDS = 0.5


class ReportFormat(str, enum.Enum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@batch_app.command("verify")
def batch_verify(
    uri: Annotated[
        str,
        typer.Argument(
            help="s3://bucket/prefix, or a folder (path or file:// URI) in the objects "
            "folder (ORIGINMARK_OBJECTS_DIR).",
            metavar="URI",
            show_default=False,
        ),
    ],
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait until every job is done (always, on SQLite).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, help="With --wait: give up waiting after this many seconds (the jobs go on)."),
    ] = 3600,
    tenant: Annotated[
        str,
        typer.Option(
            "--tenant", metavar="NAME", help="The tenant the jobs act for: their verdicts are its submissions."
        ),
    ] = DEFAULT_TENANT,
) -> None:
    """Queue a verify job for every object under URI; print the batch id.

    The operator's command: it lists and reads storage with the service's own credentials, whatever
    the tenant's object prefixes (those bound what the tenant's API keys may name).
    """
    from app.jobs import batches
    from app.jobs.queue import is_queue_database
    from app.objects.errors import ObjectStoreError
    from app.settings import Settings

    err = make_console(stderr=True)
    try:
        settings = Settings()
        queued = is_queue_database(settings.database_url)
    except Exception as error:  # noqa: BLE001 - configuration: every kind is told as the one usage error
        _error(err, user_message(error))
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    wait = wait or not queued
    with ExitStack() as stack:
        try:
            runner = stack.enter_context(_Runner(settings, queued=queued))
            prefix = runner.objects.parse(uri)
            runner.objects.list_page(
                prefix, page_size=1
            )  # refused (outside the folder, no bucket) before a batch exists
            if runner.store.tenant(tenant) is None:
                raise LookupError(f"there is no tenant {tenant!r:.80}; `originmark tenants list` shows them")
            batch_id = batches.create_batch(runner.db_engine, prefix, tenant=tenant)
        except LookupError as error:
            _error(err, str(error))
            raise typer.Exit(EXIT_USAGE_OR_IO) from None
        except ObjectStoreError as error:
            _error(err, getattr(error, "message", str(error)))
            raise typer.Exit(EXIT_USAGE_OR_IO) from None
        except Exception as error:  # noqa: BLE001 - told as a usage or I/O error, never a traceback
            _error(err, user_message(error))
            raise typer.Exit(EXIT_USAGE_OR_IO) from None
        typer.echo(batch_id)
        skipped = created = total = 0
        with _progress(err, quiet=quiet) as progress:
            listing = progress.add_task("Submitting", total=None) if progress else None
            try:
                for item in batches.submit_batch(
                    runner.db_engine,
                    batch_id=batch_id,
                    tenant=tenant,
                    objects=runner.objects,
                    prefix=prefix,
                    max_source_bytes=settings.jobs_max_source_bytes,
                    enqueue=runner.enqueue,
                    started=runner.started,
                ):
                    if isinstance(item, batches.Skipped):
                        skipped += 1
                        err.print(
                            Text.assemble(
                                ("skipped: ", "yellow"), safe_text(item.uri, max_chars=500), f" ({item.reason})"
                            ),
                            soft_wrap=True,
                        )
                        continue
                    total += 1
                    created += item.created
                    if progress:
                        progress.advance(listing)
            except ObjectStoreError as error:
                _error(err, getattr(error, "message", str(error)))
                raise typer.Exit(EXIT_USAGE_OR_IO) from None
            except KeyboardInterrupt:
                _error(err, f"interrupted: batch {batch_id} holds the jobs submitted so far")
                raise typer.Exit(130) from None
            if progress:
                progress.update(listing, total=total, completed=total)
            if wait:
                done_task = progress.add_task("Verified", total=total) if progress else None
                deadline = time.monotonic() + timeout
                while True:
                    statuses = batches.job_statuses(runner.db_engine, batch_id)
                    done = statuses["succeeded"] + statuses["failed"]
                    if progress:
                        progress.update(done_task, completed=done)
                    if done >= total or time.monotonic() > deadline:
                        break
                    time.sleep(_POLL_SECONDS)
        if not quiet:
            reused = total - created
            err.print(
                f"batch {batch_id}: {total} jobs ({created} new, {reused} reused), {skipped} skipped", soft_wrap=True
            )
        if not wait:
            raise typer.Exit(EXIT_OK)
        report = batches.load_report(runner.db_engine, runner.store, batch_id)
    if report is None:  # deleted while it ran (the batch row is read back, not kept in memory)
        _error(err, f"batch {batch_id} is no longer in the database")
        raise typer.Exit(EXIT_USAGE_OR_IO)
    if not quiet:
        err.print(_counts_text(report), soft_wrap=True)
    raise typer.Exit(EXIT_OK if report.all_good and report.finished and not skipped else EXIT_INVALID)


@batch_app.command("report")
def batch_report(
    batch_id: Annotated[str, typer.Argument(help="The id `batch verify` printed.", metavar="ID", show_default=False)],
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", case_sensitive=False, help="table for people; csv or json for tools."),
    ] = ReportFormat.TABLE,
) -> None:
    """Counts by status, verdict state and label, and one row per object of a batch."""
    from app.cli.store_access import open_database
    from app.jobs import batches

    err = make_console(stderr=True)
    if len(batch_id) != 32 or any(c not in "0123456789abcdef" for c in batch_id):
        _error(err, "no batch has this id (a batch id is 32 hexadecimal characters)")
        raise typer.Exit(EXIT_USAGE_OR_IO)
    with open_database(create=False, migrate=False) as store:  # a report never creates a database
        report = batches.load_report(store.db_engine, store, batch_id)
    if report is None:
        _error(err, f"no batch has the id {batch_id}")
        raise typer.Exit(EXIT_USAGE_OR_IO)
    if output_format is ReportFormat.JSON:
        sys.stdout.write(json_text(report_json(report)) + "\n")
    elif output_format is ReportFormat.CSV:
        _write_csv(report)
    else:
        _print_table(make_console(), report)
    raise typer.Exit(EXIT_OK if report.all_good else EXIT_INVALID)


# --- running the jobs ---------------------------------------------------------------------------


class _Runner:
    """The store, object stores and job queue of this process: procrastinate (defer only) on
    PostgreSQL, or the embedded pool (with its own verifier) on SQLite."""

    def __init__(self, settings: Any, *, queued: bool) -> None:
        self._settings = settings
        self._queued = queued
        self._stack = ExitStack()

    def __enter__(self) -> _Runner:
        from app.service_setup import prepare_service
        from app.store.sql import open_store
        from app.wiring import build_object_stores, build_worker_pools

        try:
            if prepare_service(self._settings):  # the database schema (idempotent), as `originmark worker` does
                from app.cli.store_access import announce_creation

                announce_creation(self._settings.database_url)
            self.store = open_store(self._settings.database_url)
            self._stack.callback(self.store.close)
            self.db_engine = self.store.db_engine
            self.objects = build_object_stores(self._settings)
            self.app = self.embedded = None
            if self._queued:
                from app.jobs.queue import build_queue_app

                self.app = build_queue_app(self._settings)
            else:
                from app.jobs.embedded import EmbeddedJobs
                from app.wiring import build_job_runtime

                worker_pools = build_worker_pools(self._settings)
                self._stack.callback(worker_pools.close)
                runtime = build_job_runtime(
                    self._settings, store=self.store, worker_pools=worker_pools, objects=self.objects
                )
                self.embedded = EmbeddedJobs(runtime, threads=max(1, min(2, self._settings.verify_workers)))
                self._stack.callback(self.embedded.close)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def enqueue(self, lock: str):
        from app.jobs.deferral import VERIFY_TASK, defer_task

        if self.app is None:
            return lambda _connection, _job_id: None  # the embedded pool starts it after the commit
        return lambda connection, job_id: defer_task(self.app, connection, VERIFY_TASK, job_id=job_id, lock=lock)

    def started(self, submitted):
        if self.embedded is not None and submitted.created:
            self.embedded.start(submitted.job.id, submitted.job.kind)
        return submitted


# --- output -------------------------------------------------------------------------------------


def report_json(report: Any) -> dict[str, Any]:
    return {
        "batch_id": report.batch_id,
        "prefix": report.prefix,
        "jobs": len(report.rows),
        "by_status": report.by_status,
        "by_state": report.by_state,
        "by_label": report.by_label,
        "objects": [
            {
                "uri": row.source,
                "job_id": row.job_id,
                "status": row.status.value,
                "state": row.state,
                "label_kind": row.label_kind,
                "label": row.label_text,
                "error": None if row.error_code is None else {"code": row.error_code, "message": row.error_message},
            }
            for row in report.rows
        ],
    }


CSV_COLUMNS = ["uri", "job_id", "status", "state", "label_kind", "label", "error_code", "error_message"]


def _write_csv(report: Any) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        values = [
            row.source,
            row.job_id,
            row.status.value,
            row.state,
            row.label_kind,
            row.label_text,
            row.error_code,
            row.error_message,
        ]
        writer.writerow([csv_cell(value) for value in values])
    sys.stdout.flush()


def _counts_text(report: BatchReport) -> Text:
    text = Text(f"{len(report.rows)} jobs")
    for title, counts, style_of in (
        ("status", report.by_status, lambda _value: ""),
        ("state", report.by_state, state_style),
        ("label", report.by_label, label_style),
    ):
        text.append(f"; {title}: ")
        if not counts:
            text.append("-", style="dim")
        for index, (value, count) in enumerate(counts.items()):
            text.append(", " if index else "")
            text.append(f"{value} {count}", style=style_of(value))
    return text


def _print_table(console: Console, report: Any) -> None:
    console.print(
        Text.assemble("batch ", report.batch_id, " of ", safe_text(report.prefix, max_chars=300)), soft_wrap=True
    )
    console.print(_counts_text(report), soft_wrap=True)
    # Objects are shown under their common folder (printed once), so a narrow terminal keeps the names.
    sources = [row.source for row in report.rows]
    common = os.path.commonprefix(sources).rpartition("/")[0] + "/" if sources else ""
    if common != "/":
        console.print(Text.assemble("objects under ", safe_text(common, max_chars=500)), soft_wrap=True)
    else:
        common = ""
    table = Table("object", "status", "state", "label")
    for row in report.rows:
        table.add_row(
            PathText(clean_text(row.source[len(common) :], max_chars=300)),  # one line: both ends kept
            Text(row.status.value, style="red" if row.status.value == "failed" else ""),
            Text(row.state or "-", style=state_style(row.state) if row.state else "dim"),
            safe_text(
                row.label_text or (row.error_code or "-"),
                style=label_style(row.label_kind) if row.label_kind else "dim",
            ),
        )
    print_table(console, table)


def _error(console: Console, message: str) -> None:
    console.print(Text.assemble(("error: ", "bold red"), safe_text(message, max_chars=2000)), soft_wrap=True)


def _progress(console: Console, *, quiet: bool) -> Any:
    """A live progress bar on stderr when it is a terminal; otherwise nothing (logs stay clean)."""
    from contextlib import nullcontext

    if quiet or not console.is_terminal:
        return nullcontext(None)
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
