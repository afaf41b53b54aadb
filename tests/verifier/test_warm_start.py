"""Verifier workers launched before their configuration (verifier/warm_start.py) are adopted, or discarded."""

from __future__ import annotations

import pytest

from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState
from verifier.warm_start import launch_verifier_workers

NO_MANIFEST = "c2pa-rs/sdk/tests/fixtures/no_manifest.jpg"
LIMITS = VerifyLimits(timeout_seconds=30, memory_bytes=2048 * 1024**2, max_asset_bytes=64 * 1024**2)


def test_launched_workers_are_the_pools_workers_and_verify(shared_dir):
    launched = launch_verifier_workers(2)
    with IsolatedVerifier(policy=default_trust_policy(), limits=LIMITS, workers=2, launched=launched) as verifier:
        assert sorted(verifier.worker_pids) == sorted(process.process.pid for process in launched)
        verdict = verifier.verify_file(shared_dir / "corpus" / NO_MANIFEST)
        assert verdict.state is VerdictState.NONE and verdict.sha256
    assert all(process.process.poll() is not None for process in launched)  # stopped with the pool


def test_more_launched_than_workers_are_discarded_and_exit():
    launched = launch_verifier_workers(3)
    with IsolatedVerifier(policy=default_trust_policy(), limits=LIMITS, workers=1, launched=launched) as verifier:
        assert verifier.worker_pids == (launched[0].process.pid,)
        for unused in launched[1:]:
            assert unused.process.poll() is not None  # discarded at once, not left to finish its imports


def test_a_launched_worker_that_is_never_adopted_exits_when_discarded():
    (launched,) = launch_verifier_workers(1)
    launched.discard()
    assert launched.process.poll() is not None


def test_a_process_of_another_module_is_refused():
    from verifier.process_pool import launch

    other = launch("signer.isolation")
    try:
        with pytest.raises(ValueError, match="cannot be a verifier worker"):
            IsolatedVerifier(policy=default_trust_policy(), limits=LIMITS, workers=1, launched=[other])
    finally:
        other.discard()
