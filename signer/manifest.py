"""The C2PA manifest originmark writes for AI output: a pure function of the request.

What goes in, and why (C2PA 2.x, the C2PA conformance rubrics for generator products in
`../shared/rubrics/asset-rubric-conformance0.2-spec2.{2,4}.yml`):
- `claim_generator_info`: originmark, its version and the spec version it conforms to
  (`specVersion`, mandatory for Spec 2.4 submissions; the engine does not write it).
- One `c2pa.actions.v2` assertion, listed in `created_assertions` (the engine would put
  it among the gathered ones, and the rubric's inception check looks only at created
  assertions), with `allActionsIncluded: true`.
- New output: `c2pa.created` first, with the IPTC `digitalSourceType` and the generator as
  `softwareAgent`.
- An AI edit of a parent: `c2pa.opened` first, referencing the `parentOf` ingredient
  (exactly one reference, no `digitalSourceType`: Spec 2.4), then `c2pa.edited` with the
  source type of the result and the generator as `softwareAgent`. The same when the file being
  signed carries credentials of its own and no separate parent is given: the file itself is the
  `parentOf` ingredient (its manifest store and validation results kept, the way c2patool keeps
  them), unless the request says `replace_credentials` (signer/engine.py decides, after looking).
- For an image, one `c2pa.soft-binding` assertion (C2PA 2.x "Soft Binding"): `alg` `io.iscc.v0`
  (the C2PA soft binding algorithm list) and one block whose empty `scope` means the whole
  image and whose `value` is the 256-bit ISCC Image-Code in binary (header and body, as
  IEP-0020 encodes ISCC units for C2PA), base64-encoded as the Soft Binding Resolution API
  takes it. Also listed in `created_assertions`: a gathered assertion would say someone
  other than originmark vouches for the fingerprint, and the conformance rubric keeps 31/31.
  For a video, the same assertion with one block per fingerprinted key frame: its `scope` a
  `timespan` (`start`, `end`: milliseconds from the start of the media, the span the frame stands
  for) and its `value` that frame's Image-Code (verifier/video_fingerprint.py); first, when it was
  computed, a block with the ISCC Video-Code (verifier/video_code.py), its scope the whole asset
  (empty), or the timespan it was computed over when the video is longer than that.
Only non-deprecated labels are used (`c2pa.actions.v2`, not `c2pa.actions`), and claim
version 2 is requested explicitly rather than left to the engine's default.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from signer.errors import SigningError
from verifier.fingerprint import ALG as SOFT_BINDING_ALG
from verifier.fingerprint import ImageFingerprint
from verifier.video_fingerprint import VideoFingerprint

IPTC_DIGITAL_SOURCE_TYPE_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# The C2PA specification version our claims are written to, declared in claim_generator_info.
C2PA_SPEC_VERSION = "2.4.0"

CLAIM_GENERATOR_NAME = "originmark"

# The label an ingredient gets in the definition so an action can point at it; the engine
# replaces the reference by a hashed URI to the ingredient assertion when it signs.
PARENT_INGREDIENT_LABEL = "originmark.parent"

SOFT_BINDING_LABEL = "c2pa.soft-binding"

# A rendition's actions: only non-editorial ones (C2PA 2.x: the content's meaning is not changed),
# those on the non-editorial list of the C2PA conformance and signals rubrics
# (../shared/rubrics/asset-rubric-conformance0.2-spec2.4.yml `$non_editorial_actions`) that say what
# a platform's rendition does. Plain `c2pa.resized` is not on it: the rubric counts it as a
# perceptible transformation, which must declare a digital source type (a rendition declares
# none) and which ends a captured original's "captured"; a rendition that keeps the aspect ratio
# says `c2pa.resized.proportional`.
RENDITION_ACTIONS = frozenset({"c2pa.resized.proportional", "c2pa.transcoded", "c2pa.converted", "c2pa.repackaged"})
_NOT_NON_EDITORIAL = {
    "c2pa.resized": "c2pa.resized is a perceptible edit for the C2PA conformance rubric (dimensions changed, aspect "
    "ratio not promised): a rendition scaled with its aspect ratio kept says c2pa.resized.proportional",
}
# The name under which the kept store of a rendition's original is handed to the engine (Builder.add_resource).
UPSTREAM_STORE_RESOURCE = "originmark.upstream.c2pa"

# Generator names and versions end up in every verifier's UI: keep them short.
MAX_GENERATOR_TEXT = 256
MAX_TITLE_TEXT = 1024


def originmark_version() -> str:
    """The installed originmark version (as packaged), for `claim_generator_info`."""
    try:
        return metadata.version("originmark")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


class DigitalSourceType(str, enum.Enum):
    """The IPTC digital source type vocabulary, as the full URIs C2PA requires.

    https://cv.iptc.org/newscodes/digitalsourcetype/ — the AI-related terms first.
    """

    TRAINED_ALGORITHMIC_MEDIA = IPTC_DIGITAL_SOURCE_TYPE_BASE + "trainedAlgorithmicMedia"
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_DIGITAL_SOURCE_TYPE_BASE + "compositeWithTrainedAlgorithmicMedia"
    ALGORITHMIC_MEDIA = IPTC_DIGITAL_SOURCE_TYPE_BASE + "algorithmicMedia"
    COMPOSITE_SYNTHETIC = IPTC_DIGITAL_SOURCE_TYPE_BASE + "compositeSynthetic"
    ALGORITHMICALLY_ENHANCED = IPTC_DIGITAL_SOURCE_TYPE_BASE + "algorithmicallyEnhanced"
    DATA_DRIVEN_MEDIA = IPTC_DIGITAL_SOURCE_TYPE_BASE + "dataDrivenMedia"
    DIGITAL_CREATION = IPTC_DIGITAL_SOURCE_TYPE_BASE + "digitalCreation"
    COMPOSITE = IPTC_DIGITAL_SOURCE_TYPE_BASE + "composite"
    COMPOSITE_CAPTURE = IPTC_DIGITAL_SOURCE_TYPE_BASE + "compositeCapture"
    DIGITAL_CAPTURE = IPTC_DIGITAL_SOURCE_TYPE_BASE + "digitalCapture"
    COMPUTATIONAL_CAPTURE = IPTC_DIGITAL_SOURCE_TYPE_BASE + "computationalCapture"
    SCREEN_CAPTURE = IPTC_DIGITAL_SOURCE_TYPE_BASE + "screenCapture"
    VIRTUAL_RECORDING = IPTC_DIGITAL_SOURCE_TYPE_BASE + "virtualRecording"
    NEGATIVE_FILM = IPTC_DIGITAL_SOURCE_TYPE_BASE + "negativeFilm"
    POSITIVE_FILM = IPTC_DIGITAL_SOURCE_TYPE_BASE + "positiveFilm"
    PRINT = IPTC_DIGITAL_SOURCE_TYPE_BASE + "print"
    HUMAN_EDITS = IPTC_DIGITAL_SOURCE_TYPE_BASE + "humanEdits"
    MINOR_HUMAN_EDITS = IPTC_DIGITAL_SOURCE_TYPE_BASE + "minorHumanEdits"

    @property
    def term(self) -> str:
        """The short IPTC term, e.g. `trainedAlgorithmicMedia`."""
        return self.value.removeprefix(IPTC_DIGITAL_SOURCE_TYPE_BASE)

    @classmethod
    def from_text(cls, text: str) -> DigitalSourceType:
        """Accepts the short term (any case) or the full URI; InvalidRequest otherwise."""
        wanted = text.strip()
        for member in cls:
            if wanted == member.value or wanted.casefold() == member.term.casefold():
                return member
        raise InvalidRequest(f"unknown digital source type {wanted!r}; use one of: " + ", ".join(m.term for m in cls))

    def __str__(self) -> str:
        return self.term


class PriorCredentials(str, enum.Enum):
    """What became of the credentials the file to sign already carried (signer/engine.py)."""

    NONE = "none"  # it carried none
    KEPT = "kept"  # recorded as the output's parentOf ingredient, with their validation results
    REPLACED = "replaced"  # dropped, because the request said replace_credentials


class InvalidRequest(SigningError, ValueError):
    """A generation request that cannot become a manifest (empty generator name, ...)."""


def rendition_actions(actions: tuple[str, ...]) -> tuple[str, ...]:
    """The actions, each once, in order, when all are RENDITION_ACTIONS; InvalidRequest otherwise."""
    distinct = tuple(dict.fromkeys(action.strip() for action in actions))
    if not distinct:
        raise InvalidRequest("name at least one action: " + ", ".join(sorted(RENDITION_ACTIONS)))
    unknown = [action for action in distinct if action not in RENDITION_ACTIONS]
    if unknown:
        why = _NOT_NON_EDITORIAL.get(unknown[0], "")
        raise InvalidRequest(
            f"{unknown[0][:64]!r} is not a rendition action{': ' + why if why else ''}; a rendition may only "
            "say what was done without changing the content's meaning: " + ", ".join(sorted(RENDITION_ACTIONS))
        )
    return distinct


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """The original a rendition was made from, as the manifest repository keeps it (not its file).

    `manifest_store`: the original's kept manifest store, recorded as the rendition's parentOf
    ingredient (the engine validates it again when it signs: signer/engine.py); None when the
    original carried no credentials and the caller asked to sign anyway: the ingredient then names
    the original without a manifest ("no credentials upstream", never invented ones).
    `actions`: what the rendition did, from RENDITION_ACTIONS (InvalidRequest otherwise).
    """

    title: str
    format: str | None  # the original's MIME type, when known
    actions: tuple[str, ...]
    manifest_store: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", rendition_actions(self.actions))
        if len(self.title) > MAX_TITLE_TEXT:
            object.__setattr__(self, "title", self.title[:MAX_TITLE_TEXT])


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationRequest:
    """What to declare about one piece of AI output.

    `digital_source_type` None means the usual choice: trainedAlgorithmicMedia for new
    output, compositeWithTrainedAlgorithmicMedia for an AI edit of a `parent`. A file that
    carries credentials of its own keeps that choice (the claim a signing policy checks before the
    file is read): its manifest records the caller's source type on `c2pa.edited`.

    `replace_credentials`: credentials the file to sign already carries are dropped instead of
    recorded as its parentOf ingredient (a signing policy must allow it: signer/policy.py).
    """

    generator_name: str
    generator_version: str | None = None
    digital_source_type: DigitalSourceType | None = None
    title: str | None = None
    parent: Path | None = None
    replace_credentials: bool = False
    # A rendition of an original (app/usecases/renditions.py): the manifest says `c2pa.opened` (the
    # original's kept store as the parentOf ingredient) and the rendition's non-editorial actions,
    # with the generator as their softwareAgent, and declares no digital source type of its own.
    rendition_of: Upstream | None = None

    def __post_init__(self) -> None:
        if self.rendition_of is not None and (self.parent is not None or self.replace_credentials):
            raise InvalidRequest("a rendition names its original as rendition_of, not as a parent")
        if not self.generator_name.strip():
            raise InvalidRequest("the generator name is empty: name the model or product that made the output")
        for field_name, text, limit in (
            ("generator name", self.generator_name, MAX_GENERATOR_TEXT),
            ("generator version", self.generator_version or "", MAX_GENERATOR_TEXT),
            ("title", self.title or "", MAX_TITLE_TEXT),
        ):
            if len(text) > limit:
                raise InvalidRequest(f"the {field_name} is {len(text)} characters long; at most {limit} are allowed")
        if self.digital_source_type is not None and not isinstance(self.digital_source_type, DigitalSourceType):
            object.__setattr__(self, "digital_source_type", DigitalSourceType.from_text(str(self.digital_source_type)))

    @property
    def effective_source_type(self) -> DigitalSourceType:
        if self.digital_source_type is not None:
            return self.digital_source_type
        if self.parent is not None:
            return DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
        return DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA


def build_manifest_definition(
    request: GenerationRequest,
    *,
    default_title: str,
    originmark_version: str,
    fingerprint: ImageFingerprint | VideoFingerprint | None = None,
    opens_source: bool = False,
) -> dict[str, Any]:
    """The manifest definition (c2pa-rs `ManifestDefinition` JSON) for one signed output.

    `default_title` is used when the request has no title (the output's file name).
    With `request.parent`, or `opens_source` (the file being signed carries credentials that are
    kept), the caller adds the parentOf ingredient with `parent_ingredient_definition`.
    `fingerprint`, of the very pixels (or key frames) being signed, adds the soft-binding assertion.
    """
    software_agent: dict[str, str] = {"name": request.generator_name}
    if request.generator_version:
        software_agent["version"] = request.generator_version

    if request.rendition_of is not None:
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_INGREDIENT_LABEL]}},
            *({"action": action, "softwareAgent": software_agent} for action in request.rendition_of.actions),
        ]
    elif request.parent is None and not opens_source:
        actions = [
            {
                "action": "c2pa.created",
                "digitalSourceType": request.effective_source_type.value,
                "softwareAgent": software_agent,
            }
        ]
    else:
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_INGREDIENT_LABEL]}},
            {
                "action": "c2pa.edited",
                "digitalSourceType": request.effective_source_type.value,
                "softwareAgent": software_agent,
            },
        ]

    assertions: list[dict[str, Any]] = [
        {
            "label": "c2pa.actions.v2",
            "created": True,
            "data": {"actions": actions, "allActionsIncluded": True},
        }
    ]
    if fingerprint is not None:
        assertions.append(soft_binding_assertion(fingerprint))
    return {
        "claim_version": 2,
        "claim_generator_info": [
            {"name": CLAIM_GENERATOR_NAME, "version": originmark_version, "specVersion": C2PA_SPEC_VERSION}
        ],
        "title": request.title or default_title,
        "assertions": assertions,
    }


def soft_binding_assertion(fingerprint: ImageFingerprint | VideoFingerprint) -> dict[str, Any]:
    """The `c2pa.soft-binding` assertion definition carrying an image's ISCC Image-Code, or a video's
    Video-Code (if computed) and its key frames' Image-Codes, each scoped to its timespan."""
    if isinstance(fingerprint, ImageFingerprint):
        blocks = [{"scope": {}, "value": _binding_value(fingerprint)}]
    else:
        code = fingerprint.video_code
        whole: list[dict[str, Any]] = []
        if code is not None:
            scope = {} if code.end_ms is None else {"timespan": {"start": 0, "end": code.end_ms}}
            whole.append({"scope": scope, "value": base64.b64encode(code.iscc_digest).decode("ascii")})
        blocks = whole + [
            {
                "scope": {"timespan": {"start": frame.start_ms, "end": frame.end_ms}},
                "value": _binding_value(frame.fingerprint),
            }
            for frame in fingerprint.key_frames
        ]
    return {
        "label": SOFT_BINDING_LABEL,
        "created": True,
        "data": {"alg": SOFT_BINDING_ALG, "blocks": blocks},
    }


def _binding_value(fingerprint: ImageFingerprint) -> str:
    return base64.b64encode(fingerprint.iscc_digest).decode("ascii")


def parent_ingredient_definition(parent: Path, *, title: str | None = None) -> dict[str, Any]:
    """The ingredient definition for an AI edit's parent (the file being signed itself, when it carries
    credentials that are kept); its own manifest (if any) comes from its bytes."""
    return {"title": title or parent.name, "relationship": "parentOf", "label": PARENT_INGREDIENT_LABEL}


def upstream_ingredient_definition(
    upstream: Upstream, *, active_manifest: str | None, validation_results: dict[str, Any] | None
) -> dict[str, Any]:
    """A rendition's parentOf ingredient: its original's kept manifest store (handed to the engine as
    the resource UPSTREAM_STORE_RESOURCE) with the validation results of that store, which the engine
    requires and records as given; without a store, the original named and nothing claimed for it."""
    definition: dict[str, Any] = {"title": upstream.title, "relationship": "parentOf", "label": PARENT_INGREDIENT_LABEL}
    if upstream.format:
        definition["format"] = upstream.format
    if upstream.manifest_store is not None:
        definition["manifest_data"] = {"format": "application/c2pa", "identifier": UPSTREAM_STORE_RESOURCE}
        definition["active_manifest"] = active_manifest
        definition["validation_results"] = validation_results
    return definition
