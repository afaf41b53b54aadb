"""A caller that hashed a file on its way in (the service, while receiving an upload) can hand
that SHA-256 to the verifier, which then does not read and hash the file a second time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
LIMITS = VerifyLimits(timeout_seconds=30, memory_bytes=1024**3, max_asset_bytes=1024**3)


@pytest.fixture(scope="module")
def firefly(shared_dir) -> Path:
    return shared_dir / "corpus" / FIREFLY


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(policy=default_trust_policy())


def test_a_known_digest_gives_the_same_verdict_as_hashing(verifier, firefly):
    digest = hashlib.sha256(firefly.read_bytes()).hexdigest()
    hashed = verifier.verify_file(firefly)
    given = verifier.verify_file(firefly, known_sha256=digest)
    assert hashed.state is VerdictState.TRUSTED
    assert given == hashed
    assert given.size == firefly.stat().st_size


def test_the_known_digest_is_used_as_given_not_recomputed(verifier, firefly):
    # The caller vouches for the digest: a different (well-formed) one is reported as is,
    # which shows the file was not hashed again.
    stand_in = "ab" * 32
    verdict = verifier.verify_file(firefly, known_sha256=stand_in)
    assert verdict.sha256 == stand_in
    assert verdict.state is VerdictState.TRUSTED


@pytest.mark.parametrize("bad", ["", "AB" * 32, "ab" * 31, "zz" * 32, "ab" * 33])
def test_a_malformed_digest_is_the_callers_bug(verifier, firefly, bad):
    with pytest.raises(ValueError, match="64 lowercase hex"):
        verifier.verify_file(firefly, known_sha256=bad)


def test_the_isolated_pool_passes_the_digest_to_its_worker(firefly):
    digest = hashlib.sha256(firefly.read_bytes()).hexdigest()
    with IsolatedVerifier(policy=default_trust_policy(), limits=LIMITS, workers=1) as pool:
        assert pool.verify_file(firefly, known_sha256="cd" * 32).sha256 == "cd" * 32
        assert pool.verify_file(firefly).sha256 == digest
        with pytest.raises(ValueError):
            pool.verify_file(firefly, known_sha256="not a digest")
        assert pool.verify_file(firefly, known_sha256=digest).state is VerdictState.TRUSTED
