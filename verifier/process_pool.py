"""A pool of isolated worker processes: the machinery shared by IsolatedSigner and IsolatedVerifier.

Why it exists: signer/isolation.py and verifier/isolation.py both run the C2PA engine on
hostile files in long-lived worker processes bounded in memory and time, and both need the
same process handling (start, limits, restricted replies, time-outs, replacement, shutdown).
Written once here, a fix to it reaches both pools.

Why here: it is domain-free — it imports nothing from verifier/, signer/, keys/ or app/ — so
signer/ may import it without depending on the verifier's code (importing `verifier` loads
only its docstring). A top-level package of its own would not be found by existing editable
installs (their finder maps only app, keys, signer and verifier) until reinstalled, nor by the
Docker image (its Dockerfile copies those four folders).

What stays in each isolation module: what its worker builds and serves, the messages it
sends, how a reply or a worker's death maps to the caller's errors or verdicts.

- Worker side: `receive_setup`, `limit_address_space`, `serve`, `send`, `receive_region`.
- Owner side: `WorkerKind` (what differs between pools), `Worker` (one process; a subclass
  reads its start-up reply in `wait_ready`), `WorkerPool` (spawn, check out, exchange one
  job under the time limit, replace, close), `Pipeline` (a batch: jobs streamed to all
  the pool's workers, a few in flight per worker, replies as they come), `restricted_loader`
  (replies unpickle only the globals allowed), `crash_signal_name`, `SharedRegion` (memory a
  job's input is written into for one worker to read, instead of a file).
"""

from __future__ import annotations

import enum
import io
import math
import mmap
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
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

STARTUP_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 1.0
CHECKOUT_POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# A worker killed by one of these died of a fault in native code, not of a limit; every other
# death on a file (SIGABRT: an allocation failed under RLIMIT_AS or a stack overflowed; SIGKILL:
# the OOM killer or the time limit; SIGXCPU: the CPU backstop; exit 0 after a MemoryError) is
# the file exhausting a bound.
_CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE})

# What a worker's death means when the job was sent: exit 0 (it reported a MemoryError on the
# previous job, then exited to start clean) or SIGKILL from outside (an operator, the OOM
# killer) happened before it got this job, so the job is tried once more on a replacement.
_NOT_THIS_JOB = (0, -signal.SIGKILL)

# How an exchange with a worker fails on the owner's side: EOF or a broken pipe (it died), a
# forbidden or malformed reply (pickle, size, shape).
_EXCHANGE_ERRORS = (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError, AttributeError)
_STARTUP_ERRORS = (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError)


S = TypeVar("S")  # what a worker's owner sends it at start-up
R = TypeVar("R")  # a worker's reply, as the owner's `load` returns it
T = TypeVar("T")  # what a pipeline's caller attaches to a job to recognise its reply


# --- both sides ---


def send(connection: Connection, message: object) -> None:
    connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def restricted_loader(allowed: Collection[tuple[str, str]], sender: str) -> Callable[[bytes], object]:
    """`pickle.loads` that refuses any global but the (module, name) pairs in `allowed`.

    A worker parses hostile input with native code. Were that ever exploited, the worker must
    not be able to run code in the owner through a crafted pickle. `sender` names the worker
    in the error ("a signing worker").
    """
    allowed = frozenset(allowed)

    class _RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if (module, name) not in allowed:
                raise pickle.UnpicklingError(f"{sender} sent a forbidden object: {module}.{name}")
            return super().find_class(module, name)

    def load(data: bytes) -> object:
        return _RestrictedUnpickler(io.BytesIO(data)).load()

    return load


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


def receive_setup(
    fd: int, setup_type: type[S], owner_pid: Callable[[S], int], *, meanwhile: Callable[[], object] | None = None
) -> tuple[Connection, S] | None:
    """A worker's first steps: die with the owner, ignore Ctrl-C, read the setup the owner sent.

    `meanwhile`: work that needs no setup (imports, trusted data), done before waiting for it: a
    worker launched early does it while its owner still prepares the setup (verifier/warm_start.py).
    None when the owner is gone already (EOF, or it died before this worker asked to die with it:
    `owner_pid(setup)` is the pid the owner put in its setup), or sent something other than a
    `setup_type`.
    """
    _die_with_parent()
    # Ctrl-C in a terminal signals the whole process group: the owner decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if meanwhile is not None:
        meanwhile()
    connection = Connection(fd)
    try:
        setup = connection.recv()
    except (EOFError, OSError):
        return None
    if not isinstance(setup, setup_type) or os.getppid() != owner_pid(setup):
        return None
    return connection, setup


def receive_region(connection: Connection, capacity: int) -> mmap.mmap:
    """The worker's read-only mapping of its owner's SharedRegion (`capacity` bytes): the file
    descriptor that follows the setup on the socket (`SharedRegion.send_to`)."""
    with socket.socket(fileno=os.dup(connection.fileno())) as channel:
        _data, fds, _flags, _address = socket.recv_fds(channel, 1, 1)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise OSError("the owner sent no shared region")
    try:
        return mmap.mmap(fds[0], capacity, prot=mmap.PROT_READ)
    finally:
        os.close(fds[0])


def limit_address_space(memory_bytes: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    # Hard limit too: code running in the worker cannot raise it again.
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A crash must not leave a core file (in the caller's directory, holding upload data or a key).
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


def serve(connection: Connection, timeout_seconds: float, handle: Callable[[object], bool]) -> None:
    """Run `handle` on each job the owner sends, under a CPU backstop, until it says stop.

    `handle(job)` sends the reply itself and returns False to exit (to start clean after a
    MemoryError). The loop ends too on the owner's `None` or when the owner is gone.
    """
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return  # the owner closed its end or died
        if job is None:
            return
        _bound_cpu_for_next_file(timeout_seconds)
        if not handle(job):
            return


# --- the owner's side ---


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerKind:
    """What differs between two pools apart from what their workers do."""

    name: str  # in messages: "signing worker", "verifier worker"
    entry_module: str  # the module whose `_worker_entry(fd)` a worker runs
    max_reply_bytes: int  # a longer reply is refused unread
    unavailable: Callable[[str], BaseException]  # a worker could not start (or be replaced)
    closed: Callable[[], BaseException]  # a call on a closed pool
    spawner_name: str  # of the spawner thread


def crash_signal_name(exit_code: int | None) -> str | None:
    """The signal's name when a worker died of a fault in native code, else None (a limit)."""
    if exit_code is not None and exit_code < 0 and -exit_code in _CRASH_SIGNALS:
        return signal.Signals(-exit_code).name
    return None


def _bootstrap(entry_module: str, fd: int) -> str:
    """The `python -c` program of a worker: the owner's import path, then the worker loop.

    Workers start without `site` (-S): the owner's path is given whole, and `site` cost a third of
    a worker's own start (~27 ms of CPU here, most of it an editable install's .pth finder). The
    folder holding this package goes first: an editable install is found only through that .pth.
    """
    path = [_PACKAGES_FOLDER, *sys.path]
    return f"import sys; sys.path[:] = {path!r}; from {entry_module} import _worker_entry; _worker_entry({fd})"


# The folder of verifier/ (and of app/, keys/ and signer/ beside it): editable checkout or site-packages.
_PACKAGES_FOLDER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True, slots=True)
class Launched:
    """A worker process started before its setup is known (`launch`): it imports its module (the
    engine, the slow part of a start) while the owner is still loading its own configuration."""

    entry_module: str
    process: subprocess.Popen[bytes]
    connection: Connection

    def discard(self) -> None:
        """Never adopted: stop it now and reap it.

        It holds nothing (no setup, no file), so it is killed rather than waited for: it would
        read the EOF of its closed socket only once done importing the engine (~0.1 s).
        """
        self.connection.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def launch(entry_module: str, environment: Mapping[str, str] | None = None) -> Launched:
    """Start a `python -I` worker of `entry_module` that waits for its setup (`environment`: its
    whole environment; None inherits this one's)."""
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _bootstrap(entry_module, theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # a native abort prints there; the owner reports it instead
            close_fds=True,
            env=None if environment is None else dict(environment),
        )
    finally:
        theirs.close()
    return Launched(entry_module=entry_module, process=process, connection=Connection(ours.detach()))


class SharedRegion:
    """Memory shared with one worker: the owner writes a job's input here, the worker reads it.

    Why: a job's input held in the owner's memory (an upload received into memory) otherwise
    reaches a worker as a file: written to the spool and deleted again, ~1 ms of file-system work
    per 3 MB (ext4: the write, the unlink, the folders), or through the socket in pieces (several
    copies and wake-ups). Here it is one copy into pages that stay mapped in both processes
    (~0.1 ms per 3 MB once they are resident), and the worker reads them in place.

    - A memfd of `capacity` bytes (pages are allocated only as they are written), mapped
      read-write by the owner; the worker gets a read-only descriptor of it (reopened through
      /proc, so that it can neither write nor resize it: a compromised worker cannot change what
      the owner wrote, nor grow memory outside its own limits) and maps it read-only. The pages are
      the owner's (allocated as it writes them); a worker raises its address-space limit
      (RLIMIT_AS) by the mapping's size, so the engine keeps the room its limit gives it.
    - One region per worker, used by the job that holds the worker's lease: no locking.
    - After a job that filled more than `keep_bytes`, the pages past it are given back
      (`trim`), so an idle region keeps at most `keep_bytes` resident.
    """

    def __init__(self, capacity: int, *, keep_bytes: int) -> None:
        if capacity <= 0 or keep_bytes < 0:
            raise ValueError("a shared region needs a positive capacity")
        self.capacity = capacity
        self._keep = min(keep_bytes, capacity)
        self._fd = os.memfd_create("originmark-job-input", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self._fd, capacity)
            self._map = mmap.mmap(self._fd, capacity)
        except BaseException:
            os.close(self._fd)
            raise
        self._used = 0  # the most written since the last trim

    def write(self, chunks: Iterable[bytes]) -> int:
        """Put `chunks` at the region's start, one after the other; the bytes written. ValueError
        when they do not fit (nothing is then read by anyone: the caller takes another way), or once
        the region is closed."""
        if self._fd < 0:
            self.close()  # unmapped now if a write held it when it was closed
            raise ValueError("the shared region is closed: its worker was stopped")
        view = memoryview(self._map)
        try:
            end = 0
            for chunk in chunks:
                start, end = end, end + len(chunk)
                if end > self.capacity:
                    raise ValueError(f"the job's input is over the shared region's {self.capacity} bytes")
                view[start:end] = chunk
        finally:
            view.release()
        self._used = max(self._used, end)
        return end

    def trim(self) -> None:
        """Give back the pages past `keep_bytes` that a large input made resident."""
        if self._used > self._keep:
            start = self._keep - self._keep % mmap.PAGESIZE
            self._map.madvise(mmap.MADV_REMOVE, start, self.capacity - start)
        self._used = 0

    def send_to(self, connection: Connection) -> None:
        """Hand the worker at the other end of `connection` a read-only descriptor of the region
        (it reads it with `receive_region`, after its setup)."""
        reader = os.open(f"/proc/self/fd/{self._fd}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            with socket.socket(fileno=os.dup(connection.fileno())) as channel:
                socket.send_fds(channel, [b"r"], [reader])
        finally:
            os.close(reader)

    def close(self) -> None:
        """Unmap and close (idempotent). From another thread while a job's input is being written
        (a pool closing past its grace period): the mapping then goes when the writer lets go of it,
        and the write fails as writing to a killed worker's socket does."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
        try:
            self._map.close()  # nothing when closed already
        except BufferError:
            pass  # a write holds a view of it: unmapped by the next call, or with the object


class Worker:
    """One worker process and the owner's end of its socket.

    A subclass implements `wait_ready` (reading the start-up reply with `_startup_reply`).
    """

    def __init__(
        self,
        kind: WorkerKind,
        setup: object,
        environment: Mapping[str, str] | None = None,
        *,
        launched: Launched | None = None,
    ) -> None:
        """Start a worker (`environment` as in `launch`), or adopt one `launched` earlier, and send it its setup."""
        self.kind = kind
        if launched is None:
            launched = launch(kind.entry_module, environment)
        elif launched.entry_module != kind.entry_module:
            raise ValueError(f"a {launched.entry_module} process cannot be a {kind.name}")
        self.process = launched.process
        self.connection = launched.connection
        # One poll object per worker: Connection.poll() builds a selector on every call.
        self._poller = select.poll()
        self._poller.register(self.connection.fileno(), select.POLLIN)
        try:
            self.connection.send(setup)
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
            return self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            return None

    def wait_ready(self, timeout: float) -> None:
        """Raise `kind.unavailable` (or the domain's own error) unless the worker started."""
        raise NotImplementedError

    def _startup_reply(self, timeout: float, load: Callable[[bytes], R]) -> R:
        """The worker's first reply, through `load` (whose ValueError/TypeError mean a bad reply)."""
        kind = self.kind
        try:
            if not self.connection.poll(timeout):
                raise kind.unavailable(f"a {kind.name} did not start within {timeout:g} s")
            return load(self.connection.recv_bytes(kind.max_reply_bytes))
        except _STARTUP_ERRORS as error:
            raise kind.unavailable(
                f"a {kind.name} exited while starting (exit code {self.process.poll()}); "
                "is the memory limit too small to load the engine?"
            ) from error

    def stop(self) -> None:
        try:
            self.connection.send(None)
            self.process.wait(STOP_GRACE_SECONDS)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.connection.close()


W = TypeVar("W", bound=Worker)


class Outcome(enum.Enum):
    REPLIED = "replied"
    TIMED_OUT = "timed_out"  # the worker was killed and replaced
    DIED = "died"  # the worker died on this job (or replied malformed) and was replaced


@dataclass(frozen=True, slots=True)
class Exchange(Generic[R]):
    """How one job went: the reply (what `load` made of it), or why there is none."""

    outcome: Outcome
    reply: R | None = None  # set when REPLIED
    exit_code: int | None = None  # DIED: the worker's exit status (None: unknown)


class Lease(Generic[W]):
    """The worker a call holds; replaced in place when it is killed, returned to the pool after."""

    __slots__ = ("worker",)

    def __init__(self, worker: W) -> None:
        self.worker = worker


class WorkerPool(Generic[W]):
    """`size` workers made by `make_worker` (called on the spawner thread), each checked out by one call at a time.

    `make_worker` must not refer to the pool's owner: the pool kills its workers when it is
    dropped without `close()`, which a reference cycle would delay until a garbage collection.
    """

    def __init__(
        self, kind: WorkerKind, make_worker: Callable[[], W], *, size: int, job_timeout_seconds: float
    ) -> None:
        if size < 1:
            raise ValueError(f"workers must be at least 1, got {size}")
        self._kind = kind
        self._make_worker = make_worker
        self._job_timeout = job_timeout_seconds
        self._lock = threading.Lock()
        self._closing = threading.Lock()  # one close() at a time; a second one waits, then returns
        self._closed = False
        self._idle: queue.SimpleQueue[W] = queue.SimpleQueue()
        self._workers: list[W] = []
        # Workers are started from this one long-lived thread: Linux's parent-death signal
        # follows the *thread* that started a process, and callers' threads come and go.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix=kind.spawner_name)
        # If the pool is dropped without close(), its workers still go.
        self._finalizer = weakref.finalize(self, _kill_all, self._workers, self._spawner)
        try:
            for _ in range(size):
                self._workers.append(self._spawn())
            for worker in self._workers:  # they start in parallel; this waits for the slowest
                worker.wait_ready(STARTUP_TIMEOUT_SECONDS)
        except BaseException:
            self._closed = True
            self._finalizer()
            raise
        for worker in self._workers:
            self._idle.put(worker)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def workers(self) -> tuple[W, ...]:
        with self._lock:
            return tuple(self._workers)

    @property
    def worker_pids(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(w.process.pid for w in self._workers)

    @contextmanager
    def checkout(self) -> Iterator[Lease[W]]:
        """An idle worker for one call (waits for one); raises `kind.closed()` once the pool is closed."""
        lease = Lease(self._checkout())
        try:
            yield lease
        finally:
            self._idle.put(lease.worker)

    def exchange(
        self,
        lease: Lease[W],
        job: object,
        load: Callable[[bytes], R],
        *,
        before_send: Callable[[W], object] | None = None,
    ) -> Exchange[R]:
        """Send `job` and wait up to the time limit for the reply, read with `load`.

        `load` raises pickle.UnpicklingError (or ValueError, TypeError) on a forbidden or malformed
        reply: the worker is then treated as dead. A worker that was gone before it got the job is
        replaced and the job sent once more; one that dies on it, or times out, is replaced.
        `before_send(worker)`: done before the job goes to a worker, each time it does (a job's
        input written into that worker's SharedRegion; a replacement has a region of its own).
        """
        for attempt in (1, 2):
            if not lease.worker.alive:
                self.renew(lease)
            try:
                if before_send is not None:
                    # Inside: a worker killed meanwhile (its region closed by close()) is a death, as a send is.
                    before_send(lease.worker)
                lease.worker.connection.send(job)
                if not lease.worker.readable_within(self._job_timeout):
                    self.renew(lease)
                    return Exchange(Outcome.TIMED_OUT)
                reply = load(lease.worker.connection.recv_bytes(self._kind.max_reply_bytes))
            except _EXCHANGE_ERRORS:
                exit_code = lease.worker.exit_code()
                self.renew(lease)
                if exit_code in _NOT_THIS_JOB and attempt == 1:
                    continue
                return Exchange(Outcome.DIED, exit_code=exit_code)
            return Exchange(Outcome.REPLIED, reply=reply)
        raise AssertionError("unreachable")  # pragma: no cover

    def renew(self, lease: Lease[W]) -> None:
        """Kill the leased worker and put a ready replacement in its place (not when closing)."""
        lease.worker = self._replace(lease.worker)

    def close(self) -> None:
        """Stop every worker; waits for calls in flight up to their time limit. Idempotent."""
        with self._closing:
            with self._lock:
                self._closed = True
                pending = list(self._workers)
            deadline = time.monotonic() + self._job_timeout + 2 * STOP_GRACE_SECONDS
            stopped: set[int] = set()
            while len(stopped) < len(pending) and time.monotonic() < deadline:
                try:
                    worker = self._idle.get(timeout=CHECKOUT_POLL_SECONDS)
                except queue.Empty:
                    continue
                worker.stop()
                stopped.add(id(worker))
            self._finalizer()  # kills whatever was not stopped above, and the spawner thread

    # --- internals ---

    def _spawn(self) -> W:
        return self._spawner.submit(self._make_worker).result()

    def _replace(self, worker: W) -> W:
        """Kill `worker` and return a ready replacement (or the dead one, when closing)."""
        worker.kill()
        with self._lock:
            if self._closed:
                return worker
        try:
            replacement = self._spawn()
        except RuntimeError as error:  # the spawner was shut down: close() is under way
            raise self._kind.closed() from error
        try:
            replacement.wait_ready(STARTUP_TIMEOUT_SECONDS)
        except BaseException:
            replacement.kill()
            raise  # the dead worker stays in the pool: the next call tries again
        with self._lock:
            if self._closed:  # close() began meanwhile and will not see the replacement
                replacement.kill()
                return worker
            self._workers[self._workers.index(worker)] = replacement
        return replacement

    def _checkout(self) -> W:
        while True:
            if self._closed:
                raise self._kind.closed()
            try:
                worker = self._idle.get(timeout=CHECKOUT_POLL_SECONDS)
            except queue.Empty:
                continue
            if self._closed:
                self._idle.put(worker)  # close() collects it
                raise self._kind.closed()
            return worker


@dataclass(slots=True)
class _PipelineJob(Generic[T, R]):
    tag: T
    message: object
    load: Callable[[bytes], R]  # reads this job's reply
    retried: bool = False  # sent again once after a worker died before working on it


@dataclass(slots=True)
class _Lane(Generic[W, T]):
    """One leased worker and its jobs in flight, oldest first: it works on the oldest, the others
    wait in its socket."""

    lease: Lease[W]
    jobs: deque[_PipelineJob[T, Any]] = field(default_factory=deque)
    head_since: float = 0.0  # monotonic time the oldest job became the one the worker works on


class Pipeline(Generic[W, T, R]):
    """A batch of jobs streamed to a pool's workers, up to `depth` in flight per worker.

    Why: with one job at a time, a worker idles from its reply to the owner's next job (the
    owner reads the reply, hands it on, picks the next job; on a busy machine that round trip
    waits for a CPU too). With the next job already in its socket, a worker goes straight on.

    The caller's loop (in one thread): `submit` while `has_room`, `wait` for replies (at least one, or none when
    nothing is in flight), each with the tag given to its job. A job gets the same treatment as
    in `WorkerPool.exchange`: the time limit counts from when its worker starts on it (the reply
    to the job before it), a worker that times out or dies on a job is replaced and the jobs
    queued behind it are sent to the replacement, a job whose worker was gone before it started
    (`_NOT_THIS_JOB`) is sent once more.
    """

    def __init__(self, pool: WorkerPool[W], load: Callable[[bytes], R], *, depth: int) -> None:
        """Check out every worker of `pool` (waiting until each is idle) for this batch, until
        `close()` (or the end of a `with` block): meanwhile other calls on the pool wait."""
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._pool = pool
        self._load = load
        self._depth = depth
        self._timeout = pool._job_timeout
        self._max_reply = pool._kind.max_reply_bytes
        self._leases = ExitStack()
        with self._leases:  # the leases go back if the checkout fails half-way
            self._lanes: list[_Lane[W, T]] = [
                _Lane(self._leases.enter_context(pool.checkout())) for _ in range(len(pool.workers))
            ]
            self._leases = self._leases.pop_all()
        self._poller = select.poll()
        self._lane_of_fd: dict[int, _Lane[W, T]] = {}
        for lane in self._lanes:
            self._watch(lane)
        self._in_flight = 0

    def __enter__(self) -> Pipeline[W, T, R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def has_room(self) -> bool:
        return self._in_flight < self._depth * len(self._lanes)

    def submit(self, tag: T, message: object, load: Callable[[bytes], R] | None = None) -> None:
        """Send a job to the worker with the fewest in flight; call only when `has_room`. `load`:
        how this job's reply is read, when it differs from the pipeline's (another kind of job)."""
        if not self.has_room():
            raise RuntimeError("the pipeline is full: wait for a reply first")
        lane = min(self._lanes, key=lambda candidate: len(candidate.jobs))
        if not lane.jobs and not lane.lease.worker.alive:
            self._renew(lane)  # gone while idle (e.g. a batch before this one was cut short)
        self._send(lane, _PipelineJob(tag, message, load or self._load))
        self._in_flight += 1

    def wait(self) -> list[tuple[T, Exchange[R]]]:
        """How the next jobs went: blocks until at least one is done; [] when none is in flight."""
        while self._in_flight:
            now = time.monotonic()
            busy = [lane for lane in self._lanes if lane.jobs]
            first_deadline = min(lane.head_since for lane in busy) + self._timeout
            ready = self._poller.poll(max(0, math.ceil((first_deadline - now) * 1000)))
            done: list[tuple[T, Exchange[R]]] = []
            answered: set[int] = set()
            for fd, _events in ready:
                lane = self._lane_of_fd[fd]
                answered.add(id(lane))
                done.extend(self._receive(lane))
            now = time.monotonic()
            for lane in busy:
                if id(lane) not in answered and lane.jobs and now >= lane.head_since + self._timeout:
                    done.append(self._time_out(lane))
            if done:
                self._in_flight -= len(done)
                return done
        return []

    def close(self) -> None:
        """End the batch. A worker with jobs still in flight (an interrupted batch) is killed: its
        pending replies would otherwise answer the pool's next caller; the pool replaces it when
        it is next used."""
        for lane in self._lanes:
            if lane.jobs:
                lane.jobs.clear()
                lane.lease.worker.kill()
        self._in_flight = 0
        for fd in list(self._lane_of_fd):
            self._poller.unregister(fd)
        self._lane_of_fd.clear()
        self._leases.close()  # the workers go back to the pool

    # --- internals ---

    def _watch(self, lane: _Lane[W, T]) -> None:
        fd = lane.lease.worker.connection.fileno()
        self._poller.register(fd, select.POLLIN)
        self._lane_of_fd[fd] = lane

    def _renew(self, lane: _Lane[W, T]) -> None:
        fd = lane.lease.worker.connection.fileno()
        self._poller.unregister(fd)
        del self._lane_of_fd[fd]
        self._pool.renew(lane.lease)
        if self._pool.closed:  # renew leaves the dead worker in place once the pool is closing
            raise self._pool._kind.closed()
        self._watch(lane)

    def _send(self, lane: _Lane[W, T], job: _PipelineJob[T, Any]) -> None:
        if not lane.jobs:
            lane.head_since = time.monotonic()
        lane.jobs.append(job)
        try:
            lane.lease.worker.connection.send(job.message)
        except OSError:
            pass  # it died: its socket reads as EOF, and `_receive` deals with its jobs

    def _receive(self, lane: _Lane[W, T]) -> list[tuple[T, Exchange[R]]]:
        """The reply to the lane's oldest job, or what its worker's death means for its jobs."""
        try:
            reply = lane.jobs[0].load(lane.lease.worker.connection.recv_bytes(self._max_reply))
        except _EXCHANGE_ERRORS:
            return self._died(lane)
        job = lane.jobs.popleft()
        lane.head_since = time.monotonic()
        return [(job.tag, Exchange(Outcome.REPLIED, reply=reply))]

    def _died(self, lane: _Lane[W, T]) -> list[tuple[T, Exchange[R]]]:
        exit_code = lane.lease.worker.exit_code()
        jobs = list(lane.jobs)
        lane.jobs.clear()
        self._renew(lane)
        head, done = jobs[0], []
        if exit_code in _NOT_THIS_JOB and not head.retried:
            head.retried = True  # gone before it got this job: once more, on the replacement
        else:
            died: Exchange[R] = Exchange(Outcome.DIED, exit_code=exit_code)
            done.append((head.tag, died))
            jobs = jobs[1:]
        for job in jobs:  # the ones queued behind never started
            self._send(lane, job)
        return done

    def _time_out(self, lane: _Lane[W, T]) -> tuple[T, Exchange[R]]:
        head, *queued = lane.jobs
        lane.jobs.clear()
        self._renew(lane)  # kills the stuck worker first
        for job in queued:
            self._send(lane, job)
        timed_out: Exchange[R] = Exchange(Outcome.TIMED_OUT)
        return head.tag, timed_out


def _kill_all(workers: list[W], spawner: ThreadPoolExecutor) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()
    spawner.shutdown(wait=True)
