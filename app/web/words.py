"""C2PA vocabulary in plain words, for people rather than parsers.

Terms not listed here are shown as written (cleaned), never guessed at: a new action or source
type must not be mistaken for a known one.
"""

from __future__ import annotations

from verifier.label_types import LabelEvidence, LabelKind
from verifier.verdict import VerdictState

# C2PA 2.x standard actions (spec, "Actions"), what a viewer would say about each.
ACTION_WORDS: dict[str, str] = {
    "c2pa.created": "Created",
    "c2pa.opened": "Opened an existing file",
    "c2pa.placed": "Placed another item into it",
    "c2pa.edited": "Edited",
    "c2pa.edited.metadata": "Edited its metadata",
    "c2pa.color_adjustments": "Adjusted colours",
    "c2pa.cropped": "Cropped",
    "c2pa.drawing": "Drew on it",
    "c2pa.filtered": "Applied a filter",
    "c2pa.orientation": "Rotated or flipped",
    "c2pa.removed": "Removed something from it",
    "c2pa.resized": "Resized",
    "c2pa.resized.proportional": "Resized proportionally",
    "c2pa.converted": "Converted to another format",
    "c2pa.transcoded": "Re-encoded",
    "c2pa.repackaged": "Repackaged without re-encoding",
    "c2pa.published": "Published",
    "c2pa.produced": "Produced",
    "c2pa.managed": "Managed by an asset system",
    "c2pa.enhanced": "Enhanced",
    "c2pa.redacted": "Redacted",
    "c2pa.translated": "Translated",
    "c2pa.versioned": "Saved as a new version",
    "c2pa.watermarked": "Watermarked",
    "c2pa.watermarked.bound": "Watermarked (bound to these credentials)",
    "c2pa.watermarked.unbound": "Watermarked",
    "c2pa.deleted": "Deleted a part",
    "c2pa.unknown": "Changed in ways not declared",
}

# IPTC digital source types (and C2PA's two), by their short term.
SOURCE_TYPE_WORDS: dict[str, str] = {
    "trainedAlgorithmicMedia": "made with generative AI",
    "trainedAlgorithmicData": "data made with generative AI",
    "compositeWithTrainedAlgorithmicMedia": "combined with generative AI output",
    "compositeSynthetic": "a composite that includes synthetic elements",
    "algorithmicMedia": "made by an algorithm (not trained AI)",
    "algorithmicallyEnhanced": "enhanced by an algorithm",
    "dataDrivenMedia": "generated from data",
    "digitalCreation": "made by a person with digital tools",
    "digitalArt": "digital art",
    "composite": "a composite of several sources",
    "compositeCapture": "several captures combined",
    "digitalCapture": "captured by a camera or recorder",
    "computationalCapture": "captured with computational processing",
    "screenCapture": "a screen capture",
    "virtualRecording": "recorded in a virtual environment",
    "negativeFilm": "scanned from negative film",
    "positiveFilm": "scanned from positive film",
    "print": "scanned from a print",
    "humanEdits": "edited by a person",
    "minorHumanEdits": "with minor edits by a person",
    "empty": "started from a blank canvas",
}

TRUST_LIST_WORDS: dict[str, str] = {
    "c2pa": "the C2PA trust list",
    "itl": "the C2PA Interim Trust List",
    "c2pa-tsa": "the C2PA time-stamping trust list",
    "local": "this server's own trust anchors",
}

RELATIONSHIP_WORDS: dict[str, str] = {
    "parentOf": "the file this one was made from",
    "componentOf": "a part placed into this one",
    "inputTo": "an input given to AI",
}

STATE_WORDS: dict[VerdictState, str] = {
    VerdictState.TRUSTED: "Trusted Content Credentials",
    VerdictState.VALID: "Valid Content Credentials, unrecognized signer",
    VerdictState.INVALID: "Content Credentials could not be verified",
    VerdictState.NONE: "No Content Credentials",
    VerdictState.ERROR: "Content Credentials could not be read",
}

EVIDENCE_WORDS: dict[LabelEvidence, str] = {
    LabelEvidence.DIGITAL_SOURCE_TYPE: "a declared IPTC digital source type",
    LabelEvidence.LEGACY_ACTIONS: "a source type in the older actions assertion",
    LabelEvidence.INGREDIENT_SOURCE_TYPE: "a source type declared on an ingredient",
    LabelEvidence.GENERATIVE_AI_ASSERTION: "Adobe's 2023 generative-AI assertion",
    LabelEvidence.AI_DESCRIPTION: "an “AI Generated Image” description",
    LabelEvidence.NONE: "no classification signal",
}

# What each label means, one sentence under the label itself.
KIND_EXPLANATIONS: dict[LabelKind, str] = {
    LabelKind.AI_GENERATED: "Its Content Credentials say it was made with generative AI.",
    LabelKind.AI_EDITED: "Its Content Credentials say generative AI was used to make or change part of it.",
    LabelKind.CAPTURED: "Its Content Credentials say it was captured by a camera or recorder, "
    "with no editorial changes since.",
    LabelKind.CREDENTIALS: "It carries Content Credentials that do not say whether AI was involved.",
    LabelKind.INVALID: "It carries Content Credentials, but they are broken or the file changed after signing: "
    "nothing they claim can be relied on, so none of it is shown.",
    LabelKind.NONE: "There is nothing to show about where it came from.",
}


def action_words(action: str) -> str | None:
    return ACTION_WORDS.get(action)


def trust_list_words(name: str | None) -> str | None:
    if name is None:
        return None
    return TRUST_LIST_WORDS.get(name)
