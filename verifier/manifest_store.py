"""A manifest store read on its own (the JUMBF bytes as `application/c2pa`): its active manifest and
the soft bindings that manifest declares.

An upload's store is read in an isolated verifier worker (verifier/isolation.py). In the server
process only a store this service's own signer made is read (the engine's own output; ~2 ms for a
JPEG's store), and only when the fingerprint the signer wrote its assertion from is not at hand
(app/usecases/manifest_repository.py). No validation is done here: the signed output was verified
as a whole already, and a store without its asset cannot pass the hard-binding check.

Soft bindings follow the C2PA 2.x `c2pa.soft-binding` assertion: `alg` (a name on the C2PA soft
binding algorithm list) and `blocks`, each with a `scope` and a `value`: the binding value,
base64-encoded text. A block's scope may be a `timespan` ({start, end}: milliseconds from the start
of the media, as a video's key frames carry it): it is read along with the value. Several instances
of the assertion carry the labels `c2pa.soft-binding__1`, ...
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass

import c2pa

SOFT_BINDING_LABEL = "c2pa.soft-binding"
_STORE_MIME = "application/c2pa"
# Nothing is fetched or validated: the store is read for its contents only.
_READ_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": False}}


@dataclass(frozen=True, slots=True, kw_only=True)
class Timespan:
    """A block's scope in a temporal asset: milliseconds from the start of the media."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SoftBindingValue:
    alg: str
    value: bytes  # decoded from the block's base64 text
    timespan: Timespan | None = None  # None: the block covers the whole asset, or its timespan is malformed


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreContents:
    active_manifest: str | None  # the active manifest's label (its URN)
    soft_bindings: tuple[SoftBindingValue, ...]


def soft_binding_values(data: Mapping[str, object]) -> tuple[SoftBindingValue, ...]:
    """The values of one `c2pa.soft-binding` assertion's data, one per block.

    A malformed assertion (no alg, a block without a value, a value that is not base64) yields
    nothing from the malformed part: what cannot be decoded cannot be searched for either.
    """
    alg = data.get("alg")
    blocks = data.get("blocks")
    if not isinstance(alg, str) or not alg or not isinstance(blocks, list):
        return ()
    values = []
    for block in blocks:
        text = block.get("value") if isinstance(block, Mapping) else None
        if not isinstance(text, str):
            continue
        try:
            value = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            continue
        if value:
            values.append(SoftBindingValue(alg=alg, value=value, timespan=_timespan(block.get("scope"))))
    return tuple(values)


def _timespan(scope: object) -> Timespan | None:
    """A scope's timespan; a malformed one is left out (the value still counts: it was computed over
    some part of the asset, and a lookup matches values, not spans)."""
    span = scope.get("timespan") if isinstance(scope, Mapping) else None
    if not isinstance(span, Mapping):
        return None
    start, end = span.get("start"), span.get("end")
    if type(start) is not int or type(end) is not int or not 0 <= start <= end:
        return None
    return Timespan(start_ms=start, end_ms=end)


def is_soft_binding_label(label: object) -> bool:
    return isinstance(label, str) and (label == SOFT_BINDING_LABEL or label.startswith(SOFT_BINDING_LABEL + "__"))


def read_manifest_store(store: bytes) -> StoreContents | None:
    """The active manifest and its soft bindings; None when the engine cannot read the bytes as a store."""
    context = c2pa.Context.from_dict(_READ_SETTINGS)
    try:
        with c2pa.Reader(_STORE_MIME, io.BytesIO(store), context=context) as reader:
            report = json.loads(reader.json())
    except (c2pa.C2paError, ValueError):
        return None
    finally:
        context.close()
    active = report.get("active_manifest")
    manifest = (report.get("manifests") or {}).get(active) if isinstance(active, str) else None
    bindings: list[SoftBindingValue] = []
    for assertion in (manifest or {}).get("assertions") or ():
        if isinstance(assertion, Mapping) and is_soft_binding_label(assertion.get("label")):
            data = assertion.get("data")
            if isinstance(data, Mapping):
                bindings.extend(soft_binding_values(data))
    return StoreContents(active_manifest=active if isinstance(active, str) else None, soft_bindings=tuple(bindings))
