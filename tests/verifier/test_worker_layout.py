"""A verifier worker whose verdict classes differ from its owner's (code upgraded in place while a
server runs, then a worker replaced) is refused instead of sending fields into the wrong places."""

from __future__ import annotations

import pytest

from verifier import isolation
from verifier.errors import VerifierUnavailableError
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.trust import default_trust_policy

LIMITS = VerifyLimits(timeout_seconds=30, memory_bytes=1024**3, max_asset_bytes=1024**3)


def test_matching_code_starts(tmp_path):
    with IsolatedVerifier(policy=default_trust_policy(), limits=LIMITS, workers=1) as pool:
        assert len(pool.worker_pids) == 1


def test_a_worker_with_another_verdict_layout_is_refused(monkeypatch):
    # The owner now expects one more field than the worker's (real, on-disk) code has.
    real = isolation._wire_layout()
    monkeypatch.setattr(isolation, "_wire_layout", lambda: (*real, ("Verdict", ("one_more_field",))))
    with pytest.raises(VerifierUnavailableError, match="restart the server"):
        IsolatedVerifier(policy=default_trust_policy(), limits=LIMITS, workers=1)
