"""keys/atomic_file.py: a file is replaced whole or not at all, with the mode asked for, leaving no temp file."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keys.atomic_file import TEMP_PREFIX, AtomicWriteFailed, AtomicWriteStep, atomic_file, write_atomically
from keys.errors import IdentityProblem
from keys.identities import write_atomically as write_identity_file
from tests.support import count_fsyncs


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True, timeout=60
    )


def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path):
    destination = tmp_path / "active"
    destination.write_bytes(b"old\n")
    killed = _run(
        """
        import os, signal, sys
        from pathlib import Path
        from keys.atomic_file import atomic_file
        with atomic_file(Path(sys.argv[1]), mode=0o644) as stream:
            stream.write(b"new" * 100_000)
            stream.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        """,
        str(destination),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert destination.read_bytes() == b"old\n"
    # Nothing can clean up after SIGKILL: the half-written bytes stay under a temporary name only.
    [leftover] = _temp_files(tmp_path)
    assert (tmp_path / leftover).stat().st_size == 300_000


def test_the_new_bytes_are_in_place_when_the_call_returns(tmp_path):
    destination = tmp_path / "active"
    destination.write_bytes(b"old\n")
    write_atomically(destination, b"new\n", mode=0o644)
    assert destination.read_bytes() == b"new\n"
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize(("durable", "syncs"), [(True, 2), (False, 0)])
def test_durable_fsyncs_file_and_folder_and_not_durable_neither(tmp_path, monkeypatch, durable, syncs):
    """A spool output (durable=False) is replaced as atomically, without the two waits on the disk."""
    synced = count_fsyncs(monkeypatch)
    destination = tmp_path / "out.bin"
    destination.write_bytes(b"old")
    with atomic_file(destination, mode=0o644, durable=durable) as stream:
        stream.write(b"new bytes")
    assert destination.read_bytes() == b"new bytes"
    assert len(synced) == syncs
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_the_mode_is_honoured_even_over_a_file_with_other_permissions(tmp_path, mode):
    destination = tmp_path / "file"
    destination.write_bytes(b"old")
    destination.chmod(0o666)
    previous = os.umask(0o022)
    try:
        write_atomically(destination, b"new", mode=mode)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(destination.stat().st_mode) == mode


def test_an_error_in_the_caller_removes_the_temp_file_and_keeps_the_old_one(tmp_path):
    destination = tmp_path / "file"
    destination.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="the caller gave up"):
        with atomic_file(destination, mode=0o644) as stream:
            stream.write(b"half")
            raise RuntimeError("the caller gave up")
    assert destination.read_bytes() == b"old"
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("caller_raises", [False, True], ids=["swallowed", "replaced-by-another-error"])
def test_a_failed_write_is_never_renamed_into_place_and_is_what_is_reported(tmp_path, caller_raises):
    # A real EFBIG from the kernel (RLIMIT_FSIZE), in a child so the limit binds nothing else.
    destination = tmp_path / "file"
    destination.write_bytes(b"old")
    child = _run(
        """
        import resource, signal, sys
        from pathlib import Path
        from keys.atomic_file import AtomicWriteFailed, atomic_file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            with atomic_file(Path(sys.argv[1]), mode=0o644) as stream:
                try:
                    stream.write(b"x" * 100_000)
                except OSError:
                    pass  # as the C2PA engine does with its write callback's error
                if sys.argv[2] == "True":
                    raise RuntimeError("Io: Other")
        except AtomicWriteFailed as failed:
            print(failed.step.name, failed.cause.errno)
        """,
        str(destination),
        str(caller_raises),
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["WRITE", str(errno.EFBIG)]
    assert destination.read_bytes() == b"old"
    assert _temp_files(tmp_path) == []


def test_a_missing_folder_fails_at_create(tmp_path):
    with pytest.raises(AtomicWriteFailed) as raised:
        write_atomically(tmp_path / "missing" / "file", b"x", mode=0o644)
    assert raised.value.step is AtomicWriteStep.CREATE and isinstance(raised.value.cause, FileNotFoundError)


def test_a_failed_rename_removes_the_temp_file(tmp_path):
    destination = tmp_path / "taken"
    destination.mkdir()
    (destination / "inside").write_bytes(b"keeps the folder non-empty")
    with pytest.raises(AtomicWriteFailed) as raised:
        write_atomically(destination, b"x", mode=0o644)
    assert raised.value.step is AtomicWriteStep.RENAME
    assert destination.is_dir() and _temp_files(tmp_path) == []


def test_identities_say_it_as_an_identity_problem(tmp_path):
    with pytest.raises(IdentityProblem, match=r"Cannot write .*missing/active \(No such file or directory\)"):
        write_identity_file(tmp_path / "missing" / "active", b"a\n", mode=0o644)
