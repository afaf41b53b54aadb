"""`originmark serve` as a subprocess that a test can kill -9, restart, and stop.

The server runs in a session (process group) of its own, so `kill9()` takes down everything
it started at once — uvicorn's workers and the verifier worker processes — as an OOM kill or
a container stop would. It listens on loopback only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from app.audit_keys import verification_audit_keys
from app.settings import Settings
from app.store.interface import Scope
from app.store.sql import open_store
from keys.audit_key import AuditKeyring
from scripts.local_service import free_port, serve_command
from tests.support import wait_until_ready

_STOP_SECONDS = 30


def service_environment(*, keys_dir: Path, database_url: str, spool_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ORIGINMARK_KEYS_DIR": str(keys_dir),
        "ORIGINMARK_DATABASE_URL": database_url,
        "ORIGINMARK_SPOOL_DIR": str(spool_dir),
        "ORIGINMARK_SIGN_CONCURRENCY": "2",
        # One signing and one verifying worker process per server process: on a 2-core machine
        # more only adds start-up time (each builds an engine) and memory.
        "ORIGINMARK_SIGN_WORKERS": "1",
        "ORIGINMARK_VERIFY_WORKERS": "1",
        "ORIGINMARK_LOG_LEVEL": "warning",  # the log holds the failures, not a line per request
        **extra,
    }


def audit_keys_of(env: dict[str, str]) -> AuditKeyring:
    """The audit key a server started with `env` authenticates records with (made on its first start)."""
    return verification_audit_keys(Settings(keys_dir=Path(env["ORIGINMARK_KEYS_DIR"])))


class Service:
    """One `originmark serve` on a fixed loopback port; start() again after kill9() restarts it there."""

    def __init__(self, *, env: dict[str, str], log_path: Path, workers: int = 1) -> None:
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = serve_command(self.port, workers=self.workers)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until_ready(self.base_url, self.process, self.log_path, seconds=60)

    def kill9(self) -> None:
        """SIGKILL to every process of the server (no shutdown code runs), and wait until they are gone."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=_STOP_SECONDS)
        deadline = time.monotonic() + _STOP_SECONDS
        while _group_alive(self.process.pid):
            assert time.monotonic() < deadline, "processes of the killed server are still running"
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL to the whole group if that takes too long."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        if _group_alive(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=_STOP_SECONDS)
        self.process = None

    def log_tail(self, characters: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def create_token(self, database_url: str) -> str:
        """An API key with every scope, created in the (already migrated) database the server uses."""
        with open_store(database_url) as store:
            return store.create_key(name="faults", scopes=frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ}))[1]


def _group_alive(process_group: int) -> bool:
    """A process of the group still runs (zombies waiting for a reaper do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")".
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # the process ended while being looked at
        if int(pgrp) == process_group and state not in ("Z", "X"):
            return True
    return False


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    service.start()
    try:
        yield service
    finally:
        service.stop()
