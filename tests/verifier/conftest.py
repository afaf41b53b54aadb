"""Fixtures shared by the verifier tests: the shared corpus and the shipped trust policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier.trust import TrustPolicy, default_trust_policy


@pytest.fixture(scope="session")
def corpus(shared_dir) -> Path:
    return shared_dir / "corpus"


@pytest.fixture(scope="session")
def policy() -> TrustPolicy:
    """The shipped lists (a module needing other anchors defines its own `policy`)."""
    return default_trust_policy()
