"""Mutated corpus files through the verifier: the isolated pool (the service's path) and in-process.

For every case the isolated verifier must return a Verdict (never raise), within its time
limit plus slack, with the right content hash, bounded and display-safe text, a label and
a JSON encoding; its pool must keep its size with live workers whatever the case did to
one. Cases the pool verified normally (so within its memory and time bounds: safe to run
here) are verified again in this process, and the two verdicts must be equal.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.codec import verdict_to_json
from tests.fuzz.harness import (
    FINDINGS,
    LIMITS,
    TEST_TIMEOUT_SECONDS,
    WORKERS,
    Case,
    draw_case,
    fuzz_settings,
    gone,
    long_run_seed,
)
from tests.fuzz.mutations import SPECIAL_INPUTS, HypothesisChooser
from tests.security.checks import text_problems
from verifier.isolation import IsolatedVerifier
from verifier.label import label_for
from verifier.reader import Verifier
from verifier.story import story_of, story_record
from verifier.verdict import Verdict, VerdictState

TARGET = "verifier"
SLACK_SECONDS = 15  # past the time limit: killing and replacing a worker takes a moment
IN_PROCESS_MAX_SECONDS = 3.0  # slower cases are not repeated in this process
DEFAULT_EXAMPLES = 300
KNOWN_GOOD = "public-testfiles/image/jpeg/adobe-20220124-CA.jpg"


def _signature(text: str) -> str:
    """Group findings that differ only in numbers or offsets."""
    return re.sub(r"\d+", "N", text.splitlines()[0] if text else "")


def _format_of(case: Case) -> str:
    return case.seed.rsplit(".", 1)[-1] if "." in case.seed else case.seed


def check_verifier_case(case: Case, *, pool: IsolatedVerifier, in_process: Verifier, folder: Path) -> None:
    FINDINGS.ran(TARGET)
    path = folder / "case.bin"
    path.write_bytes(case.data)
    started = time.monotonic()
    try:
        verdict = pool.verify_file(path)
    except Exception as error:  # noqa: BLE001 - the property: it never raises
        FINDINGS.record(
            TARGET, "exception", _signature(f"IsolatedVerifier raised {type(error).__name__}: {error}"), case
        )
        return
    elapsed = time.monotonic() - started
    if not isinstance(verdict, Verdict):
        FINDINGS.record(TARGET, "not a verdict", type(verdict).__name__, case)
        return
    if elapsed > LIMITS.timeout_seconds + SLACK_SECONDS:
        FINDINGS.record(TARGET, "hang", f"took {elapsed:.0f} s (limit {LIMITS.timeout_seconds:g} s)", case)
    reason = verdict.reason or ""
    code = getattr(getattr(verdict, "error_code", None), "value", None)
    stopped = code in ("resource_limit", "engine_crash") or any(
        words in reason for words in ("time limit per file", "exceeded the memory limit", "crashed on this file")
    )
    if stopped and not verdict.sha256:  # a worker was stopped: was it really the file's doing?
        _confirm_stop(case, folder, reason=reason)
    elif code == "internal" or "internal error while verifying" in reason or reason.startswith("the engine failed"):
        FINDINGS.record(TARGET, "exception in the verifier", _signature(reason), case)
    pids = pool.worker_pids
    if len(pids) != WORKERS or any(gone(pid) for pid in pids):
        FINDINGS.record(TARGET, "pool not recovered", f"workers {pids}", case)
    if verdict.sha256 and (verdict.sha256 != case.sha256 or verdict.size != len(case.data)):
        FINDINGS.record(TARGET, "wrong content hash", f"{verdict.sha256[:16]} / {verdict.size} bytes", case)
    for problem in text_problems(verdict)[:1]:
        FINDINGS.record(TARGET, "unsafe text", _signature(re.sub(r"\[\d+\]", "[]", problem)), case)
    try:
        label_for(verdict)
        verdict_to_json(verdict)
        story_record(story_of(verdict))
    except Exception as error:  # noqa: BLE001 - the service labels and encodes every verdict
        FINDINGS.record(TARGET, "label/encode exception", _signature(f"{type(error).__name__}: {error}"), case)
    if verdict.sha256 and elapsed < IN_PROCESS_MAX_SECONDS:  # a worker stopped at a limit reports no hash
        _check_in_process(case, verdict, in_process)
        if len(case.data) <= pool.shared_bytes:
            _check_in_memory(case, verdict, pool)


# Verifies one file the way a worker does (same address-space limit), in a fresh process.
_ALONE = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
print(Verifier(policy=default_trust_policy()).verify_file(Path(sys.argv[1])).state.value)
"""


def _confirm_stop(case: Case, folder: Path, *, reason: str) -> None:
    """The pool said the engine crashed or hit a limit: the same file, alone under the same limits.

    A genuine crash or limit happens again (contained: reported, not failed). A verdict there
    means the pool stopped a healthy worker, or misread its reply: that is the pool's bug.
    """
    path = folder / "confirm.bin"
    path.write_bytes(case.data)
    program = _ALONE.format(memory=LIMITS.memory_bytes)
    try:
        alone = subprocess.run(
            [sys.executable, "-c", program, str(path)],
            capture_output=True,
            text=True,
            timeout=LIMITS.timeout_seconds + 5,
        )
    except subprocess.TimeoutExpired:
        FINDINGS.record(
            TARGET, "contained hang", f"the engine exceeds the time limit ({_format_of(case)})", case, fatal=False
        )
        return
    if alone.returncode == 0:
        FINDINGS.record(
            TARGET,
            "false stop",
            f"the pool said {_signature(reason)!r} but alone the file verifies as {alone.stdout.strip()}",
            case,
        )
        return
    last = (alone.stderr.strip().splitlines() or ["no message"])[0]
    FINDINGS.record(
        TARGET,
        "contained crash",
        f"exit {alone.returncode}: {_signature(last)} ({_format_of(case)})",
        case,
        fatal=False,
    )


def _check_in_process(case: Case, isolated: Verdict, in_process: Verifier) -> None:
    """The worker finished within its memory and time limits, so this process can run it too."""
    _check_same(
        case,
        f"{TARGET} in-process",
        isolated,
        "differs from the isolated verdict",
        lambda: in_process.verify_stream(io.BytesIO(case.data), size=len(case.data)),
    )


def _check_in_memory(case: Case, from_file: Verdict, pool: IsolatedVerifier) -> None:
    """The same bytes held in memory (a raw-body upload: IsolatedVerifier.verify_bytes) get the same verdict."""
    _check_same(
        case,
        f"{TARGET} in memory",
        from_file,
        "differs from the verdict on the file",
        lambda: pool.verify_bytes([case.data]),
    )


def _check_same(case: Case, target: str, expected: Verdict, finding: str, verify: Callable[[], Verdict]) -> None:
    FINDINGS.ran(target)
    try:
        verdict = verify()
    except Exception as error:  # noqa: BLE001
        FINDINGS.record(target, "exception", _signature(f"{type(error).__name__}: {error}"), case)
        return
    if verdict != expected:
        FINDINGS.record(
            target,
            finding,
            f"{expected.state.value} ({_signature(expected.reason or '')}) vs {verdict.state.value} "
            f"({_signature(verdict.reason or '')})",
            case,
        )


@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
def test_mutated_corpus_files_always_get_a_verdict(pool, in_process, fuzz_seeds, tmp_path):
    @fuzz_settings(DEFAULT_EXAMPLES)
    @long_run_seed
    @given(data=st.data())
    def mutated_file_gets_a_verdict(data):
        case = draw_case(HypothesisChooser(data), fuzz_seeds)
        check_verifier_case(case, pool=pool, in_process=in_process, folder=tmp_path)

    mutated_file_gets_a_verdict()
    FINDINGS.assert_none_fatal(TARGET)
    FINDINGS.assert_none_fatal(f"{TARGET} in-process")


def test_empty_tiny_and_huge_declared_length_inputs_get_a_verdict(pool, in_process, tmp_path):
    for name, data in SPECIAL_INPUTS.items():
        check_verifier_case(
            Case(seed=f"special: {name}", data=data, steps=()), pool=pool, in_process=in_process, folder=tmp_path
        )
    FINDINGS.assert_none_fatal(TARGET)
    FINDINGS.assert_none_fatal(f"{TARGET} in-process")


def test_the_pool_still_verifies_exactly_after_the_fuzzing(pool, in_process, shared_dir):
    """Runs after the fuzz tests (same module, file order): workers replaced mid-run serve correctly."""
    path = shared_dir / "corpus" / KNOWN_GOOD
    verdict = pool.verify_file(path)
    assert verdict == in_process.verify_file(path)
    assert verdict.state is VerdictState.VALID and verdict.manifests
    assert len(pool.worker_pids) == WORKERS and not any(gone(pid) for pid in pool.worker_pids)
