"""Verify untrusted assets in worker processes bounded in memory and time.

Why: some inputs make the engine use huge memory or time (c2pa-rs issue 1885:
12 GB on one PNG). A verifier facing the public must not let one upload take
the host down, and a native abort must not take the caller with it.

How:
- `workers` long-lived processes, each a fresh `python -I` that imports only the
  verifier (not the caller's `__main__`, threads or memory) and builds one
  `Verifier` once, then sets RLIMIT_AS = `memory_bytes`: an allocation past the
  limit fails in the worker, which dies or reports, never the caller.
- Each call checks out an idle worker, sends the *path* (not the bytes) over a
  socket pair and waits up to `timeout_seconds` for the small picklable
  `Verdict`. On timeout the worker is killed and replaced; a worker that died on
  the file (memory limit, native crash) is replaced too. Either way the caller
  gets an `error` verdict saying why (`error_code` `resource_limit`, or
  `engine_crash` when native code faulted), and the pool keeps its size.
- Files larger than `max_asset_bytes` are refused before any engine sees them.
- Workers die with their owner: they exit on EOF of their socket, ask Linux for
  SIGKILL when the owner's (long-lived) spawner thread ends, ignore the
  terminal's Ctrl-C (the owner decides), and carry an RLIMIT_CPU backstop per
  file. `close()` stops them all, and so does dropping the pool.
"""

from __future__ import annotations

import copyreg
import io
import math
import os
import pickle
import queue
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
import dataclasses
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from verifier.errors import VerifierClosedError, VerifierUnavailableError
from verifier.reader import Verifier, check_digest, engine_version, precheck_file
from verifier.remote_manifest import NO_REMOTE_FETCH, RemoteManifestPolicy
from verifier.trust import TrustPolicy
from verifier.verdict import (
    Action,
    IngredientSummary,
    ManifestSummary,
    Signer,
    TimeStamp,
    Verdict,
    VerdictError,
    VerdictState,
)

_STARTUP_TIMEOUT_SECONDS = 60.0
_STOP_GRACE_SECONDS = 1.0
_CHECKOUT_POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyLimits:
    """Bounds per verified asset."""

    timeout_seconds: float  # wall time for one file, reading and hashing included
    memory_bytes: int  # address space of a worker process (RLIMIT_AS)
    max_asset_bytes: int  # larger files are refused without being read

    def __post_init__(self) -> None:
        if not (self.timeout_seconds > 0 and math.isfinite(self.timeout_seconds)):
            raise ValueError(f"timeout_seconds must be a positive number, got {self.timeout_seconds!r}")
        if self.memory_bytes <= 0:
            raise ValueError(f"memory_bytes must be positive, got {self.memory_bytes!r}")
        if self.max_asset_bytes <= 0:
            raise ValueError(f"max_asset_bytes must be positive, got {self.max_asset_bytes!r}")


# --- verdicts over the pipe ---
#
# A frozen slots dataclass unpickles through `dataclasses.fields()` for every object,
# which made unpickling the owner's largest per-file cost. These reducers send the
# slot values positionally instead (same classes, same values, just faster).


def _rebuild(cls: type, values: tuple) -> object:
    instance = object.__new__(cls)
    for name, value in zip(cls.__slots__, values):
        object.__setattr__(instance, name, value)
    return instance


def _reduce_slots(instance: object) -> tuple:
    cls = type(instance)
    return _rebuild, (cls, tuple(getattr(instance, name) for name in cls.__slots__))


# Every class a Verdict can hold: one missing here makes the owner refuse the worker's reply
# (found by tests/fuzz: TimeStamp verdicts came back as "crashed").
_VERDICT_CLASSES = (Verdict, ManifestSummary, Action, Signer, IngredientSummary, TimeStamp)
for _cls in _VERDICT_CLASSES:
    copyreg.pickle(_cls, _reduce_slots)

# A worker parses hostile input with native code. Were that ever exploited, the worker
# must not be able to run code in the owner through a crafted pickle: the owner only
# unpickles these names, and only up to this size.
_MAX_REPLY_BYTES = 32 * 1024 * 1024
_ALLOWED_GLOBALS = {
    (__name__, "_rebuild"),
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
    ("verifier.verdict", "VerdictState"),
    ("verifier.verdict", "ActionsForm"),
    ("verifier.verdict", "VerdictError"),
    *(("verifier.verdict", cls.__name__) for cls in _VERDICT_CLASSES),
}


class _ReplyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"a worker sent a forbidden object: {module}.{name}")
        return super().find_class(module, name)


def _load_reply(data: bytes) -> object:
    return _ReplyUnpickler(io.BytesIO(data)).load()


def _send(connection: Connection, message: object) -> None:
    connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


# --- the worker process ---


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return


def _limit_address_space(memory_bytes: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    # Hard limit too: code running in the worker cannot raise it again.
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A crash must not leave a core file (in the caller's directory, holding upload data).
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _bound_cpu_for_next_file(timeout_seconds: float) -> None:
    """A backstop if the owner is gone and cannot enforce the wall-clock limit."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + timeout_seconds) + 2
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _worker_entry(fd: int) -> None:
    """Runs in the worker process: set the limits, build the verifier once, serve paths."""
    _die_with_parent()
    # Ctrl-C in a terminal signals the whole process group: the owner decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(fd)
    try:
        policy, limits, owner_pid, remote_manifests = connection.recv()
    except (EOFError, OSError):
        return
    if os.getppid() != owner_pid:
        return  # the owner died before this worker asked to die with it
    try:
        _limit_address_space(limits.memory_bytes)
        # Worker-only: it waits on the engine's threads, so it must not run in a server process.
        from verifier.hash_pacing import PacedFileVerifier

        # One engine hash buffer resident at a time instead of two (the peak on a 2 GB MP4:
        # ~300 MiB instead of ~595 MiB; verifier/hash_pacing.py).
        verifier = PacedFileVerifier(Verifier(policy=policy, remote_manifests=remote_manifests))
    except BaseException as error:  # noqa: BLE001 - reported to the owner, who raises
        _send(connection, ("failed", f"{type(error).__name__}: {error}"))
        return
    _send(connection, ("ready", (os.getpid(), _wire_layout())))
    _serve(connection, verifier, limits)


def _wire_layout() -> tuple:
    """What a verdict looks like on the pipe: each class's name and slot order.

    Verdicts cross field by field in slot order, and a replacement worker imports whatever
    code is on disk now; after an in-place upgrade the two could disagree and fields would
    land in the wrong places. The owner compares this with its own at every start.
    """
    return tuple((cls.__name__, tuple(cls.__slots__)) for cls in _VERDICT_CLASSES)


def _serve(connection: Connection, verifier: Verifier, limits: VerifyLimits) -> None:
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return  # the owner closed its end or died
        if job is None:
            return
        _bound_cpu_for_next_file(limits.timeout_seconds)
        path_text, known_sha256 = job
        path = Path(path_text)
        try:
            verdict = verifier.verify_file(path, known_sha256=known_sha256)
        except MemoryError:
            # Python ran out under the limit: report, then exit to start clean.
            reason = _memory_reason(limits)
            _send(connection, _limit_verdict(path, limits, reason=reason, code=VerdictError.RESOURCE_LIMIT))
            return
        except Exception as error:  # noqa: BLE001 - a bug must still be a verdict, not a dead pool
            reason = f"internal error while verifying: {type(error).__name__}"
            verdict = _limit_verdict(path, limits, reason=reason, code=VerdictError.INTERNAL)
        _send_verdict(connection, verdict, path, limits)


def _send_verdict(connection: Connection, verdict: Verdict, path: Path, limits: VerifyLimits) -> None:
    data = pickle.dumps(verdict, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > _MAX_REPLY_BYTES:
        # Every field is bounded, but a store of very many manifests could still add up.
        reduced = dataclasses.replace(
            verdict,
            manifests=(),
            ingredients=verdict.ingredients[:100],
            actions=verdict.actions[:100],
            reason=(verdict.reason or "") + " (the manifest store is too large to report in full)",
        )
        data = pickle.dumps(reduced, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > _MAX_REPLY_BYTES:
            data = pickle.dumps(
                _limit_verdict(
                    path, limits, reason="the manifest store is too large to report", code=VerdictError.TOO_LARGE
                ),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
    connection.send_bytes(data)


def _memory_reason(limits: VerifyLimits) -> str:
    return (
        f"the engine exceeded the memory limit ({limits.memory_bytes // (1024 * 1024)} MB) "
        "or crashed on this file; it was stopped"
    )


def _size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# A worker killed by one of these died of a fault in native code, not of a limit; every
# other death on a file (SIGABRT: Rust aborts when an allocation fails under RLIMIT_AS or its
# stack overflows; SIGKILL: the OOM killer or our time limit; SIGXCPU: the CPU backstop;
# exit 0 after a MemoryError) is the file exhausting a bound.
_CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE})


def _death_verdict_parts(exit_code: int | None, limits: VerifyLimits) -> tuple[str, VerdictError]:
    if exit_code is not None and exit_code < 0 and -exit_code in _CRASH_SIGNALS:
        name = signal.Signals(-exit_code).name
        return f"the engine crashed on this file ({name}); it was stopped", VerdictError.ENGINE_CRASH
    return _memory_reason(limits), VerdictError.RESOURCE_LIMIT


def _limit_verdict(
    path: Path, limits: VerifyLimits, *, reason: str, code: VerdictError, version: str | None = None
) -> Verdict:
    # The content hash is computed inside the worker; when the worker is stopped it is unknown.
    return Verdict(
        state=VerdictState.ERROR,
        reason=reason,
        error_code=code,
        sha256="",
        size=_size_of(path),
        engine_version=version or engine_version(),
    )


# --- the owner's side ---


class _Worker:
    """One worker process and the owner's end of its socket."""

    def __init__(self, policy: TrustPolicy, limits: VerifyLimits, remote_manifests: RemoteManifestPolicy) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-c", _worker_bootstrap(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # A native abort prints to stderr; the owner reports it as a verdict instead.
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            theirs.close()
        self.connection = Connection(ours.detach())
        # One poll object per worker: Connection.poll() builds a selector on every call.
        self._poller = select.poll()
        self._poller.register(self.connection.fileno(), select.POLLIN)
        try:
            self.connection.send((policy, limits, os.getpid(), remote_manifests))
        except OSError:
            pass  # it died at once; wait_ready reports how

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def readable_within(self, timeout: float) -> bool:
        """Whether a reply (or EOF) arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._poller.poll(max(1, math.ceil(remaining * 1000))):
                return True

    def exit_code(self) -> int | None:
        """The exit status once the process is gone (it is when its socket says EOF)."""
        try:
            return self.process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            return None

    def wait_ready(self, timeout: float) -> None:
        try:
            if not self.connection.poll(timeout):
                raise VerifierUnavailableError(f"a verifier worker did not start within {timeout:g} s")
            kind, detail = _load_reply(self.connection.recv_bytes(_MAX_REPLY_BYTES))
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError) as error:
            raise VerifierUnavailableError(
                f"a verifier worker exited while starting (exit code {self.process.poll()}); "
                "is the memory limit too small to load the engine?"
            ) from error
        if kind != "ready":
            raise VerifierUnavailableError(f"a verifier worker could not start: {detail}")
        _pid, layout = detail
        if layout != _wire_layout():
            raise VerifierUnavailableError(
                "a verifier worker runs different code than this server (originmark was upgraded in place "
                "since the server started); restart the server"
            )

    def stop(self) -> None:
        try:
            self.connection.send(None)
            self.process.wait(_STOP_GRACE_SECONDS)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.connection.close()


def _worker_bootstrap(fd: int) -> str:
    """The `python -c` program of a worker: the owner's import path, then the worker loop."""
    return (
        f"import sys; sys.path[:] = {sys.path!r}; "
        f"from verifier.isolation import _worker_entry; _worker_entry({fd})"
    )


class IsolatedVerifier:
    """A pool of verifier worker processes; `verify_file` is safe to call from many threads."""

    def __init__(
        self,
        *,
        policy: TrustPolicy,
        limits: VerifyLimits,
        workers: int,
        remote_manifests: RemoteManifestPolicy = NO_REMOTE_FETCH,
    ) -> None:
        """`remote_manifests`: hosts whose remote manifests the workers may fetch (default: none)."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._policy = policy
        self._limits = limits
        self._remote_manifests = remote_manifests
        self._engine_version = engine_version()
        self._lock = threading.Lock()
        self._closing = threading.Lock()  # one close() at a time; a second one waits, then returns
        self._closed = False
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: list[_Worker] = []
        # Workers are started from this one long-lived thread: Linux's parent-death signal
        # follows the *thread* that started a process, and callers' threads come and go.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="originmark-verifier-spawner")
        # If the pool is dropped without close(), its workers still go.
        self._finalizer = weakref.finalize(self, _kill_all, self._workers, self._spawner)
        try:
            for _ in range(workers):
                self._workers.append(self._spawn())
            for worker in self._workers:  # they start in parallel; this waits for the slowest
                worker.wait_ready(_STARTUP_TIMEOUT_SECONDS)
        except BaseException:
            self._closed = True
            self._finalizer()
            raise
        for worker in self._workers:
            self._idle.put(worker)

    def __enter__(self) -> IsolatedVerifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def limits(self) -> VerifyLimits:
        return self._limits

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of the current workers (for monitoring and tests)."""
        with self._lock:
            return tuple(w.process.pid for w in self._workers)

    def verify_file(self, path: Path, *, known_sha256: str | None = None) -> Verdict:
        """Verify one file in a worker; a bad file, a timeout or a crash is an `error` verdict.

        `known_sha256`: the file's SHA-256 when the caller has it already (see
        `Verifier.verify_stream`); the worker then does not hash the file again.
        """
        if known_sha256 is not None:
            check_digest(known_sha256)
        if self._closed:
            raise VerifierClosedError("this IsolatedVerifier was closed")
        path = Path(os.path.abspath(path))  # a worker's working directory is the one it started in
        checked = precheck_file(path, engine_version=self._engine_version)
        if isinstance(checked, Verdict):
            return checked
        if checked > self._limits.max_asset_bytes:
            return Verdict(
                state=VerdictState.ERROR,
                reason=(
                    f"the file is {checked} bytes, over the limit of {self._limits.max_asset_bytes} bytes; "
                    "not verified"
                ),
                error_code=VerdictError.TOO_LARGE,
                sha256="",
                size=checked,
                engine_version=self._engine_version,
            )
        slot = [self._checkout()]  # the worker in use; replaced in place when one is killed
        try:
            return self._run(slot, path, known_sha256)
        finally:
            self._idle.put(slot[0])

    def close(self) -> None:
        """Stop every worker; waits for calls in flight up to their time limit. Idempotent."""
        with self._closing:
            with self._lock:
                self._closed = True
                pending = list(self._workers)
            deadline = time.monotonic() + self._limits.timeout_seconds + 2 * _STOP_GRACE_SECONDS
            stopped: set[int] = set()
            while len(stopped) < len(pending) and time.monotonic() < deadline:
                try:
                    worker = self._idle.get(timeout=_CHECKOUT_POLL_SECONDS)
                except queue.Empty:
                    continue
                worker.stop()
                stopped.add(id(worker))
            self._finalizer()  # kills whatever was not stopped above, and the spawner thread

    # --- internals ---

    def _spawn(self) -> _Worker:
        return self._spawner.submit(_Worker, self._policy, self._limits, self._remote_manifests).result()

    def _replace(self, worker: _Worker) -> _Worker:
        """Kill `worker` and return a ready replacement (or the dead one, when closing)."""
        worker.kill()
        with self._lock:
            if self._closed:
                return worker
        try:
            replacement = self._spawn()
        except RuntimeError as error:  # the spawner was shut down: close() is under way
            raise VerifierClosedError("this IsolatedVerifier was closed") from error
        try:
            replacement.wait_ready(_STARTUP_TIMEOUT_SECONDS)
        except VerifierUnavailableError:
            replacement.kill()
            raise  # the dead worker stays in the pool: the next call tries again
        with self._lock:
            if self._closed:  # close() began meanwhile and will not see the replacement
                replacement.kill()
                return worker
            self._workers[self._workers.index(worker)] = replacement
        return replacement

    def _checkout(self) -> _Worker:
        while True:
            if self._closed:
                raise VerifierClosedError("this IsolatedVerifier was closed")
            try:
                worker = self._idle.get(timeout=_CHECKOUT_POLL_SECONDS)
            except queue.Empty:
                continue
            if self._closed:
                self._idle.put(worker)  # close() collects it
                raise VerifierClosedError("this IsolatedVerifier was closed")
            return worker

    def _run(self, slot: list[_Worker], path: Path, known_sha256: str | None) -> Verdict:
        # A worker that was gone before it got this file (it exited cleanly after reporting
        # a memory error, or was SIGKILLed from outside by an operator or the OOM killer) is
        # replaced and the file tried once more; any other death is this file's doing.
        for attempt in (1, 2):
            if not slot[0].alive:
                slot[0] = self._replace(slot[0])
            try:
                slot[0].connection.send((str(path), known_sha256))
                if not slot[0].readable_within(self._limits.timeout_seconds):
                    slot[0] = self._replace(slot[0])
                    return self._error(
                        path,
                        f"verification took longer than {self._limits.timeout_seconds:g} s (the time limit per "
                        "file) and was stopped; the file may be crafted to exhaust the verifier",
                        VerdictError.RESOURCE_LIMIT,
                    )
                verdict = _load_reply(slot[0].connection.recv_bytes(_MAX_REPLY_BYTES))
                if not isinstance(verdict, Verdict):
                    raise pickle.UnpicklingError(f"a worker replied with {type(verdict).__name__}")
            except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError, AttributeError):
                exit_code = slot[0].exit_code()
                not_this_file = exit_code in (0, -signal.SIGKILL)
                slot[0] = self._replace(slot[0])
                if not_this_file and attempt == 1:
                    continue
                return self._error(path, *_death_verdict_parts(exit_code, self._limits))
            if not slot[0].alive:
                slot[0] = self._replace(slot[0])  # it reported, then exited to start clean
            return verdict
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, path: Path, reason: str, code: VerdictError) -> Verdict:
        return _limit_verdict(path, self._limits, reason=reason, code=code, version=self._engine_version)


def _kill_all(workers: list[_Worker], spawner: ThreadPoolExecutor) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()
    spawner.shutdown(wait=True)
