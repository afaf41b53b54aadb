"""`originmark worker`: run job workers (procrastinate) against the PostgreSQL in ORIGINMARK_DATABASE_URL."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from app.settings import Settings


def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=64, help="Jobs run at the same time.")
    ] = 1,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve Prometheus /metrics on this port (default: ORIGINMARK_WORKER_METRICS_PORT; unset: none).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run job workers until stopped (Ctrl-C / SIGTERM lets jobs in flight finish)."""
    import logging

    from app.api.logs import configure_logging
    from app.jobs.metrics import WorkerMetrics, serve_metrics
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
    port = metrics_port or settings.worker_metrics_port
    metrics = server = None
    if port is not None:
        metrics = WorkerMetrics()
        # Before the (slow) worker pools start: a port already taken stops the worker at once.
        try:
            server = serve_metrics(metrics, host=settings.worker_metrics_host, port=port)
        except OSError as error:
            typer.echo(
                f"originmark worker cannot serve metrics on {settings.worker_metrics_host}:{port}: "
                f"{error.strerror or error}",
                err=True,
            )
            raise typer.Exit(2) from None
        logging.getLogger("originmark.jobs").info(
            "worker metrics served", extra={"fields": {"url": f"http://{server.host}:{server.port}/metrics"}}
        )
    try:
        runtime = build_runtime(settings)
        try:
            asyncio.run(run_worker(settings, runtime, concurrency=concurrency, metrics=metrics))
        finally:
            runtime.close()
    finally:
        if server is not None:
            server.close()
