"""Jobs: verify and sign objects in storage, queued on procrastinate in PostgreSQL.

- `schema`: our `originmark_jobs` table and procrastinate's schema, created on first use.
- `records`: a job's row (status, attempts, result) and the submit transaction (row + queue job).
- `queue`: the procrastinate app and its tasks, built from Settings.
- `tasks`: what a worker does with one job.
- `worker`: `originmark worker` (procrastinate workers plus stalled-job recovery).
- `embedded`: on SQLite (no queue), the server process runs the same jobs in a small thread pool.
"""
