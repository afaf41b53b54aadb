"""ruff and mypy over the code base, as part of the test command: CI checks every change the same way.

Both read their configuration from pyproject.toml and run from this virtualenv. mypy keeps its cache
in .venv/mypy_cache, so a run after a small change takes seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

RUFF_PATHS = ["app", "keys", "signer", "verifier", "tests", "bench", "scripts"]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = _run([str(VENV_BIN / "ruff"), "check", *RUFF_PATHS])
    assert result.returncode == 0, result.stdout + result.stderr


# The whole code base: keys/, signer/ and verifier/ with the strict per-module flags of pyproject.toml,
# app/, tests/, bench/ and scripts/ at the normal level (every body checked).
MYPY_PATHS = ["app", "keys", "signer", "verifier", "tests", "bench", "scripts"]


def test_mypy_finds_nothing() -> None:
    """mypy over the product, its tests, the benchmarks and the scripts, configured in pyproject.toml.

    The cache lives in this virtualenv (mypy_cache), so a warm run takes a few seconds.
    """
    cache = VENV_BIN.parent / "mypy_cache"
    result = _run([str(VENV_BIN / "mypy"), "--cache-dir", str(cache), *MYPY_PATHS])
    assert result.returncode == 0, result.stdout + result.stderr
