"""An asset's manifest history as a typed, render-independent model.

`story_of(verdict)` turns a `Verdict` into what `originmark inspect` shows: the
label on top, then each manifest (active first, then its ancestors and
components in history order) with signer, time, actions, ingredients,
assertions, rubric signals and validation codes. Every string is carried as the
manifest wrote it; escaping for a terminal or a page is the renderer's job.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from verifier.label import ManifestSignals, Signal, SignalHit, label_for, manifest_signals, source_type_term
from verifier.label_types import Label
from verifier.verdict import ActionsForm, ManifestSummary, TimeStamp, Verdict, VerdictState


class ManifestRole(str, enum.Enum):
    ACTIVE = "active"  # the manifest that speaks for the asset
    INGREDIENT = "ingredient"  # the manifest an ingredient brought along
    UNREFERENCED = "unreferenced"  # in the store, but no ingredient points at it


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionLine:
    action: str
    form: ActionsForm
    source_type: str | None  # the full URI as written
    source_type_term: str | None  # its short IPTC / C2PA term, e.g. "trainedAlgorithmicMedia"
    software_agent: str | None
    description: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IngredientLine:
    title: str | None
    relationship: str | None
    format: str | None
    manifest_label: str | None  # its own manifest, when it brought credentials
    state: VerdictState | None  # its own validation outcome
    failure_codes: tuple[str, ...]
    source_type: str | None
    source_type_term: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalLine:
    signal: Signal
    evidence: str  # LabelEvidence value
    action: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestChapter:
    label: str  # the manifest label (urn:c2pa:...): a field of `inspect --json`, kept under this name
    role: ManifestRole
    depth: int  # 0 for the active manifest, +1 per ingredient hop
    claim_generator: str | None
    title: str | None
    signer_organisation: str | None
    signer_common_name: str | None
    signing_algorithm: str | None
    signed_at: datetime | None
    time_stamped: bool
    time_stamp: TimeStamp | None  # when a TSA stamped the signature, and whether it is trusted, on which list
    actions: tuple[ActionLine, ...]
    ingredients: tuple[IngredientLine, ...]
    assertion_labels: tuple[str, ...]
    inception_signals: tuple[SignalLine, ...]
    transformation_signals: tuple[SignalLine, ...]
    validation_codes: tuple[str, ...]  # failure codes reported for this manifest


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    label: Label
    state: VerdictState
    reason: str | None
    trust_list: str | None
    time_stamp: TimeStamp | None  # the active manifest's
    format: str | None
    size: int
    sha256: str
    engine_version: str
    failure_codes: tuple[str, ...]
    ingredient_failure_codes: tuple[str, ...]
    chapters: tuple[ManifestChapter, ...]  # active first; empty when there are no credentials


def _signal_lines(hits: tuple[SignalHit, ...]) -> tuple[SignalLine, ...]:
    unique: dict[tuple[Signal, str, str | None], SignalLine] = {}
    for hit in hits:
        line = SignalLine(signal=hit.signal, evidence=hit.evidence.value, action=hit.action)
        unique.setdefault((line.signal, line.evidence, line.action), line)
    return tuple(unique.values())


def _history_order(manifests: tuple[ManifestSummary, ...]) -> list[tuple[ManifestSummary, ManifestRole, int]]:
    """Active first, then depth-first through ingredients; unreferenced ones last."""
    store: dict[str, ManifestSummary] = {}
    for manifest in manifests:
        store.setdefault(manifest.label, manifest)
    ordered: list[tuple[ManifestSummary, ManifestRole, int]] = []
    placed: set[str] = set()

    def visit(manifest_label: str, role: ManifestRole) -> None:
        # An explicit stack, not recursion: a hostile store may nest manifests without limit.
        stack = [(manifest_label, role, 0)]
        while stack:
            current, current_role, depth = stack.pop()
            if current in placed or current not in store:
                continue
            placed.add(current)
            ordered.append((store[current], current_role, depth))
            children = [i.manifest_label for i in store[current].ingredients if i.manifest_label is not None]
            stack.extend((child, ManifestRole.INGREDIENT, depth + 1) for child in reversed(children))

    if manifests:
        visit(manifests[0].label, ManifestRole.ACTIVE)
    for manifest in manifests:
        visit(manifest.label, ManifestRole.UNREFERENCED)
    return ordered


def _codes_by_manifest(verdict: Verdict) -> dict[str, tuple[str, ...]]:
    codes: dict[str, tuple[str, ...]] = {}
    for manifest in verdict.manifests:
        for ingredient in manifest.ingredients:
            if ingredient.manifest_label and ingredient.failure_codes:
                known = codes.get(ingredient.manifest_label, ())
                codes[ingredient.manifest_label] = known + tuple(
                    code for code in ingredient.failure_codes if code not in known
                )
    if verdict.manifests:
        codes[verdict.manifests[0].label] = verdict.failure_codes
    return codes


def _chapter(manifest: ManifestSummary, role: ManifestRole, depth: int, codes: tuple[str, ...]) -> ManifestChapter:
    signals: ManifestSignals = manifest_signals(manifest)
    signer = manifest.signer
    return ManifestChapter(
        label=manifest.label,
        role=role,
        depth=depth,
        claim_generator=manifest.claim_generator,
        title=manifest.title,
        signer_organisation=signer.organisation if signer else None,
        signer_common_name=signer.common_name if signer else None,
        signing_algorithm=signer.algorithm if signer else None,
        signed_at=manifest.signed_at,
        time_stamped=manifest.time_stamped,
        time_stamp=manifest.time_stamp,
        actions=tuple(
            ActionLine(
                action=action.action,
                form=action.form,
                source_type=action.digital_source_type,
                source_type_term=source_type_term(action.digital_source_type),
                software_agent=action.software_agent,
                description=action.description,
            )
            for action in manifest.actions
        ),
        ingredients=tuple(
            IngredientLine(
                title=ingredient.title,
                relationship=ingredient.relationship,
                format=ingredient.format,
                manifest_label=ingredient.manifest_label,
                state=ingredient.state,
                failure_codes=ingredient.failure_codes,
                source_type=ingredient.digital_source_type,
                source_type_term=source_type_term(ingredient.digital_source_type),
            )
            for ingredient in manifest.ingredients
        ),
        assertion_labels=manifest.assertion_labels,
        inception_signals=_signal_lines(signals.inceptions),
        transformation_signals=_signal_lines(signals.transformations),
        validation_codes=codes,
    )


def story_of(verdict: Verdict) -> Story:
    """The readable history of one asset's credentials."""
    codes = _codes_by_manifest(verdict)
    chapters = tuple(
        _chapter(manifest, role, depth, codes.get(manifest.label, ()))
        for manifest, role, depth in _history_order(verdict.manifests)
    )
    return Story(
        label=label_for(verdict),
        state=verdict.state,
        reason=verdict.reason,
        trust_list=verdict.trust_list,
        time_stamp=verdict.time_stamp,
        format=verdict.format,
        size=verdict.size,
        sha256=verdict.sha256,
        engine_version=verdict.engine_version,
        failure_codes=verdict.failure_codes,
        ingredient_failure_codes=verdict.ingredient_failure_codes,
        chapters=chapters,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def story_record(story: Story) -> dict[str, Any]:
    """The story as plain JSON-ready data (enums as their values, times as ISO 8601)."""
    record: dict[str, Any] = _plain(asdict(story))  # asdict's dict, with its values made plain
    return record
