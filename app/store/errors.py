"""What can go wrong in the store, as the service needs to tell it apart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class StoreError(Exception):
    """Base of the store's own errors."""


class StoreConfigurationError(StoreError):
    """The database URL names something the store cannot use (written as a user-facing sentence)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or did not answer in time (the service answers 503)."""


@contextmanager
def database_errors_as_unavailable() -> Iterator[None]:
    """Lost connections, timeouts, locks held too long and a missing schema become StoreUnavailable.

    Anything else (a constraint violation, a bug in a statement) stays as it is: that is not a
    database that is down, and hiding it would hide the bug.
    """
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeout) as error:
        cause = getattr(error, "orig", None) or error
        raise StoreUnavailable(f"the database is unavailable: {_first_line(cause)}") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else error.__class__.__name__)[:300]
