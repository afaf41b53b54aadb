"""Signing policy: which generators and digital source types a caller may claim.

A credential states "made by <generator>, <digital source type>" under the operator's
certificate, and the service writes whatever the caller declares. A `SigningPolicy` bounds
those claims per API key, so a key handed to an AI product cannot make its output claim to
be a camera capture (`digitalCapture`) or human work: a leaked or misused key can at worst
sign content *as AI output*, never launder it into "captured".

A pure value (no I/O, no store): the store keeps one per API key (app/store/api_keys.py), the
CLI sets it (`originmark apikey create/policy`), and POST /v1/sign checks each request with
`check` before anything is signed. It lives in signer/ because it speaks the manifest's own
vocabulary (`DigitalSourceType`, `GenerationRequest.effective_source_type`); nothing here
knows about keys, HTTP or SQL. The in-process CLI (`originmark sign`) is the operator
itself and is not bound by any policy.

- generators: exact names, or patterns where `*` stands for any run of characters
  (`Acme *`); `*` alone allows any generator. Matching is case-sensitive and whole-name:
  the name is written into the manifest exactly as given, so the policy sees exactly that.
- digital source types: a set of IPTC terms. The effective type is checked, so a request
  that names none is checked against the default it gets (compositeWithTrainedAlgorithmicMedia
  with a parent, trainedAlgorithmicMedia without).
- replacing credentials (`may_replace_credentials`, default False): whether a request may drop the
  Content Credentials the file to sign already carries (`replace_credentials`) instead of keeping
  them as its parentOf ingredient. Denied unless granted, because dropping them is exactly what
  a leaked or misused key would do to pass a third party's AI image (or a tampered one) off under
  the operator's name with its history erased; keeping them costs a caller nothing it is owed.
  Granted only explicitly (`of(..., may_replace_credentials=True)`), not even by `unrestricted()`;
  the operator grants it to a key with `originmark apikey policy KEY --allow-replace-credentials`
  (stored per key since migration 0012), and every signature records what it did with the
  credentials in its audit entry. The in-process CLI, the operator itself, is not bound.

Configuration mistakes (an empty list, a blank or over-long pattern) fail when the policy is
built, not when a request is checked.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from signer.errors import SigningError
from signer.manifest import MAX_GENERATOR_TEXT, DigitalSourceType, GenerationRequest
from verifier.label_types import LabelKind

ANY_GENERATOR = "*"
MAX_GENERATOR_PATTERNS = 50

# Every source type that says the content was made (wholly or in part) by software. None of
# them claims a capture or a human creation; an operator may grant any of them to a key.
GENERATED_SOURCE_TYPES = frozenset(
    {
        DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA,
        DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        DigitalSourceType.ALGORITHMIC_MEDIA,
        DigitalSourceType.COMPOSITE_SYNTHETIC,
    }
)

# What a new sign key may claim unless granted more: only the types that the C2PA signals rubric
# (../shared/rubrics/asset-rubric-signals-local.yml, C2PA Conformance Task Force) turns into a
# GenAI signal on the action this service writes: `inception:signal_fullyGenAIMedia` is
# trainedAlgorithmicMedia and `inception:signal_partlyGenAICreation` is
# compositeWithTrainedAlgorithmicMedia. `algorithmicMedia` gives no GenAI signal at all, and
# `compositeSynthetic` only as a transformation (it is in `$genai_dst_types`, read for non-inception
# actions), never on `c2pa.created`: with them in the default, an AI product's key could issue
# trusted credentials that no rubric-driven validator labels as AI. An operator grants them
# explicitly (`originmark apikey create/policy --source-types ...`).
DEFAULT_SOURCE_TYPES = frozenset(
    {
        DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA,
        DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    }
)


# The source types the feed label shows as captured media (verifier/label.py: the signals rubric's
# inception:signal_capturedMedia and signal_capturedMediaStitched).
CAPTURE_SOURCE_TYPES = frozenset(
    {
        DigitalSourceType.DIGITAL_CAPTURE,
        DigitalSourceType.COMPUTATIONAL_CAPTURE,
        DigitalSourceType.COMPOSITE_CAPTURE,
    }
)
# Label kinds that say "made with AI": a rendition showing one can at worst pass content off as AI output.
AI_LABEL_KINDS = frozenset({LabelKind.AI_GENERATED, LabelKind.AI_EDITED})


class InvalidSigningPolicy(ValueError):
    """A policy that cannot be built: an empty list, a blank, over-long or control-character pattern."""


class SigningNotPermitted(SigningError):
    """The request claims a generator or a source type that the caller's policy does not allow.

    `generator` / `source_type` are the refused claims (None: that one is allowed);
    `source_type_defaulted` says the refused type was not named by the caller but is the default
    it would get; `replace_credentials` that dropping the file's own credentials was refused;
    `policy` is what the caller may claim.
    """

    def __init__(
        self,
        *,
        policy: SigningPolicy,
        generator: str | None,
        source_type: DigitalSourceType | None,
        source_type_defaulted: bool,
        replace_credentials: bool = False,
        rendition_label: LabelKind | None = None,
    ) -> None:
        self.policy = policy
        self.generator = generator
        self.source_type = source_type
        self.source_type_defaulted = source_type_defaulted
        self.replace_credentials = replace_credentials
        self.rendition_label = rendition_label
        refused = []
        if generator is not None:
            refused.append(f"the generator {generator[:100]!r} (allowed: {policy.describe_generators()})")
        if rendition_label is not None:
            needs = source_type.term if source_type is not None else "a digital source type that is not AI-generated"
            refused.append(
                f"renditions labelled {rendition_label.value!r} (their original's label; this API key would need "
                f"{needs}, allowed: {policy.describe_source_types()})"
            )
        elif source_type is not None:
            what = "the default digital source type" if source_type_defaulted else "the digital source type"
            refused.append(f"{what} {source_type.term!r} (allowed: {policy.describe_source_types()})")
        if replace_credentials:
            refused.append(
                "replacing the Content Credentials the file carries (sign without replace_credentials: they are "
                "then kept as the signed file's parent ingredient)"
            )
        super().__init__("the signing policy does not allow " + " nor ".join(refused))


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningPolicy:
    """The generators and digital source types a caller may claim; immutable, validated when built.

    `generators` is normalised to a sorted tuple without duplicates (just `("*",)` when `*` is
    among them), so two policies that allow the same claims compare equal.
    """

    generators: tuple[str, ...]
    source_types: frozenset[DigitalSourceType]
    may_replace_credentials: bool = False

    def __post_init__(self) -> None:
        patterns = tuple(self.generators) if not isinstance(self.generators, str) else (self.generators,)
        if not patterns:
            raise InvalidSigningPolicy(f"name at least one generator, or {ANY_GENERATOR!r} for any")
        if len(patterns) > MAX_GENERATOR_PATTERNS:
            raise InvalidSigningPolicy(f"at most {MAX_GENERATOR_PATTERNS} generator names or patterns")
        cleaned = set()
        for pattern in patterns:
            pattern = pattern.strip()
            if not pattern:
                raise InvalidSigningPolicy("a generator name or pattern is blank")
            if len(pattern) > MAX_GENERATOR_TEXT:
                raise InvalidSigningPolicy(f"a generator name or pattern is over {MAX_GENERATOR_TEXT} characters")
            # Control characters and lone surrogates: a generator name sent over HTTP (UTF-8 text)
            # never matches them; they only hide what the pattern is when it is listed.
            if any(unicodedata.category(char) in ("Cc", "Cs") for char in pattern):
                raise InvalidSigningPolicy("a generator name or pattern contains a control character")
            cleaned.add(pattern)
        object.__setattr__(self, "generators", (ANY_GENERATOR,) if ANY_GENERATOR in cleaned else tuple(sorted(cleaned)))

        types = frozenset(self.source_types)
        if not types:
            raise InvalidSigningPolicy("name at least one digital source type")
        if not all(isinstance(member, DigitalSourceType) for member in types):
            raise InvalidSigningPolicy("digital source types must be DigitalSourceType members")
        object.__setattr__(self, "source_types", types)

    @classmethod
    def default(cls) -> SigningPolicy:
        """Any generator, only the GenAI source types (DEFAULT_SOURCE_TYPES): what a new sign key gets."""
        return cls(generators=(ANY_GENERATOR,), source_types=DEFAULT_SOURCE_TYPES)

    @classmethod
    def unrestricted(cls) -> SigningPolicy:
        """Any generator, ANY source type, digitalCapture included: for the operator's own trusted tools only."""
        return cls(generators=(ANY_GENERATOR,), source_types=frozenset(DigitalSourceType))

    @classmethod
    def of(
        cls,
        *,
        generators: Iterable[str],
        source_types: Iterable[DigitalSourceType],
        may_replace_credentials: bool = False,
    ) -> SigningPolicy:
        return cls(
            generators=tuple(generators),
            source_types=frozenset(source_types),
            may_replace_credentials=may_replace_credentials,
        )

    @property
    def any_generator(self) -> bool:
        return self.generators == (ANY_GENERATOR,)

    def allows_generator(self, name: str) -> bool:
        return any(_pattern(pattern).fullmatch(name) is not None for pattern in self.generators)

    def allows_source_type(self, source_type: DigitalSourceType) -> bool:
        return source_type in self.source_types

    def check(self, request: GenerationRequest) -> None:
        """Raise SigningNotPermitted naming every claim of `request` this policy does not allow."""
        source_type = request.effective_source_type
        refused_generator = None if self.allows_generator(request.generator_name) else request.generator_name
        refused_type = None if self.allows_source_type(source_type) else source_type
        refused_replace = request.replace_credentials and not self.may_replace_credentials
        if refused_generator is not None or refused_type is not None or refused_replace:
            raise SigningNotPermitted(
                policy=self,
                generator=refused_generator,
                source_type=refused_type,
                source_type_defaulted=request.digital_source_type is None,
                replace_credentials=refused_replace,
            )

    def check_rendition(self, label: LabelKind) -> None:
        """Raise SigningNotPermitted unless this policy may sign renditions shown with `label`, their
        original's label kind (app/usecases/renditions.py).

        A rendition declares no source type of its own, but the caller chooses its bytes and they get
        the original's label: the same bound as `check`, on the claim that label stands for. An AI
        kind: any key (at worst content shown as AI output). `captured`: a capture type
        (CAPTURE_SOURCE_TYPES), as /v1/sign would need to make content captured. Any other kind
        (credentials without an AI signal, or none upstream): a source type outside
        GENERATED_SOURCE_TYPES, as /v1/sign would need to sign content as anything but AI output."""
        if label in AI_LABEL_KINDS:
            return
        needed = CAPTURE_SOURCE_TYPES if label is LabelKind.CAPTURED else _NON_GENERATED_SOURCE_TYPES
        if self.source_types & needed:
            return
        raise SigningNotPermitted(
            policy=self,
            generator=None,
            source_type=DigitalSourceType.DIGITAL_CAPTURE if label is LabelKind.CAPTURED else None,
            source_type_defaulted=False,
            rendition_label=label,
        )

    def source_type_terms(self) -> list[str]:
        """The allowed IPTC terms, sorted (for messages, storage and display)."""
        return sorted(member.term for member in self.source_types)

    def describe_generators(self) -> str:
        return "any generator" if self.any_generator else ", ".join(repr(pattern) for pattern in self.generators)

    def describe_source_types(self) -> str:
        return ", ".join(self.source_type_terms())


_NON_GENERATED_SOURCE_TYPES = frozenset(DigitalSourceType) - GENERATED_SOURCE_TYPES


@functools.lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    """`Acme *` -> a whole-string regex where only `*` is special (any characters, newlines too)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
