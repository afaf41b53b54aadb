"""Bombs through the IsolatedVerifier: `error` + `resource_limit`, other calls carry on, the pool recovers.

The time bomb is a real crafted input (a 1 MB JPEG the engine needs seconds for, see
hostile_assets.py). The memory bomb is a real SVG the engine holds whole in memory, with a
memory limit set low (112 MB) so that a 32 MB file exceeds it: no small input was found
that makes this engine version amplify memory. Every other kind of `error` verdict carries
its own machine-readable code too.
"""

from __future__ import annotations

import io
import signal
import threading
import time

from PIL import Image

from tests.verifier.hostile_assets import MB, assertion_bomb, big_svg
from verifier.isolation import IsolatedVerifier, VerifyLimits, _death_verdict_parts
from verifier.reader import Verifier
from verifier.verdict import VerdictError, VerdictState

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
NO_MANIFEST = "c2pa-rs/sdk/tests/fixtures/no_manifest.jpg"
TIME_LIMIT = 1.0  # the bomb needs over 3 s on an idle machine here; small files a few ms


def test_a_time_bomb_is_a_resource_limit_error_while_other_files_carry_on(policy, corpus):
    limits = VerifyLimits(timeout_seconds=TIME_LIMIT, memory_bytes=1024 * MB, max_asset_bytes=1024 * MB)
    bomb = assertion_bomb()
    assert bomb.stat().st_size < 2 * MB  # a small file, not a large one
    with IsolatedVerifier(policy=policy, limits=limits, workers=2) as pool:
        before = set(pool.worker_pids)
        outcome: dict = {}

        def verify_bomb() -> None:
            outcome["verdict"] = pool.verify_file(bomb)
            outcome["done_at"] = time.monotonic()

        thread = threading.Thread(target=verify_bomb)
        thread.start()
        # While one worker is stuck on the bomb, the other keeps verifying.
        others = [pool.verify_file(corpus / NO_MANIFEST) for _ in range(3)]
        others_done_at = time.monotonic()
        thread.join(30)

        verdict = outcome["verdict"]
        assert verdict.state is VerdictState.ERROR
        assert verdict.error_code is VerdictError.RESOURCE_LIMIT
        assert verdict.reason.startswith(f"verification took longer than {TIME_LIMIT:g} s (the time limit per file)")
        assert verdict.size == bomb.stat().st_size
        assert [v.state for v in others] == [VerdictState.NONE] * 3
        assert others_done_at < outcome["done_at"]
        after = set(pool.worker_pids)
        assert len(after) == 2 and len(after & before) == 1  # the stuck worker, and only it, was replaced
        assert pool.verify_file(corpus / FIREFLY).state is VerdictState.TRUSTED


def test_a_memory_bomb_is_a_resource_limit_error_and_the_pool_recovers(policy, corpus, tmp_path):
    heavy = big_svg(tmp_path / "heavy.svg", 32)
    limits = VerifyLimits(timeout_seconds=30, memory_bytes=112 * MB, max_asset_bytes=1024 * MB)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1) as pool:
        (before,) = pool.worker_pids
        verdict = pool.verify_file(heavy)
        assert verdict.state is VerdictState.ERROR
        assert verdict.error_code is VerdictError.RESOURCE_LIMIT
        assert verdict.reason is not None and verdict.reason.startswith("the engine exceeded the memory limit (112 MB)")
        (after,) = pool.worker_pids
        assert after != before
        assert pool.verify_file(corpus / FIREFLY).state is VerdictState.TRUSTED


def test_every_kind_of_error_verdict_has_its_code(policy, corpus, tmp_path):
    limits = VerifyLimits(timeout_seconds=30, memory_bytes=1024 * MB, max_asset_bytes=1000)
    (tmp_path / "empty.jpg").touch()
    (tmp_path / "text.bin").write_bytes(b"just some text, no media type at all\n" * 10)
    # A PNG whose chunk claims 2 GB: the engine refuses it as out of range.
    encoded = io.BytesIO()
    Image.new("RGB", (8, 8)).save(encoded, "PNG")
    png = encoded.getvalue()[:33]  # signature + IHDR
    (tmp_path / "broken.png").write_bytes(png + (0x7FFFFFF0).to_bytes(4, "big") + b"caBXjumb" + b"\0" * 20)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1) as pool:
        codes = {
            "too large": pool.verify_file(corpus / FIREFLY).error_code,
            "directory": pool.verify_file(tmp_path).error_code,
            "empty": pool.verify_file(tmp_path / "empty.jpg").error_code,
            "missing": pool.verify_file(tmp_path / "missing.jpg").error_code,
            "unknown type": pool.verify_file(tmp_path / "text.bin").error_code,
            "malformed": pool.verify_file(tmp_path / "broken.png").error_code,
        }
    assert codes == {
        "too large": VerdictError.TOO_LARGE,
        "directory": VerdictError.UNREADABLE,
        "empty": VerdictError.UNREADABLE,
        "missing": VerdictError.UNREADABLE,
        "unknown type": VerdictError.UNSUPPORTED,
        "malformed": VerdictError.MALFORMED,
    }
    # Only errors carry a code.
    assert Verifier(policy=policy).verify_file(corpus / FIREFLY).error_code is None


def test_a_worker_death_is_a_limit_unless_native_code_faulted():
    limits = VerifyLimits(timeout_seconds=1, memory_bytes=64 * MB, max_asset_bytes=1)
    for exit_code in (-signal.SIGABRT, -signal.SIGKILL, -signal.SIGXCPU, 0, None):
        assert _death_verdict_parts(exit_code, limits)[1] is VerdictError.RESOURCE_LIMIT
    reason, code = _death_verdict_parts(-signal.SIGSEGV, limits)
    assert code is VerdictError.ENGINE_CRASH
    assert reason == "the engine crashed on this file (SIGSEGV); it was stopped"
