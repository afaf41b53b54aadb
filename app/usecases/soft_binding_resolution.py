"""The C2PA Soft Binding Resolution API's answers (C2PA 2.2, "Soft Binding Resolution API"): which
kept manifests match a soft binding value or an asset's content, and a kept manifest store by id.

Rules (app/api/routes/sbr.py serves them under /sbr/v1; the CLI's `sbr query` is a client of any
such endpoint):
- a query acts for a `Viewer`: a tenant through its API key sees what the repository shows that
  tenant (its own entries and every tenant's shared ones, visibility in the query itself); a public
  reader (no key, the tenant named) sees only what that tenant publishes: its shared entries;
- by content: the image is fingerprinted (verifier/fingerprint.py, bounded in pixels and decode
  scale) and looked up like recovery on verify (app/usecases/content_match.py): candidates within
  SEARCH_RADIUS bits of its code or its mirrored image's, the index-only centre crops kept at
  signing included, then the descriptor check (at least DESCRIPTOR_THRESHOLD). similarityScore is
  the descriptor similarity x 100, rounded down (92..100 for anything reported);
- by content, a video: its key frames (verifier/video_fingerprint.py, computed in an isolated
  verifier worker) are each looked up as an image is, code then descriptor (a signed video keeps a
  descriptor with each key frame's binding; one kept without is held to the binding-only rule),
  and the matches merged per manifest, best score kept; when they find nothing, its ISCC
  Video-Code (computed in a worker too) finds the entries whose Video-Code is near, each confirmed
  by its kept key frames against the upload's (app/usecases/video_code_match.py);
- by binding: only the code is known, not the descriptor, so the second check cannot run; only
  the manifests' own bindings are searched (never the index-only view rows), and the radius is
  stricter instead, BINDING_ONLY_RADIUS (chosen from measured distributions: see its
  comment). similarityScore is 100 x (1 - distance / 64), rounded down (93..100). An entry kept
  without a descriptor is held to the same rule in a lookup by content. A video's Video-Code (the
  first block of its assertion) is searched in the Video-Code key space of the index within
  VIDEO_CODE_BINDING_ONLY_RADIUS (app/usecases/video_code_match.py), score as above;
- several entries with one manifest id (tenants that kept the same store) are one match;
- a manifest id that is unknown or not visible reads the same (`ManifestNotFound`);
- public reading (no key) is open for a tenant the operator opened: its `sbr_public` column
  (`originmark tenants update NAME --sbr-public`, migration 0011), or, deprecated, its name in
  ORIGINMARK_SBR_PUBLIC_TENANTS (still honoured, so a server upgraded without touching its
  configuration keeps serving what it served; the service warns at start while it is set).
  Unknown names are never open (the setting cannot open a tenant that does not exist).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.store.interface import Tenant
from app.store.iscc_units import iscc_image_code64, iscc_video_unit
from app.store.repository import ISCC_ALG, MAX_CANDIDATES, MAX_MANIFEST_ID_LENGTH, Candidate, RepositoryEntry
from app.usecases.content_match import ContentMatch, content_matches
from app.usecases.errors import (
    MalformedBindingValue,
    ManifestNotFound,
    ManifestStoreUnavailable,
    UndecodableContent,
    UnsupportedAlgorithm,
)
from app.usecases.manifest_repository import KeptStoreMissing, ManifestKeeper
from app.usecases.video_code_match import VIDEO_CODE_BINDING_ONLY_RADIUS, video_code_candidates, video_code_matches
from signer.jumbf import active_manifest_store
from verifier.fingerprint import DESCRIPTOR_THRESHOLD, SEARCH_RADIUS, ImageFingerprint

if TYPE_CHECKING:
    from verifier.video_code import VideoCode
    from verifier.video_fingerprint import VideoFingerprint

# The radius of a lookup by binding value alone (no descriptor to check candidates with). Measured
# over the soft-binding bench's 511 distinct originals (docs/soft-bindings.md, "Querying"): none
# of the 130,305 unrelated pairs lies within 6 bits (the nearest is 7 bits apart; 5 pairs within
# 10, 3.8e-5), while 0.97-0.98 of the re-encoded copies (JPEG q90-q50, WebP) lie within 4 bits
# (0.98-0.99 within 10). 4 keeps a margin of 3 bits below the nearest unrelated pair; 10, the
# content search's radius, would report ~38 wrong manifests per query at 1 M entries unchecked.
BINDING_ONLY_RADIUS = 4
MAX_RESULTS = MAX_CANDIDATES  # the most matches one query answers (maxResults is capped here)
DEFAULT_RESULTS = 10  # the API's default maxResults
MAX_BINDING_VALUE_CHARS = 4096  # base64 text of a binding value: an ISCC-256 unit is 46 characters


class AlgorithmKind(enum.StrEnum):
    FINGERPRINT = "fingerprints"
    WATERMARK = "watermarks"


# What this service resolves, as GET /services/supportedAlgorithms lists it.
SUPPORTED_ALGORITHMS: dict[AlgorithmKind, tuple[str, ...]] = {
    AlgorithmKind.WATERMARK: (),
    AlgorithmKind.FINGERPRINT: (ISCC_ALG,),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Viewer:
    """Who a query is for: `tenant` through its key, or (`public`) anyone reading what `tenant` publishes."""

    tenant: str
    public: bool


def open_to_public_reading(tenant: Tenant | None, *, deprecated_names: frozenset[str] = frozenset()) -> bool:
    """Whether /sbr/v1 serves `tenant`'s shared entries without an API key (None: no such tenant)."""
    return tenant is not None and (tenant.sbr_public or tenant.name in deprecated_names)


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    manifest_id: str
    similarity_score: int  # 0..100, 100 the strongest


def check_algorithm(alg: str | None) -> str:
    """The algorithm of a query (None: this service's one fingerprint); UnsupportedAlgorithm otherwise."""
    if alg is None or alg == ISCC_ALG:
        return ISCC_ALG
    supported = ", ".join(name for names in SUPPORTED_ALGORITHMS.values() for name in names)
    raise UnsupportedAlgorithm(f"the algorithm {alg[:64]!r} is not resolved here; supported: {supported}")


def bounded_results(max_results: int | None) -> int:
    return DEFAULT_RESULTS if max_results is None else max(1, min(max_results, MAX_RESULTS))


def binding_code(value: str) -> int | bytes:
    """The 64-bit code of an io.iscc.v0 Image-Code binding value as the API takes it (base64 of the ISCC
    unit in binary, or the canonical text `ISCC:...`, as some clients send it), or the unit in binary
    of a Video-Code (app/usecases/video_code_match.py searches it); MalformedBindingValue otherwise."""
    text = value.strip()
    if len(text) > MAX_BINDING_VALUE_CHARS:
        raise MalformedBindingValue(f"a binding value is at most {MAX_BINDING_VALUE_CHARS} characters")
    if text.startswith("ISCC:"):
        raw = text.encode("ascii", "replace")
    else:
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedBindingValue(
                "the binding value is not base64 (an io.iscc.v0 value is the base64 of an ISCC unit)"
            ) from None
    code64 = iscc_image_code64(raw)
    if code64 is not None:
        return code64
    video = iscc_video_unit(raw)
    if video is None:
        raise MalformedBindingValue(
            "the binding value is not an ISCC Image-Code or Video-Code unit (2-byte header 0x21.. or "
            "0x23.., then 64 to 256 bits)"
        )
    return video


class ContentFingerprinter(Protocol):
    """Fingerprints an uploaded asset where decoding it is bounded (verifier.isolation.IsolatedVerifier:
    a worker process under its memory and time limits, never the server process)."""

    def fingerprint_file(self, path: Path) -> ImageFingerprint | None: ...

    def fingerprint_video_file(self, path: Path) -> VideoFingerprint | None: ...

    def video_code_file(self, path: Path) -> VideoCode | None: ...


class SoftBindingResolution:
    """Answers the Soft Binding Resolution API's queries from the manifest repository; thread-safe."""

    def __init__(self, *, keeper: ManifestKeeper, fingerprinter: ContentFingerprinter) -> None:
        self._keeper = keeper
        self._fingerprinter = fingerprinter
        self._repository = keeper.repository

    def by_binding(self, viewer: Viewer, *, alg: str, value: str, max_results: int | None = None) -> list[Match]:
        check_algorithm(alg)
        code = binding_code(value)
        if isinstance(code, bytes):  # a Video-Code: its own key space, no key frames to check candidates with
            found = video_code_candidates(self._repository, code, viewer.tenant, radius=VIDEO_CODE_BINDING_ONLY_RADIUS)
        else:
            found = self._repository.candidates_near(code, BINDING_ONLY_RADIUS, viewer.tenant)
        matches: dict[str, Match] = {}
        for candidate in self._visible(viewer, found):
            _keep_best(
                matches, Match(manifest_id=candidate.manifest_id, similarity_score=_distance_score(candidate.distance))
            )
        return _ranked(matches, bounded_results(max_results))

    def by_content(
        self, viewer: Viewer, pictures: Sequence[ImageFingerprint], *, max_results: int | None = None
    ) -> list[Match]:
        """Manifests matching any of the pictures (an image, or a video's key frames): code, then the
        second check; one match per manifest, its best score."""
        matches: dict[str, Match] = {}
        for picture in pictures:
            found = content_matches(
                self._repository, picture, viewer.tenant, radius=SEARCH_RADIUS, threshold=DESCRIPTOR_THRESHOLD
            )
            self._keep_visible(viewer, matches, found)
        return _ranked(matches, bounded_results(max_results))

    def by_asset(self, viewer: Viewer, path: Path, *, video: bool, max_results: int | None = None) -> list[Match]:
        """The matches of an uploaded asset (a spooled file): an image by its fingerprint and the second
        check, a video by its key frames' (the same two checks); UndecodableContent when it cannot be
        fingerprinted."""
        if video:
            fingerprint = self._fingerprinter.fingerprint_video_file(path)
            if fingerprint is None:
                raise UndecodableContent(
                    "the video cannot be fingerprinted: not a video whose key frames FFmpeg decodes within the bounds"
                )
            pictures = [frame.fingerprint for frame in fingerprint.key_frames]
            found = self.by_content(viewer, pictures, max_results=max_results)
            return found or self._by_video_code(viewer, path, pictures, max_results=max_results)
        image = self._fingerprinter.fingerprint_file(path)
        if image is None:
            raise UndecodableContent(
                "the asset cannot be fingerprinted: not an image this service decodes, or over its size or time limits"
            )
        return self.by_content(viewer, (image,), max_results=max_results)

    def _by_video_code(
        self, viewer: Viewer, path: Path, key_frames: Sequence[ImageFingerprint], *, max_results: int | None
    ) -> list[Match]:
        """A video whose key frames found nothing: by its Video-Code, each candidate confirmed by its kept
        key frames (app/usecases/video_code_match.py); none when the Video-Code cannot be computed."""
        code = self._fingerprinter.video_code_file(path)
        if code is None:
            return []
        matches: dict[str, Match] = {}
        self._keep_visible(viewer, matches, video_code_matches(self._repository, code, key_frames, viewer.tenant))
        return _ranked(matches, bounded_results(max_results))

    def _keep_visible(self, viewer: Viewer, matches: dict[str, Match], found: list[ContentMatch]) -> None:
        """Each match the viewer may see that scores, into `matches` (a manifest's best score kept)."""
        visible = {id(candidate) for candidate in self._visible(viewer, [match.candidate for match in found])}
        for match in found:
            score = _content_score(match)
            if score is not None and id(match.candidate) in visible:
                _keep_best(matches, Match(manifest_id=match.candidate.manifest_id, similarity_score=score))

    def manifest_store(self, viewer: Viewer, manifest_id: str, *, active_only: bool = False) -> bytes:
        """The kept manifest store (or only its active manifest, as a store of one); ManifestNotFound."""
        entry = self._visible_entry(viewer, manifest_id)
        if entry is None:
            raise ManifestNotFound(f"no manifest {manifest_id[:MAX_MANIFEST_ID_LENGTH]!r} is known here")
        try:
            store = self._keeper.manifest_store(entry)
        except KeptStoreMissing as error:
            raise ManifestStoreUnavailable(str(error)) from None
        if not active_only:
            return store
        active = active_manifest_store(store)
        if active is None:
            raise ManifestStoreUnavailable(f"the kept manifest store of {entry.manifest_id} is not a JUMBF store")
        return active

    def _visible_entry(self, viewer: Viewer, manifest_id: str) -> RepositoryEntry | None:
        entry = self._repository.entry_by_manifest_id(viewer.tenant, manifest_id)
        if entry is None or (viewer.public and not (entry.tenant == viewer.tenant and _published(entry))):
            return None
        return entry

    def _visible(self, viewer: Viewer, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates the viewer may see (the query has applied the tenant's visibility already)."""
        if not viewer.public:
            return candidates
        # A public reader sees what the tenant publishes: its own entries that are shared. The
        # candidate row does not say `private`, the entry does (few: the search answers at most 100).
        return [
            candidate
            for candidate in candidates
            if candidate.tenant == viewer.tenant and self._visible_entry(viewer, candidate.manifest_id) is not None
        ]


def _published(entry: RepositoryEntry) -> bool:
    from app.store.repository import EntryOrigin

    return entry.origin is EntryOrigin.SIGNED and not entry.private


def _distance_score(distance: int) -> int:
    return max(0, 100 * (64 - distance) // 64)


def _content_score(match: ContentMatch) -> int | None:
    """The score of a match by content (it passed the second check); a candidate kept without a
    descriptor is held to the binding-only rule instead (None: it fails it)."""
    if match.similarity is None:
        distance = match.candidate.distance
        return _distance_score(distance) if distance <= BINDING_ONLY_RADIUS else None
    return int(match.similarity * 100)


def _keep_best(matches: dict[str, Match], match: Match) -> None:
    known = matches.get(match.manifest_id)
    if known is None or match.similarity_score > known.similarity_score:
        matches[match.manifest_id] = match


def _ranked(matches: dict[str, Match], limit: int) -> list[Match]:
    # Stable: the repository's order (nearest, then newest) among equal scores.
    return sorted(matches.values(), key=lambda match: -match.similarity_score)[:limit]
