"""The jobs' tables: `originmark_jobs`, the batches (ours) and procrastinate's queue.

All of them are created by the store's Alembic migrations (0005_jobs; app/store/schema.py
describes ours, procrastinate owns its own) like every other table, so `upgrade_database` — run by
every service start, `originmark worker` and the CLI commands that use the database — is what
creates and upgrades them. These names are the jobs code's handles on those tables.
"""

from __future__ import annotations

from app.store.schema import originmark_batch_jobs, originmark_batches, originmark_jobs

jobs = originmark_jobs
batches = originmark_batches
batch_jobs = originmark_batch_jobs
