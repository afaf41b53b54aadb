"""Session-wide fixtures: a development CA and signing key made fresh for each run.

Private keys are never committed: every run makes its own under a temp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]

pytest_plugins = ["tests.tsa.fixtures"]  # the local RFC 3161 time-stamping authority, for any test


def _shared_candidates() -> list[Path]:
    """Where the read-only reference material may be: set ORIGINMARK_TEST_SHARED_DIR to override."""
    explicit = os.environ.get("ORIGINMARK_TEST_SHARED_DIR")
    if explicit:
        return [Path(explicit)]
    # Next to the checkout (the usual layout), or the workplace's fixed location for a clone elsewhere.
    return [PROJECT.parent / "shared", Path("/work/shared")]


@pytest.fixture(autouse=True, scope="session")
def _no_operator_environment(tmp_path_factory):
    """A developer's ORIGINMARK_* settings (a server URL, a key folder) must not leak into tests,
    and no test may write into the real home (the user's data directory, or a ./data found in the
    current folder): ORIGINMARK_HOME is a fresh temporary folder for the whole session.

    Session-scoped, so it runs before module fixtures that copy os.environ for subprocesses.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("ORIGINMARK_") and not name.startswith("ORIGINMARK_TEST_"):
                patch.delenv(name)
        patch.setenv("ORIGINMARK_HOME", str(tmp_path_factory.mktemp("originmark-home")))
        yield


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    for candidate in _shared_candidates():
        if (candidate / "corpus" / "index.json").is_file():
            return candidate
    tried = ", ".join(str(c) for c in _shared_candidates())
    pytest.fail(f"the shared reference folder was not found (tried {tried}): the tests read its corpus and rubrics")


@pytest.fixture(scope="session")
def dev_credentials(tmp_path_factory):
    """`keys init` output: ca.pem, chain.pem, key.pem in a fresh directory."""
    from keys.devca import create_development_credentials

    return create_development_credentials(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def signing_key(dev_credentials):
    from keys.loader import load_signing_key

    return load_signing_key(chain_path=dev_credentials.chain_path, key_path=dev_credentials.key_path)


@pytest.fixture
def plain_reader(dev_credentials):
    """An independent reader: the plain c2pa engine, the development CA as its only anchor."""
    import io
    import json

    import c2pa

    from signer.engine_settings import probe_verification_settings

    context = c2pa.Context.from_dict(probe_verification_settings(anchors_pem=dev_credentials.ca_path.read_text()))

    def read(data: bytes, mime: str = "image/jpeg") -> tuple[dict, dict]:
        with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            return json.loads(reader.json()), json.loads(reader.crjson())

    yield read
    context.close()
