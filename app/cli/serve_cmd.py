"""`originmark serve`: run the HTTP service with uvicorn.

Before any server process starts, this process prepares what they share: signing
credentials and the audit key (development ones on first start, with a loud warning) and
the database schema (migrations). It also loads the signing credentials once, so a bad key is reported
here as problem + fix rather than as a failed worker. Then uvicorn runs the app factory
`app.api.main:app_from_environment` in `--workers` processes; each builds its own signer and
ORIGINMARK_VERIFY_WORKERS verifier processes from the same ORIGINMARK_* settings.

Exit codes (app.exit_codes): 2 for settings, credentials or database problems found before
start-up; uvicorn's own 3 when an app fails to start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from app.cli.render import make_console, safe_text
from app.exit_codes import EXIT_USAGE_OR_IO, exit_code_for, user_message
from app.settings import Settings
from app.store.errors import StoreError
from keys.errors import KeyProblem

APP_FACTORY = "app.api.main:app_from_environment"
MAX_WORKERS = 64


def _fail(message: str, code: int) -> NoReturn:
    make_console(stderr=True).print(
        Text.assemble(("error: ", "red"), safe_text(message, max_chars=4000)), soft_wrap=True
    )
    raise typer.Exit(code)


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to listen on (default: ORIGINMARK_HOST)")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port (default: ORIGINMARK_PORT)")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=MAX_WORKERS,
            help="Server processes (each with ORIGINMARK_VERIFY_WORKERS verifier processes of its own).",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API (sign, verify, labels) on the configured database and keys."""
    # Imported here: other commands need not load the web stack.
    import uvicorn

    from app.api.logs import configure_logging, log_config
    from app.audit_keys import service_audit_keys
    from app.service_setup import log, prepare_service
    from app.store.database_url import shown_database_url
    from app.wiring import check_signing_credential

    try:
        settings = Settings()
    except ValidationError as error:
        _fail(user_message(error), exit_code_for(error))
    configure_logging(settings.log_level)
    try:
        if prepare_service(settings):
            log.warning("created database at %s", shown_database_url(settings.database_url))
        check_signing_credential(settings)
        # Only once the signing credentials are known to be usable: a failed start leaves no key
        # behind. Made here, once, so the warning is logged once and a bad key file stops `serve`.
        service_audit_keys(settings)
    except KeyProblem as problem:
        _fail(str(problem), exit_code_for(problem))
    except (StoreError, SQLAlchemyError) as error:
        _fail(f"the database cannot be used: {error}", EXIT_USAGE_OR_IO)
    except OSError as error:
        _fail(user_message(error), exit_code_for(error))
    with _shared_metrics(workers):
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_config=log_config(settings.log_level),
            access_log=False,  # the app logs one structured line per request itself
            server_header=False,
            # The client address is the socket's peer, never X-Forwarded-For (which any client can
            # write): the verify page limits uploads per client address (app/web/upload_gates.py).
            proxy_headers=False,
            # Bounded: past it the requests and staged feed thumbnails still running are cancelled.
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )


@contextlib.contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, one /metrics for all of them (see app/api/metrics.py).

    A fresh folder per run: values left by an earlier run would be added to this one's.
    """
    from app.api.metrics import MULTIPROCESS_DIR_VARIABLE

    if workers == 1:
        yield
        return
    folder = tempfile.mkdtemp(prefix="originmark-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    os.environ[MULTIPROCESS_DIR_VARIABLE] = folder  # inherited by the worker processes
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_DIR_VARIABLE] = previous
        shutil.rmtree(folder, ignore_errors=True)
