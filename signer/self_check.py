"""Reads back what this signer wrote, trusting only the signing chain's own root.

Used by the start-up probe (once) and after an AI edit whose parent carries credentials:
the engine copies the parent's manifest store into the output, and some defects in it
(a missing ingredient manifest, broken CAWG identity assertions) then fail the *new*
asset's validation. Those outputs are refused rather than published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, BinaryIO

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.engine_settings import probe_verification_settings


def chain_anchor_pem(chain_pem: str) -> tuple[str, bool]:
    """(PEM of the chain's last certificate, whether it is distinct from the signing certificate).

    The last certificate of a chain is its root (or the highest issuer given): trusting it
    alone shows the chain is complete and in order.
    """
    certificates = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    last = certificates[-1].public_bytes(serialization.Encoding.PEM).decode("ascii")
    return last, len(certificates) > 1


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnOutputReport:
    """The engine's verdict on one of our outputs."""

    state: str | None  # "Trusted" | "Valid" | "Invalid"
    failures: tuple[dict[str, Any], ...]  # the active manifest's failure entries (code, explanation)
    crjson: dict[str, Any] | None = None  # only when asked for

    @property
    def failure_codes(self) -> tuple[str, ...]:
        return tuple(str(entry.get("code")) for entry in self.failures)


class OwnOutputReader:
    """Thread-safe: one shared verification Context, a new Reader per call."""

    def __init__(self, *, chain_pem: str) -> None:
        anchor_pem, self.anchor_is_issuer = chain_anchor_pem(chain_pem)
        self._context = c2pa.Context.from_dict(probe_verification_settings(anchors_pem=anchor_pem))

    @property
    def expected_state(self) -> str:
        """What a good output verifies as: Trusted, or Valid when the chain has no issuer to anchor on."""
        return "Trusted" if self.anchor_is_issuer else "Valid"

    def read(
        self, stream: BinaryIO, *, mime: str, manifest_data: bytes | None = None, with_crjson: bool = False
    ) -> OwnOutputReport:
        """Raises c2pa.C2paError when the output cannot be read at all."""
        stream.seek(0)
        if manifest_data is None:
            reader = c2pa.Reader(mime, stream, context=self._context)
        else:
            reader = c2pa.Reader(mime, stream, manifest_data=manifest_data, context=self._context)
        with reader:
            results = reader.get_validation_results() or {}
            return OwnOutputReport(
                state=reader.get_validation_state(),
                failures=tuple((results.get("activeManifest") or {}).get("failure") or ()),
                crjson=json.loads(reader.crjson()) if with_crjson else None,
            )

    def close(self) -> None:
        self._context.close()
