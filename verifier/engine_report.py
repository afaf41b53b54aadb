"""From the engine's JSON report of a manifest store to the parts of a `Verdict`.

Pure functions over parsed JSON (no engine calls, no I/O), so they are cheap to
test and to reason about. Every string copied out of the report goes through
`clean_text`: manifest content is attacker-controlled.

Where the facts come from (c2pa-rs 0.91.3):

- `Reader.json()` (cheap: the engine builds it while reading) gives manifests,
  signature info, ingredients and validation results. It rewrites the label of
  a legacy `c2pa.actions` assertion to `c2pa.actions.v2`, so it cannot say which
  form an action was written in.
- The validation log names every assertion it checked by its real URL
  (".../c2pa.assertions/c2pa.actions"): that recovers the real labels for free.
- When the log does not cover a manifest, the real labels come from crJSON, which
  keeps them; crJSON costs about a third of a read, so it is fetched only then
  (and for trust attribution when the engine's explanation does not name a
  signer list: it holds the signing certificate's serial and issuer name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from verifier.hostile_text import clean_code, clean_text
from verifier.trust import CertificateFacts, DistinguishedName
from verifier.verdict import (
    Action,
    ActionsForm,
    IngredientSummary,
    ManifestSummary,
    Signer,
    TimeStamp,
    VerdictState,
)

_ASSERTION_URL = re.compile(r"^self#jumbf=/c2pa/(?P<manifest>.+?)/c2pa\.assertions/(?P<assertion>[^/]+)$")
_SIGNATURE_URL = re.compile(r"^self#jumbf=/c2pa/(?P<manifest>.+?)(?:/c2pa\.signature)?$")
_INSTANCE_SUFFIX = re.compile(r"__\d+$")

ACTIONS_V1 = "c2pa.actions"
ACTIONS_V2 = "c2pa.actions.v2"

# Codes that report trust in the signer under *someone's* trust configuration. A code an
# ingredient recorded when it was ingested reflects the ingesting tool's lists, not ours.
UNTRUSTED_CODE = "signingCredential.untrusted"
# Failures that say only that a credential chains to no configured anchor: the signer's own
# (signingCredential.untrusted), or a CAWG X.509 identity assertion's, which the engine reports
# among a manifest's failures while calling the asset Valid (a camera photo of the corpus,
# C_with_CAWG_data.jpg; signer/engine.py TRUST_ONLY_FAILURE_CODES). A store read apart from its
# asset, or an ingredient, with no other failure is then valid (unrecognized), as such an asset
# itself is, not invalid.
CAWG_X509_UNTRUSTED_CODE = "cawg.x509.credential.untrusted"
TRUST_ONLY_CODES = frozenset({UNTRUSTED_CODE, CAWG_X509_UNTRUSTED_CODE})
TRUSTED_CODE = "signingCredential.trusted"
REVALIDATED_CODE = "ingredient.manifest.validated"  # the ingredient's manifest was validated in this read
TIME_STAMP_VALIDATED_CODES = frozenset({"timeStamp.validated", "timeStamp.trusted"})
TIME_STAMP_TRUSTED_CODE = "timeStamp.trusted"  # the TSA chains to a configured anchor (any list kind)
_TIME_STAMP_AUTHORITY = re.compile(r"^timestamp message digest matched: (?P<authority>.+)$", re.DOTALL)
_RECORDED_NON_FAILURES = frozenset(
    {
        TRUSTED_CODE,
        UNTRUSTED_CODE,
        "timeStamp.trusted",
        "timeStamp.validated",
        "timeStamp.untrusted",
        "claimSignature.validated",
        "claimSignature.insideValidity",
        "signingCredential.ocsp.notRevoked",
        "signingCredential.ocsp.skipped",
        "assertion.hashedURI.match",
        "assertion.dataHash.match",
        "assertion.bmffHash.match",
        "assertion.boxesHash.match",
        "ingredient.unknownProvenance",
    }
)

# A manifest store read without its asset (a kept store, validated again for a file found by
# content match): there are no asset bytes to hash, so the engine always reports these.
HARD_BINDING_MISMATCH_CODES = frozenset(
    {
        "assertion.dataHash.mismatch",
        "assertion.bmffHash.mismatch",
        "assertion.boxesHash.mismatch",
        "assertion.collectionHash.mismatch",
    }
)

MAX_ACTIONS_PER_MANIFEST = 1000  # a store may list any number; a verdict stays small
MAX_INGREDIENTS_PER_MANIFEST = 1000
MAX_MANIFESTS = 200
MAX_CODES = 200


class StatusEntry(NamedTuple):
    """One validation status. A tuple, not a dataclass: a report holds thousands."""

    code: str
    url: str
    raw_explanation: object  # as the engine wrote it; may quote manifest text
    outcome: str  # "success" | "informational" | "failure"

    @property
    def explanation(self) -> str | None:
        return clean_text(self.raw_explanation, limit=500)


def _as_dict(value: object) -> dict[str, Any]:
    return value if type(value) is dict else {}


def _as_list(value: object) -> list[Any]:
    return value if type(value) is list else []


def _entries(section: object, outcome: str) -> Iterator[StatusEntry]:
    if type(section) is not list:
        return
    for entry in section:
        if type(entry) is not dict:
            continue
        code = entry.get("code")
        if not (type(code) is str and len(code) <= 200 and code.isprintable()):
            code = clean_code(code)
            if code is None:
                continue
        url = entry.get("url")
        yield StatusEntry(code, url if type(url) is str else "", entry.get("explanation"), outcome)


def _result_entries(results: object) -> Iterator[StatusEntry]:
    """Entries of one `{success, informational, failure}` block."""
    results = _as_dict(results)
    for outcome in ("success", "informational", "failure"):
        yield from _entries(results.get(outcome), outcome)


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationLog:
    """The engine's validation results of one read, parsed once."""

    active: tuple[StatusEntry, ...]  # the active manifest
    deltas: Mapping[str, tuple[StatusEntry, ...]]  # current validation of each ingredient, by assertion URL
    recorded: tuple[StatusEntry, ...]  # results ingredients recorded when they were ingested

    @classmethod
    def of(cls, report: Mapping[str, Any]) -> ValidationLog:
        results = _as_dict(report.get("validation_results"))
        deltas: dict[str, list[StatusEntry]] = {}
        for delta in _as_list(results.get("ingredientDeltas")):
            delta = _as_dict(delta)
            uri = delta.get("ingredientAssertionURI")
            if isinstance(uri, str):
                deltas.setdefault(uri, []).extend(_result_entries(delta.get("validationDeltas")))
        recorded: list[StatusEntry] = []
        for manifest in _as_dict(report.get("manifests")).values():
            for ingredient in _as_list(_as_dict(manifest).get("ingredients")):
                recorded_results = _as_dict(_as_dict(ingredient).get("validation_results"))
                recorded.extend(_result_entries(recorded_results.get("activeManifest")))
        return cls(
            active=tuple(_result_entries(results.get("activeManifest"))),
            deltas={uri: tuple(entries) for uri, entries in deltas.items()},
            recorded=tuple(recorded),
        )

    def everything(self) -> Iterator[StatusEntry]:
        yield from self.active
        for entries in self.deltas.values():
            yield from entries
        yield from self.recorded


def failure_codes(entries: Iterable[StatusEntry]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.code for e in entries if e.outcome == "failure"))[:MAX_CODES]


# --- real assertion labels (the actions form) ---


def assertion_labels_from_crjson(crjson: Mapping[str, Any]) -> dict[str, list[str]]:
    by_manifest = {}
    for manifest in _as_list(crjson.get("manifests")):
        manifest = _as_dict(manifest)
        manifest_label = manifest.get("label")
        if isinstance(manifest_label, str):
            by_manifest[manifest_label] = [key for key in _as_dict(manifest.get("assertions")) if isinstance(key, str)]
    return by_manifest


def _base_assertion_label(assertion_label: str) -> str:
    return _INSTANCE_SUFFIX.sub("", assertion_label)


def _is_actions_label(assertion_label: str) -> bool:
    return _base_assertion_label(assertion_label) in (ACTIONS_V1, ACTIONS_V2)


def assertion_labels_cover_report(report: Mapping[str, Any], assertion_labels: Mapping[str, list[str]]) -> bool:
    """Whether `assertion_labels` names every assertion and ingredient `json()` shows, for every manifest."""
    for manifest_label, manifest in _as_dict(report.get("manifests")).items():
        manifest = _as_dict(manifest)
        known = assertion_labels.get(manifest_label)
        if known is None:
            if _as_list(manifest.get("assertions")) or _as_list(manifest.get("ingredients")):
                return False
            continue
        known_set = set(known)
        listed = [_as_dict(a).get("label") for a in _as_list(manifest.get("assertions"))]
        listed += [_as_dict(i).get("label") for i in _as_list(manifest.get("ingredients"))]
        shown = [each for each in listed if isinstance(each, str)]
        # json() may show a legacy actions assertion under the v2 label: count those instead.
        if sum(1 for each in shown if _is_actions_label(each)) > sum(1 for each in known if _is_actions_label(each)):
            return False
        if any(each not in known_set for each in shown if not _is_actions_label(each)):
            return False
    return True


# --- signer ---


def signer_of(manifest: Mapping[str, Any]) -> Signer | None:
    info = _as_dict(manifest.get("signature_info"))
    if not info:
        return None
    return Signer(
        organisation=clean_text(info.get("issuer"), limit=500),
        common_name=clean_text(info.get("common_name"), limit=500),
        algorithm=clean_text(info.get("alg"), limit=50),
        certificate_serial=clean_text(info.get("cert_serial_number"), limit=100),
    )


def signing_time_of(manifest: Mapping[str, Any]) -> datetime | None:
    value = _as_dict(manifest.get("signature_info")).get("time")
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _crjson_signature(crjson: Mapping[str, Any], manifest_label: str) -> dict[str, Any]:
    for manifest in _as_list(crjson.get("manifests")):
        manifest = _as_dict(manifest)
        if manifest.get("label") == manifest_label:
            return _as_dict(manifest.get("signature"))
    return {}


def _certificate_facts(info: dict[str, Any]) -> CertificateFacts | None:
    if not info:
        return None
    serial_text = info.get("serialNumber")
    try:
        serial = int(serial_text, 16) if isinstance(serial_text, str) and len(serial_text) <= 128 else None
    except ValueError:
        serial = None
    return CertificateFacts(
        serial_number=serial,
        issuer=DistinguishedName.from_mapping(_as_dict(info.get("issuer"))),
        subject=DistinguishedName.from_mapping(_as_dict(info.get("subject"))),
    )


def certificate_facts_from_crjson(crjson: Mapping[str, Any], manifest_label: str) -> CertificateFacts | None:
    """The signing certificate's serial, issuer and subject for one manifest."""
    return _certificate_facts(_as_dict(_crjson_signature(crjson, manifest_label).get("certificateInfo")))


def time_stamp_authority_from_crjson(crjson: Mapping[str, Any], manifest_label: str) -> CertificateFacts | None:
    """The time-stamping authority certificate's serial, issuer and subject for one manifest.

    crJSON (c2pa-rs 0.91.3) gives it as `signature.timeStampInfo.certificateInfo`, next to
    the genTime (`timeStampInfo.timestamp`, the same time as json()'s `signature_info.time`).
    """
    stamp = _as_dict(_crjson_signature(crjson, manifest_label).get("timeStampInfo"))
    return _certificate_facts(_as_dict(stamp.get("certificateInfo")))


def trusted_explanation(entries: Iterable[StatusEntry]) -> str | None:
    for entry in entries:
        if entry.code == TRUSTED_CODE and entry.outcome == "success":
            return entry.explanation
    return None


@dataclass(frozen=True, slots=True)
class TimeStampFindings:
    """What this read's validation says about one manifest's time-stamp."""

    authority: str | None  # the TSA certificate's common name, from the engine's explanation
    trusted: bool  # `timeStamp.trusted` in this read (under our trust settings), no `timeStamp.untrusted`
    trusted_explanation: str | None  # the engine's words, which may name the list


@dataclass(frozen=True, slots=True)
class LogFacts:
    """What the validation log says per manifest, gathered in one walk over it (`log_facts`)."""

    # Real assertion labels per manifest label, as named by validation URLs (claim order).
    assertion_labels: dict[str, list[str]]
    # Per manifest whose time-stamp the engine validated: its authority and its trust.
    time_stamps: dict[str, TimeStampFindings]


class _Url(NamedTuple):
    assertion_manifest: str | None  # of ".../c2pa.assertions/LABEL"
    assertion: str | None
    signature_manifest: str | None  # of "self#jumbf=/c2pa/LABEL[/c2pa.signature]"


def _parse_url(url: str) -> _Url:
    assertion = _ASSERTION_URL.match(url)
    signature = _SIGNATURE_URL.match(url)
    return _Url(
        assertion["manifest"] if assertion else None,
        assertion["assertion"] if assertion else None,
        signature["manifest"] if signature else None,
    )


def log_facts(log: ValidationLog) -> LogFacts:
    """Assertion labels and time-stamp findings of every manifest, in one walk over the log.

    Each distinct URL is parsed once (a report names the same few URLs many times). Time-stamp
    trust comes from this read only (the active manifest and the ingredients' current deltas):
    results an ingredient recorded when it was ingested reflect that tool's lists. The authority
    is the first `timeStamp.validated` one, anywhere in the log (an ingredient's recorded results,
    which its author wrote, included): a name to show and to check against, never proof.
    """
    urls: dict[str, _Url] = {}
    labels: dict[str, dict[str, None]] = {}
    stamped: dict[str, None] = {}
    authority: dict[str, str | None] = {}
    trusted: dict[str, str | None] = {}
    untrusted: set[str] = set()
    current = len(log.active) + sum(len(entries) for entries in log.deltas.values())
    for index, entry in enumerate(log.everything()):
        url = urls.get(entry.url)
        if url is None:
            url = urls[entry.url] = _parse_url(entry.url)
        if url.assertion_manifest is not None and url.assertion is not None:
            labels.setdefault(url.assertion_manifest, {})[url.assertion] = None
        manifest = url.signature_manifest
        if manifest is None:
            continue
        code, success = entry.code, entry.outcome == "success"
        if success and code in TIME_STAMP_VALIDATED_CODES and manifest:
            stamped[manifest] = None
        if success and code == "timeStamp.validated" and manifest not in authority:
            match = _TIME_STAMP_AUTHORITY.match(entry.explanation or "")
            authority[manifest] = clean_text(match["authority"], limit=200) if match else None
        if index < current:
            if success and code == TIME_STAMP_TRUSTED_CODE and manifest not in trusted:
                trusted[manifest] = entry.explanation
            elif code == "timeStamp.untrusted":
                untrusted.add(manifest)
    return LogFacts(
        assertion_labels={manifest: list(found) for manifest, found in labels.items()},
        time_stamps={
            manifest_label: TimeStampFindings(
                authority=authority.get(manifest_label),
                trusted=manifest_label in trusted and manifest_label not in untrusted,
                trusted_explanation=trusted.get(manifest_label) if manifest_label not in untrusted else None,
            )
            for manifest_label in stamped
        },
    )


# Names the list a trusted time-stamp's authority was found on: (manifest label, what the log says of it).
TimeStampAttribution = Callable[[str, TimeStampFindings], str | None]


def time_stamp_of(
    manifest: Mapping[str, Any],
    *,
    manifest_label: str,
    findings: Mapping[str, TimeStampFindings],
    attribute: TimeStampAttribution | None,
) -> TimeStamp | None:
    """The manifest's validated time-stamp (genTime from json()'s `signature_info.time`), or None."""
    found = findings.get(manifest_label)
    time = signing_time_of(manifest)
    if found is None or time is None:
        return None
    trust_list = attribute(manifest_label, found) if found.trusted and attribute is not None else None
    return TimeStamp(time=time, authority=found.authority, trusted=found.trusted, trust_list=trust_list)


# --- actions ---


def _software_agent(value: object) -> str | None:
    if isinstance(value, dict):
        name = clean_text(value.get("name"), limit=500)
        version = clean_text(value.get("version"), limit=100)
        if name and version:
            return f"{name} {version}"
        return name
    return clean_text(value, limit=500)


def _action(entry: Mapping[str, Any], form: ActionsForm) -> Action | None:
    name = clean_text(entry.get("action"), limit=200)
    if name is None:
        return None
    description = entry.get("description")
    if description is None:
        description = _as_dict(entry.get("parameters")).get("description")
    return Action(
        action=name,
        form=form,
        digital_source_type=clean_text(entry.get("digitalSourceType"), limit=500),
        software_agent=_software_agent(entry.get("softwareAgent")),
        description=clean_text(description),
    )


def _forms_of_actions(manifest: Mapping[str, Any], real_labels: list[str] | None) -> list[ActionsForm]:
    """The form of each actions assertion of `json()`, in order, from the real assertion labels."""
    shown = [
        _as_dict(a)["label"]
        for a in _as_list(manifest.get("assertions"))
        if isinstance(_as_dict(a).get("label"), str) and _is_actions_label(_as_dict(a)["label"])
    ]
    real = [each for each in (real_labels or []) if _is_actions_label(each)]
    if len(real) == len(shown):
        return [ActionsForm.V2 if _base_assertion_label(each) == ACTIONS_V2 else ActionsForm.V1 for each in real]
    # No usable real assertion labels: trust what json() shows (it only ever says v2 for v1 data
    # when the real labels are known to be missing, which the caller avoids with crJSON).
    return [ActionsForm.V2 if _base_assertion_label(each) == ACTIONS_V2 else ActionsForm.V1 for each in shown]


def actions_of(manifest: Mapping[str, Any], real_labels: list[str] | None) -> tuple[Action, ...]:
    actions: list[Action] = []
    forms = iter(_forms_of_actions(manifest, real_labels))
    for assertion in _as_list(manifest.get("assertions")):
        assertion = _as_dict(assertion)
        assertion_label = assertion.get("label")
        if not isinstance(assertion_label, str) or not _is_actions_label(assertion_label):
            continue
        form = next(forms, ActionsForm.V2)
        for entry in _as_list(_as_dict(assertion.get("data")).get("actions")):
            action = _action(_as_dict(entry), form)
            if action is not None:
                actions.append(action)
            if len(actions) >= MAX_ACTIONS_PER_MANIFEST:
                return tuple(actions)
    return tuple(actions)


def digital_source_types_of(actions: Iterable[Action]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.digital_source_type for a in actions if a.digital_source_type))


# --- ingredients ---


def _recorded_failures(ingredient: Mapping[str, Any]) -> list[str]:
    codes = [e.code for e in _entries(ingredient.get("validation_status"), "failure")]
    recorded = _as_dict(ingredient.get("validation_results"))
    codes += [e.code for e in _result_entries(recorded.get("activeManifest")) if e.outcome == "failure"]
    return [code for code in codes if code not in _RECORDED_NON_FAILURES]


def _succeeded(entries: Iterable[StatusEntry], code: str) -> bool:
    return any(e.code == code and e.outcome == "success" for e in entries)


def _recorded_trusted(ingredient: Mapping[str, Any]) -> bool:
    recorded = _as_dict(ingredient.get("validation_results"))
    return _succeeded(_result_entries(recorded.get("activeManifest")), TRUSTED_CODE)


def _ingredient(
    ingredient: Mapping[str, Any], *, parent_manifest_label: str, deltas: Mapping[str, tuple[StatusEntry, ...]]
) -> IngredientSummary:
    manifest_label = ingredient.get("active_manifest")
    manifest_label = manifest_label if isinstance(manifest_label, str) else None
    assertion_label = ingredient.get("label")
    current = deltas.get(f"self#jumbf=/c2pa/{parent_manifest_label}/c2pa.assertions/{assertion_label}", ())
    codes = list(dict.fromkeys([e.code for e in current if e.outcome == "failure"] + _recorded_failures(ingredient)))
    state = None
    if manifest_label is not None:
        if any(code not in TRUST_ONLY_CODES for code in codes):
            state = VerdictState.INVALID
        elif not TRUST_ONLY_CODES.intersection(codes) and (
            _succeeded(current, TRUSTED_CODE)
            or (_succeeded(current, REVALIDATED_CODE) and _recorded_trusted(ingredient))
        ):
            # The engine re-validates an ingredient's manifest under *our* trust settings and
            # reports only what differs from the results recorded at signing time: recorded
            # "trusted" with no "untrusted" delta means trusted now too (a signer we do not
            # trust shows up as an untrusted delta, so the signer's own trust is never taken).
            state = VerdictState.TRUSTED
        else:
            state = VerdictState.VALID
    declared_source_type = ingredient.get("digitalSourceType", ingredient.get("digital_source_type"))
    return IngredientSummary(
        title=clean_text(ingredient.get("title")),
        relationship=clean_text(ingredient.get("relationship"), limit=50),
        format=clean_text(ingredient.get("format"), limit=200),
        manifest_label=clean_text(manifest_label, limit=500),
        state=state,
        failure_codes=tuple(codes[:MAX_CODES]),
        digital_source_type=clean_text(declared_source_type, limit=500),
    )


def ingredients_of(
    manifest: Mapping[str, Any], *, manifest_label: str, deltas: Mapping[str, tuple[StatusEntry, ...]]
) -> tuple[IngredientSummary, ...]:
    return tuple(
        _ingredient(_as_dict(each), parent_manifest_label=manifest_label, deltas=deltas)
        for each in _as_list(manifest.get("ingredients"))[:MAX_INGREDIENTS_PER_MANIFEST]
    )


# --- manifests ---


def claim_generator_of(manifest: Mapping[str, Any]) -> str | None:
    generator = clean_text(manifest.get("claim_generator"), limit=1000)
    if generator:
        return generator
    for info in _as_list(manifest.get("claim_generator_info")):
        name = clean_text(_as_dict(info).get("name"), limit=500)
        version = clean_text(_as_dict(info).get("version"), limit=100)
        if name:
            return f"{name} {version}" if version else name
    return None


def manifest_summaries(
    report: Mapping[str, Any],
    *,
    log: ValidationLog,
    real_labels: Mapping[str, list[str]],
    time_stamp_list: TimeStampAttribution | None = None,
    facts: LogFacts | None = None,
) -> tuple[ManifestSummary, ...]:
    """Every manifest in the store: the active one, then its ingredients' depth first, then the rest.

    The engine's report keeps manifests in a hash map whose order changes from run to run;
    walking the ingredient graph gives the same order for the same file every time.
    `time_stamp_list` names the trust list of a trusted time-stamp (None: left unnamed). `facts`:
    `log_facts(log)`, when the caller has it already.
    """
    manifests = _as_dict(report.get("manifests"))
    order = _history_order(manifests, report.get("active_manifest"))
    deltas = log.deltas
    findings = (facts or log_facts(log)).time_stamps
    summaries = []
    for manifest_label in order[:MAX_MANIFESTS]:
        manifest = _as_dict(manifests[manifest_label])
        shown_labels = [
            _as_dict(a)["label"]
            for a in _as_list(manifest.get("assertions"))
            if isinstance(_as_dict(a).get("label"), str)
        ]
        assertion_labels = real_labels.get(manifest_label) or shown_labels
        summaries.append(
            ManifestSummary(
                label=clean_text(manifest_label, limit=500) or "",  # the manifest label (a public JSON field)
                claim_generator=claim_generator_of(manifest),
                title=clean_text(manifest.get("title")),
                signer=signer_of(manifest),
                signed_at=signing_time_of(manifest),
                time_stamped=manifest_label in findings,
                time_stamp=time_stamp_of(
                    manifest, manifest_label=manifest_label, findings=findings, attribute=time_stamp_list
                ),
                actions=actions_of(manifest, real_labels.get(manifest_label)),
                assertion_labels=tuple(t for t in (clean_text(x, limit=200) for x in assertion_labels) if t),
                ingredients=ingredients_of(manifest, manifest_label=manifest_label, deltas=deltas),
            )
        )
    return tuple(summaries)


def _history_order(manifests: Mapping[str, Any], active: object) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()
    stack = [active] if isinstance(active, str) and active in manifests else []
    while stack:
        manifest_label = stack.pop()
        if manifest_label in seen:
            continue
        seen.add(manifest_label)
        order.append(manifest_label)
        referenced = [
            _as_dict(ingredient).get("active_manifest")
            for ingredient in _as_list(_as_dict(manifests[manifest_label]).get("ingredients"))
        ]
        # Reversed onto the stack so the first ingredient is visited first.
        stack.extend(ref for ref in reversed(referenced) if isinstance(ref, str) and ref in manifests)
    order += sorted(each for each in manifests if each not in seen)
    return order


def validation_state(report: Mapping[str, Any]) -> VerdictState | None:
    state = report.get("validation_state")
    if not isinstance(state, str):  # absent, or not the engine's string (an unhashable list raised here)
        return None
    return {
        "Trusted": VerdictState.TRUSTED,
        "Valid": VerdictState.VALID,
        "Invalid": VerdictState.INVALID,
    }.get(state)


def ingredient_failure_codes(log: ValidationLog) -> tuple[str, ...]:
    codes: dict[str, None] = {}
    for entries in log.deltas.values():
        for entry in entries:
            if entry.outcome == "failure":
                codes[entry.code] = None
    return tuple(codes)[:MAX_CODES]


def detached_store_state(engine_state: VerdictState, entries: list[StatusEntry]) -> VerdictState:
    """The state of a manifest store read without its asset: what every check but the hard binding
    says (signature, certificate, trust, time-stamp, assertion hashes).

    The engine says Invalid for any such store (its hard binding cannot match absent bytes); any
    other failure of the active manifest still makes it invalid, and the engine's own verdict is
    never raised (an ingredient's failure keeps a Valid store valid)."""
    codes = {entry.code for entry in entries if entry.outcome == "failure"} - HARD_BINDING_MISMATCH_CODES
    if codes - TRUST_ONLY_CODES:
        return VerdictState.INVALID
    if not codes & TRUST_ONLY_CODES and _succeeded(entries, TRUSTED_CODE) and engine_state is not VerdictState.VALID:
        return VerdictState.TRUSTED
    return VerdictState.VALID
