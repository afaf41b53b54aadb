"""The start-up probe: sign a tiny image, verify it, and refuse to start unless it is right.

Instead of verifying after every signature (the engine's default, ~13 ms per 2K JPEG), a
signer proves once, when it is built, that what it writes verifies — key matches
certificate, the engine accepts the certificate profile, the chain leads to its root —
and that the engine honoured the settings it silently ignores when misspelt.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import c2pa
from PIL import Image

from signer.errors import SignerProbeFailed
from signer.self_check import OwnOutputReader

PROBE_SIZE = (16, 16)

_CERTIFICATE_REJECTED = (
    "the engine rejects the signing certificate (it needs an end-entity certificate with "
    "keyUsage digitalSignature, a C2PA signing EKU, an Authority Key Identifier, and a validity covering now)"
)

# What a failure code usually means for the operator, and what to do about it.
_HINTS = {
    "claimSignature.mismatch": "the private key does not belong to the signing certificate (first in the chain)",
    "signingCredential.invalid": _CERTIFICATE_REJECTED,
    "signingCredential.untrusted": "the chain does not lead to its last certificate (incomplete or out of order)",
    "signingCredential.expired": "the signing certificate has expired",
    "signingCredential.revoked": "the signing certificate is revoked",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """How the probe verified: the state the engine reported and how long the probe took."""

    state: str  # "Trusted" or "Valid"
    elapsed_seconds: float


def probe_image_jpeg() -> bytes:
    """A 16x16 JPEG made in memory (no file, no fixture)."""
    buffer = io.BytesIO()
    Image.new("RGB", PROBE_SIZE, (64, 128, 192)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def check_probe_output(
    *, signed: bytes, reader: OwnOutputReader, thumbnails: bool, elapsed_seconds: float
) -> ProbeResult:
    """Verify the signed probe; raise SignerProbeFailed naming what is wrong."""
    try:
        report = reader.read(io.BytesIO(signed), mime="image/jpeg", with_crjson=True)
    except c2pa.C2paError as error:
        raise SignerProbeFailed(f"the signed probe image could not be read back: {error}") from error
    accepted = {"Trusted"} if reader.anchor_is_issuer else {"Trusted", "Valid"}
    if report.state not in accepted or report.failures:
        raise SignerProbeFailed(_describe_failure(report.state, list(report.failures)))
    _check_settings_took_effect(report.crjson or {}, thumbnails=thumbnails)
    return ProbeResult(state=report.state, elapsed_seconds=elapsed_seconds)


def describe_signing_failure(engine_message: str) -> str:
    """Why signing the probe failed, in the operator's terms."""
    message = f"signing the start-up probe image failed: {engine_message}"
    if "certificate is invalid" in engine_message:
        message += f": {_CERTIFICATE_REJECTED}"
    return message + ". Fix the signing credentials (or run `originmark keys init` for development ones)"


def _describe_failure(state: str | None, failures: list[dict[str, Any]]) -> str:
    codes = [str(f.get("code")) for f in failures]
    details = "; ".join(f"{f.get('code')}: {f.get('explanation', '')}".strip() for f in failures)
    hints = [hint for code, hint in _HINTS.items() if code in codes]
    if not failures and state == "Valid":
        hints.append(_HINTS["signingCredential.untrusted"])
    message = f"the signer's probe signature verified as {state or 'unreadable'}"
    if details:
        message += f" ({details})"
    if hints:
        message += ": " + "; ".join(hints)
    return message + ". Fix the signing credentials (or run `originmark keys init` for development ones)"


def _check_settings_took_effect(crjson: dict[str, Any], *, thumbnails: bool) -> None:
    """The engine ignores unknown settings keys silently: check their effect on real output."""
    manifests = crjson.get("manifests") or []
    if not manifests:
        raise SignerProbeFailed("the signed probe image has no manifest")
    manifest = manifests[0]
    assertions = manifest.get("assertions") or {}
    claim = manifest.get("claim.v2")
    problems = []
    if claim is None:
        problems.append("the claim is not version 2")
    actions = assertions.get("c2pa.actions.v2") or {}
    if actions.get("allActionsIncluded") is not True:
        problems.append("allActionsIncluded is missing from the actions assertion")
    created = [entry.get("url", "") for entry in (claim or {}).get("created_assertions", [])]
    if not any(url.endswith("c2pa.actions.v2") for url in created):
        problems.append("the actions assertion is not among the created assertions")
    has_thumbnail = any(assertion_label.startswith("c2pa.thumbnail.claim") for assertion_label in assertions)
    if has_thumbnail != thumbnails:
        problems.append(f"a claim thumbnail is {'missing' if thumbnails else 'present'} against the setting")
    if problems:
        raise SignerProbeFailed(
            "the engine did not apply originmark's settings (" + "; ".join(problems) + "): "
            "is the c2pa-python version the pinned one?"
        )
