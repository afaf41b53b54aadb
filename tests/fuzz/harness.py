"""What the fuzz tests share: how many cases to run, the seed files, and the findings log.

Short run (the default `pytest`): a fixed, derandomized number of examples per target, so
CI is deterministic and the whole folder takes well under a minute.

Long run: `ORIGINMARK_TEST_FUZZ_EXAMPLES=N` sets the examples per target (random, not
derandomized; `ORIGINMARK_TEST_FUZZ_SEED` fixes the seed), and
`ORIGINMARK_TEST_FUZZ_CRASHERS=DIR` keeps every distinct finding's input there
(`./scripts/fuzz.sh N [pytest args]` sets them). The
variables are named ORIGINMARK_TEST_* because tests/conftest.py clears every other
ORIGINMARK_* variable (an operator's settings must not leak into tests).

A property here does not raise on the first problem: every problem is recorded as a
finding (target, kind, signature), the run goes on, and the test fails at the end listing
each distinct one. So a long run reports every distinct crasher, not just the first.
Findings the product handles as designed (an engine crash or limit contained by the
isolated verifier, confirmed by running the file alone) are listed as "handled", not failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings

from tests.fuzz.mutations import SPECIAL_INPUTS, Chooser, mutate
from verifier.isolation import VerifyLimits

EXAMPLES_VARIABLE = "ORIGINMARK_TEST_FUZZ_EXAMPLES"
SEED_VARIABLE = "ORIGINMARK_TEST_FUZZ_SEED"
CRASHERS_VARIABLE = "ORIGINMARK_TEST_FUZZ_CRASHERS"

# Read at import (collection) time, before tests/conftest.py's fixture hides ORIGINMARK_* settings.
_LONG_EXAMPLES = int(os.environ.get(EXAMPLES_VARIABLE, "0") or 0)
_SEED = os.environ.get(SEED_VARIABLE)
CRASHERS_DIR = Path(os.environ[CRASHERS_VARIABLE]) if os.environ.get(CRASHERS_VARIABLE) else None
LONG_RUN = _LONG_EXAMPLES > 0
# pytest.ini's --timeout=300 would stop a long run: a long run gets what it needs.
TEST_TIMEOUT_SECONDS = 0 if LONG_RUN else 240

# The verifier pool the fuzz tests share (tests/fuzz/conftest.py): the service's limits, smaller.
WORKERS = 2
LIMITS = VerifyLimits(timeout_seconds=10, memory_bytes=1024**3, max_asset_bytes=64 * 1024**2)

# Corpus files mutated by the suite: each format the service takes, small enough that a case
# costs milliseconds. Paths are under ../shared/corpus (see its index.json).
CORPUS_SEEDS = (
    "public-testfiles/image/jpeg/adobe-20220124-CA.jpg",  # JPEG, parent + ingredient manifests
    "c2pa-rs/sdk/tests/fixtures/boxhash.jpg",  # JPEG, box hash
    "c2pa-c/tests/fixtures/for_trusted_read.jpg",  # JPEG, trusted
    "c2pa-rs/sdk/tests/fixtures/cloud.jpg",  # JPEG, remote manifest reference
    "c2pa-js-legacy/tools/testing/fixtures/images/c2pa-actions-1.2.png",  # PNG with caBX
    "c2pa-rs/sdk/tests/fixtures/libpng-test_with_url.png",  # PNG, remote reference
    "c2pa-rs/sdk/tests/fixtures/video1.mp4",  # MP4 with a C2PA uuid box
    "c2pa-rs/sdk/tests/fixtures/dashinit.mp4",  # fragmented MP4 init segment
    "c2pa-rs/sdk/tests/fixtures/nested_moov_1000.mp4",  # a known bomb
    "c2pa-rs/sdk/tests/fixtures/c.mov",  # QuickTime
    "c2pa-rs/sdk/tests/fixtures/test_xmp.webp",  # WebP
    "c2pa-rs/sdk/tests/fixtures/sample1.heif",  # HEIF
    "c2pa-rs/sdk/tests/fixtures/sample1.avif",  # AVIF
    "c2pa-js-legacy/tools/testing/fixtures/images/sample.pdf",  # PDF with a manifest
    "c2pa-rs/sdk/tests/fixtures/basic.pdf",  # PDF without
    "c2pa-rs/sdk/tests/fixtures/ingredient/manifest_data.c2pa",  # sidecar manifest store
    "c2pa-rs/sdk/tests/fixtures/cloud_manifest.c2pa",  # sidecar manifest store
    "c2pa-rs/sdk/tests/fixtures/riff_bomb_1000.wav",  # WAV, a known bomb
    "c2pa-rs/sdk/tests/fixtures/tiff_poc.tiff",  # TIFF, a known malformed file
    "c2pa-rs/sdk/tests/fixtures/sample3.svg",  # SVG with a broken manifest
    "c2pa-rs/sdk/tests/fixtures/id3v23_compression_underflow.mp3",  # MP3 ID3 underflow
    "c2pa-python/tests/fixtures/C.dng",  # DNG (TIFF family), valid manifest
)


def fuzz_settings(default_examples: int) -> settings:
    """Hypothesis settings for one target: `default_examples` in CI, the long run's count otherwise."""
    return settings(
        max_examples=_LONG_EXAMPLES or default_examples,
        derandomize=not LONG_RUN,
        deadline=None,  # time is checked by the properties, against the product's own limits
        database=None,  # no .hypothesis folder in the work tree; CI replays the same cases anyway
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def long_run_seed(function):
    """Apply ORIGINMARK_TEST_FUZZ_SEED to a long run (hypothesis.seed), so it can be replayed."""
    if LONG_RUN and _SEED is not None:
        from hypothesis import seed

        return seed(int(_SEED))(function)
    return function


def gone(pid: int) -> bool:
    """Whether a worker process has exited (or is a zombie waiting to be reaped)."""
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


@dataclass(frozen=True, slots=True)
class Seed:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Case:
    seed: str
    data: bytes
    steps: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> str:
        return (
            f"{self.seed}: {'; '.join(self.steps) or 'unchanged'} ({len(self.data)} bytes, sha256 {self.sha256[:16]})"
        )


def draw_case(chooser: Chooser, seeds: Sequence[Seed]) -> Case:
    """One input: usually a mutated seed; sometimes a hand-made tiny or huge-declared-length file."""
    if chooser.integer(0, 15) == 0:
        name = chooser.choice(sorted(SPECIAL_INPUTS))
        data = SPECIAL_INPUTS[name]
        if data and chooser.integer(0, 1):
            mutated, steps = mutate(data, donor=chooser.choice(seeds).data, chooser=chooser, max_steps=2)
            return Case(seed=f"special: {name}", data=mutated, steps=tuple(steps))
        return Case(seed=f"special: {name}", data=data, steps=())
    seed = chooser.choice(seeds)
    donor = chooser.choice(seeds)
    data, steps = mutate(seed.data, donor=donor.data, chooser=chooser)
    return Case(seed=seed.name, data=data, steps=tuple(steps))


@dataclass(slots=True)
class Finding:
    target: str
    kind: str  # "exception", "5xx", "hang", "server died", "contained worker stop", ...
    signature: str  # what makes two findings the same bug
    example: str  # the first case that showed it
    count: int = 1
    fatal: bool = True  # False: the product handled it as designed (reported, not failed)


@dataclass(slots=True)
class FindingsLog:
    """Cases run per target and the distinct findings, for the test's verdict and the summary."""

    cases: Counter = field(default_factory=Counter)
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ran(self, target: str) -> None:
        with self._lock:
            self.cases[target] += 1

    def record(self, target: str, kind: str, signature: str, case: Case, *, fatal: bool = True) -> None:
        key = (target, kind, signature[:300])
        with self._lock:
            if key in self.findings:
                self.findings[key].count += 1
                return
            self.findings[key] = Finding(target, kind, signature[:300], case.describe(), fatal=fatal)
        if CRASHERS_DIR is not None:
            CRASHERS_DIR.mkdir(parents=True, exist_ok=True)
            stem = f"{target}-{kind}-{case.sha256[:16]}".replace(" ", "_").replace("/", "_")
            (CRASHERS_DIR / f"{stem}.bin").write_bytes(case.data)
            (CRASHERS_DIR / f"{stem}.json").write_text(
                json.dumps({"target": target, "kind": kind, "signature": signature, "case": case.describe()}, indent=1)
            )

    def fatal(self, target: str) -> list[Finding]:
        return [f for f in self.findings.values() if f.target == target and f.fatal]

    def assert_none_fatal(self, target: str) -> None:
        problems = self.fatal(target)
        assert not problems, f"{len(problems)} distinct problem(s) in {target}:\n" + "\n".join(
            f"- [{f.kind}] {f.signature} (x{f.count}); first: {f.example}" for f in problems
        )

    def summary_lines(self) -> list[str]:
        lines = [
            f"fuzz cases run: {sum(self.cases.values())} ({', '.join(f'{t} {n}' for t, n in sorted(self.cases.items()))})"
        ]
        for finding in self.findings.values():
            status = "PROBLEM" if finding.fatal else "handled"
            lines.append(
                f"  {status} {finding.target} [{finding.kind}] x{finding.count}: {finding.signature} -- {finding.example}"
            )
        return lines


FINDINGS = FindingsLog()  # one per pytest session; printed by tests/fuzz/conftest.py
