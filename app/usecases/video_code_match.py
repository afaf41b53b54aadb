"""Matching a video by its ISCC Video-Code against the manifest repository: the one rule that recovery on
verify (app/usecases/recovery.py) and the Soft Binding Resolution API (app/usecases/soft_binding_resolution.py)
apply (docs/soft-bindings.md, "Video").

A signed video keeps its Video-Code as a binding whose 64 bits are in the band index's Video-Code
key space (app/store/similarity.py, CodeSpace.VIDEO), beside its key frames' Image-Codes, each with
its descriptor. Rules:

- Candidates: the entries visible to the caller whose Video-Code lies within the radius of the
  query's, and those that keep exactly the query's value (a Video-Code kept before Video-Codes were
  indexed has no code64: only its exact value finds it). One per entry, its nearest.
- By content (an upload: its own Video-Code and key frames): the code alone cannot decide. Videos
  made alike lie closer than a radius that finds re-encoded copies (measured by
  bench/video_fingerprint_bench.py: see the constants), so each candidate must pass a second check,
  `frames_similarity`: the best descriptor similarity between any key frame of the upload and any
  key frame the entry keeps, at least `threshold`. It is what the key-frame lookup
  (app/usecases/content_match.py) checks too, without asking the two key frames' codes to be near:
  a copy cut or retimed has no key frame where the original has one, and in a scene that moves
  their codes drift apart sooner than their thumbnails do.
- By binding value alone (a resolver that read the Video-Code from an assertion): no key frames
  to check against, so the radius is stricter instead, VIDEO_CODE_BINDING_ONLY_RADIUS.
- A lookup by content searches the Video-Code only when the key frames found nothing: the
  Video-Code decodes every frame of the upload (seconds for a long video), the key frames a few.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.store.iscc_units import iscc_video_code64, iscc_video_unit
from app.store.repository import ISCC_ALG, Candidate, ManifestRepository, RepositoryEntry
from app.store.similarity import CodeSpace
from app.usecases.content_match import ContentMatch, best_first, candidate_entries
from verifier.fingerprint import DESCRIPTOR_BYTES, ImageFingerprint, descriptor_similarity

if TYPE_CHECKING:
    from verifier.video_code import VideoCode

# Chosen by bench/video_fingerprint_bench.py (docs/soft-bindings.md, "Video"): 16 synthetic videos of
# 6 s, each re-encoded 7 ways (112 copies), looked up among 48 originals (5,264 copy-to-unrelated
# pairs). Copies lie 0-11 bits from their original's Video-Code (p95 7), unrelated videos 8 bits and
# more (2 pairs within 8, 6 within 10, 14 within 12): the code alone cannot decide.
# With the second check, radius 10 at 0.90 found 8 of the 11 copies the key frames missed and
# passed no unrelated pair; the first unrelated pair passes at radius 14 (or at 0.85 with radius 12).
VIDEO_CODE_RADIUS = 10
VIDEO_CODE_THRESHOLD = 0.90
# By value alone: 5 keeps 3 bits below the nearest unrelated pair (8), as the Image-Code's
# binding-only radius does below its own nearest pair.
VIDEO_CODE_BINDING_ONLY_RADIUS = 5
_ENTRIES_PER_READ = 16


def video_code_candidates(
    repository: ManifestRepository, value: bytes, tenant: str | None, *, radius: int
) -> list[Candidate]:
    """The entries visible to `tenant` whose Video-Code is within `radius` bits of `value` (an ISCC
    Video-Code unit, binary or canonical text) or is exactly it; one per entry, nearest first.
    ValueError when `value` is not a Video-Code."""
    unit = iscc_video_unit(value)
    code64 = iscc_video_code64(value)
    if unit is None or code64 is None:
        raise ValueError("not an ISCC Video-Code unit")
    found = repository.candidates_near(code64, radius, tenant, space=CodeSpace.VIDEO)
    found += repository.candidates_with_value(ISCC_ALG, unit, tenant)
    nearest: dict[tuple[str, str], Candidate] = {}
    for candidate in found:
        key = (candidate.tenant, candidate.manifest_id)
        if key not in nearest or candidate.distance < nearest[key].distance:
            nearest[key] = candidate
    return sorted(nearest.values(), key=lambda c: (c.distance, -c.created_at.timestamp(), c.manifest_id))


def video_code_matches(
    repository: ManifestRepository,
    code: VideoCode,
    key_frames: Sequence[ImageFingerprint],
    tenant: str | None,
    *,
    radius: int = VIDEO_CODE_RADIUS,
    threshold: float = VIDEO_CODE_THRESHOLD,
) -> list[ContentMatch]:
    """The entries visible to `tenant` whose Video-Code is near `code` and whose kept key frames pass the
    second check against the upload's `key_frames` (module docstring), best first."""
    matches = []
    candidates = video_code_candidates(repository, code.iscc_digest, tenant, radius=radius)
    # A read per batch, not per candidate; batches, not all at once: an entry comes with its store
    # (up to 256 KiB inline), and there can be 200 candidates.
    for start in range(0, len(candidates), _ENTRIES_PER_READ):
        batch = candidates[start : start + _ENTRIES_PER_READ]
        for candidate, entry in zip(batch, candidate_entries(repository, batch, tenant), strict=True):
            similarity = frames_similarity(key_frames, _kept_descriptors(entry))
            if similarity >= threshold:
                matches.append(ContentMatch(candidate=candidate, similarity=similarity))
    return best_first(matches)


def frames_similarity(key_frames: Sequence[ImageFingerprint], kept: Sequence[bytes]) -> float:
    """The best descriptor similarity of any of the upload's key frames to any kept one (0.0: none kept)."""
    return max(
        (descriptor_similarity(frame.descriptor, descriptor) for frame in key_frames for descriptor in kept),
        default=0.0,
    )


def _kept_descriptors(entry: RepositoryEntry | None) -> list[bytes]:
    """The key-frame descriptors kept with a candidate's entry (none when the entry visible under
    its id is another one: `candidate_entries`)."""
    if entry is None:
        return []
    return [
        binding.descriptor
        for binding in entry.bindings
        if binding.alg == ISCC_ALG and binding.descriptor is not None and len(binding.descriptor) == DESCRIPTOR_BYTES
    ]
