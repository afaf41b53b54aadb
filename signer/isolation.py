"""Sign uploaded files in worker processes bounded in memory and time.

Why: signing parses the upload — and, for an AI edit, the uploaded parent and its own
manifest store — in the C2PA engine, and a crafted file can make the engine use huge
memory or time (c2pa-rs issue 1885; a parent whose manifest holds thousands of assertions
takes the engine seconds, quadratically more with their number). In the server process
that would take every other request down with it. Here a bad upload can only hurt the
worker signing it.

How (the process pool itself is verifier/process_pool.py, shared with IsolatedVerifier and
free of any verifier domain code; what is signer-only stays here):
- `workers` long-lived `python -I` processes, each loading the signing credential itself
  from a small, picklable, secret-free spec (keys/backends/spec.py: PEM file paths, a
  PKCS#11 token + key label, a KMS key id): the key never crosses a pipe, a log or an error
  message. A PKCS#11 worker opens its own session; its PIN is read in the worker, from the
  PIN file or from the environment variable the spec names (put in the worker's environment
  at exec, never sent over the pipe). Each builds one `ContentSigner` (its start-up probe
  included) under RLIMIT_AS = `memory_bytes`.
- A call checks out an idle worker, sends the paths and the request, and waits up to
  `timeout_seconds`. The worker writes into a private folder next to the destination;
  the owner renames the result into place and always removes that folder, so a worker
  killed mid-write leaves nothing behind. A destination inside `SignerOptions.scratch_dir`
  (the service's spool, whose folders are removed with everything in them when their
  request or job ends) is written in place instead: what a killed worker leaves there goes
  with its folder, and no folder is made and removed per signature (an rmdir waits ~2 ms on
  an ext4 mounted with `discard`, while the call still holds its signing slot).
- Over the time limit the worker is killed and replaced; a worker that died on the file
  (memory limit, native crash) is replaced too. The caller gets `SigningLimitExceeded`
  (the upload's fault: an HTTP 422 `resource_limit`) or `EngineRejected` for a crash,
  and the pool keeps its size.
- Replies are plain values (str, int, float, None, tuples, dicts): the owner unpickles no
  class at all from a worker, so a subverted worker cannot run code in the owner.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from keys.backends.spec import KeySpec, PemKeySpec, Pkcs11KeySpec
from keys.credential import load_credential
from signer import errors as signing_errors
from signer.engine import MAX_REPLACED_LABEL, ContentSigner, SignerOptions, SignResult, refuse_overwriting_source
from signer.errors import (
    DestinationUnwritable,
    EngineRejected,
    OutputStorageFull,
    SignerProbeFailed,
    SigningError,
    TimeStampUnavailable,
    UnsupportedFormat,
)
from signer.formats import SUPPORTED_FORMATS
from signer.manifest import DigitalSourceType, GenerationRequest, InvalidRequest, PriorCredentials
from signer.probe import ProbeResult
from verifier.fingerprint import ImageFingerprint
from verifier.fingerprint_plain import from_plain, to_plain
from verifier.process_pool import (
    Lease,
    Outcome,
    Worker,
    WorkerKind,
    WorkerPool,
    crash_signal_name,
    limit_address_space,
    receive_setup,
    restricted_loader,
    send,
    serve,
)
from verifier.video_fingerprint import VideoFingerprint

# A worker's reply as unpickled: a tuple whose tag and length _load_job_reply and _run check.
_Reply = tuple[Any, ...]

# A reply is plain values and the manifest store (~13 KB for a JPEG without a thumbnail; a long
# video's store of Merkle hashes is larger, and it is bounded here).
_MAX_REPLY_BYTES = 64 * 1024 * 1024
_PRIVATE_PREFIX = ".originmark-signing-"

# glibc malloc in a worker: keep freed memory for the next file instead of handing it back to
# the kernel after every signature. Without these, signing a 3 MB JPEG page-faulted ~2,500
# times per file in a fresh worker (sys time 13 ms vs 6.7 ms, wall 54 ms vs 31 ms per file on
# a loaded 2-core machine) for +10 MB of resident memory. RLIMIT_AS still bounds the total.
_WORKER_MALLOC_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(128 * 1024 * 1024),
}


class SigningLimitExceeded(EngineRejected):
    """The engine hit the memory or time limit on this upload (or its parent) and was stopped."""


class SignerWorkersUnavailable(SignerProbeFailed):
    """A signing worker process could not start (or be replaced)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignLimits:
    """Bounds per signed file."""

    timeout_seconds: float  # wall time for one file (parent included)
    memory_bytes: int  # address space of a worker process (RLIMIT_AS)

    def __post_init__(self) -> None:
        if not (self.timeout_seconds > 0 and math.isfinite(self.timeout_seconds)):
            raise ValueError(f"timeout_seconds must be a positive number, got {self.timeout_seconds!r}")
        if self.memory_bytes <= 0:
            raise ValueError(f"memory_bytes must be positive, got {self.memory_bytes!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Setup:
    """What a worker is told when it starts: where the key is and the options, never key material or a PIN."""

    credential: KeySpec
    options: SignerOptions
    limits: SignLimits
    owner_pid: int

    @property
    def chain_path(self) -> str:
        return str(self.credential.chain_path)

    @property
    def key_path(self) -> str | None:
        """The PEM key file (None for a key kept in a token or KMS)."""
        return str(self.credential.key_path) if isinstance(self.credential, PemKeySpec) else None


# --- replies: plain values only ---

# A failure crosses back as its class *name*, rebuilt here from signer/errors.py's own classes
# (so the HTTP mapping sees the same type as in-process), never as a pickled object.
_ERROR_CLASSES: dict[str, type[SigningError]] = {
    name: value
    for name, value in vars(signing_errors).items()
    if isinstance(value, type) and issubclass(value, SigningError)
} | {InvalidRequest.__name__: InvalidRequest}
_FORMATS_BY_NAME = {f.name: f for f in SUPPORTED_FORMATS}
_PRIOR_CREDENTIALS = frozenset(member.value for member in PriorCredentials)


# The owner unpickles no class at all from a signing worker.
_load_reply = restricted_loader((), "a signing worker")


def _load_job_reply(data: bytes) -> _Reply:
    reply = _load_reply(data)
    if not isinstance(reply, tuple) or not reply or reply[0] not in ("ok", "error", "limit"):
        raise pickle.UnpicklingError("a signing worker sent a malformed reply")
    return reply


def _error_reply(error: BaseException) -> tuple[str, str, str, str | None, tuple[str, ...]]:
    if isinstance(error, UnsupportedFormat):
        return ("error", "UnsupportedFormat", error.reason, None, tuple(error.supported))
    if isinstance(error, SigningError):
        kind = type(error).__name__ if type(error).__name__ in _ERROR_CLASSES else "SigningError"
        return ("error", kind, error.message, error.engine_message, ())
    # A bug of ours on this file: its type only (the text could echo file content).
    return ("error", "EngineRejected", f"signing failed on this file ({type(error).__name__})", None, ())


def _error_from_reply(reply: _Reply) -> SigningError:
    _tag, kind, message, engine_message, supported = reply
    if kind == "UnsupportedFormat":
        return UnsupportedFormat(str(message), supported=tuple(str(s) for s in supported))
    cls = _ERROR_CLASSES.get(str(kind), SigningError)
    try:
        return cls(str(message), engine_message=None if engine_message is None else str(engine_message))
    except TypeError:  # a subclass with a constructor of its own
        return SigningError(str(message))


# --- the worker process ---


def _worker_entry(fd: int) -> None:
    """Runs in the worker process: limits, credential, signer (with its probe), then jobs."""
    received = receive_setup(fd, _Setup, owner_pid=lambda setup: setup.owner_pid)
    if received is None:
        return
    connection, setup = received
    try:
        limit_address_space(setup.limits.memory_bytes)
        # This worker's own key handle (for PKCS#11: its own logged-in session).
        signing_key = load_credential(setup.credential, pin=_worker_pin(setup.credential))
        fingerprint = signing_key.certificate_fingerprint
        signer = ContentSigner(signing_key=signing_key, options=setup.options)
        del signing_key  # the ContentSigner's callback keeps what it needs
    except BaseException as error:  # noqa: BLE001 - reported to the owner, who raises
        # KeyProblem and SigningError messages never carry key material or a PIN (keys/).
        send(connection, ("failed", type(error).__name__, str(error)))
        return
    send(connection, ("ready", os.getpid(), signer.probe.state, signer.probe.elapsed_seconds, fingerprint))
    serve(connection, setup.limits.timeout_seconds, partial(_sign_one, connection, signer))


def _worker_pin(credential: KeySpec) -> str | None:
    """A PKCS#11 PIN given to this worker in its environment (None: the spec's PIN file is read instead).

    Removed from the environment once read, so that nothing this worker might start inherits it.
    """
    if isinstance(credential, Pkcs11KeySpec) and credential.pin_variable:
        return os.environ.pop(credential.pin_variable, None)
    return None


def _sign_one(connection: Connection, signer: ContentSigner, job: tuple[str, str, GenerationRequest]) -> bool:
    """Sign one job and reply; False: exit now."""
    source, output, request = job
    try:
        result = signer.sign_file(source=Path(source), destination=Path(output), request=request)
    except MemoryError:
        send(connection, ("limit",))  # Python ran out under the limit: report, exit to start clean
        return False
    except Exception as error:  # noqa: BLE001 - every failure is a reply, never a dead pool
        send(connection, _error_reply(error))
        return True
    send(
        connection,
        (
            "ok",
            result.format.name,
            result.manifest_label,
            result.digital_source_type.value,
            result.bytes_written,
            result.manifest_bytes,
            result.elapsed_seconds,
            result.manifest_store,
            _soft_binding_reply(result.soft_binding),
            result.prior_credentials.value,
            result.replaced_manifest_label,
        ),
    )
    return True


def _soft_binding_reply(fingerprint: ImageFingerprint | VideoFingerprint | None) -> dict[str, Any] | None:
    return None if fingerprint is None else to_plain(fingerprint)


def _soft_binding_from_reply(value: object) -> ImageFingerprint | VideoFingerprint | None:
    """The worker's fingerprint, type-checked (a reply is plain values from a process that read the upload)."""
    if value is None:
        return None
    try:
        return from_plain(value)
    except ValueError:
        raise EngineRejected("signing failed (a malformed fingerprint in the result)") from None


# --- the owner's side ---

_KIND = WorkerKind(
    name="signing worker",
    entry_module=__name__,
    max_reply_bytes=_MAX_REPLY_BYTES,
    unavailable=SignerWorkersUnavailable,
    closed=partial(SignerWorkersUnavailable, "this IsolatedSigner was closed"),
    spawner_name="originmark-signer-spawner",
)


class _Worker(Worker):
    """One signing worker: the probe it ran and the certificate it signs with, once ready."""

    def __init__(self, setup: _Setup, secret_environment: dict[str, str]) -> None:
        self.probe: ProbeResult | None = None
        self.certificate_fingerprint: str | None = None  # of the certificate this worker signs with
        super().__init__(
            _KIND,
            dataclasses.replace(setup, owner_pid=os.getpid()),
            environment=_worker_environment(secret_environment),
        )

    def wait_ready(self, timeout: float) -> None:
        reply = self._startup_reply(timeout, _load_reply)
        if not isinstance(reply, tuple) or not reply:
            raise SignerWorkersUnavailable("a signing worker sent a malformed start-up reply")
        if reply[0] == "failed" and len(reply) == 3:
            _tag, kind, detail = reply
            if kind == TimeStampUnavailable.__name__:  # as ContentSigner raises it in-process
                raise TimeStampUnavailable(str(detail))
            raise SignerWorkersUnavailable(f"a signing worker could not start: {kind}: {detail}")
        if reply[0] != "ready" or len(reply) != 5:
            raise SignerWorkersUnavailable("a signing worker sent a malformed start-up reply")
        self.probe = ProbeResult(state=str(reply[2]), elapsed_seconds=float(reply[3]))
        self.certificate_fingerprint = str(reply[4])


def _worker_environment(secret_environment: dict[str, str]) -> dict[str, str]:
    # An operator's own MALLOC_* settings win; a PIN given by the owner wins over the inherited one.
    return {**_WORKER_MALLOC_SETTINGS, **os.environ, **secret_environment}


class IsolatedSigner:
    """A pool of signing worker processes; `sign_file` is safe to call from many threads.

    The same `sign_file` as `signer.engine.ContentSigner` (embedded credentials, file to
    file); raises SigningError subclasses only, `SigningLimitExceeded` when a limit stopped
    the engine. Construction checks the credential here first (a KeyProblem is raised as
    is), then starts the workers, each of which loads it again and runs the probe.

    The credential is `chain_path` + `key_path` (a PEM key) or `credential`, a spec of any key
    backend. `secret_environment` (e.g. a PKCS#11 PIN under the variable the spec names) is
    added to each worker's environment when it is started, never sent over its pipe.
    """

    def __init__(
        self,
        *,
        chain_path: Path | None = None,
        key_path: Path | None = None,
        credential: KeySpec | None = None,
        options: SignerOptions,
        limits: SignLimits,
        workers: int,
        secret_environment: dict[str, str] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if (credential is None) == (chain_path is None or key_path is None):
            raise ValueError("give IsolatedSigner either chain_path + key_path or credential")
        if credential is None:
            assert chain_path is not None and key_path is not None  # checked just above
            credential = PemKeySpec(chain_path=Path(chain_path), key_path=Path(key_path))
        credential = _absolute(credential)  # a worker's working directory is the one it started in
        self._secret_environment = dict(secret_environment or {})
        # Refuse bad credentials with the loader's own error (and its fix) before any worker starts.
        checked = load_credential(credential, pin=_owner_pin(credential, self._secret_environment))
        self._certificate_fingerprint = checked.certificate_fingerprint
        checked.close()
        self._setup = _Setup(credential=credential, options=options, limits=limits, owner_pid=os.getpid())
        self._options = options
        self._limits = limits
        self._pool = WorkerPool(
            _KIND,
            partial(_Worker, self._setup, self._secret_environment),
            size=workers,
            job_timeout_seconds=limits.timeout_seconds,
        )
        probe = self._pool.workers[0].probe
        assert probe is not None
        self.probe: ProbeResult = probe

    def __enter__(self) -> IsolatedSigner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def options(self) -> SignerOptions:
        return self._options

    @property
    def limits(self) -> SignLimits:
        return self._limits

    @property
    def worker_pids(self) -> tuple[int, ...]:
        return self._pool.worker_pids

    @property
    def credential(self) -> KeySpec:
        """Where the workers' key is (no secret in it)."""
        return self._setup.credential

    @property
    def certificate_fingerprint(self) -> str:
        """SHA-256 (hex) of the signing certificate the workers were started with."""
        return self._certificate_fingerprint

    def sign_file(self, *, source: Path, destination: Path, request: GenerationRequest) -> SignResult:
        """Write `source` with Content Credentials embedded to `destination` (replaced atomically)."""
        if self._pool.closed:
            raise _KIND.closed()
        source = Path(os.path.abspath(source))  # a worker's working directory is the one it started in
        destination = Path(os.path.abspath(destination))
        if request.parent is not None:
            request = dataclasses.replace(request, parent=Path(os.path.abspath(request.parent)))
        refuse_overwriting_source(source, destination)
        if self._options.is_scratch(destination):
            # The worker's own atomic_output (a temp file renamed) keeps a half-written file from
            # ever carrying the destination's name; its folder's removal takes any leftover.
            reply, fingerprint = self._call(source, destination, request)
        else:
            reply, fingerprint = self._call_in_private_folder(source, destination, request)
        (
            _tag,
            format_name,
            manifest_label,
            source_type,
            bytes_written,
            manifest_bytes,
            elapsed,
            store,
            soft_binding,
            prior,
            replaced_label,
        ) = reply
        return SignResult(
            source=source,
            destination=destination,
            format=_FORMATS_BY_NAME[format_name],
            manifest_label=manifest_label,
            sidecar=False,
            digital_source_type=DigitalSourceType(source_type),
            parent=request.parent,
            bytes_written=bytes_written,
            manifest_bytes=manifest_bytes,
            elapsed_seconds=elapsed,
            certificate_fingerprint=fingerprint,
            manifest_store=store,
            soft_binding=_soft_binding_from_reply(soft_binding),
            prior_credentials=PriorCredentials(prior),
            replaced_manifest_label=replaced_label,
        )

    def close(self) -> None:
        """Stop every worker; waits for calls in flight up to their time limit. Idempotent."""
        self._pool.close()

    # --- internals ---

    def _call_in_private_folder(
        self, source: Path, destination: Path, request: GenerationRequest
    ) -> tuple[_Reply, str | None]:
        """`_call` writing into a fresh folder beside `destination`, renamed into place by this process;
        the folder is removed whatever happens (a killed worker leaves nothing behind)."""
        private = _private_folder(destination)
        try:
            output = private / destination.name  # the name is the manifest's default title
            called = self._call(source, output, request)
            try:
                os.replace(output, destination)
            except OSError as error:
                raise DestinationUnwritable(f"cannot write {destination}: {error.strerror or error}") from error
            return called
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _call(self, source: Path, output: Path, request: GenerationRequest) -> tuple[_Reply, str | None]:
        """The worker's reply, and the fingerprint of the certificate that worker signed with."""
        with self._pool.checkout() as lease:
            reply = self._run(lease, (str(source), str(output), request), subject=source.name)
            return reply, lease.worker.certificate_fingerprint

    def _run(self, lease: Lease[_Worker], job: tuple[str, str, GenerationRequest], *, subject: str) -> _Reply:
        exchange = self._pool.exchange(lease, job, _load_job_reply)
        if exchange.outcome is Outcome.TIMED_OUT:
            raise SigningLimitExceeded(
                f"signing {subject} took longer than {self._limits.timeout_seconds:g} s (the time limit per "
                "file) and was stopped; the file or its parent may be crafted to exhaust the signer"
            )
        if exchange.outcome is Outcome.DIED:
            raise self._death_error(exchange.exit_code, subject)
        reply = exchange.reply
        assert reply is not None  # REPLIED carries the reply
        if reply[0] == "limit":
            self._pool.renew(lease)  # it reported, then exited to start clean
            raise self._death_error(None, subject)
        if reply[0] == "error":
            raise _error_from_reply(reply)
        if (
            len(reply) != 11
            or reply[1] not in _FORMATS_BY_NAME
            or not isinstance(reply[7], bytes)
            or reply[9] not in _PRIOR_CREDENTIALS
            or not (reply[10] is None or (isinstance(reply[10], str) and len(reply[10]) <= MAX_REPLACED_LABEL))
        ):
            raise EngineRejected(f"signing {subject} failed (a malformed result)")
        return reply

    def _death_error(self, exit_code: int | None, subject: str) -> SigningError:
        crash = crash_signal_name(exit_code)
        if crash is not None:
            return EngineRejected(f"the C2PA engine crashed on {subject} ({crash}); it was stopped")
        return SigningLimitExceeded(
            f"signing {subject} exceeded the memory limit ({self._limits.memory_bytes // (1024 * 1024)} MB) "
            "or crashed and was stopped; the file or its parent may be crafted to exhaust the signer"
        )


def _owner_pin(credential: KeySpec, secret_environment: dict[str, str]) -> str | None:
    if isinstance(credential, Pkcs11KeySpec) and credential.pin_variable:
        return secret_environment.get(credential.pin_variable) or os.environ.get(credential.pin_variable)
    return None


def _absolute(credential: KeySpec) -> KeySpec:
    chain_path = Path(os.path.abspath(credential.chain_path))
    if isinstance(credential, PemKeySpec):
        return dataclasses.replace(
            credential, chain_path=chain_path, key_path=Path(os.path.abspath(credential.key_path))
        )
    if isinstance(credential, Pkcs11KeySpec) and credential.pin_file is not None:
        return dataclasses.replace(
            credential, chain_path=chain_path, pin_file=Path(os.path.abspath(credential.pin_file))
        )
    return dataclasses.replace(credential, chain_path=chain_path)


def _private_folder(destination: Path) -> Path:
    """A fresh folder beside `destination` (same file system, so the final rename is atomic)."""
    try:
        return Path(tempfile.mkdtemp(prefix=_PRIVATE_PREFIX, dir=destination.parent))
    except FileNotFoundError as error:
        raise DestinationUnwritable(f"the output folder {destination.parent} does not exist") from error
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputStorageFull(f"no space left in {destination.parent}: free some, then retry") from error
        raise DestinationUnwritable(f"cannot write in {destination.parent}: {error.strerror or error}") from error
