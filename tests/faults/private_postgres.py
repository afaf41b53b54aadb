"""A private, throw-away PostgreSQL server for tests that stop and start their database.

The shared server at 127.0.0.1:5432 is used by everyone's tests and must never be restarted,
so a test that takes the database away runs its own: `initdb` into a temporary folder,
listening on 127.0.0.1 on a free port (its unix socket in that folder too), trust
authentication, stopped and removed at the end.

PostgreSQL refuses to run as root: when the tests run as root, every PostgreSQL command runs
as the `postgres` system user (`runuser`), in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port

_SEARCHED_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # newest version first
_COMMAND_TIMEOUT_SECONDS = 60


class PostgresUnavailable(Exception):
    """No PostgreSQL binaries here, or they cannot be run (the calling test skips, saying why)."""


def find_bin_dir() -> Path:
    """The folder holding initdb/pg_ctl: ORIGINMARK_TEST_POSTGRES_BIN, else the newest Debian install, else PATH."""
    explicit = os.environ.get("ORIGINMARK_TEST_POSTGRES_BIN")
    candidates = [Path(explicit)] if explicit else [*_SEARCHED_BIN_DIRS]
    on_path = shutil.which("initdb")
    if not explicit and on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise PostgresUnavailable("initdb/pg_ctl not found (set ORIGINMARK_TEST_POSTGRES_BIN to their folder)")


@dataclass(frozen=True, slots=True)
class PrivatePostgres:
    """A running private server; `stop()` / `start()` take it away and bring it back."""

    bin_dir: Path
    folder: Path
    port: int
    run_as: str | None  # system user the server runs as (None: the current user)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c max_connections=60"
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.folder / "server.log"), "-o", options, "-w", "start"
        )

    def stop(self, *, mode: str = "fast") -> None:
        """`fast`: clients are disconnected and the server shuts down cleanly (what a restart does)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def log_tail(self, characters: int = 3000) -> str:
        log = self.folder / "server.log"
        return log.read_text(errors="replace")[-characters:] if log.exists() else ""

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.bin_dir / program), *arguments]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_SECONDS)
        if completed.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}\n{self.log_tail()}"
            )


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb + start; stopped (immediate mode) and deleted afterwards. Raises PostgresUnavailable to skip."""
    bin_dir = find_bin_dir()
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no 'postgres' user to run PostgreSQL as") from None
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root and `runuser` is missing")
        run_as = "postgres"
    # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="originmark-test-pg-"))
    try:
        if run_as is not None:
            shutil.chown(folder, user=run_as)
        server = PrivatePostgres(bin_dir=bin_dir, folder=folder, port=free_port(), run_as=run_as)
        try:
            # --no-sync: the cluster is thrown away; durability across a clean stop does not need it.
            server._run(
                "initdb", "-D", str(server.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
            )
        except (RuntimeError, OSError) as error:
            raise PostgresUnavailable(f"initdb could not run here: {error}") from error
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                server.stop(mode="immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
