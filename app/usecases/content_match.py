"""Matching an image's fingerprint against the manifest repository by content: the one rule that
recovery on verify (app/usecases/recovery.py) and the Soft Binding Resolution API's byContent
(app/usecases/soft_binding_resolution.py) apply (docs/soft-bindings.md).

- Probes: the image's own code, and the code of each view its fingerprint carries (QUERY_VIEWS:
  the mirrored image, the tolerant border trim, the symmetrised image of a nearly symmetric one),
  each with its own descriptor; a view whose code and descriptor are a probe's already made (the
  tolerant trim of an image without a noisy border) is not searched again.
- First stage: for each probe, the repository's rows within `radius` bits, the index-only view
  rows included (VIEW_ALG: the centre crops kept at signing).
- Second stage: the candidate's descriptor against the probe's, kept at `threshold` or above. A
  candidate kept without a descriptor (a verified store's binding, a video's key frame) cannot
  pass it: it is returned with `similarity` None, for the caller's binding-only rule, and only
  from the image's own code (a view's code has nothing to compare it with).
- One match per entry (tenant, manifest id): its best, most similar first (then nearest, newest).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.store.repository import Candidate, ManifestRepository, RepositoryEntry
from verifier.fingerprint import DESCRIPTOR_BYTES, ImageFingerprint, descriptor_similarity


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentMatch:
    candidate: Candidate
    similarity: float | None  # the descriptor similarity (at least the threshold); None: kept without one


def content_matches(
    repository: ManifestRepository, fingerprint: ImageFingerprint, tenant: str | None, *, radius: int, threshold: float
) -> list[ContentMatch]:
    """The entries visible to `tenant` that match `fingerprint` (module docstring), best first."""
    best: dict[tuple[str, str], ContentMatch] = {}
    probes: dict[tuple[int, bytes], bool] = {(fingerprint.code64, fingerprint.descriptor): True}
    for view in fingerprint.views:  # a view the same as a probe already made is not searched again
        probes.setdefault((view.code64, view.descriptor), False)
    found_each = repository.candidates_near_each([code64 for code64, _ in probes], radius, tenant, views=True)
    for ((_, descriptor), own), found in zip(probes.items(), found_each, strict=True):
        for candidate in found:
            if candidate.descriptor is None or len(candidate.descriptor) != DESCRIPTOR_BYTES:
                if own and candidate.view is None:
                    _keep(best, ContentMatch(candidate=candidate, similarity=None))
                continue
            similarity = descriptor_similarity(descriptor, candidate.descriptor)
            if similarity >= threshold:
                _keep(best, ContentMatch(candidate=candidate, similarity=similarity))
    return best_first(best.values())


def candidate_entry(repository: ManifestRepository, candidate: Candidate, tenant: str | None) -> RepositoryEntry | None:
    """The entry `tenant` sees under the candidate's manifest id, if it is the candidate itself: a
    tenant's own entry with the same id comes first, and another entry's store or key frames are not
    what matched."""
    return _if_the_candidate(repository.entry_by_manifest_id(tenant, candidate.manifest_id), candidate)


def candidate_entries(
    repository: ManifestRepository, candidates: Sequence[Candidate], tenant: str | None
) -> list[RepositoryEntry | None]:
    """`candidate_entry` for each candidate, in order, from one read of the repository."""
    seen = repository.entries_by_manifest_ids(tenant, [candidate.manifest_id for candidate in candidates])
    return [_if_the_candidate(seen.get(candidate.manifest_id), candidate) for candidate in candidates]


def _if_the_candidate(entry: RepositoryEntry | None, candidate: Candidate) -> RepositoryEntry | None:
    if entry is None or entry.tenant != candidate.tenant or entry.asset_sha256 != candidate.asset_sha256:
        return None
    return entry


def best_first(matches: Iterable[ContentMatch]) -> list[ContentMatch]:
    """Most similar first, then nearest, then newest."""
    return sorted(matches, key=_rank)


def _rank(match: ContentMatch) -> tuple[float, int, float]:
    similarity = -1.0 if match.similarity is None else match.similarity
    return (-similarity, match.candidate.distance, -match.candidate.created_at.timestamp())


def _keep(best: dict[tuple[str, str], ContentMatch], match: ContentMatch) -> None:
    key = (match.candidate.tenant, match.candidate.manifest_id)
    known = best.get(key)
    if known is None or _rank(match) < _rank(known):
        best[key] = match
