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
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.store.repository import ISCC_ALG, Candidate
from app.usecases.content_match import content_matches
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
        if verdict.state not in RECOVERABLE_STATES:
            return None
        pictures: Sequence[ImageFingerprint]
        video = None
        if verdict.format in _FINGERPRINTED_MEDIA_TYPES:
            fingerprint = self._verifier.fingerprint_file(path)
            pictures = () if fingerprint is None else (fingerprint,)
        elif verdict.format in _FINGERPRINTED_VIDEO_TYPES:
            video = self._verifier.fingerprint_video_file(path)
            pictures = () if video is None else [frame.fingerprint for frame in video.key_frames]
        else:
            return None
        matches = self._matches(pictures, tenant)
        if not matches and video is not None:
            matches = self._video_code_matches(path, pictures, tenant)
        for scored in matches[:MAX_VALIDATIONS]:
            found = self._validated(scored, tenant)
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
        self, path: Path, key_frames: Sequence[ImageFingerprint], tenant: str | None
    ) -> list[_Scored]:
        """Entries whose Video-Code is near the upload's and whose kept key frames pass the second check
        against its key frames (app/usecases/video_code_match.py); asked only when the key frames
        found nothing, as the Video-Code decodes every frame analysed."""
        code = self._verifier.video_code_file(path)
        if code is None:
            return []
        found = video_code_matches(self._keeper.repository, code, key_frames, tenant)
        return [
            _Scored(candidate=match.candidate, similarity=match.similarity)
            for match in found
            if match.similarity is not None
        ]

    def _validated(self, scored: _Scored, tenant: str | None) -> Recovery | None:
        candidate = scored.candidate
        entry = self._keeper.repository.entry_by_manifest_id(tenant, candidate.manifest_id)
        # The entry visible under this id must be the candidate itself (a tenant's own entry with the
        # same id would come first): another entry's store is not what matched.
        if entry is None or entry.tenant != candidate.tenant or entry.asset_sha256 != candidate.asset_sha256:
            return None
        try:
            store = self._keeper.manifest_store(entry)
        except KeptStoreMissing:
            return None
        checked = self._validate_store(store)
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

    def _validate_store(self, store: bytes) -> Verdict:
        """The engine's verdict on a kept store, read from a spool file by a verifier worker (spool_dir
        None: the system's temporary folder)."""
        descriptor, name = tempfile.mkstemp(prefix="recovered-", suffix=".c2pa", dir=self._spool_dir)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(store)
            return self._verifier.verify_manifest_store(Path(name))
        finally:
            os.unlink(name)
