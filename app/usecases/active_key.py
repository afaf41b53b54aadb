"""The key behind queued work, as it is now: a job re-reads its key before every attempt."""

from __future__ import annotations

from app.store.interface import ApiKey
from app.usecases.errors import KeyRevoked


def require_active(key: ApiKey | None) -> ApiKey:
    """The key, when it still exists and is not revoked; KeyRevoked otherwise."""
    if key is None or not key.active:
        raise KeyRevoked("the API key that asked for this work is revoked or no longer exists")
    return key
