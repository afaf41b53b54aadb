"""`originmark serve` in a subprocess for the fuzz tests, restarted if a case kills it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from app.store.interface import Scope
from app.store.sql import open_store
from tests.api.helpers import free_port
from tests.support import running_server

ORIGINMARK = Path(sys.executable).with_name("originmark")
VERIFY_TIMEOUT_SECONDS = 10


class FuzzedServer:
    """`originmark serve` for the fuzz tests; restarted if a case kills it (and that is a finding)."""

    def __init__(self, folder: Path, keys_dir: Path) -> None:
        self.folder = folder
        self.log_path = folder / "server.log"
        self.spool = folder / "spool"
        self.spool.mkdir()
        self.database_url = f"sqlite:///{folder}/originmark.db"
        self._keys_dir = keys_dir
        self._stack = contextlib.ExitStack()
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.token = ""
        self._log_offset = 0

    def start(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "ORIGINMARK_KEYS_DIR": str(self._keys_dir),
            "ORIGINMARK_DATABASE_URL": self.database_url,
            "ORIGINMARK_SPOOL_DIR": str(self.spool),
            "ORIGINMARK_VERIFY_WORKERS": "2",
            "ORIGINMARK_SIGN_CONCURRENCY": "2",
            "ORIGINMARK_VERIFY_TIMEOUT_SECONDS": str(VERIFY_TIMEOUT_SECONDS),
            "ORIGINMARK_MAX_UPLOAD_BYTES": str(16 * 1024 * 1024),
        }
        command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        # Appends: a restart keeps the log of the run before it.
        log = self.folder / f"server-{port}.log"
        self.process = self._stack.enter_context(
            running_server(command, env=environment, log_path=log, base_url=self.base_url)
        )
        self.log_path = log
        self._log_offset = 0
        if not self.token:
            with open_store(self.database_url) as store:
                self.token = store.create_key(name="fuzz", scopes=frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ}))[1]

    def stop(self) -> None:
        self._stack.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def restart(self) -> None:
        self.stop()
        self.start()

    def new_log_lines(self) -> list[str]:
        text = self.log_path.read_text(errors="replace")
        lines = text[self._log_offset :].splitlines()
        self._log_offset = len(text)
        return lines
