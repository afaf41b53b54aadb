"""Verify untrusted assets in worker processes bounded in memory and time.

Why: some inputs make the engine use huge memory or time (c2pa-rs issue 1885:
12 GB on one PNG). A verifier facing the public must not let one upload take
the host down, and a native abort must not take the caller with it.

How:
- `workers` long-lived processes, each a fresh `python -I` that imports only the
  verifier (not the caller's `__main__`, threads or memory), sets RLIMIT_AS =
  `memory_bytes` (an allocation past the limit fails in the worker, which dies or
  reports, never the caller) and builds one `Verifier` once: the trust policy from
  the spec it is sent, then the engine's context.
- Only workers load the engine and parse certificates: the owner sends them a
  `TrustPolicySpec` (a policy's lists and EKUs) and learns the engine's version from
  their start-up reply, so a short-lived owner (`originmark verify`) loads neither. A
  worker imports the engine and parses the shipped trust lists before its setup
  arrives, while its owner is still reading its own configuration.
- Each call checks out an idle worker, sends the *path* (not the bytes) over a
  socket pair and waits up to `timeout_seconds` for the small picklable
  `Verdict`. An upload the caller holds in memory (`verify_bytes`) is written into
  memory the worker shares with its owner instead (`shared_bytes` per worker,
  verifier.process_pool.SharedRegion), and the engine reads it there: no file. On timeout the worker is killed and replaced; a worker that died on
  the file (memory limit, native crash) is replaced too. Either way the caller
  gets an `error` verdict saying why (`error_code` `resource_limit`, or
  `engine_crash` when native code faulted), and the pool keeps its size.
- Files larger than `max_asset_bytes` are refused before any engine sees them.
- A batch (`stream()`, the CLI's `verify`) holds every worker and keeps two files in
  flight per worker, so that no worker waits for the owner between two files
  (verifier/process_pool.py's `Pipeline`); same limits, same verdicts.
- Workers die with their owner: they exit on EOF of their socket, ask Linux for
  SIGKILL when the owner's (long-lived) spawner thread ends, ignore the
  terminal's Ctrl-C (the owner decides), and carry an RLIMIT_CPU backstop per
  file. `close()` stops them all, and so does dropping the pool.

The process pool itself (start, limits, replies, time-outs, replacement, shutdown) is
verifier/process_pool.py, shared with signer/isolation.py; what is verifier-only stays here:
the worker's `PacedFileVerifier`, verdicts on the pipe (their reducers, the allowed globals,
the wire-layout check at start-up) and how a timeout or a death becomes an `error` verdict.
"""

from __future__ import annotations

import copyreg
import dataclasses
import math
import mmap
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, cast

from verifier.errors import TrustPolicyError, VerifierClosedError, VerifierUnavailableError
from verifier.precheck import check_digest, empty_verdict, precheck_file
from verifier.process_pool import (
    Exchange,
    Launched,
    Lease,
    Outcome,
    Pipeline,
    SharedRegion,
    Worker,
    WorkerKind,
    WorkerPool,
    crash_signal_name,
    limit_address_space,
    receive_region,
    receive_setup,
    restricted_loader,
    send,
    serve,
)
from verifier.remote_manifest import NO_REMOTE_FETCH, RemoteManifestPolicy
from verifier.trust_spec import TrustPolicySpec
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

if TYPE_CHECKING:  # imported by the worker only: the engine, cryptography, and waits on the engine's threads
    from verifier.fingerprint import ImageFingerprint  # Pillow and iscc-core: imported when a fingerprint arrives
    from verifier.hash_pacing import PacedFileVerifier
    from verifier.manifest_store import SoftBindingValue
    from verifier.thumbnail import Picture  # Pillow: imported when a thumbnail arrives
    from verifier.trust import TrustPolicy
    from verifier.video_code import VideoCode
    from verifier.video_fingerprint import VideoFingerprint


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


_SlotsValue = Verdict | ManifestSummary | Action | Signer | IngredientSummary | TimeStamp


def _rebuild(cls: type[_SlotsValue], values: tuple[object, ...]) -> _SlotsValue:
    instance = object.__new__(cls)
    for name, value in zip(cls.__slots__, values, strict=True):
        object.__setattr__(instance, name, value)
    return instance


def _reduce_slots(
    instance: object,
) -> tuple[
    Callable[[type[_SlotsValue], tuple[object, ...]], _SlotsValue], tuple[type[_SlotsValue], tuple[object, ...]]
]:
    if not isinstance(instance, _VERDICT_CLASSES):  # registered for these classes only (below)
        raise TypeError(f"no slot reducer for {type(instance).__name__}")
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


_load_reply = restricted_loader(_ALLOWED_GLOBALS, "a worker")


def _load_verdict(data: bytes) -> Verdict:
    verdict = _load_reply(data)
    if not isinstance(verdict, Verdict):
        raise pickle.UnpicklingError(f"a worker replied with {type(verdict).__name__}")
    return verdict


def _load_startup_reply(data: bytes) -> tuple[Any, Any]:
    reply: Any = _load_reply(data)  # unpickled; wait_ready checks (kind, detail) field by field
    kind, detail = reply  # a reply of another shape is a worker that failed to start
    return kind, detail


# --- jobs: (operation, absolute path (the size, for _VERIFY_SHARED), known SHA-256 or None) ---

_VERIFY = "verify"  # an asset: a Verdict
_VERIFY_SHARED = "verify_shared"  # an asset of this many bytes at the start of the worker's shared region: a Verdict
_VERIFY_STORE = "verify_store"  # a manifest store kept apart from its asset: a Verdict (reader.py, detached_store)
_FINGERPRINT = "fingerprint"  # an image: (_FINGERPRINT, code64, iscc, descriptor, views) or (_UNDECODABLE, reason)
_VIDEO_FINGERPRINT = (
    "video_fingerprint"  # a video: (_VIDEO_FINGERPRINT, its fingerprint_plain form) or (_UNDECODABLE, reason)
)
# A video's ISCC Video-Code: (_VIDEO_CODE, fingerprint_plain's form of it) or (_UNDECODABLE, reason)
_VIDEO_CODE = "video_code"
_UNDECODABLE = "undecodable"
_STORE_OF = (
    "store_of"  # an asset: (_STORE_OF, store bytes, active manifest, ((alg, value), ...)) or (_UNDECODABLE, reason)
)
# A feed thumbnail's picture: (_THUMBNAIL, JPEG bytes, width, height, actions) or (_UNDECODABLE, reason)
_THUMBNAIL = "thumbnail"
_JOB_LAYOUT = ("operation", "path_or_size", "known_sha256")
# An idle shared region keeps this much resident (a large photo), and gives the rest back after a larger upload.
_SHARED_KEEP_BYTES = 8 * 1024 * 1024


def _tagged_reply(data: bytes, tag: str, length: int, what: str) -> tuple[Any, ...] | str:
    """A worker's reply to a job of `what`: the worker's reason when it could not make one
    ((_UNDECODABLE, reason)), else a tuple of `length` plain values starting with `tag`."""
    reply = _load_reply(data)
    if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == _UNDECODABLE and isinstance(reply[1], str):
        return reply[1]
    if not (isinstance(reply, tuple) and len(reply) == length and reply[0] == tag):
        raise pickle.UnpicklingError(f"a worker replied to a {what} job with something else")
    return reply


def _load_thumbnail(data: bytes) -> Picture | str:
    """A thumbnail reply: plain values only, checked field by field (the JPEG bytes are not decoded here)."""
    from verifier.thumbnail import MAX_PICTURE_BYTES, THUMBNAIL_EDGE, Picture, rendition_actions_allowed

    reply = _tagged_reply(data, _THUMBNAIL, 5, "thumbnail")
    if isinstance(reply, str):
        return reply
    _tag, content, width, height, actions = reply
    if not (
        isinstance(content, bytes)
        and 0 < len(content) <= MAX_PICTURE_BYTES
        and isinstance(width, int)
        and isinstance(height, int)
        and 0 < width <= THUMBNAIL_EDGE
        and 0 < height <= THUMBNAIL_EDGE
        and isinstance(actions, tuple)
        and rendition_actions_allowed(actions)
    ):
        raise pickle.UnpicklingError("a worker replied with a malformed thumbnail")
    return Picture(content=content, width=width, height=height, actions=actions)


def _load_fingerprint(data: bytes) -> ImageFingerprint | str:
    """A fingerprint reply: plain values only (the loader allows no class), checked field by field."""
    from verifier.fingerprint import DESCRIPTOR_BYTES, ImageFingerprint, views_from_plain

    reply = _tagged_reply(data, _FINGERPRINT, 5, "fingerprint")
    if isinstance(reply, str):
        return reply
    _tag, code64, iscc, descriptor, plain_views = reply
    if (
        not (
            isinstance(code64, int)
            and 0 <= code64 < 1 << 64
            and isinstance(iscc, str)
            and isinstance(descriptor, bytes)
        )
        or len(descriptor) != DESCRIPTOR_BYTES
    ):
        raise pickle.UnpicklingError("a worker replied with a malformed fingerprint")
    try:
        views = views_from_plain(plain_views)
    except ValueError as error:
        raise pickle.UnpicklingError(f"a worker replied with malformed views: {error}") from None
    return ImageFingerprint(code64=code64, iscc=iscc, descriptor=descriptor, views=views)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedStore:
    """An asset's manifest store as cut out of its container and read by the engine in a worker."""

    store: bytes  # the JUMBF bytes (application/c2pa)
    active_manifest: str  # its active manifest's label
    soft_bindings: tuple[SoftBindingValue, ...]


def _load_embedded_store(data: bytes) -> EmbeddedStore | None:
    """A store_of reply: plain values only, checked field by field."""
    from verifier.manifest_store import SoftBindingValue

    reply = _load_reply(data)
    if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == _UNDECODABLE:
        return None
    if not (isinstance(reply, tuple) and len(reply) == 4 and reply[0] == _STORE_OF):
        raise pickle.UnpicklingError("a worker replied to a store_of job with something else")
    _tag, store, active, bindings = reply
    if not (
        isinstance(store, bytes)
        and isinstance(active, str)
        and isinstance(bindings, tuple)
        and all(
            isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], bytes)
            for pair in bindings
        )
    ):
        raise pickle.UnpicklingError("a worker replied with a malformed manifest store")
    values = tuple(SoftBindingValue(alg=alg, value=value) for alg, value in bindings)
    return EmbeddedStore(store=store, active_manifest=active, soft_bindings=values)


_Reply = TypeVar("_Reply")
_Tag = TypeVar("_Tag")
# A reply on a batch's pipe, as its loader reads it (a fingerprint job's: the worker's reason as text when none).
_PipeReply: TypeAlias = "Verdict | ImageFingerprint | VideoFingerprint | VideoCode | str | None"


def _load_video_fingerprint(data: bytes) -> VideoFingerprint | str:
    """A video fingerprint reply: its key frames (codes and descriptors, in time order, at most 16), or the reason."""
    from verifier.fingerprint_plain import from_plain
    from verifier.video_fingerprint import VideoFingerprint

    reply = _tagged_reply(data, _VIDEO_FINGERPRINT, 2, "video fingerprint")
    if isinstance(reply, str):
        return reply
    try:
        fingerprint = from_plain(reply[1])
    except ValueError as error:
        raise pickle.UnpicklingError(f"a worker replied with a malformed video fingerprint: {error}") from None
    if not isinstance(fingerprint, VideoFingerprint):
        raise pickle.UnpicklingError("a worker replied to a video fingerprint job with an image's")
    return fingerprint


def _load_video_code(data: bytes) -> VideoCode | str:
    """A Video-Code reply (an ISCC Video-Code unit, checked), or the reason there is none."""
    from verifier.fingerprint_plain import video_code_from_plain

    reply = _tagged_reply(data, _VIDEO_CODE, 2, "Video-Code")
    if isinstance(reply, str):
        return reply
    if reply[1] is None:
        raise pickle.UnpicklingError("a worker replied to a Video-Code job with something else")
    try:
        code = video_code_from_plain(reply[1])
    except ValueError as error:
        raise pickle.UnpicklingError(f"a worker replied with a malformed Video-Code: {error}") from None
    assert code is not None  # reply[1] is not None
    return code


# --- the worker process ---


def _worker_entry(fd: int) -> None:
    """Runs in the worker process: set the limits, build the verifier once, serve paths; then exit at once."""
    _serve_until_stopped(fd)
    # Nothing is left to flush or release (stdout and stderr are /dev/null, the socket closes with
    # the process), and the interpreter's own teardown of the engine's and our modules took longer
    # than any verification of a small file, with the owner's close() waiting for it (issue 13).
    os._exit(0)


def _serve_until_stopped(fd: int) -> None:
    received = receive_setup(fd, tuple, owner_pid=lambda setup: setup[2], meanwhile=_prepare_before_setup)
    if received is None:
        return
    connection, (spec, limits, _owner_pid, remote_manifests, shared_bytes) = received
    try:
        # The owner's shared region (verify_bytes), read-only. Its mapping is added to the address-space
        # limit: the engine keeps the room `memory_bytes` gives it (the region's pages are the owner's).
        region = receive_region(connection, shared_bytes) if shared_bytes else None
        limit_address_space(limits.memory_bytes + shared_bytes)
        # Worker-only: it waits on the engine's threads, so it must not run in a server process.
        from verifier.hash_pacing import PacedFileVerifier
        from verifier.reader import Verifier
        from verifier.trust import TrustPolicy

        policy = TrustPolicy.from_spec(spec)
        # One engine hash buffer resident at a time instead of two (the peak on a 2 GB MP4:
        # ~300 MiB instead of ~595 MiB; verifier/hash_pacing.py).
        verifier = PacedFileVerifier(Verifier(policy=policy, remote_manifests=remote_manifests))
    except TrustPolicyError as error:  # a certificate that does not parse: the owner raises it as such
        send(connection, ("bad_trust_policy", str(error)))
        return
    except BaseException as error:  # noqa: BLE001 - reported to the owner, who raises
        send(connection, ("failed", f"{type(error).__name__}: {error}"))
        return
    send(connection, ("ready", (os.getpid(), _wire_layout(), verifier.engine_version)))
    serve(connection, limits.timeout_seconds, partial(_verify_one, connection, verifier, limits, region))


def _prepare_before_setup() -> None:
    """What a worker does while its owner prepares the setup: import the engine, parse the shipped lists.

    Every policy originmark builds holds the shipped lists (verifier.trust_spec.default_trust_spec);
    parsed now, the policy the setup brings is built without parsing them again.
    """
    from verifier.hash_pacing import PacedFileVerifier  # noqa: F401 - imported for its cost, now
    from verifier.trust import prepare_ahead
    from verifier.trust_spec import shipped_trust_lists

    prepare_ahead(shipped_trust_lists())


def _wire_layout() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What a verdict looks like on the pipe: each class's name and slot order (and a job's fields).

    Verdicts cross field by field in slot order, and a replacement worker imports whatever
    code is on disk now; after an in-place upgrade the two could disagree and fields would
    land in the wrong places. The owner compares this with its own at every start.
    """
    return (*((cls.__name__, tuple(cls.__slots__)) for cls in _VERDICT_CLASSES), ("job", _JOB_LAYOUT))


def _verify_one(
    connection: Connection,
    verifier: PacedFileVerifier,
    limits: VerifyLimits,
    region: mmap.mmap | None,
    job: tuple[str, str | int, str | None],
) -> bool:
    """Do one job (verify a file, an upload in the shared region or a detached manifest store, or
    fingerprint an image) and send the reply; False: exit now."""
    operation, where, known_sha256 = job
    if operation == _VERIFY_SHARED:
        return _verify_shared_one(connection, verifier, limits, region, int(where), known_sha256)
    path = Path(str(where))
    if operation == _FINGERPRINT:
        return _fingerprint_one(connection, path)
    if operation == _STORE_OF:
        return _store_of_one(connection, path)
    if operation == _VIDEO_FINGERPRINT:
        return _fingerprint_video_one(connection, path)
    if operation == _VIDEO_CODE:
        return _video_code_one(connection, path)
    if operation == _THUMBNAIL:
        return _thumbnail_one(connection, path)
    return _verify_and_send(
        connection,
        verifier,
        limits,
        lambda: verifier.verify_file(path, known_sha256=known_sha256, detached_store=operation == _VERIFY_STORE),
        lambda: _size_of(path),
    )


def _verify_shared_one(
    connection: Connection,
    verifier: PacedFileVerifier,
    limits: VerifyLimits,
    region: mmap.mmap | None,
    size: int,
    known_sha256: str | None,
) -> bool:
    """Verify the `size` bytes at the start of the shared region (the owner wrote them there);
    the verdict is the one verify_file gives for the same bytes in a file. No pacing: the region
    holds far less than one of the engine's hash buffers (verifier/hash_pacing.py)."""
    from verifier.memory_stream import MemoryStream

    def verify() -> Verdict:
        if region is None or not 0 < size <= len(region):
            raise ValueError("no shared region holds that upload")  # the owner's bug: an internal error
        with memoryview(region) as whole, MemoryStream(whole[:size]) as stream:
            return verifier.verify_stream(stream, size=size, known_sha256=known_sha256)

    return _verify_and_send(connection, verifier, limits, verify, lambda: size)


def _verify_and_send(
    connection: Connection,
    verifier: PacedFileVerifier,
    limits: VerifyLimits,
    verify: Callable[[], Verdict],
    size: Callable[[], int],
) -> bool:
    """Send `verify()`'s verdict, or the error verdict when it raises; False: exit now (out of memory)."""
    version = verifier.engine_version
    try:
        verdict = verify()
    except MemoryError:
        # Python ran out under the limit: report, then exit to start clean.
        reason = _memory_reason(limits)
        send(connection, _limit_verdict(size(), reason=reason, code=VerdictError.RESOURCE_LIMIT, version=version))
        return False
    except Exception as error:  # noqa: BLE001 - a bug must still be a verdict, not a dead pool
        reason = f"internal error while verifying: {type(error).__name__}"
        verdict = _limit_verdict(size(), reason=reason, code=VerdictError.INTERNAL, version=version)
    _send_verdict(connection, verdict, size, version)
    return True


def _fingerprint_one(connection: Connection, path: Path) -> bool:
    """Fingerprint one image, with the views a lookup searches too (QUERY_VIEWS: the mirrored image, the
    tolerant border trim, the symmetrised image of a nearly symmetric one),
    and send (code64, iscc, descriptor, views), or the reason it cannot be; False: exit now.

    Here, not in the owner: an upload is untrusted, and a decoder's memory and time stay under
    this worker's limits (fingerprint_image also refuses oversized images from their header)."""
    from verifier.fingerprint import QUERY_VIEWS, fingerprint_image, views_as_plain

    def reply() -> tuple[object, ...]:
        fingerprint = fingerprint_image(path, views=QUERY_VIEWS)
        return (
            _FINGERPRINT,
            fingerprint.code64,
            fingerprint.iscc,
            fingerprint.descriptor,
            views_as_plain(fingerprint.views),
        )

    return _send_fingerprint(connection, "image", reply)


def _fingerprint_video_one(connection: Connection, path: Path) -> bool:
    """Fingerprint one video's key frames (verifier/video_fingerprint.py: bounded in frame size, packets
    and time) and send them (codes and descriptors), or the reason they cannot be; False: exit now. In
    the worker for the same reason as an image: FFmpeg's decoders face an untrusted upload under this
    worker's limits. Without the Video-Code: lookups search the key frames' codes (the repository's
    similarity index holds Image-Codes), and it would spend the worker's time limit decoding every frame."""
    from verifier.fingerprint_plain import to_plain
    from verifier.video_fingerprint import fingerprint_video

    def reply() -> tuple[object, ...]:
        return (_VIDEO_FINGERPRINT, to_plain(fingerprint_video(path, code_bounds=None)))

    return _send_fingerprint(connection, "video", reply)


def _video_code_one(connection: Connection, path: Path) -> bool:
    """Compute one video's ISCC Video-Code (verifier/video_code.py: FFmpeg in a child process under its
    own bounds, which this worker's limits cap) and send it, or the reason there is none; False: exit
    now. Asked only when a lookup's key frames found nothing (it decodes every frame analysed)."""
    from verifier.errors import UndecodableVideo
    from verifier.fingerprint_plain import video_code_as_plain
    from verifier.video_code import video_code

    def reply() -> tuple[object, ...]:
        # The duration only decides whether the code's scope is the whole video: a lookup compares
        # the codes alone, and a code of a video's first 60 s is compared with one of the same span.
        code = video_code(path, duration_ms=None)
        if code is None:
            raise UndecodableVideo("no Video-Code within its bounds")
        return (_VIDEO_CODE, video_code_as_plain(code))

    return _send_fingerprint(connection, "video", reply)


def _thumbnail_one(connection: Connection, path: Path) -> bool:
    """Make one feed thumbnail's picture (verifier/thumbnail.py: bounded before any pixel is read) and
    send it, or the reason there is none; False: exit now. Here, not in the owner: Pillow's and
    FFmpeg's decoders face an untrusted upload under this worker's limits, as for a fingerprint."""
    from verifier.thumbnail import make_picture

    def reply() -> tuple[object, ...]:
        picture = make_picture(path)
        return (_THUMBNAIL, picture.content, picture.width, picture.height, picture.actions)

    return _send_fingerprint(connection, "image", reply)


def _send_fingerprint(connection: Connection, what: str, reply: Callable[[], tuple[object, ...]]) -> bool:
    """Send `reply()`, or (_UNDECODABLE, why) when it raises; False: exit now (out of memory)."""
    from verifier.errors import UndecodableImage, UndecodableVideo
    from verifier.thumbnail import NoThumbnail

    try:
        answer = reply()
    except (UndecodableImage, UndecodableVideo, NoThumbnail) as error:
        send(connection, (_UNDECODABLE, str(error)[:500]))
        return True
    except MemoryError:
        send(connection, (_UNDECODABLE, f"the {what} needed more memory than a verifier worker has"))
        return False
    except Exception as error:  # noqa: BLE001 - a decoder's bug on a hostile file is "not fingerprinted"
        send(connection, (_UNDECODABLE, f"the {what} could not be fingerprinted: {type(error).__name__}"))
        return True
    send(connection, answer)
    return True


def _store_of_one(connection: Connection, path: Path) -> bool:
    """Cut the asset's manifest store out and read it with the engine (application/c2pa); send the
    store, its active manifest and soft bindings, or why not; False: exit now. Here, not in the owner:
    the container and the store are the upload's, untrusted."""
    from verifier.embedded_store import MAX_STORE_BYTES, embedded_manifest_store
    from verifier.manifest_store import read_manifest_store
    from verifier.media_type import sniff_media_type

    try:
        with open(path, "rb") as file:
            media_type = sniff_media_type(file.read(64))
        store = None if media_type is None else embedded_manifest_store(path, media_type)
        contents = None if store is None else read_manifest_store(store)
    except MemoryError:
        send(connection, (_UNDECODABLE, "the manifest store needed more memory than a verifier worker has"))
        return False
    except Exception as error:  # noqa: BLE001 - a hostile file is "no store", not a dead pool
        send(connection, (_UNDECODABLE, f"the manifest store could not be read: {type(error).__name__}"))
        return True
    if store is None or contents is None or contents.active_manifest is None or len(store) > MAX_STORE_BYTES:
        send(connection, (_UNDECODABLE, "no manifest store the engine reads is embedded in the file"))
        return True
    bindings = tuple((value.alg, value.value) for value in contents.soft_bindings)
    send(connection, (_STORE_OF, store, contents.active_manifest, bindings))
    return True


def _send_verdict(connection: Connection, verdict: Verdict, size: Callable[[], int], version: str) -> None:
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
                    size(),
                    reason="the manifest store is too large to report",
                    code=VerdictError.TOO_LARGE,
                    version=version,
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


def _death_verdict_parts(exit_code: int | None, limits: VerifyLimits) -> tuple[str, VerdictError]:
    # A fault in native code is a crash; every other death on a file is it exhausting a bound.
    crash = crash_signal_name(exit_code)
    if crash is not None:
        return f"the engine crashed on this file ({crash}); it was stopped", VerdictError.ENGINE_CRASH
    return _memory_reason(limits), VerdictError.RESOURCE_LIMIT


def _limit_verdict(size: int, *, reason: str, code: VerdictError, version: str) -> Verdict:
    # The content hash is computed inside the worker; when the worker is stopped it is unknown.
    return Verdict(
        state=VerdictState.ERROR,
        reason=reason,
        error_code=code,
        sha256="",
        size=size,
        engine_version=version,
    )


# --- the owner's side ---

_KIND = WorkerKind(
    name="verifier worker",
    entry_module=__name__,
    max_reply_bytes=_MAX_REPLY_BYTES,
    unavailable=VerifierUnavailableError,
    closed=partial(VerifierClosedError, "this IsolatedVerifier was closed"),
    spawner_name="originmark-verifier-spawner",
)


class _Worker(Worker):
    """One verifier worker; ready once it has built its verifier with this server's verdict layout."""

    def __init__(
        self,
        spec: TrustPolicySpec,
        limits: VerifyLimits,
        remote_manifests: RemoteManifestPolicy,
        launched: Launched | None = None,
        *,
        shared_bytes: int = 0,
    ) -> None:
        # Made before the process gets its setup: a region that cannot be made fails the start.
        self.region = SharedRegion(shared_bytes, keep_bytes=_SHARED_KEEP_BYTES) if shared_bytes else None
        try:
            super().__init__(_KIND, (spec, limits, os.getpid(), remote_manifests, shared_bytes), launched=launched)
        except BaseException:
            if self.region is not None:
                self.region.close()
            raise
        if self.region is not None:
            try:
                self.region.send_to(self.connection)
            except OSError:
                pass  # it died at once; wait_ready reports how
        self.engine_version = ""  # what the worker verifies with, from its start-up reply

    def kill(self) -> None:
        super().kill()
        if self.region is not None:
            self.region.close()

    def wait_ready(self, timeout: float) -> None:
        kind, detail = self._startup_reply(timeout, _load_startup_reply)
        if kind == "bad_trust_policy":
            raise TrustPolicyError(str(detail))
        if kind != "ready":
            raise VerifierUnavailableError(f"a verifier worker could not start: {detail}")
        _pid, layout, version = detail
        self.engine_version = str(version)
        if layout != _wire_layout():
            raise VerifierUnavailableError(
                "a verifier worker runs different code than this server (originmark was upgraded in place "
                "since the server started); restart the server"
            )


class IsolatedVerifier:
    """A pool of verifier worker processes; `verify_file` is safe to call from many threads."""

    def __init__(
        self,
        *,
        policy: TrustPolicy | TrustPolicySpec,
        limits: VerifyLimits,
        workers: int,
        remote_manifests: RemoteManifestPolicy = NO_REMOTE_FETCH,
        launched: Sequence[Launched] = (),
        shared_bytes: int = 0,
    ) -> None:
        """`policy`: each worker builds it from its spec (a spec spares this process parsing the
        certificates; a certificate that does not parse is a TrustPolicyError here, at start-up).
        `remote_manifests`: hosts whose remote manifests the workers may fetch (default: none).
        `launched`: processes started earlier by verifier.warm_start, adopted as the first workers.
        `shared_bytes`: the largest upload `verify_bytes` takes (each worker maps a region of this
        size, read-only, on top of `limits.memory_bytes`); 0: none (a caller holding bytes writes a file)."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if shared_bytes < 0:
            raise ValueError(f"shared_bytes must not be negative, got {shared_bytes}")
        self._limits = limits
        self._shared_bytes = shared_bytes
        spec = policy if isinstance(policy, TrustPolicySpec) else policy.spec
        waiting = list(launched)

        def make_worker() -> _Worker:  # on the pool's spawner thread, one at a time
            return _Worker(
                spec, limits, remote_manifests, waiting.pop(0) if waiting else None, shared_bytes=shared_bytes
            )

        try:
            self._pool = WorkerPool(_KIND, make_worker, size=workers, job_timeout_seconds=limits.timeout_seconds)
        finally:
            for unused in waiting:  # more launched than workers, or the pool failed to start
                unused.discard()
        # For the verdicts this process makes itself (a file over the size limit, a time-out): the
        # workers' engine, which this process does not load.
        self._engine_version = self._pool.workers[0].engine_version

    def __enter__(self) -> IsolatedVerifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def limits(self) -> VerifyLimits:
        return self._limits

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of the current workers (for monitoring and tests)."""
        return self._pool.worker_pids

    def verify_file(self, path: Path, *, known_sha256: str | None = None) -> Verdict:
        """Verify one file in a worker; a bad file, a timeout or a crash is an `error` verdict.

        `known_sha256`: the file's SHA-256 when the caller has it already (see
        `Verifier.verify_stream`); the worker then does not hash the file again.
        """
        if known_sha256 is not None:
            check_digest(known_sha256)
        return self._checked_run(path, known_sha256, _VERIFY)

    @property
    def shared_bytes(self) -> int:
        """The largest upload `verify_bytes` takes (0: none)."""
        return self._shared_bytes

    def verify_bytes(self, chunks: Sequence[bytes], *, known_sha256: str | None = None) -> Verdict:
        """Verify an upload held in memory (`chunks`, in order) as `verify_file` verifies the same
        bytes in a file: written into the memory a worker shares with this process, read there by
        the engine; same limits, same verdicts, a timeout or a crash the same `error` verdict.
        ValueError when they add up to more than `shared_bytes` (write a file instead)."""
        size = sum(len(chunk) for chunk in chunks)
        if size > self._shared_bytes:
            raise ValueError(f"{size} bytes are over the {self._shared_bytes} a worker's shared region takes")
        if known_sha256 is not None:
            check_digest(known_sha256)
        if self._pool.closed:
            raise _KIND.closed()
        refused = self._refusal_of_size(size)
        if refused is not None:
            return refused
        with self._pool.checkout() as lease:
            exchange = self._pool.exchange(
                lease, (_VERIFY_SHARED, size, known_sha256), _load_verdict, before_send=partial(_write_input, chunks)
            )
            if exchange.outcome is Outcome.REPLIED and not lease.worker.alive:
                self._pool.renew(lease)  # it reported, then exited to start clean
            region = lease.worker.region
            if region is not None:
                region.trim()
        return self._verdict_of(exchange, lambda: size)

    def _checked_run(self, path: Path, known_sha256: str | None, operation: str) -> Verdict:
        if self._pool.closed:
            raise _KIND.closed()
        path = Path(os.path.abspath(path))  # a worker's working directory is the one it started in
        refused = self._refusal(path)
        if refused is not None:
            return refused
        with self._pool.checkout() as lease:
            return self._run(lease, path, known_sha256, operation)

    def _refusal(self, path: Path) -> Verdict | None:
        """The verdict on a file no worker needs to see (not a readable file, over the size limit)."""
        checked = precheck_file(path, engine_version=self._engine_version)
        if isinstance(checked, Verdict):
            return checked
        return self._refusal_of_size(checked)

    def _refusal_of_size(self, size: int) -> Verdict | None:
        """The verdict on bytes no worker needs to see: none, or more than the size limit."""
        if size == 0:
            return empty_verdict(engine_version=self._engine_version)
        if size > self._limits.max_asset_bytes:
            return Verdict(
                state=VerdictState.ERROR,
                reason=f"the file is {size} bytes, over the limit of {self._limits.max_asset_bytes} bytes; not verified",
                error_code=VerdictError.TOO_LARGE,
                sha256="",
                size=size,
                engine_version=self._engine_version,
            )
        return None

    @contextmanager
    def stream(self) -> Iterator[VerifyStream[Any]]:
        """A batch of files verified by every worker at once, two in flight per worker (`VerifyStream`).

        Holds all the workers until the block ends: other calls on this verifier wait for it (a
        batch that needs more of them per file, like recovery, sends those jobs through the
        stream too). Leaving the block with files in flight stops the workers on them.
        """
        if self._pool.closed:
            raise _KIND.closed()
        with Pipeline[_Worker, tuple[Any, Path, str], _PipeReply](
            self._pool, _load_verdict, depth=_STREAM_DEPTH
        ) as pipeline:
            yield VerifyStream(self, pipeline)

    def verify_manifest_store(self, path: Path) -> Verdict:
        """Validate a manifest store kept apart from its asset (a `.c2pa` file) in a worker: signature,
        trust and time-stamp as for any asset; the hard binding cannot match and does not decide
        the state (verifier/reader.py, `detached_store`)."""
        return self._checked_run(path, None, _VERIFY_STORE)

    def fingerprint_file(self, path: Path) -> ImageFingerprint | None:
        """The content fingerprint of an image, computed in a worker under its memory and time limits;
        None when it cannot be (not an image Pillow decodes, over a limit, a worker that died)."""
        reply = self._ask(path, _FINGERPRINT, _load_fingerprint)
        return None if isinstance(reply, str) else reply

    def manifest_store_of(self, path: Path) -> EmbeddedStore | None:
        """The manifest store embedded in an asset (JPEG, PNG, BMFF), cut out and read by the engine in
        a worker (verifier/embedded_store.py); None when there is none it reads, or the worker failed."""
        return self._ask(path, _STORE_OF, _load_embedded_store)

    def fingerprint_video_file(self, path: Path) -> VideoFingerprint | None:
        """A video's key frames (ISCC Image-Codes and descriptors, in time order), computed in a worker
        under its memory and time limits; None when they cannot be (not a video FFmpeg decodes within
        verifier/video_fingerprint.py's bounds, over a limit, a worker that died)."""
        reply = self._ask(path, _VIDEO_FINGERPRINT, _load_video_fingerprint)
        return None if isinstance(reply, str) else reply

    def video_code_file(self, path: Path) -> VideoCode | None:
        """A video's ISCC Video-Code (of at most its first 60 s), computed in a worker under its memory and
        time limits (FFmpeg a child of it, bounded too: verifier/video_code.py); None when it cannot be."""
        reply = self._ask(path, _VIDEO_CODE, _load_video_code)
        return None if isinstance(reply, str) else reply

    def thumbnail_of(self, path: Path) -> Picture | str:
        """A feed thumbnail's picture made from an image or a video in a worker, under its memory and
        time limits (verifier/thumbnail.py); or why there is none (a format it does not read, over a
        bound, a worker that timed out or died)."""
        reply = self._ask(path, _THUMBNAIL, _load_thumbnail)
        return "the verifier worker timed out or died making it" if reply is None else reply

    def close(self) -> None:
        """Stop every worker; waits for calls in flight up to their time limit. Idempotent."""
        self._pool.close()

    # --- internals ---

    def _ask(self, path: Path, operation: str, load: Callable[[bytes], _Reply]) -> _Reply | None:
        """A job other than a verification: its reply, or None when the worker timed out or died."""
        if self._pool.closed:
            raise _KIND.closed()
        path = Path(os.path.abspath(path))
        with self._pool.checkout() as lease:
            exchange = self._pool.exchange(lease, (operation, str(path), None), load)
            if exchange.outcome is Outcome.REPLIED and not lease.worker.alive:
                self._pool.renew(lease)
        return exchange.reply if exchange.outcome is Outcome.REPLIED else None

    def _run(self, lease: Lease[_Worker], path: Path, known_sha256: str | None, operation: str) -> Verdict:
        exchange = self._pool.exchange(lease, (operation, str(path), known_sha256), _load_verdict)
        if exchange.outcome is Outcome.REPLIED and not lease.worker.alive:
            self._pool.renew(lease)  # it reported, then exited to start clean
        return self._verdict_of(exchange, partial(_size_of, path))

    def _verdict_of(self, exchange: Exchange[Verdict], size: Callable[[], int]) -> Verdict:
        """The worker's verdict, or the `error` verdict for a time-out or a death on the file (`size`
        asked only then: a verdict that came back costs no stat of the file)."""
        if exchange.outcome is Outcome.TIMED_OUT:
            return self._error(
                size(),
                f"verification took longer than {self._limits.timeout_seconds:g} s (the time limit per "
                "file) and was stopped; the file may be crafted to exhaust the verifier",
                VerdictError.RESOURCE_LIMIT,
            )
        if exchange.outcome is Outcome.DIED:
            return self._error(size(), *_death_verdict_parts(exchange.exit_code, self._limits))
        assert exchange.reply is not None  # REPLIED carries the reply
        return exchange.reply

    def _error(self, size: int, reason: str, code: VerdictError) -> Verdict:
        return _limit_verdict(size, reason=reason, code=code, version=self._engine_version)


def _write_input(chunks: Sequence[bytes], worker: _Worker) -> None:
    """An upload into the shared region of the worker about to verify it (each time the job is sent)."""
    assert worker.region is not None  # verify_bytes is called only for a pool with regions
    worker.region.write(chunks)


# Files in flight per worker in a batch: the one it works on and the next, waiting in its socket.
# More would only queue more files behind a slow one.
_STREAM_DEPTH = 2


# What a batch's job answers: a Verdict (a file, a kept store), a fingerprint, or None (not fingerprinted).
StreamReply: TypeAlias = "Verdict | ImageFingerprint | VideoFingerprint | VideoCode | None"


class VerifyStream(Generic[_Tag]):
    """A batch in progress (`IsolatedVerifier.stream()`): `submit` files with a tag each while
    `has_room`, `wait` for verdicts as they come (tagged; not in submission order).

    Every file gets a verdict, as from `verify_file`: one refused before any worker sees it
    (not a file, over the size limit) comes back from the next `wait` at once. The other jobs
    (`submit_fingerprint`, `submit_video_fingerprint`, `submit_video_code`, `submit_store`: what
    recovery asks for) answer as `fingerprint_file`, `fingerprint_video_file`, `video_code_file` and
    `verify_manifest_store` do.
    """

    def __init__(
        self, verifier: IsolatedVerifier, pipeline: Pipeline[_Worker, tuple[_Tag, Path, str], _PipeReply]
    ) -> None:
        self._verifier = verifier
        self._pipeline = pipeline
        self._refused: list[tuple[_Tag, Verdict]] = []

    def has_room(self) -> bool:
        return self._pipeline.has_room()

    @property
    def pending(self) -> int:
        """Jobs submitted whose answer `wait` has not returned yet."""
        return self._pipeline.in_flight + len(self._refused)

    def submit(self, tag: _Tag, path: Path) -> None:
        """Queue `path` for a worker to verify (call only when `has_room`)."""
        self._submit_checked(tag, path, _VERIFY)

    def submit_store(self, tag: _Tag, path: Path) -> None:
        """Queue a manifest store kept apart from its asset for validation (`verify_manifest_store`)."""
        self._submit_checked(tag, path, _VERIFY_STORE)

    def submit_fingerprint(self, tag: _Tag, path: Path) -> None:
        """Queue an image to fingerprint (`fingerprint_file`)."""
        self._submit(tag, Path(os.path.abspath(path)), _FINGERPRINT, _load_fingerprint)

    def submit_video_fingerprint(self, tag: _Tag, path: Path) -> None:
        """Queue a video whose key frames to fingerprint (`fingerprint_video_file`)."""
        self._submit(tag, Path(os.path.abspath(path)), _VIDEO_FINGERPRINT, _load_video_fingerprint)

    def submit_video_code(self, tag: _Tag, path: Path) -> None:
        """Queue a video whose ISCC Video-Code to compute (`video_code_file`)."""
        self._submit(tag, Path(os.path.abspath(path)), _VIDEO_CODE, _load_video_code)

    def _submit_checked(self, tag: _Tag, path: Path, operation: str) -> None:
        """A job whose answer is a Verdict: refused before any worker sees it, or queued."""
        path = Path(os.path.abspath(path))  # a worker's working directory is the one it started in
        refused = self._verifier._refusal(path)
        if refused is not None:
            self._refused.append((tag, refused))
            return
        self._submit(tag, path, operation, None)

    def _submit(self, tag: _Tag, path: Path, operation: str, load: Callable[[bytes], _PipeReply] | None) -> None:
        self._pipeline.submit((tag, path, operation), (operation, str(path), None), load)

    def wait(self) -> list[tuple[_Tag, StreamReply]]:
        """The next answers (at least one; [] when nothing is pending)."""
        if self._refused:
            refused, self._refused = self._refused, []
            return list(refused)
        return [
            (tag, self._answer(exchange, path, operation)) for (tag, path, operation), exchange in self._pipeline.wait()
        ]

    def _answer(self, exchange: Exchange[_PipeReply], path: Path, operation: str) -> StreamReply:
        if operation in (_VERIFY, _VERIFY_STORE):
            return self._verifier._verdict_of(cast("Exchange[Verdict]", exchange), partial(_size_of, path))
        # A fingerprint: None when it could not be made (the worker's reason, a time-out, a death).
        reply = exchange.reply if exchange.outcome is Outcome.REPLIED else None
        return None if isinstance(reply, str) else reply
