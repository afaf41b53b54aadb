"""A PostgreSQL schema of a benchmark's own in an existing database (http_labels_bench, scaling_bench)."""

from __future__ import annotations

import os


class PostgresSchema:
    """A schema of our own in an existing database, dropped on exit; the URL selects it via search_path."""

    def __init__(self, base_url: str, suffix: str = "") -> None:
        from sqlalchemy.engine import make_url

        self.name = f"originmark_bench_{os.getpid()}" + (f"_{suffix}" if suffix else "")
        self._admin_url = make_url(base_url).set(drivername="postgresql+psycopg")
        self.url = self._admin_url.update_query_dict({"options": f"-csearch_path={self.name}"}).render_as_string(
            hide_password=False
        )

    def _execute(self, statement: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        db_engine = create_engine(self._admin_url, poolclass=NullPool)
        try:
            with db_engine.begin() as connection:
                connection.exec_driver_sql(statement)
        finally:
            db_engine.dispose()

    def __enter__(self) -> PostgresSchema:
        self._execute(f"CREATE SCHEMA {self.name}")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
