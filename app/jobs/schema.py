"""The jobs' tables: `originmark_jobs`, the batches (ours) and procrastinate's queue.

All of them are created by the store's Alembic migrations (0005_jobs; app/store/schema.py
describes ours, procrastinate owns its own) like every other table, so `upgrade_database` — run by
every service start, `originmark worker` and the CLI commands that use the database — is what
creates and upgrades them. `ensure_jobs_schema` is kept for the callers that only hold an engine.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from app.store.schema import originmark_batch_jobs, originmark_batches, originmark_jobs

jobs = originmark_jobs
batches = originmark_batches
batch_jobs = originmark_batch_jobs


def ensure_jobs_schema(engine: Engine) -> None:
    """Bring the engine's database to the newest schema (the jobs' tables included); idempotent."""
    from app.store.migrate import alembic_config

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
