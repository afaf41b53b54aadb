"""Recovery on verify: the credentials of a file that has no valid ones of its own, found again by
content in the manifest repository (docs/soft-bindings.md, docs/manifest-repository.md).

Rules:
- only a file whose own verdict is `none` (no credentials) or `invalid` (credentials present but
  broken: a platform re-encoded the pixels and kept the old manifest, or an edit) is looked up.
  `trusted` and `valid` files are never "recovered"; neither is an `error` verdict (the engine
  could not evaluate the file: it may carry credentials that are fine, a remote manifest say);
- the file is fingerprinted in an isolated verifier worker (an upload is untrusted: the decoder's
  memory and time stay under the worker's limits); an image as a whole, a video (MP4, MOV, AVI)
  by its key frames (verifier/video_fingerprint.py, as at signing); neither, or undecodable: no
  recovery;
- candidates are the entries the caller may see (its own, and the public signed credentials;
  the public page sees only those) within `search_radius` bits of the code or of a view's code
  (the mirrored image; the index-only centre crops kept at signing; a video: any of its key
  frames' codes); each must pass the second check (descriptor similarity at least `threshold`,
  against the descriptor kept with that row: a signed video keeps one per key frame), best first,
  an entry once (app/usecases/content_match.py);
- a video whose key frames found nothing is looked up by its ISCC Video-Code too, computed in a
  worker: entries whose Video-Code is near, each confirmed by its kept key frames' descriptors
  against the upload's (app/usecases/video_code_match.py);
- the kept manifest store of the best candidates (at most MAX_VALIDATIONS) is validated again by
  the engine, under the same trust policy, as a store apart from its asset: signature, trust,
  time-stamp; its hard binding cannot match these bytes, and `Recovered.reason` says so. A store
  that does not validate as trusted or valid is not used (the next candidate is tried);
- nothing here is cached: a recovery depends on the repository as it is now (a takedown stops it
  at once) and on who asks (visibility), so it is looked up on every verification.

The rule is written once, as `ContentRecovery.steps`: a generator that asks for each engine call it
needs (a `RecoveryStep`: fingerprint an image or a video, validate a kept store) and is sent the
answer, while the repository lookups run in the caller's process. `recover` answers the steps one
by one with a verifier (the service, jobs, the public page); `originmark verify --recover` answers
them through the verifier's streaming pool, many files' steps in flight at once.
"""

from __future__ import annotations

import enum
import os
import tempfile
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from app.store.repository import ISCC_ALG, Candidate
from app.usecases.content_match import candidate_entry, content_matches
from app.usecases.manifest_repository import KeptStoreMissing, ManifestKeeper
from app.usecases.video_code_match import video_code_matches
from verifier.label import recovered_label
from verifier.label_types import Label
from verifier.verdict import Recovered, Verdict, VerdictState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from verifier.fingerprint import ImageFingerprint
    from verifier.video_code import VideoCode
    from verifier.video_fingerprint import VideoFingerprint

RECOVERABLE_STATES = frozenset({VerdictState.NONE, VerdictState.INVALID})
MAX_VALIDATIONS = 3  # kept stores validated per lookup at most: each is an engine call
# What the fingerprint decodes (verifier/fingerprint.py: Pillow); other media are not looked up.
_FINGERPRINTED_MEDIA_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/avif"}
)
# Videos whose key frames are fingerprinted (verifier/video_fingerprint.py; signer.formats.FINGERPRINTED_VIDEO_FORMATS).
_FINGERPRINTED_VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/x-msvideo"})
_REASON = (
    "credentials found by content match: this file carries no valid credentials of its own; its pixels "
    "(a video's: its key frames) match those of the asset the recovered manifest was signed into "
    "(matched_sha256), whose hard binding cannot match this file, so they do not show that this file "
    "is unchanged"
)


class RecoveryVerifier(Protocol):
    """What recovery needs of the verifier (verifier.isolation.IsolatedVerifier)."""

    def fingerprint_file(self, path: Path) -> ImageFingerprint | None: ...

    def fingerprint_video_file(self, path: Path) -> VideoFingerprint | None: ...

    def video_code_file(self, path: Path) -> VideoCode | None: ...

    def verify_manifest_store(self, path: Path) -> Verdict: ...


_Tag = TypeVar("_Tag", contravariant=True)
_T = TypeVar("_T")


class RecoveryStream(Protocol[_Tag]):
    """What recovery needs of a batch in progress (verifier.isolation.VerifyStream): the same jobs,
    queued with a tag; their answers come back with it, in whatever order they finish."""

    def submit_fingerprint(self, tag: _Tag, path: Path) -> None: ...

    def submit_video_fingerprint(self, tag: _Tag, path: Path) -> None: ...

    def submit_video_code(self, tag: _Tag, path: Path) -> None: ...

    def submit_store(self, tag: _Tag, path: Path) -> None: ...


class StepKind(enum.Enum):
    """An engine call recovery needs. Its answer: an ImageFingerprint (or None: cannot be made); a
    VideoFingerprint, the key frames (or None); a video's VideoCode (or None); the engine's Verdict
    on a kept manifest store, written to a file for the time of the step."""

    FINGERPRINT_IMAGE = "fingerprint_image"
    FINGERPRINT_VIDEO = "fingerprint_video"
    VIDEO_CODE = "video_code"
    VALIDATE_STORE = "validate_store"


@dataclass(frozen=True, slots=True)
class RecoveryStep:
    kind: StepKind
    path: Path

    def run(self, verifier: RecoveryVerifier) -> object:
        """The answer, from a verifier's single call."""
        match self.kind:
            case StepKind.FINGERPRINT_IMAGE:
                return verifier.fingerprint_file(self.path)
            case StepKind.FINGERPRINT_VIDEO:
                return verifier.fingerprint_video_file(self.path)
            case StepKind.VIDEO_CODE:
                return verifier.video_code_file(self.path)
            case StepKind.VALIDATE_STORE:
                return verifier.verify_manifest_store(self.path)

    def submit(self, stream: RecoveryStream[_T], tag: _T) -> None:
        """Queue it in a batch; its answer comes back with `tag`."""
        match self.kind:
            case StepKind.FINGERPRINT_IMAGE:
                stream.submit_fingerprint(tag, self.path)
            case StepKind.FINGERPRINT_VIDEO:
                stream.submit_video_fingerprint(tag, self.path)
            case StepKind.VIDEO_CODE:
                stream.submit_video_code(tag, self.path)
            case StepKind.VALIDATE_STORE:
                stream.submit_store(tag, self.path)


# Yields the engine calls it needs, is sent each one's answer, returns what was recovered (or None).
RecoverySteps = Generator[RecoveryStep, object, "Recovery | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovery:
    recovered: Recovered
    label: Label  # the recovered manifest's kind, marked recovered


@dataclass(frozen=True, slots=True, kw_only=True)
class _Scored:
    candidate: Candidate
    similarity: float


def _rank(scored: _Scored) -> tuple[float, int, float]:
    return (-scored.similarity, scored.candidate.distance, -scored.candidate.created_at.timestamp())


class ContentRecovery:
    """Looks files up by content; thread-safe (holds immutable parts and thread-safe ones)."""

    def __init__(
        self,
        *,
        keeper: ManifestKeeper,
        verifier: RecoveryVerifier,
        spool_dir: Path | None,
        search_radius: int | None = None,
        threshold: float | None = None,
    ) -> None:
        from verifier.fingerprint import DESCRIPTOR_THRESHOLD, SEARCH_RADIUS

        self._keeper = keeper
        self._verifier = verifier
        self._spool_dir = spool_dir
        self._radius = SEARCH_RADIUS if search_radius is None else search_radius
        self._threshold = DESCRIPTOR_THRESHOLD if threshold is None else threshold

    @staticmethod
    def reads_file_for(verdict: Verdict) -> bool:
        """Whether `recover` reads the file for this verdict (a fingerprint to look up): it answers
        None without reading it otherwise, so an upload held in memory need not be written out."""
        return verdict.state in RECOVERABLE_STATES and (
            verdict.format in _FINGERPRINTED_MEDIA_TYPES or verdict.format in _FINGERPRINTED_VIDEO_TYPES
        )

    def recover(self, *, tenant: str | None, path: Path, verdict: Verdict) -> Recovery | None:
        """The credentials found for the file at `path` (whose own verdict is `verdict`), as `tenant`
        may see them (None: the public page, public entries only); None when there are none."""
        answer: object = None
        # closing(): a step that raises leaves the steps suspended at it; closed now, a kept store's
        # spool file is removed at once, not when the exception (and its frames) are let go.
        with closing(self.steps(tenant=tenant, path=path, verdict=verdict)) as steps:
            try:
                while True:
                    answer = steps.send(answer).run(self._verifier)
            except StopIteration as done:
                return cast("Recovery | None", done.value)

    def steps(self, *, tenant: str | None, path: Path, verdict: Verdict) -> RecoverySteps:
        """`recover` as steps: send None first, then each step's answer (see the module's docstring)."""
        if verdict.state not in RECOVERABLE_STATES:
            return None
        pictures: Sequence[ImageFingerprint]
        video = None
        if verdict.format in _FINGERPRINTED_MEDIA_TYPES:
            fingerprint = cast("ImageFingerprint | None", (yield RecoveryStep(StepKind.FINGERPRINT_IMAGE, path)))
            pictures = () if fingerprint is None else (fingerprint,)
        elif verdict.format in _FINGERPRINTED_VIDEO_TYPES:
            video = cast("VideoFingerprint | None", (yield RecoveryStep(StepKind.FINGERPRINT_VIDEO, path)))
            pictures = () if video is None else [frame.fingerprint for frame in video.key_frames]
        else:
            return None
        matches = self._matches(pictures, tenant)
        if not matches and video is not None:
            # Asked only when the key frames found nothing: the Video-Code decodes every frame analysed.
            code = cast("VideoCode | None", (yield RecoveryStep(StepKind.VIDEO_CODE, path)))
            matches = [] if code is None else self._video_code_matches(code, pictures, tenant)
        for scored in matches[:MAX_VALIDATIONS]:
            store = self._kept_store(scored, tenant)
            if store is None:
                continue
            # The engine reads the kept store from a spool file (spool_dir None: the system's
            # temporary folder), removed once it has answered.
            descriptor, name = tempfile.mkstemp(prefix="recovered-", suffix=".c2pa", dir=self._spool_dir)
            try:
                with os.fdopen(descriptor, "wb") as out:
                    out.write(store)
                checked = cast(Verdict, (yield RecoveryStep(StepKind.VALIDATE_STORE, Path(name))))
            finally:
                os.unlink(name)
            found = self._accepted(scored, checked)
            if found is not None:
                return found
        return None

    def _matches(self, pictures: Sequence[ImageFingerprint], tenant: str | None) -> list[_Scored]:
        """Entries with a row that passes the second check against one of the pictures (an image with
        its views, or a video's key frames: app/usecases/content_match.py), each once at its best,
        most similar first (then nearest, then newest); one kept without a descriptor cannot pass it."""
        best: dict[tuple[str, str], _Scored] = {}
        for picture in pictures:
            found = content_matches(
                self._keeper.repository, picture, tenant, radius=self._radius, threshold=self._threshold
            )
            for match in found:
                if match.similarity is None:
                    continue
                scored = _Scored(candidate=match.candidate, similarity=match.similarity)
                key = (match.candidate.tenant, match.candidate.manifest_id)
                if key not in best or _rank(scored) < _rank(best[key]):
                    best[key] = scored
        return sorted(best.values(), key=_rank)

    def _video_code_matches(
        self, code: VideoCode, key_frames: Sequence[ImageFingerprint], tenant: str | None
    ) -> list[_Scored]:
        """Entries whose Video-Code is near the upload's and whose kept key frames pass the second check
        against its key frames (app/usecases/video_code_match.py)."""
        found = video_code_matches(self._keeper.repository, code, key_frames, tenant)
        return [
            _Scored(candidate=match.candidate, similarity=match.similarity)
            for match in found
            if match.similarity is not None
        ]

    def _kept_store(self, scored: _Scored, tenant: str | None) -> bytes | None:
        """The kept manifest store of the candidate, if the entry `tenant` sees under its id is the
        candidate itself (a tenant's own entry with the same id would come first: another entry's
        store is not what matched) and its store is still kept."""
        entry = candidate_entry(self._keeper.repository, scored.candidate, tenant)
        if entry is None:
            return None
        try:
            return self._keeper.manifest_store(entry)
        except KeptStoreMissing:
            return None

    @staticmethod
    def _accepted(scored: _Scored, checked: Verdict) -> Recovery | None:
        """The recovery the engine's verdict on the candidate's kept store allows, if any."""
        candidate = scored.candidate
        label = recovered_label(checked, candidate.manifest_id)
        active = checked.manifests[0].label if checked.manifests else None
        if label is None or active != candidate.manifest_id:
            return None  # an invalid recovered manifest is not used for a label
        signed_at = checked.time_stamp.time if checked.time_stamp is not None else checked.signed_at
        recovered = Recovered(
            manifest_id=candidate.manifest_id,
            similarity=round(scored.similarity, 4),
            alg=ISCC_ALG,
            matched_sha256=candidate.asset_sha256,
            signed_at=signed_at or candidate.created_at,
            distance=candidate.distance,
            state=checked.state,
            trust_list=checked.trust_list,
            signer=checked.signer,
            digital_source_types=checked.digital_source_types,
            reason=_REASON,
        )
        return Recovery(recovered=recovered, label=label)
