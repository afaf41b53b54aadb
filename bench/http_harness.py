"""What the HTTP benchmarks share: the server under test in its own process, CPU accounting, tables.

`ServerUnderTest` runs `originmark serve` (the real command, uvicorn and all) as a child
process with ORIGINMARK_* variables pointing at a scratch folder, optionally pinned to a
set of CPUs (its uvicorn workers and verifier processes inherit the pinning), waits for
GET /readyz, and stops it with SIGTERM (then SIGKILL) at the end.

`tree_cpu_seconds(pid)` is the user + system CPU time of a process and all its live
descendants, from /proc: sampled before and after a load window it says how much CPU the
server spent on that window, wherever uvicorn placed the work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.local_service import free_port, serve_command

PROJECT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")


def split_cpus(server_cores: int | None) -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, load generator CPUs): the first `server_cores` CPUs and the rest; None = unpinned."""
    available = sorted(os.sched_getaffinity(0))
    if server_cores is None or server_cores <= 0:
        return None, None
    if server_cores >= len(available):
        raise SystemExit(
            f"--server-cores {server_cores} leaves no CPU for the load generator ({len(available)} CPUs); "
            "use --server-cores 0 to run unpinned"
        )
    return set(available[:server_cores]), set(available[server_cores:])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def tree_pids(pid: int) -> list[int]:
    tree, found, pending = _children(), [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(tree.get(current, []))
    return found


def tree_cpu_seconds(pid: int) -> float:
    return processes_cpu_seconds(tree_pids(pid))


def processes_cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes (one that has ended counts nothing)."""
    total = 0
    for each in pids:
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICKS


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    workers: int = 1  # uvicorn processes (`originmark serve --workers`)
    sign_concurrency: int | None = None  # ORIGINMARK_SIGN_CONCURRENCY (None: the setting's default)
    verify_workers: int | None = None  # ORIGINMARK_VERIFY_WORKERS per server process
    public_label_reads: bool = False
    log_level: str = "info"  # the shipped default: one JSON access line per request (to a file here)
    extra_env: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        parts = [f"--workers {self.workers}"]
        if self.sign_concurrency is not None:
            parts.append(f"SIGN_CONCURRENCY={self.sign_concurrency}")
        if self.verify_workers is not None:
            parts.append(f"VERIFY_WORKERS={self.verify_workers}")
        if self.public_label_reads:
            parts.append("PUBLIC_LABEL_READS=true")
        parts.append(f"LOG_LEVEL={self.log_level}")
        parts += [f"{name.removeprefix('ORIGINMARK_')}={value}" for name, value in self.extra_env]
        return " ".join(parts)


class ServerUnderTest:
    """`originmark serve` in a child process; a context manager."""

    def __init__(self, *, config: ServerConfig, database_url: str, data_dir: Path, cpus: set[int] | None) -> None:
        self.config = config
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        spool = data_dir / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        self._env = dict(os.environ)
        self._env.update(
            {
                "ORIGINMARK_KEYS_DIR": str(data_dir / "keys"),
                "ORIGINMARK_DATABASE_URL": database_url,
                "ORIGINMARK_SPOOL_DIR": str(spool),
                "ORIGINMARK_LOG_LEVEL": config.log_level,
                "ORIGINMARK_PUBLIC_LABEL_READS": "true" if config.public_label_reads else "false",
            }
        )
        if config.sign_concurrency is not None:
            self._env["ORIGINMARK_SIGN_CONCURRENCY"] = str(config.sign_concurrency)
        if config.verify_workers is not None:
            self._env["ORIGINMARK_VERIFY_WORKERS"] = str(config.verify_workers)
        self._env.update(dict(config.extra_env))
        self._cpus = cpus
        self.process: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        return serve_command(self.port, workers=self.config.workers)

    @property
    def running(self) -> subprocess.Popen:
        """The server process; it exists from `with ServerUnderTest(...)` on."""
        assert self.process is not None, "the server starts when the `with ServerUnderTest(...)` block is entered"
        return self.process

    def __enter__(self) -> ServerUnderTest:
        log = self.log_path.open("ab")
        cpus = self._cpus  # a local, so the child's affinity call sees the narrowed set
        self.process = subprocess.Popen(
            self.command,
            env=self._env,
            cwd=self.log_path.parent,
            stdout=log,
            stderr=log,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        first_answer: float | None = None
        while time.monotonic() < deadline:
            if self.running.poll() is not None:
                raise SystemExit(f"the server exited with {self.running.returncode}:\n{self.log_tail()}")
            try:
                answered = httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                answered = False
            if answered:
                first_answer = first_answer or time.monotonic()
                # Only a worker whose start-up has finished accepts connections, so one answer is
                # enough for one worker. With several, wait until each has logged that it is ready
                # (log level info), or give the others a few seconds when that line is not logged.
                if self.config.workers == 1 or self._ready_lines() >= self.config.workers:
                    return
                if time.monotonic() - first_answer > 10:
                    return
            time.sleep(0.1)
        raise SystemExit(f"the server did not become ready in {timeout:.0f} s:\n{self.log_tail()}")

    def _ready_lines(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count('"originmark is ready"')
        except OSError:
            return 0

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.running.pid)

    def process_count(self) -> int:
        return len(tree_pids(self.running.pid))

    def __exit__(self, *_exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in reversed(tree_pids(self.process.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*[str(cell) for cell in row]))
