"""Where a database URL points, said without its password, and whether a SQLite file is there yet.

Commands that only read must not create a database (connecting to a missing SQLite file creates
an empty one), and commands that create one say where: both need these answers before connecting.
"""

from __future__ import annotations

from pathlib import Path

from app.store.database import parse_database_url


def shown_database_url(database_url: str) -> str:
    """The URL with its password masked (safe to print or log)."""
    return parse_database_url(database_url).render_as_string(hide_password=True)


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for a server database)."""
    url = parse_database_url(database_url)
    return Path(url.database or "").expanduser() if url.get_backend_name() == "sqlite" else None


def missing_sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist yet (connecting would create it), else None."""
    path = sqlite_file(database_url)
    return path if path is not None and not path.is_file() else None
