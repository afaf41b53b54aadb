"""What the verify page shows about one file: a Verdict and its Label as plain, cleaned data.

The order follows the C2PA UX guidance: the label first; then who signed and whether that
signer is trusted; when; with which app or device; what was done; the ingredients, each with
its own state; and, folded away, the validation codes and the raw manifest summary.

An invalid credential makes no provenance claim: `show_claims` is False and nothing the
manifest says (signer, time, tool, actions, ingredients, raw summary) is even put in the view,
so no template can show it by mistake. Only the reason and the validation codes remain.

Hostile input is bounded: every string goes through `display_text`, and lists and the
ingredient tree are capped (a crafted manifest may hold thousands of them, nested deeply).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from app.codec import verdict_to_dict
from app.web.text import display_text, optional_text
from app.web.words import (
    EVIDENCE_WORDS,
    KIND_EXPLANATIONS,
    RELATIONSHIP_WORDS,
    SOURCE_TYPE_WORDS,
    STATE_WORDS,
    action_words,
    trust_list_words,
)
from verifier.label import source_type_term
from verifier.label_types import Label, LabelKind
from verifier.verdict import Action, IngredientSummary, ManifestSummary, Verdict, VerdictState

MAX_ACTIONS = 50
MAX_INGREDIENT_NODES = 200
MAX_INGREDIENT_DEPTH = 8
MAX_CODES = 100
MAX_RAW_CHARS = 200_000
LONG_TEXT = 400  # descriptions; names and titles use the default 200


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceTypeView:
    term: str  # the short IPTC / C2PA term (or the cleaned URI when unknown)
    words: str | None  # plain words, when the term is known


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionView:
    words: str  # plain words, or the action's own name when it is not a standard one
    action: str  # as written (cleaned)
    source_type: SourceTypeView | None
    software_agent: str | None
    description: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IngredientView:
    title: str
    relationship: str | None  # plain words
    format: str | None
    state: str  # css-safe key: trusted | valid | invalid | none | error | credentials
    state_words: str
    source_type: SourceTypeView | None
    failure_codes: tuple[str, ...]
    children: tuple[IngredientView, ...]
    note: str | None  # why its own history is not shown


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerView:
    issuer: str | None  # the organisation named by the certificate (or its common name)
    common_name: str | None
    trusted: bool
    trust_words: str  # "Trusted" / "Unrecognized"
    trust_detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveredView:
    """Credentials found by content match (Verdict.recovered): every field cleaned for display."""

    manifest_id: str
    similarity_percent: str  # "99.9 %"
    matched_sha256: str
    signed_at: datetime | None
    issuer: str | None
    trusted: bool
    trust_words: str
    reason: str

    @property
    def signed_at_text(self) -> str | None:
        return None if self.signed_at is None else self.signed_at.astimezone(UTC).strftime("%d %B %Y, %H:%M UTC")


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    file_name: str
    size: int
    format: str | None
    sha256: str
    label_text: str
    label_kind: str  # LabelKind value: a fixed vocabulary, used in CSS class names
    label_explanation: str
    evidence: str | None
    state: str  # VerdictState value
    state_words: str
    reason: str | None
    show_claims: bool
    has_credentials: bool
    signer: SignerView | None
    signed_at: datetime | None
    time_stamped: bool
    time_stamp_trusted: bool  # the TSA is on a configured trust list
    time_stamp_authority: str | None
    title: str | None
    tool: str | None
    actions: tuple[ActionView, ...]
    actions_not_shown: int
    ingredients: tuple[IngredientView, ...]
    ingredients_not_shown: int
    failure_codes: tuple[str, ...]
    ingredient_failure_codes: tuple[str, ...]
    raw_manifests: str | None
    stored: bool
    recovered: RecoveredView | None = None

    @property
    def signed_at_text(self) -> str | None:
        return None if self.signed_at is None else self.signed_at.astimezone(UTC).strftime("%d %B %Y, %H:%M UTC")

    @property
    def signed_at_iso(self) -> str | None:
        return None if self.signed_at is None else self.signed_at.astimezone(UTC).isoformat()


def _source_type(uri: str | None) -> SourceTypeView | None:
    if not uri:
        return None
    term = source_type_term(uri)
    if term is None:
        return SourceTypeView(term=display_text(uri), words=None)
    return SourceTypeView(term=display_text(term), words=SOURCE_TYPE_WORDS.get(term))


def _action(action: Action) -> ActionView:
    name = display_text(action.action, max_chars=120)
    return ActionView(
        words=action_words(action.action) or name,
        action=name,
        source_type=_source_type(action.digital_source_type),
        software_agent=optional_text(action.software_agent),
        description=optional_text(action.description, max_chars=LONG_TEXT),
    )


def _codes(codes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(display_text(code, max_chars=120) for code in codes[:MAX_CODES])


def _ingredient_state(ingredient: IngredientSummary) -> tuple[str, str]:
    if ingredient.state is not None:
        return ingredient.state.value, STATE_WORDS[ingredient.state]
    if ingredient.manifest_label:
        return "credentials", "Carries Content Credentials"
    return "none", "No Content Credentials of its own"


class _TreeBuilder:
    """The ingredient tree, capped in nodes and depth; a manifest already on the path is not entered again."""

    def __init__(self, manifests: tuple[ManifestSummary, ...]) -> None:
        self._store: dict[str, ManifestSummary] = {}
        for manifest in manifests:
            self._store.setdefault(manifest.label, manifest)
        self.nodes = 0
        self.not_shown = 0

    def build(self, ingredients: tuple[IngredientSummary, ...], *, depth: int, path: frozenset[str]):
        views = []
        for ingredient in ingredients:
            if self.nodes >= MAX_INGREDIENT_NODES:
                self.not_shown += 1
                continue
            self.nodes += 1
            views.append(self._node(ingredient, depth=depth, path=path))
        return tuple(views)

    def _node(self, ingredient: IngredientSummary, *, depth: int, path: frozenset[str]) -> IngredientView:
        state, state_words = _ingredient_state(ingredient)
        children: tuple[IngredientView, ...] = ()
        note = None
        own = self._store.get(ingredient.manifest_label or "")
        if ingredient.state is VerdictState.INVALID:
            note = "Its own history is not shown: its credentials could not be verified."
        elif own is not None and own.ingredients:
            if own.label in path:
                note = "Its own ingredients are not shown again: the manifests refer to each other in a loop."
            elif depth >= MAX_INGREDIENT_DEPTH:
                note = "Its own ingredients are not shown (nested too deeply)."
            else:
                children = self.build(own.ingredients, depth=depth + 1, path=path | {own.label})
        # An ingredient whose own credentials are broken makes no claim either.
        invalid = ingredient.state is VerdictState.INVALID
        source_type = None if invalid else _source_type(ingredient.digital_source_type)
        return IngredientView(
            title=display_text(ingredient.title) or "Untitled ingredient",
            relationship=RELATIONSHIP_WORDS.get(ingredient.relationship or "")
            or optional_text(ingredient.relationship, max_chars=60),
            format=optional_text(ingredient.format, max_chars=60),
            state=state,
            state_words=state_words,
            source_type=source_type,
            failure_codes=_codes(ingredient.failure_codes),
            children=children,
            note=note,
        )


def _signer(verdict: Verdict, label: Label) -> SignerView:
    signer = verdict.signer
    issuer = label.issuer or (optional_text(signer.organisation) if signer else None)
    common_name = optional_text(signer.common_name) if signer else None
    if verdict.state is VerdictState.TRUSTED:
        listed = trust_list_words(verdict.trust_list) or (
            f"the trust list “{display_text(verdict.trust_list, max_chars=60)}”"
            if verdict.trust_list
            else "a trust list"
        )
        return SignerView(
            issuer=issuer,
            common_name=common_name,
            trusted=True,
            trust_words="Trusted signer",
            trust_detail=f"The signer's certificate is on {listed}.",
        )
    return SignerView(
        issuer=issuer,
        common_name=common_name,
        trusted=False,
        trust_words="Unrecognized signer",
        trust_detail="The signature is valid, but the signer is on no trust list this server uses: "
        "anyone can make such a certificate, so who signed is not confirmed.",
    )


def _raw_manifests(verdict: Verdict) -> str:
    # ensure_ascii: control and bidi characters come out as \\u escapes, shown as such.
    text = json.dumps(verdict_to_dict(verdict)["manifests"], indent=2, ensure_ascii=True)
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS] + f"\n… ({len(text) - MAX_RAW_CHARS} more characters not shown)"
    return text


def _recovered(verdict: Verdict, label: Label) -> RecoveredView | None:
    found = verdict.recovered
    if found is None or not label.recovered:
        return None
    signer = found.signer
    trusted = found.state is VerdictState.TRUSTED
    return RecoveredView(
        manifest_id=display_text(found.manifest_id, max_chars=120),
        similarity_percent=f"{found.similarity * 100:.1f} %",
        matched_sha256=display_text(found.matched_sha256, max_chars=64),
        signed_at=found.signed_at,
        issuer=label.issuer or (optional_text(signer.organisation) if signer else None),
        trusted=trusted,
        trust_words="Trusted signer" if trusted else "Unrecognized signer",
        reason=display_text(found.reason, max_chars=LONG_TEXT),
    )


def verify_result(verdict: Verdict, label: Label, *, file_name: str, size: int, stored: bool = False) -> VerifyResult:
    """The page's view of one verified file."""
    show_claims = verdict.state in (VerdictState.TRUSTED, VerdictState.VALID)
    kind = LabelKind(label.kind)
    tree = _TreeBuilder(verdict.manifests)
    active = frozenset({verdict.manifests[0].label}) if verdict.manifests else frozenset()
    ingredients = tree.build(verdict.ingredients, depth=1, path=active) if show_claims else ()
    actions = verdict.actions if show_claims else ()
    return VerifyResult(
        file_name=display_text(file_name, max_chars=120),
        size=size,
        format=optional_text(verdict.format, max_chars=80),
        sha256=display_text(verdict.sha256, max_chars=64),
        label_text=display_text(label.text, max_chars=120),
        label_kind=kind.value,
        label_explanation=KIND_EXPLANATIONS[kind],
        evidence=EVIDENCE_WORDS.get(label.evidence) if show_claims and label.evidence.value != "none" else None,
        state=verdict.state.value,
        state_words=STATE_WORDS[verdict.state],
        reason=optional_text(verdict.reason, max_chars=LONG_TEXT),
        show_claims=show_claims,
        has_credentials=verdict.has_credentials,
        signer=_signer(verdict, label) if show_claims else None,
        signed_at=verdict.signed_at if show_claims else None,
        time_stamped=verdict.time_stamped if show_claims else False,
        time_stamp_trusted=bool(show_claims and verdict.time_stamp is not None and verdict.time_stamp.trusted),
        time_stamp_authority=(
            optional_text(verdict.time_stamp.authority, max_chars=200)
            if show_claims and verdict.time_stamp is not None
            else None
        ),
        title=optional_text(verdict.title) if show_claims else None,
        tool=optional_text(verdict.claim_generator) if show_claims else None,
        actions=tuple(_action(action) for action in actions[:MAX_ACTIONS]),
        actions_not_shown=max(len(actions) - MAX_ACTIONS, 0),
        ingredients=ingredients,
        ingredients_not_shown=tree.not_shown,
        failure_codes=_codes(verdict.failure_codes),
        ingredient_failure_codes=_codes(verdict.ingredient_failure_codes),
        raw_manifests=_raw_manifests(verdict) if show_claims else None,
        stored=stored,
        recovered=_recovered(verdict, label),
    )
