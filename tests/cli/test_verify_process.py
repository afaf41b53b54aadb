"""`originmark verify` as the installed console script, in a real process: terminals, pipes, permissions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ORIGINMARK = Path(sys.executable).parent / "originmark"
FIXTURES = "corpus/c2pa-rs/sdk/tests/fixtures"
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return {
        **os.environ,
        "ORIGINMARK_KEYS_DIR": str(tmp_path_factory.mktemp("no-keys")),
        "TERM": "xterm-256color",
        "COLUMNS": "120",
    }


@pytest.fixture(scope="module")
def many_files(shared_dir: Path, tmp_path_factory) -> Path:
    """40 small files: enough output to outlast a closed pipe and to draw a progress bar."""
    root = tmp_path_factory.mktemp("many")
    sources = ["no_manifest.jpg", "XCA.jpg", "C.jpg", "ocsp.jpg"]
    for index in range(40):
        shutil.copyfile(shared_dir / FIXTURES / sources[index % 4], root / f"file-{index:02d}.jpg")
    return root


def _read_all(fd: int, sink: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the pty closed
            return
        if not chunk:
            return
        sink.append(chunk)


def test_installed_script_progress_goes_to_a_terminal_stderr_and_stdout_stays_jsonl(many_files, env):
    assert ORIGINMARK.is_file(), "the console script is installed by `pip install -e .`"
    master, slave = os.openpty()
    terminal: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(master, terminal), daemon=True)
    reader.start()
    try:
        process = subprocess.run(
            [str(ORIGINMARK), "verify", str(many_files), "--format", "jsonl", "--jobs", "2"],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)

    assert process.returncode == 1  # XCA.jpg copies are invalid
    lines = process.stdout.decode().splitlines()
    assert len(lines) == 40
    assert [json.loads(line)["path"] for line in lines] == [str(many_files / f"file-{i:02d}.jpg") for i in range(40)]
    assert b"\x1b" not in process.stdout  # no progress-bar escape codes leaked into the data
    shown = _ANSI.sub("", b"".join(terminal).decode(errors="replace"))
    assert "Verifying" in shown  # the progress bar was drawn on the terminal
    assert "Verified 40 files" in shown


def test_piped_stderr_gets_no_progress_bar_only_the_summary(many_files, env):
    process = subprocess.run(
        [str(ORIGINMARK), "verify", str(many_files), "-f", "csv"],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert process.returncode == 1
    stderr = process.stderr.decode()
    assert "Verifying" not in stderr and "\x1b" not in stderr
    assert stderr.startswith("Verified 40 files")
    assert len(process.stdout.decode().splitlines()) == 41  # header + one row per file


def test_a_reader_that_goes_away_stops_the_batch_without_a_traceback(many_files, env):
    process = subprocess.Popen(
        [str(ORIGINMARK), "verify", str(many_files), "-f", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # like `| head -n 1`
    stderr = process.stderr.read().decode()
    returncode = process.wait(timeout=120)

    assert json.loads(first)["path"].endswith("file-00.jpg")
    assert returncode == 2
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_unreadable_file_and_folder_are_error_records_and_exit_2(shared_dir, env, tmp_path):
    # Root reads anything through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: drop both for the command,
    # so that (as for any other user) a mode-000 file or folder is unreadable.
    without_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    shutil.copyfile(shared_dir / FIXTURES / "no_manifest.jpg", tmp_path / "a-readable.jpg")
    shutil.copyfile(shared_dir / FIXTURES / "no_manifest.jpg", tmp_path / "b-secret.jpg")
    (tmp_path / "b-secret.jpg").chmod(0o000)
    (tmp_path / "c-locked").mkdir()
    (tmp_path / "c-locked").chmod(0o000)
    try:
        process = subprocess.run(
            [*without_override, str(ORIGINMARK), "verify", str(tmp_path), "-r", "-f", "jsonl"],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        (tmp_path / "c-locked").chmod(0o755)  # let pytest clean up

    records = [json.loads(line) for line in process.stdout.decode().splitlines()]
    assert [(Path(r["path"]).name, r["state"], r["reason"]) for r in records] == [
        ("a-readable.jpg", "none", "no Content Credentials found in the file"),
        ("b-secret.jpg", "error", "Permission denied"),
        ("c-locked", "error", "cannot list folder: Permission denied"),
    ]
    assert process.returncode == 2, process.stderr.decode()
    stderr = process.stderr.decode()
    assert f"error: {tmp_path / 'b-secret.jpg'}: Permission denied" in stderr
    assert "2 path(s) could not be read" in stderr
