"""`originmark verify --jobs N`: the batch streamed to N worker processes gives what one worker gives.

The whole shared corpus with --jobs 1, 2 and 3: the same records in the same order. A hostile
file in the middle of a batch (one that takes a worker past the time limit, one whose worker
crashes in native code) is that file's `error` record; the pool goes on and every other file's
record is the one it gets without the hostile file beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.verifier.hostile_assets import assertion_bomb

ORIGINMARK = Path(sys.executable).parent / "originmark"
FIXTURES = "corpus/c2pa-rs/sdk/tests/fixtures"
SMALL = [
    "no_manifest.jpg",
    "C.jpg",
    "XCA.jpg",
    "ocsp.jpg",
    "CA.jpg",
    "cloud.jpg",
    "riff_bomb_1000.wav",
    "nested_moov_1000.mp4",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    # No development CA in the keys dir: only the bundled trust lists apply.
    return {"ORIGINMARK_KEYS_DIR": str(tmp_path_factory.mktemp("no-keys")), "ORIGINMARK_SERVER_URL": ""}


def run(env: dict[str, str], *args: object):
    return CliRunner().invoke(cli, ["verify", "-f", "jsonl", *map(str, args)], env=env, catch_exceptions=False)


def records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


@pytest.fixture(scope="module")
def batch(shared_dir: Path, tmp_path_factory) -> Path:
    """24 small corpus files, a zero-byte file and a truncated JPEG, named in the order they are listed."""
    root = tmp_path_factory.mktemp("batch")
    for index in range(24):
        name = SMALL[index % len(SMALL)]
        shutil.copyfile(shared_dir / FIXTURES / name, root / f"{index:02d}-{name}")
    (root / "24-empty.jpg").touch()
    (root / "25-truncated.jpg").write_bytes((shared_dir / FIXTURES / "C.jpg").read_bytes()[:5000])
    return root


def test_the_whole_corpus_gives_the_same_records_with_1_2_and_3_jobs(shared_dir, env):
    corpus = shared_dir / "corpus"
    one, two, three = (run(env, "-r", "--jobs", jobs, corpus) for jobs in (1, 2, 3))

    assert one.exit_code == two.exit_code == three.exit_code == 1  # the corpus holds invalid files
    expected = records(one.stdout)
    assert len(expected) == sum(1 for path in corpus.rglob("*") if path.is_file())
    assert records(two.stdout) == expected
    assert records(three.stdout) == expected


def test_a_file_over_the_time_limit_is_its_error_record_and_the_rest_of_the_batch_is_unchanged(batch, env, tmp_path):
    reference = records(run(env, "-r", "--jobs", 1, batch).stdout)
    bomb = tmp_path / "bomb.jpg"
    shutil.copyfile(assertion_bomb(), bomb)  # over 3 s on an idle machine

    # The bomb sits in the middle of the batch, in input order.
    result = run(
        {**env, "ORIGINMARK_VERIFY_TIMEOUT_SECONDS": "1.5"},
        "-r",
        "--jobs",
        2,
        *sorted(batch.iterdir())[:12],
        bomb,
        *sorted(batch.iterdir())[12:],
    )

    got = records(result.stdout)
    assert [record["path"] for record in got[:12] + got[13:]] == [record["path"] for record in reference]
    assert got[:12] + got[13:] == reference
    stopped = got[12]
    assert (stopped["path"], stopped["state"], stopped["error_code"]) == (str(bomb), "error", "resource_limit")
    assert stopped["reason"].startswith("verification took longer than 1.5 s (the time limit per file)")
    assert result.exit_code == 1  # XCA.jpg copies are invalid; an engine `error` alone changes nothing


def _worker_with_open(owner: int, path: Path, *, within: float = 60.0) -> int:
    """The pid of `owner`'s verifier worker that has `path` open, as soon as one has."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                if f"\nPPid:\t{owner}\n" not in status.read_text():
                    continue
                fds = status.parent / "fd"
                if any(os.readlink(fds / fd) == str(path) for fd in os.listdir(fds)):
                    return int(status.parent.name)
            except OSError:
                continue  # gone, or a descriptor closed meanwhile
        time.sleep(0.01)
    raise AssertionError(f"no worker of {owner} opened {path} within {within} s")


def test_a_worker_crash_in_the_middle_of_a_batch_is_that_file_s_error_record_and_the_others_finish(
    batch, env, tmp_path
):
    reference = records(run(env, "-r", "--jobs", 1, batch).stdout)
    bomb = tmp_path / "crashes.jpg"
    shutil.copyfile(assertion_bomb(), bomb)  # keeps its worker busy for seconds: time to crash it there
    files = sorted(batch.iterdir())

    process = subprocess.Popen(
        [
            str(ORIGINMARK),
            "verify",
            "-f",
            "jsonl",
            "--jobs",
            "2",
            *map(str, files[:5]),
            str(bomb),
            *map(str, files[5:]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    try:
        os.kill(_worker_with_open(process.pid, bomb), signal.SIGSEGV)  # as a fault in the engine's native code would
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()

    got = records(stdout.decode())
    assert got[:5] + got[6:] == reference, stderr.decode()
    crashed = got[5]
    assert (crashed["path"], crashed["state"], crashed["error_code"]) == (str(bomb), "error", "engine_crash")
    assert crashed["reason"] == "the engine crashed on this file (SIGSEGV); it was stopped"
    assert crashed["label"]["kind"] == "none" and crashed["sha256"] == ""
    assert process.returncode == 1
    assert "Verified 27 files" in stderr.decode()
