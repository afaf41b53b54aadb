"""Sign a small JPEG with a SigningKey through real c2pa and read it back (test helper)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import c2pa
from PIL import Image

from keys.signing_key import SigningKey

# All four EKUs the profile accepts; without this list the engine accepts emailProtection only.
FULL_EKU_CONFIG = "\n".join(
    ["1.3.6.1.4.1.62558.2.1", "1.3.6.1.5.5.7.3.36", "1.3.6.1.5.5.7.3.4", "1.3.6.1.4.1.311.76.59.1.9"]
)

MANIFEST = {
    "claim_generator_info": [{"name": "originmark-tests", "version": "0"}],
    "title": "keys round trip",
    "assertions": [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                    }
                ]
            },
        }
    ],
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReadBack:
    state: str  # "Trusted" | "Valid" | "Invalid"
    failure_codes: tuple[str, ...]
    explanations: tuple[str, ...]


def make_context(*, anchors_pem: str, trust_config: str | None) -> c2pa.Context:
    trust: dict = {"anchors": [{"trust_anchors": anchors_pem, "trust_kind": "manifest", "trust_uri": "local"}]}
    if trust_config is not None:
        trust["trust_config"] = trust_config
    return c2pa.Context.from_dict(
        {
            "trust": trust,
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_after_sign": False},
            "builder": {"thumbnail": {"enabled": False}, "actions": {"all_actions_included": True}},
        }
    )


def sign_and_read(
    signing_key: SigningKey, *, anchors_pem: str, workdir: Path, trust_config: str | None = FULL_EKU_CONFIG
) -> ReadBack:
    """Raises c2pa's error when the engine refuses to sign."""
    context = make_context(anchors_pem=anchors_pem, trust_config=trust_config)
    source = io.BytesIO()
    Image.new("RGB", (32, 32), (30, 120, 200)).save(source, "JPEG")
    source.seek(0)
    algorithm = getattr(c2pa.C2paSigningAlg, signing_key.algorithm.name)
    signer = c2pa.Signer.from_callback(signing_key.sign, algorithm, signing_key.chain_pem, None)
    output = workdir / f"signed-{signing_key.algorithm.value}.jpg"
    with output.open("w+b") as destination:
        c2pa.Builder(MANIFEST, context=context).sign(signer, "image/jpeg", source, destination)
    with output.open("rb") as stream:
        reader = c2pa.Reader("image/jpeg", stream, context=context)
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
    active = results.get("activeManifest") or {}
    return ReadBack(
        state=state,
        failure_codes=tuple(item["code"] for item in active.get("failure", [])),
        explanations=tuple(item.get("explanation", "") for item in active.get("success", [])),
    )
