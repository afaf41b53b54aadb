"""The spool sweep: folders of dead server processes go, folders in use (any process) and anything
that is not a request folder stay. The kill -9 test shows it on the real server; this one pins
each case, with a second process holding a folder the way a sibling server worker does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import IO

from app.api.uploads import UploadSpool
from app.spool import remove_abandoned_spools

_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.api.uploads import UploadSpool
    with UploadSpool(Path(sys.argv[1])) as spool:
        print(spool.path.name, flush=True)
        sys.stdin.read()  # held until the test closes stdin or kills this process
    """
)


def _holder(spool_dir: Path) -> tuple[subprocess.Popen[str], IO[str], IO[str]]:
    """A process holding a spool folder; its stdin (closing it ends the process) and stdout."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(spool_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None  # both are PIPEs
    return process, process.stdin, process.stdout


def test_the_sweep_removes_only_what_no_living_process_holds(tmp_path):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    sibling, sibling_in, sibling_out = _holder(spool_dir)  # another server process, alive, mid-request
    killed, _, killed_out = _holder(spool_dir)  # one that will die by kill -9 mid-request
    sibling_folder, killed_folder = sibling_out.readline().strip(), killed_out.readline().strip()
    try:
        (spool_dir / killed_folder / "file").mkdir()
        (spool_dir / killed_folder / "file" / "upload.jpg").write_bytes(b"half an upload")
        killed.kill()
        killed.wait(timeout=30)
        foreign = ["originmark-spool-notes.txt", "originmark-spool-toolong1234", "originmark-other-abcdefgh", "data"]
        for name in foreign:
            (spool_dir / name).mkdir()
        (spool_dir / "originmark-spool-linkabcd").symlink_to(spool_dir / "data")
        # The first UploadSpool of a process (here: of this test process, for this folder) sweeps.
        with UploadSpool(spool_dir) as own:
            assert re.fullmatch(r"originmark-spool-[a-z0-9_]{8}", own.path.name)
            remaining = sorted(p.name for p in spool_dir.iterdir())
            assert remaining == sorted([*foreign, "originmark-spool-linkabcd", sibling_folder, own.path.name])
            assert remove_abandoned_spools(spool_dir) == 0  # own and sibling folders are in use
    finally:
        sibling_in.close()
        assert sibling.wait(timeout=30) == 0
        if killed.poll() is None:
            killed.kill()
    assert sorted(p.name for p in spool_dir.iterdir()) == sorted([*foreign, "originmark-spool-linkabcd"])
    assert (spool_dir / "data").is_dir()  # the link was not followed


def test_a_sweep_that_wins_the_race_for_a_new_folder_makes_the_request_take_another(tmp_path, monkeypatch):
    """Between mkdtemp and its lock a new request folder looks abandoned: a sweep landing exactly
    there (forced here, with the real sweep) removes it, and UploadSpool makes a fresh one."""
    import fcntl

    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    real_flock = fcntl.flock
    swept: list[int] = []

    def sweep_first(descriptor, operation):
        if operation == fcntl.LOCK_EX and not swept:  # UploadSpool locking its new folder
            swept.append(remove_abandoned_spools(spool_dir))
        return real_flock(descriptor, operation)

    monkeypatch.setattr(fcntl, "flock", sweep_first)
    with UploadSpool(spool_dir) as spool:
        assert swept == [1]  # the sweep took the first folder
        assert spool.path.is_dir() and os.listdir(spool_dir) == [spool.path.name]
        (spool.folder("file") / "upload.jpg").write_bytes(b"data")
    assert os.listdir(spool_dir) == []
