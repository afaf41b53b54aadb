"""What an asset's Content Credentials say, as a typed, immutable result.

A `Verdict` is produced by the verifier for every asset it is given: a bad asset
is a verdict (`invalid` or `error`), never an exception. Everything here is plain
data (picklable, so verdicts can cross the process boundary of the isolated
verifier) and carries no engine objects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class VerdictState(str, enum.Enum):
    """The outcome of verifying one asset."""

    TRUSTED = "trusted"  # good signature, signer chains to a configured trust list
    VALID = "valid"  # good signature, signer on no configured list: "unrecognized"
    INVALID = "invalid"  # credentials present but broken (tampered, bad signature, ...)
    NONE = "none"  # no credentials in the asset
    ERROR = "error"  # could not be evaluated: unsupported, unreadable, over a limit


class VerdictError(str, enum.Enum):
    """Why an asset could not be evaluated (`error` verdicts only): stable codes for machines.

    `reason` says the same in words; clients branch on this. New codes may be added.
    """

    RESOURCE_LIMIT = "resource_limit"  # the engine hit the memory or time limit per asset and was stopped
    ENGINE_CRASH = "engine_crash"  # the engine's process died on this asset (not of a limit)
    TOO_LARGE = "too_large"  # over the size limit: refused unread, or a report too large to return
    UNSUPPORTED = "unsupported"  # a file type (or pre-release format) the engine cannot read
    UNREADABLE = "unreadable"  # not a readable, non-empty regular file
    MALFORMED = "malformed"  # the container or the credentials could not be parsed
    REMOTE_MANIFEST = "remote_manifest"  # credentials stored at a URL that was not fetched (not allowlisted)
    INTERNAL = "internal"  # a fault of originmark or of the engine's report, not of the asset


class ActionsForm(str, enum.Enum):
    """Which assertion an action was read from: the rubric reads only v2."""

    V1 = "c2pa.actions"
    V2 = "c2pa.actions.v2"


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One entry of a manifest's actions assertion."""

    action: str  # e.g. "c2pa.created"
    form: ActionsForm
    digital_source_type: str | None = None  # full IPTC / C2PA URI as written
    software_agent: str | None = None  # "name version" when given as a structure
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """Who signed a manifest, as the signing certificate names them."""

    organisation: str | None  # the certificate's issuer organisation, as the engine reports it
    common_name: str | None
    algorithm: str | None = None
    certificate_serial: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeStamp:
    """An RFC 3161 time-stamp on a manifest's signature whose message imprint the engine matched.

    `time` is the time-stamping authority's genTime: when the signature existed at the latest,
    as the TSA (not the signer's clock) attests. A signing certificate that has expired since
    still verifies when the time-stamp is `trusted` and falls inside the certificate's validity.
    """

    time: datetime  # the TSA's genTime (UTC)
    authority: str | None = None  # the TSA certificate's common name, as the token gives it
    trusted: bool = False  # the TSA's certificate chains to a configured trust list
    trust_list: str | None = None  # that list: "c2pa-tsa" (C2PA TSA list), "local-tsa" (operator's), "itl", ...


@dataclass(frozen=True, slots=True, kw_only=True)
class IngredientSummary:
    """An ingredient of a manifest (a parent, a component, an input to AI)."""

    title: str | None
    relationship: str | None  # "parentOf" | "componentOf" | "inputTo"
    format: str | None = None
    manifest_label: str | None = None  # the ingredient's own manifest, when it carried one
    state: VerdictState | None = None  # the ingredient's own validation outcome, when it had credentials
    failure_codes: tuple[str, ...] = ()
    digital_source_type: str | None = None  # some generators declare the source type here


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestSummary:
    """One manifest of the asset's manifest store."""

    label: str  # the manifest label (urn:c2pa:...): a public JSON field of every verdict, kept under this name
    claim_generator: str | None
    title: str | None = None
    signer: Signer | None = None
    signed_at: datetime | None = None
    time_stamped: bool = False
    time_stamp: TimeStamp | None = None  # when the engine validated a time-stamp on the signature
    actions: tuple[Action, ...] = ()
    assertion_labels: tuple[str, ...] = ()
    ingredients: tuple[IngredientSummary, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovered:
    """Credentials found for a file by content match in the manifest repository, not carried by it.

    Only on a verdict whose own state is `none` or `invalid`, and only for a kept manifest store
    that validates again (signature, trust, time-stamp) as `trusted` or `valid`. Its hard binding
    is to the bytes it was signed into (`matched_sha256`), never to the file verified: it says
    the pixels match that asset's, not that this file is unchanged (`reason` says so in words).
    """

    manifest_id: str  # the recovered active manifest's label (urn:c2pa:...)
    similarity: float  # the second-stage descriptor similarity, 0..1 (at least the threshold)
    alg: str  # the soft-binding algorithm that matched ("io.iscc.v0")
    matched_sha256: str  # SHA-256 of the asset the manifest was signed into
    signed_at: datetime | None  # the recovered manifest's signing time; else when its entry was kept
    distance: int  # Hamming distance between the two 64-bit codes (first stage)
    state: VerdictState  # the recovered store validated again: trusted or valid (unrecognized)
    trust_list: str | None = None  # the list its signer was found on (trusted only)
    signer: Signer | None = None
    digital_source_types: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Everything originmark reports about one asset's credentials.

    Fields about the signer and the story are those of the *active* manifest;
    `manifests` holds the whole store (active first) for history-based labels
    and for `inspect`.
    """

    state: VerdictState
    sha256: str  # of the bytes that were verified
    size: int
    engine_version: str
    format: str | None = None  # MIME type the engine read the asset as
    reason: str | None = None  # why invalid / error, in words a user can act on
    error_code: VerdictError | None = None  # why `error`, for machines (None for every other state)
    trust_list: str | None = None  # name of the list the signer was found on (trusted only)
    signer: Signer | None = None
    signed_at: datetime | None = None
    time_stamped: bool = False
    time_stamp: TimeStamp | None = None  # the active manifest's time-stamp: when, by whom, trusted on which list
    claim_generator: str | None = None
    title: str | None = None
    digital_source_types: tuple[str, ...] = ()  # declared on the active manifest's actions
    actions: tuple[Action, ...] = ()
    ingredients: tuple[IngredientSummary, ...] = ()
    failure_codes: tuple[str, ...] = ()  # validation failure codes of the active manifest
    ingredient_failure_codes: tuple[str, ...] = ()
    manifests: tuple[ManifestSummary, ...] = field(default=())
    # Credentials found by content match (app/usecases/recovery.py) for a file without valid ones
    # of its own; set per request, never stored with the file's own verdict.
    recovered: Recovered | None = None

    def __post_init__(self) -> None:
        if self.error_code is not None and self.state is not VerdictState.ERROR:
            raise ValueError(
                f"error_code {self.error_code.value!r} on a {self.state.value!r} verdict: only errors have one"
            )
        if self.recovered is not None and self.state not in (VerdictState.NONE, VerdictState.INVALID):
            raise ValueError(f"a {self.state.value!r} verdict has valid credentials of its own: nothing is recovered")

    @property
    def has_credentials(self) -> bool:
        return self.state in (VerdictState.TRUSTED, VerdictState.VALID, VerdictState.INVALID)
