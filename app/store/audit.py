"""The audit log: one row per signature issued, appended and never changed.

The store only ever INSERTs here; the migration's triggers make UPDATE and DELETE fail on the
database itself (and TRUNCATE on PostgreSQL), whoever issues them.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, bindparam, insert, select

from app.store.errors import database_errors_as_unavailable
from app.store.interface import AuditEntry
from app.store.schema import audit_log
from app.store.validation import check_media_id, check_sha256_hex

_ENTRY_FIELDS = (
    "key_id",
    "signed_at",
    "input_sha256",
    "output_sha256",
    "manifest_label",
    "certificate_fingerprint",
    "generator",
    "generator_version",
    "media_id",
)


class SqlAuditLog:
    """`AuditLog` on SQLAlchemy Core; thread-safe."""

    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert(audit_log)
        self._newest = (
            select(*(audit_log.c[name] for name in _ENTRY_FIELDS))
            .order_by(audit_log.c.id.desc())
            .limit(bindparam("limit"))
        )

    def append(self, entry: AuditEntry) -> None:
        with database_errors_as_unavailable(), self._engine.begin() as connection:
            self.write_entry(connection, entry)

    def write_entry(self, connection: Connection, entry: AuditEntry) -> None:
        """`append` inside the caller's transaction."""
        check_sha256_hex(entry.input_sha256, what="input_sha256")
        check_sha256_hex(entry.output_sha256, what="output_sha256")
        check_sha256_hex(entry.certificate_fingerprint, what="certificate_fingerprint")
        if entry.media_id is not None:
            check_media_id(entry.media_id)
        connection.execute(self._insert, {name: getattr(entry, name) for name in _ENTRY_FIELDS})

    def entries(self, *, limit: int = 100) -> list[AuditEntry]:
        """The newest entries first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with database_errors_as_unavailable(), self._engine.connect() as connection:
            rows = connection.execute(self._newest, {"limit": limit}).all()
        return [AuditEntry(**dict(zip(_ENTRY_FIELDS, row, strict=True))) for row in rows]
