"""`originmark worker`: run job workers (procrastinate) against the PostgreSQL in ORIGINMARK_DATABASE_URL."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from app.settings import Settings


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64, help="Jobs run at the same time.")] = 1,
) -> None:
    """Run job workers until stopped (Ctrl-C / SIGTERM lets jobs in flight finish)."""
    from app.api.logs import configure_logging
    from app.jobs.queue import is_queue_database
    from app.jobs.worker import build_runtime, run_worker

    settings = Settings()
    configure_logging(settings.log_level)
    if not is_queue_database(settings.database_url):
        typer.echo(
            "originmark worker needs PostgreSQL: jobs are queued in the database "
            "(set ORIGINMARK_DATABASE_URL=postgresql://...)",
            err=True,
        )
        raise typer.Exit(2)
    runtime = build_runtime(settings)
    try:
        asyncio.run(run_worker(settings, runtime, concurrency=concurrency))
    finally:
        runtime.close()
