"""Session-wide fixtures: a development CA and signing key made fresh for each run.

Private keys are never committed: every run makes its own under a temp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: the tests read the corpus and rubrics from it")
    return SHARED


@pytest.fixture(scope="session")
def dev_credentials(tmp_path_factory):
    """`keys init` output: ca.pem, chain.pem, key.pem in a fresh directory."""
    from keys.devca import create_development_credentials

    return create_development_credentials(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def signing_key(dev_credentials):
    from keys.loader import load_signing_key

    return load_signing_key(chain_path=dev_credentials.chain_path, key_path=dev_credentials.key_path)
