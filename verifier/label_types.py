"""The feed label: one neutral label per item, derived from a Verdict.

Types only; the derivation (a pure function) lives in `verifier.label`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LabelKind(str, enum.Enum):
    AI_GENERATED = "ai_generated"  # fully GenAI inception
    AI_EDITED = "ai_edited"  # partly GenAI / may contain GenAI, or a perceptible GenAI transformation
    CAPTURED = "captured"  # captured media, only non-editorial changes since
    CREDENTIALS = "credentials"  # valid credentials, no classification signal
    INVALID = "invalid"  # credentials present but broken: no provenance claim is shown
    NONE = "none"  # no credentials (or they could not be evaluated)


class LabelEvidence(str, enum.Enum):
    """What a label's classification rests on, strongest first."""

    DIGITAL_SOURCE_TYPE = "digital_source_type"  # IPTC digitalSourceType on an actions.v2 inception action
    LEGACY_ACTIONS = "legacy_actions"  # digitalSourceType in the older c2pa.actions assertion
    INGREDIENT_SOURCE_TYPE = "ingredient_source_type"  # declared on an ingredient
    GENERATIVE_AI_ASSERTION = "generative_ai_assertion"  # Adobe Firefly 2023 com.adobe.generative-ai
    AI_DESCRIPTION = "ai_description"  # Microsoft 2024 "AI Generated Image" description
    NONE = "none"  # no classification signal


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    kind: LabelKind
    trusted: bool  # signer found on a configured trust list
    text: str  # short neutral display text, e.g. "AI-generated"
    issuer: str | None  # who to show as the credential issuer (None when nothing is shown)
    evidence: LabelEvidence = LabelEvidence.NONE
    # The kind is that of credentials found by content match (Verdict.recovered), not of the
    # file's own: the text says so ("AI-generated · credentials found by content match").
    recovered: bool = False
    # The recovered manifest's id (urn:c2pa:...), so a takedown can take its label back from feeds.
    recovered_manifest_id: str | None = None
