"""The feed label: a pure function from a `Verdict` to one neutral `Label`.

The classification follows the C2PA signals rubric
(`../shared/rubrics/asset-rubric-signals-local.yml`): each manifest is read
*locally* for inception signals (what the asset started as) and transformation
signals (what was done to it), and the label combines them along the asset's
history. The UX rules come first: an invalid credential shows no provenance
claim at all, and a valid credential from a signer on no trust list is shown as
"unrecognized", never as verified.

Where we deliberately read more than the rubric does (it reads only
`c2pa.actions.v2` and `c2pa.created`/`c2pa.opened` digital source types), every
extra reading is recorded as the label's `evidence`, weakest last:

1. `digitalSourceType` on a `c2pa.actions.v2` action (the rubric's own reading);
2. the same in the older `c2pa.actions` assertion (DALL-E, Bing, Titan 2023-2025);
3. `digitalSourceType` declared on an ingredient (spec 2.x ingredient v3);
4. Adobe Firefly's 2023 `com.adobe.generative-ai` assertion;
5. Microsoft's 2024 `c2pa.created` described "AI Generated Image" with no source type.

Within one manifest a declared source type (1 or 2) answers the question it
speaks to, so the weaker readings 3-5 are consulted only where the manifest
declares none: a v2 `digitalCapture` inception beside an "AI Generated Image"
description is captured media, not AI.

Decisions beyond the rubric's letter (documented here so they are reviewable):

- `trainedAlgorithmicData` as an inception source type counts as fully GenAI (it
  is the C2PA data-form twin of `trainedAlgorithmicMedia` and is in the rubric's
  `$genai_dst_types`); `compositeSynthetic` counts as partly GenAI (in the GenAI
  list, but a composite: "may or may not" be all generated).
- `algorithmicMedia` (algorithmic, no training data), `digitalCreation`,
  `screenCapture`, `empty` (blank canvas), `virtualRecording`, ... are not GenAI:
  such assets get the classification-free `credentials` label.
- Captured media (`digitalCapture`, `computationalCapture`, and the rubric's
  stitched `compositeCapture`) keeps the `captured` label only while every later
  action is on the rubric's non-editorial list; a perceptible action with no
  source type also ends it (the rubric: "any action not on the non-editorial
  allow-list is a perceptible transformation").
- A transformation typed "possibly GenAI" (`digitalArt`, `composite`) is a
  perceptible edit, not a GenAI one: it ends `captured` but does not make
  `ai_edited` (the issue names only perceptible *GenAI* transformations).
- IPTC and C2PA source-type URIs are matched with either `http://` or
  `https://`: real Firefly files write `https://cv.iptc.org/...`.
- History: a manifest's parent is its `parentOf` ingredient whose own manifest
  is in the store; when none is declared but the manifest `c2pa.opened`
  something, its single credentialed non-`inputTo` ingredient (Photoshop 2025
  declares the opened Firefly image `componentOf`). The earliest ancestor with a
  known inception decides the inception. A `componentOf` ingredient whose own
  history is AI makes the composite `ai_edited`. Ingredients whose own
  credentials are invalid are not followed: broken credentials make no claims.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from typing import overload

from verifier.label_types import Label, LabelEvidence, LabelKind
from verifier.verdict import (
    Action,
    ActionsForm,
    IngredientSummary,
    ManifestSummary,
    Signer,
    Verdict,
    VerdictState,
)

# --- the rubric's vocabulary (asset-rubric-signals-local.yml, "variables") ---

INCEPTION_ACTIONS = frozenset({"c2pa.created", "c2pa.opened"})
NON_EDITORIAL_ACTIONS = frozenset(
    {
        "c2pa.converted",
        "c2pa.published",
        "c2pa.repackaged",
        "c2pa.transcoded",
        "c2pa.resized.proportional",
        "c2pa.enhanced",
        "c2pa.edited.metadata",
        "c2pa.watermarked",
        "c2pa.watermarked.bound",
        "c2pa.watermarked.unbound",
        "c2pa.redacted",
    }
)
# signer/manifest.py writes the same IPTC namespace; verifier/ does not import signer/, and
# tests/cli/test_verify_cli.py signs a file and checks that it is labelled ai_generated.
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
C2PA_DST = "http://c2pa.org/digitalsourcetype/"
GENAI_SOURCE_TYPES = frozenset(
    {
        IPTC + "trainedAlgorithmicMedia",
        IPTC + "compositeWithTrainedAlgorithmicMedia",
        IPTC + "compositeSynthetic",
        C2PA_DST + "trainedAlgorithmicData",
    }
)
POSSIBLY_GENAI_SOURCE_TYPES = frozenset({IPTC + "digitalArt", IPTC + "composite"})

GENERATIVE_AI_ASSERTION = "com.adobe.generative-ai"  # Adobe Firefly, 2023
AI_DESCRIPTION = "ai generated image"  # Microsoft Image Creator, 2024 (compared case-folded)

_ISSUER_MAX_CHARS = 120  # a feed badge, not a certificate dump


class Signal(str, enum.Enum):
    """The rubric's signal ids, plus one it leaves implicit (last)."""

    BLANK_CANVAS = "inception:signal_blankCanvas"
    CAPTURED_MEDIA = "inception:signal_capturedMedia"
    CAPTURED_MEDIA_STITCHED = "inception:signal_capturedMediaStitched"
    COMPOSITION_MAY_CONTAIN_GENAI = "inception:signal_compositionMayContainGenAI"
    FULLY_GENAI_MEDIA = "inception:signal_fullyGenAIMedia"
    MEDIA_UNKNOWN_PROVENANCE = "inception:signal_mediaUnknownProvenance"
    NON_GENAI_DIGITAL_CREATION = "inception:signal_nonGenAIDigitalCreation"
    PARTLY_GENAI_CREATION = "inception:signal_partlyGenAICreation"
    SCREEN_CAPTURE_MAY_CONTAIN_GENAI = "inception:signal_screenCaptureMayContainGenAI"
    OTHER_INCEPTION = "inception:other"  # a declared source type no rubric signal names
    AMBIGUOUS_ACTIONS = "transformation:signal_ambiguousActions"
    NON_EDITORIAL = "transformation:signal_nonEditorial"
    PERCEPTIBLE_GENAI = "transformation:signal_perceptibleGenAI"
    PERCEPTIBLE_NON_GENAI = "transformation:signal_perceptibleNonGenAI"
    PERCEPTIBLE_POSSIBLY_GENAI = "transformation:signal_perceptiblePossiblyGenAI"
    # The rubric calls every action off the non-editorial list perceptible, but
    # names a signal only when a source type is given; we need the untyped case
    # to decide whether captured media is still "only non-editorially changed".
    PERCEPTIBLE_UNDECLARED = "transformation:perceptibleUndeclared"


_INCEPTION_BY_SOURCE_TYPE: dict[str, Signal] = {
    IPTC + "trainedAlgorithmicMedia": Signal.FULLY_GENAI_MEDIA,
    C2PA_DST + "trainedAlgorithmicData": Signal.FULLY_GENAI_MEDIA,  # our extension, see module doc
    IPTC + "compositeWithTrainedAlgorithmicMedia": Signal.PARTLY_GENAI_CREATION,
    IPTC + "compositeSynthetic": Signal.PARTLY_GENAI_CREATION,  # our extension, see module doc
    IPTC + "composite": Signal.COMPOSITION_MAY_CONTAIN_GENAI,
    IPTC + "digitalCapture": Signal.CAPTURED_MEDIA,
    IPTC + "computationalCapture": Signal.CAPTURED_MEDIA,
    IPTC + "compositeCapture": Signal.CAPTURED_MEDIA_STITCHED,
    IPTC + "digitalCreation": Signal.NON_GENAI_DIGITAL_CREATION,
    IPTC + "screenCapture": Signal.SCREEN_CAPTURE_MAY_CONTAIN_GENAI,
    C2PA_DST + "empty": Signal.BLANK_CANVAS,
}
_FULLY_GENAI = frozenset({Signal.FULLY_GENAI_MEDIA})
_PARTLY_GENAI = frozenset({Signal.PARTLY_GENAI_CREATION, Signal.COMPOSITION_MAY_CONTAIN_GENAI})
_CAPTURED = frozenset({Signal.CAPTURED_MEDIA, Signal.CAPTURED_MEDIA_STITCHED})
_PERCEPTIBLE = frozenset(
    {
        Signal.PERCEPTIBLE_GENAI,
        Signal.PERCEPTIBLE_NON_GENAI,
        Signal.PERCEPTIBLE_POSSIBLY_GENAI,
        Signal.PERCEPTIBLE_UNDECLARED,
    }
)

# Strongest first; `LabelEvidence.NONE` never backs a classification.
_EVIDENCE_RANK = {
    evidence: rank
    for rank, evidence in enumerate(
        (
            LabelEvidence.DIGITAL_SOURCE_TYPE,
            LabelEvidence.LEGACY_ACTIONS,
            LabelEvidence.INGREDIENT_SOURCE_TYPE,
            LabelEvidence.GENERATIVE_AI_ASSERTION,
            LabelEvidence.AI_DESCRIPTION,
            LabelEvidence.NONE,
        )
    )
}

_KIND_TEXT = {
    LabelKind.AI_GENERATED: "AI-generated",
    LabelKind.AI_EDITED: "AI-edited",
    LabelKind.CAPTURED: "Captured",
    LabelKind.CREDENTIALS: "Content Credentials",
}
UNRECOGNIZED_SUFFIX = " · unrecognized signer"
INVALID_TEXT = "Content Credentials could not be verified"
NONE_TEXT = "No Content Credentials"
ERROR_TEXT = "Content Credentials could not be read"
RECOVERED_SUFFIX = " · credentials found by content match"
NO_UPSTREAM_SUFFIX = " · no credentials upstream"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalHit:
    """One signal found in one manifest, and what it was read from."""

    signal: Signal
    evidence: LabelEvidence
    action: str | None = None  # the action that raised it, when one did


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestSignals:
    """The rubric's local reading of one manifest (plus our weaker readings)."""

    inceptions: tuple[SignalHit, ...]  # strongest evidence first
    transformations: tuple[SignalHit, ...]


# --- source types -------------------------------------------------------------


@overload
def normalize_source_type(uri: str) -> str: ...
@overload
def normalize_source_type(uri: None) -> None: ...
@overload
def normalize_source_type(uri: str | None) -> str | None: ...
def normalize_source_type(uri: str | None) -> str | None:
    """The canonical `http://` form of an IPTC / C2PA source type URI."""
    if uri is None:
        return None
    value = uri.strip()
    for canonical in (IPTC, C2PA_DST):
        secure = "https://" + canonical.removeprefix("http://")
        if value.startswith(secure):
            return canonical + value[len(secure) :]
    return value


def source_type_term(uri: str | None) -> str | None:
    """The short term of a source type ("trainedAlgorithmicMedia"), else the URI as given."""
    normalized = normalize_source_type(uri)
    if normalized is None:
        return None
    for prefix in (IPTC, C2PA_DST):
        if normalized.startswith(prefix):
            return normalized[len(prefix) :]
    return normalized


def is_genai_source_type(uri: str | None) -> bool:
    return normalize_source_type(uri) in GENAI_SOURCE_TYPES


# --- one manifest, read locally -----------------------------------------------


def _action_evidence(action: Action) -> LabelEvidence:
    return LabelEvidence.DIGITAL_SOURCE_TYPE if action.form is ActionsForm.V2 else LabelEvidence.LEGACY_ACTIONS


def _base_assertion_label(label: str) -> str:
    # "com.adobe.generative-ai__1" -> "com.adobe.generative-ai": instances of one assertion
    return re.sub(r"__\d+$", "", label)


def _has_assertion(manifest: ManifestSummary, label: str) -> bool:
    return any(_base_assertion_label(each) == label for each in manifest.assertion_labels)


def _by_strength(hits: list[SignalHit]) -> tuple[SignalHit, ...]:
    return tuple(sorted(hits, key=lambda hit: _EVIDENCE_RANK[hit.evidence]))


def _declared_inceptions(manifest: ManifestSummary) -> list[SignalHit]:
    hits = []
    for action in manifest.actions:
        if action.action in INCEPTION_ACTIONS and action.digital_source_type:
            signal = _INCEPTION_BY_SOURCE_TYPE.get(
                normalize_source_type(action.digital_source_type), Signal.OTHER_INCEPTION
            )
            hits.append(SignalHit(signal=signal, evidence=_action_evidence(action), action=action.action))
    return hits


def _weak_inceptions(manifest: ManifestSummary) -> list[SignalHit]:
    """Inception readings from evidence weaker than an action's source type."""
    hits = []
    for ingredient in manifest.ingredients:
        if ingredient.relationship == "parentOf" and ingredient.digital_source_type:
            signal = _INCEPTION_BY_SOURCE_TYPE.get(
                normalize_source_type(ingredient.digital_source_type), Signal.OTHER_INCEPTION
            )
            hits.append(SignalHit(signal=signal, evidence=LabelEvidence.INGREDIENT_SOURCE_TYPE))
    created = [action for action in manifest.actions if action.action == "c2pa.created"]
    if created and _has_assertion(manifest, GENERATIVE_AI_ASSERTION):
        hits.append(
            SignalHit(
                signal=Signal.FULLY_GENAI_MEDIA,
                evidence=LabelEvidence.GENERATIVE_AI_ASSERTION,
                action="c2pa.created",
            )
        )
    for action in created:
        if (action.description or "").strip().casefold() == AI_DESCRIPTION:
            hits.append(
                SignalHit(signal=Signal.FULLY_GENAI_MEDIA, evidence=LabelEvidence.AI_DESCRIPTION, action=action.action)
            )
    return hits


def _transformation_signal(action: Action) -> Signal | None:
    if action.action in INCEPTION_ACTIONS:
        return None
    if action.action in NON_EDITORIAL_ACTIONS:
        return Signal.NON_EDITORIAL
    source_type = normalize_source_type(action.digital_source_type)
    if source_type is None:
        return Signal.PERCEPTIBLE_UNDECLARED
    if source_type in GENAI_SOURCE_TYPES:
        return Signal.PERCEPTIBLE_GENAI
    if source_type in POSSIBLY_GENAI_SOURCE_TYPES:
        return Signal.PERCEPTIBLE_POSSIBLY_GENAI
    return Signal.PERCEPTIBLE_NON_GENAI


def _is_ambiguous(action: Action) -> bool:
    # The rubric also checks allActionsIncluded and gathered actions, which a
    # Verdict does not carry; these are the parts it can see.
    return action.action == "c2pa.unknown" or not action.action.startswith("c2pa.")


def manifest_signals(manifest: ManifestSummary) -> ManifestSignals:
    """The rubric's signals for one manifest, each with the evidence it was read from."""
    declared = _declared_inceptions(manifest)
    inceptions = _by_strength(declared or _weak_inceptions(manifest))
    if any(ingredient.manifest_label is None for ingredient in manifest.ingredients):
        # An ingredient that brought no credentials: its origin is unknown.
        inceptions += (SignalHit(signal=Signal.MEDIA_UNKNOWN_PROVENANCE, evidence=LabelEvidence.NONE),)

    transformations: list[SignalHit] = []
    for action in manifest.actions:
        signal = _transformation_signal(action)
        if signal is not None:
            transformations.append(SignalHit(signal=signal, evidence=_action_evidence(action), action=action.action))
        if _is_ambiguous(action):
            transformations.append(
                SignalHit(signal=Signal.AMBIGUOUS_ACTIONS, evidence=_action_evidence(action), action=action.action)
            )
    if not manifest.actions:
        transformations.append(SignalHit(signal=Signal.AMBIGUOUS_ACTIONS, evidence=LabelEvidence.NONE))

    declares_any_source_type = any(action.digital_source_type for action in manifest.actions)
    opens_or_edits = not any(action.action == "c2pa.created" for action in manifest.actions)
    if not declares_any_source_type and opens_or_edits and _has_assertion(manifest, GENERATIVE_AI_ASSERTION):
        # Firefly's 2023 marker on a manifest that did not create the asset: a GenAI edit.
        transformations.append(
            SignalHit(signal=Signal.PERCEPTIBLE_GENAI, evidence=LabelEvidence.GENERATIVE_AI_ASSERTION)
        )
    for ingredient in manifest.ingredients:
        if ingredient.relationship == "componentOf" and is_genai_source_type(ingredient.digital_source_type):
            transformations.append(
                SignalHit(signal=Signal.PERCEPTIBLE_GENAI, evidence=LabelEvidence.INGREDIENT_SOURCE_TYPE)
            )
    return ManifestSignals(inceptions=inceptions, transformations=tuple(transformations))


# --- the history --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _History:
    inception: SignalHit | None  # the earliest known inception
    genai: tuple[SignalHit, ...]  # GenAI contributions since (edits, AI components)
    perceptible: bool  # any perceptible change since inception


_MAX_HISTORY_DEPTH = 200  # ingredient hops followed; real histories have tens, a hostile store may have millions


def _followable(ingredient: IngredientSummary, store: dict[str, ManifestSummary]) -> bool:
    return (
        ingredient.manifest_label is not None
        and ingredient.manifest_label in store
        and ingredient.state is not VerdictState.INVALID
        and ingredient.state is not VerdictState.ERROR
    )


def _classifying_inception(signals: ManifestSignals) -> SignalHit | None:
    for hit in signals.inceptions:
        if hit.signal is not Signal.MEDIA_UNKNOWN_PROVENANCE:
            return hit
    return None


class _HistoryWalk:
    """Reads a manifest store's history once per manifest.

    Results are memoised, so a store whose ingredients share manifests (a DAG)
    costs linear time, not one walk per path; a manifest met again while it is
    being read (a cycle) is not followed; past `_MAX_HISTORY_DEPTH` hops the
    history is cut, which can only make a label less specific.
    """

    def __init__(self, store: dict[str, ManifestSummary]) -> None:
        self._store = store
        self._done: dict[str, _History] = {}
        self._reading: set[str] = set()

    def _can_follow(self, ingredient: IngredientSummary, depth: int) -> bool:
        return (
            depth < _MAX_HISTORY_DEPTH
            and _followable(ingredient, self._store)
            and ingredient.manifest_label not in self._reading
        )

    def _parent(self, manifest: ManifestSummary, depth: int) -> IngredientSummary | None:
        ingredients = [i for i in manifest.ingredients if self._can_follow(i, depth)]
        parents = [i for i in ingredients if i.relationship == "parentOf"]
        if parents:
            return parents[0]
        if any(action.action == "c2pa.opened" for action in manifest.actions):
            candidates = [i for i in ingredients if i.relationship != "inputTo"]
            if len(candidates) == 1:
                return candidates[0]
        return None

    def history(self, manifest_label: str, depth: int = 0) -> _History:
        if manifest_label in self._done:
            return self._done[manifest_label]
        self._reading.add(manifest_label)
        try:
            result = self._read(self._store[manifest_label], depth)
        finally:
            self._reading.discard(manifest_label)
        self._done[manifest_label] = result
        return result

    def _read(self, manifest: ManifestSummary, depth: int) -> _History:
        signals = manifest_signals(manifest)
        parent_ingredient = self._parent(manifest, depth)
        parent_manifest = parent_ingredient.manifest_label if parent_ingredient else None
        # _can_follow: the parent has a manifest label
        parent = self.history(parent_manifest, depth + 1) if parent_manifest is not None else None

        own_inception = _classifying_inception(signals)
        inception = parent.inception if parent is not None and parent.inception is not None else own_inception

        genai = list(parent.genai) if parent is not None else []
        genai += [hit for hit in signals.transformations if hit.signal is Signal.PERCEPTIBLE_GENAI]
        for ingredient in manifest.ingredients:
            if ingredient is parent_ingredient or ingredient.relationship != "componentOf":
                continue
            if self._can_follow(ingredient, depth) and ingredient.manifest_label is not None:
                component = _outcome(self.history(ingredient.manifest_label, depth + 1))
                if component.kind in (LabelKind.AI_GENERATED, LabelKind.AI_EDITED):
                    genai.append(SignalHit(signal=Signal.PERCEPTIBLE_GENAI, evidence=component.evidence))

        perceptible = (parent is not None and parent.perceptible) or any(
            hit.signal in _PERCEPTIBLE for hit in signals.transformations
        )
        return _History(inception=inception, genai=_distinct(genai), perceptible=perceptible)


def _distinct(hits: list[SignalHit]) -> tuple[SignalHit, ...]:
    # Memoised histories are shared: keep contributions bounded by their kinds, not their paths.
    return tuple(dict.fromkeys(hits))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outcome:
    kind: LabelKind
    evidence: LabelEvidence


def _strongest(hits: list[SignalHit]) -> LabelEvidence:
    return min((hit.evidence for hit in hits), key=_EVIDENCE_RANK.__getitem__, default=LabelEvidence.NONE)


def _outcome(history: _History) -> _Outcome:
    inception = history.inception
    if inception is not None and inception.signal in _FULLY_GENAI:
        return _Outcome(kind=LabelKind.AI_GENERATED, evidence=inception.evidence)
    partly = [inception] if inception is not None and inception.signal in _PARTLY_GENAI else []
    if partly or history.genai:
        return _Outcome(kind=LabelKind.AI_EDITED, evidence=_strongest(partly + list(history.genai)))
    if inception is not None and inception.signal in _CAPTURED and not history.perceptible:
        return _Outcome(kind=LabelKind.CAPTURED, evidence=inception.evidence)
    return _Outcome(kind=LabelKind.CREDENTIALS, evidence=LabelEvidence.NONE)


def _active_manifest(verdict: Verdict) -> tuple[str, dict[str, ManifestSummary]]:
    if verdict.manifests:
        store: dict[str, ManifestSummary] = {}
        for manifest in verdict.manifests:
            store.setdefault(manifest.label, manifest)  # a duplicated manifest label: the first (active) one counts
        return verdict.manifests[0].label, store
    # A verdict without its store (e.g. a trimmed record) still carries the active manifest's story.
    active = ManifestSummary(
        label="active",
        claim_generator=verdict.claim_generator,
        title=verdict.title,
        signer=verdict.signer,
        actions=verdict.actions,
        ingredients=verdict.ingredients,
    )
    return active.label, {active.label: active}


# --- the label ----------------------------------------------------------------


def _issuer(signer: Signer | None) -> str | None:
    if signer is None:
        return None
    for candidate in (signer.organisation, signer.common_name):
        cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in candidate or "").split())
        if cleaned:
            return cleaned if len(cleaned) <= _ISSUER_MAX_CHARS else cleaned[: _ISSUER_MAX_CHARS - 1] + "…"
    return None


def history_inception(verdict: Verdict) -> SignalHit | None:
    """The inception signal an asset's history starts from, as `classify` reads it: the earliest
    ancestor's known one along the parent chain (None: no manifest declares one)."""
    active, store = _active_manifest(verdict)
    return _HistoryWalk(store).history(active).inception


def classify(verdict: Verdict) -> tuple[LabelKind, LabelEvidence]:
    """The classification of a verdict's history, ignoring its validation state."""
    active, store = _active_manifest(verdict)
    outcome = _outcome(_HistoryWalk(store).history(active))
    return outcome.kind, outcome.evidence


def label_for(verdict: Verdict) -> Label:
    """The one neutral feed label for an asset's verdict."""
    if verdict.state is VerdictState.NONE:
        return Label(kind=LabelKind.NONE, trusted=False, text=NONE_TEXT, issuer=None)
    if verdict.state is VerdictState.ERROR:
        return Label(kind=LabelKind.NONE, trusted=False, text=ERROR_TEXT, issuer=None)
    if verdict.state is VerdictState.INVALID:
        # UX guidance: broken credentials make no provenance claim, not even who signed.
        return Label(kind=LabelKind.INVALID, trusted=False, text=INVALID_TEXT, issuer=None)

    kind, evidence = classify(verdict)
    trusted = verdict.state is VerdictState.TRUSTED
    text = _KIND_TEXT[kind] if trusted else _KIND_TEXT[kind] + UNRECOGNIZED_SUFFIX
    if kind is LabelKind.CREDENTIALS and _rendition_without_upstream(verdict):
        text += NO_UPSTREAM_SUFFIX
    return Label(kind=kind, trusted=trusted, text=text, issuer=_issuer(verdict.signer), evidence=evidence)


def _rendition_without_upstream(verdict: Verdict) -> bool:
    """A rendition of an original that had no credentials: the active manifest opened a parentOf
    ingredient that brought none and did nothing else than non-editorial actions to it (what
    app/usecases/renditions.py signs when the caller allows it): the history starts here."""
    if not verdict.manifests:
        return False
    active = verdict.manifests[0]
    actions = [action.action for action in active.actions]
    parents = [ingredient for ingredient in active.ingredients if ingredient.relationship == "parentOf"]
    return (
        bool(actions)
        and actions[0] == "c2pa.opened"
        and all(action in NON_EDITORIAL_ACTIONS for action in actions[1:])
        and len(parents) == 1
        and parents[0].manifest_label is None
    )


def recovered_label(recovered_store: Verdict, manifest_id: str) -> Label | None:
    """The label of credentials found by content match: the kind of the recovered manifest store's
    own verdict, marked recovered, with words that claim no more than a match of content. None
    for a store that does not validate as trusted or valid (it is not used for a label)."""
    if recovered_store.state not in (VerdictState.TRUSTED, VerdictState.VALID):
        return None
    label = label_for(recovered_store)
    return dataclasses.replace(
        label, text=label.text + RECOVERED_SUFFIX, recovered=True, recovered_manifest_id=manifest_id
    )
