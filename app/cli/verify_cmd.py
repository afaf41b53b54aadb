"""`originmark verify`: verify many files and folders, in parallel, streaming one record per file.

Behaviour (also in `--help`):
- Inputs: files and folders. A folder contributes its direct files; with `-r` its whole tree
  (sorted, depth first; folder symlinks followed, never twice: no loops). See `app.cli.paths`.
- `--jobs N`: the isolated verifier runs N worker processes (bounded time and memory per file),
  started once for the whole batch. This process streams paths to them (two jobs in flight per
  worker, so none waits for the next file: `IsolatedVerifier.stream`) from one thread, with
  --recover too (app/cli/verify_batch.py). Records come out in input order: a bounded window of
  files (`WINDOW_PER_JOB` per job) is re-ordered, so output is deterministic and the memory used
  does not grow with the batch. With --server, N threads send a file each.
- Every input gets a record, even one that never reached the verifier (missing path, broken
  link, unreadable file or folder, FIFO): state `error` with the reason. An unexpected failure
  while verifying one file is an `error` record too; the batch always goes on.
- Output on stdout (table | json | jsonl | csv). The progress bar (only when stderr is a terminal)
  and, for json/jsonl/csv, the summary go to stderr, so stdout stays machine-readable.
- Exit status: 2 if any path could not be read, a file could not be fully checked (the service
  failed on it; its --recover lookup failed: the record keeps the file's own verdict and says so
  in `reason`) or the command could not start (usage, configuration, I/O), else 1 if any file is `invalid`, else 0. `error` records from the engine
  (unsupported or malformed media, over a limit) do not change the exit status on their own.
- `--server URL` (or ORIGINMARK_SERVER_URL): each file goes to a running service's POST /v1/verify
  as the raw request body, streamed from disk with its sniffed media type (`app.cli.remote`),
  instead of the local verifier; `--jobs N` requests at a time; same records, order, formats
  and summary. The URL and key are checked with one request before any file is sent; a server
  that cannot be reached or refuses the key stops the batch (exit 2, one message) rather than
  giving every file the same `error` record. A file the server refuses (413, 415, 422) gets an
  `error` record with the server's reason (exit status unchanged, as for media the local engine
  cannot read); a 429 (or a 503 with Retry-After) is sent again after the wait asked for, a few
  times; a file the service failed on (5xx, timeout, lost connection, still busy) gets an
  `error` record and exit status 2, since it was not checked.
- `--recover`: a file without valid credentials of its own (`none` or `invalid`) is looked up by
  content in the manifest repository of the local database (ORIGINMARK_HOME's, or
  ORIGINMARK_DATABASE_URL), as the default tenant sees it (its own entries and every public one);
  a match that passes both checks and whose kept manifest validates again gives the record
  `recovered` and the recovered label (app/usecases/recovery.py). With --server the service
  recovers by itself, for the key's tenant.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ContextManager

import typer
from rich.console import Console
from rich.text import Text

from app.cli.paths import InputWalker
from app.cli.remote_errors import ServiceUnusable
from app.cli.render import make_console, safe_text
from app.cli.verify_batch import Batch, streamed_outcomes, threaded_outcomes
from app.cli.verify_output import BatchSummary, OutputFormat, open_writer
from app.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO, exit_code_for, user_message

if TYPE_CHECKING:
    from rich.progress import Progress

    from app.cli.remote import VerifyClient
    from app.settings import Settings
    from verifier.isolation import IsolatedVerifier
    from verifier.process_pool import Launched

MAX_JOBS = 64  # each job is a verifier worker process with its own memory bound
_EXIT_INTERRUPTED = 130  # the shell's code for SIGINT


def verify(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files and folders to verify (folders: their files; with -r, their whole tree).",
            metavar="PATH",
            show_default=False,
        ),
    ],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Verify folders recursively.")] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=MAX_JOBS,
            help="Files verified in parallel (verifier worker processes; with --server, requests in flight).",
        ),
    ] = 1,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="table for people; json (one array), jsonl (one object per line) or csv for tools.",
        ),
    ] = OutputFormat.TABLE,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            show_default=False,
            help="Send the files to a running originmark service (POST URL/v1/verify) instead of "
            "verifying them here. Default: ORIGINMARK_SERVER_URL (set it empty to verify here).",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            show_default=False,
            help="API key with the verify scope, for --server. Default: ORIGINMARK_API_KEY, the better "
            "place for it (a command line is visible to other users of the machine).",
        ),
    ] = None,
    recover: Annotated[
        bool,
        typer.Option(
            "--recover",
            help="Look a file without valid credentials of its own up by content in the manifest "
            "repository (the local database; with --server the service always does).",
        ),
    ] = False,
) -> None:
    """Verify the Content Credentials of files and folders.

    One record per file on stdout, in input order (folders sorted by name). The progress bar (on a
    terminal) and the summary go to stderr; with the table format the summary follows the table.

    With --server the files are verified by a running originmark service instead (same records).

    Exit status: 0 nothing invalid, 1 some file invalid, 2 a path could not be read, a file was not
    fully checked (with --server: the service failed on it; with --recover: its repository lookup
    failed) or a usage, configuration or connection error.
    """
    err_console = make_console(stderr=True)
    summary = BatchSummary()
    walker = InputWalker(paths=paths, recursive=recursive)
    started = time.perf_counter()
    try:
        verifying = _start_verifying(
            server=server, api_key=api_key, jobs=jobs, err_console=err_console, recover=recover
        )
    except (typer.BadParameter, typer.Exit):
        raise  # a usage error: Typer prints it with the usage line, exit 2 (or a message printed already)
    except ServiceUnusable as error:
        _print_error(err_console, error.message)
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    except Exception as error:  # noqa: BLE001 - settings, trust policy or worker start-up: nothing can be verified
        _print_error(err_console, user_message(error))
        raise typer.Exit(exit_code_for(error)) from None

    writer = open_writer(output_format)
    try:
        with verifying as batch, _progress(err_console, quiet=quiet) as progress:
            task = progress.add_task("Verifying", total=None) if progress is not None else None
            writer.start()
            # closing(): on an interrupt the pending files are cancelled before the verifier closes.
            with closing(batch(walker)) as outcomes:
                for outcome in outcomes:
                    writer.write(outcome.record)
                    summary.add(outcome.record, unreadable=outcome.unreadable)
                    if outcome.unreadable and output_format.is_machine_readable:
                        _print_error(err_console, f"{outcome.record['path']}: {outcome.record['reason']}")
                    if progress is not None and task is not None:
                        progress.advance(task)
            writer.finish()
    except typer.Exit:
        raise  # --recover without a database: said already (app/cli/store_access.py)
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`| head`): stop quietly, it is an I/O error
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    except KeyboardInterrupt:
        _print_error(err_console, "interrupted")
        raise typer.Exit(_EXIT_INTERRUPTED) from None
    except ServiceUnusable as error:  # e.g. the key was revoked or the server stopped mid-batch
        _print_error(err_console, error.message)
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    except Exception as error:  # noqa: BLE001 - the verifier failing as a whole (VerifierError); never one file's failure
        _print_error(err_console, user_message(error))
        raise typer.Exit(exit_code_for(error)) from None

    summary.skipped_folders = walker.skipped_folders
    if not quiet:
        summary_console = err_console if output_format.is_machine_readable else make_console()
        # soft_wrap: a log file or narrow pipe gets whole lines, never a count cut from its name.
        summary_console.print(summary.render(elapsed_seconds=time.perf_counter() - started), soft_wrap=True)
    raise typer.Exit(_exit_status(summary))


def _exit_status(summary: BatchSummary) -> int:
    if summary.unreadable_paths:
        return EXIT_USAGE_OR_IO
    return EXIT_INVALID if summary.any_invalid else EXIT_OK


def _start_verifying(
    *, server: str | None, api_key: str | None, jobs: int, err_console: Console, recover: bool = False
) -> ContextManager[Batch]:
    """What verifies the batch: the local verifier pool, or a checked client of `--server`."""
    # Without --server the workers are most likely local: started now (one of them before Typer even
    # parsed the command line: app/cli/early_workers.py), they import the engine while this process
    # reads its settings (verifier/warm_start.py); discarded if the settings name a server.
    from app.cli.early_workers import verifier_workers

    launched = verifier_workers(jobs) if server is None else []
    try:
        # Imported here: settings and wiring pull in the engine, which `--help` and usage errors do not need.
        from app.settings import Settings

        settings = Settings()
        server_url = server if server is not None else settings.server_url
        if not server_url:
            if api_key is not None:
                raise typer.BadParameter("is for --server (or ORIGINMARK_SERVER_URL)", param_hint="'--api-key'")
            return _local(_build_verifier(settings, jobs, launched), jobs=jobs, settings=settings if recover else None)
    except BaseException:
        for process in launched:
            process.discard()
        raise
    for process in launched:
        process.discard()
    # Imported here: httpx and the codec cost start-up time a local run does not need.
    from app.cli.remote import VerifyClient, server_and_key

    given = api_key if api_key is not None else (settings.api_key.get_secret_value() if settings.api_key else None)
    try:
        url, key = server_and_key(
            server_url,
            given,
            scope="verify",
            warn=lambda text: err_console.print(Text(text, style="yellow"), soft_wrap=True),
        )
    except ValueError as problem:
        option, _, reason = str(problem).partition(": ")
        raise typer.BadParameter(reason, param_hint=f"'{option}'") from None
    client = VerifyClient(server_url=url, api_key=key, concurrency=jobs)
    try:
        client.check_access()
    except BaseException:
        client.close()
        raise
    return _remote(client, jobs=jobs)


def _build_verifier(settings: Settings, jobs: int, launched: list[Launched]) -> IsolatedVerifier:
    from app.wiring import build_verifier

    return build_verifier(settings, workers=jobs, launched=launched)


@contextmanager
def _local(verifier: IsolatedVerifier, *, jobs: int, settings: Settings | None) -> Iterator[Batch]:
    """The local verifier; with `settings` (--recover), recovery from that database's repository."""
    with ExitStack() as owned:
        owned.enter_context(verifier)
        if settings is None:
            yield functools.partial(streamed_outcomes, verifier=verifier, jobs=jobs)
            return
        from app.cli.store_access import open_database
        from app.store.interface import DEFAULT_TENANT
        from app.wiring import build_content_recovery

        store = owned.enter_context(open_database(create=False))
        recovery = build_content_recovery(settings, store, verifier)
        # The recovery's fingerprints and store validations go through the same stream as the files.
        yield functools.partial(
            streamed_outcomes, verifier=verifier, jobs=jobs, recovery=recovery, tenant=DEFAULT_TENANT
        )


@contextmanager
def _remote(client: VerifyClient, *, jobs: int) -> Iterator[Batch]:
    with client:
        yield functools.partial(threaded_outcomes, client=client, jobs=jobs)


def _print_error(console: Console, message: str) -> None:
    console.print(Text.assemble(("error: ", "bold red"), safe_text(message, max_chars=2000)))


def _silence_stdout() -> None:
    # Python flushes stdout at exit; with the pipe closed that would print a second BrokenPipeError.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test runner): nothing to silence
        pass
    finally:
        os.close(devnull)


def _progress(console: Console, *, quiet: bool) -> ContextManager[Progress | None]:
    """A live progress bar on stderr, only when stderr is a terminal (never in pipes or logs)."""
    if quiet or not console.is_terminal:
        return nullcontext(None)
    # Imported here: a batch script's run (stderr not a terminal) has no bar to draw.
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} files"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        # When stdout is the same terminal, its lines are drawn above the bar; when stdout is a pipe
        # it must not be touched (Rich would otherwise route it to the stderr console).
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    )
