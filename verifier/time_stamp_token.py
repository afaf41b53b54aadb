"""The time-stamping authority's certificate of each manifest, read from the manifest store's bytes.

Why: naming the list a trusted time-stamp's authority is on (`TrustPolicy.attribute_time_stamp`)
needs the authority certificate's issuer when the engine's words name no time-stamping list (a
legacy `sigTst` token: 126 of the 132 tokens in the shared corpus's 100 single-store files,
2026-12-07, the other 6 being `sigTst2`; or a signer list). The engine
gives it only in its crJSON, which costs about a fifth of a whole read (measured over the corpus,
issue 16). The certificate is in the store the engine just read: each manifest's `c2pa.signature`
box holds a COSE_Sign1 whose unprotected header carries the RFC 3161 token (`sigTst` or
`sigTst2`: {"tstTokens": [{"val": TimeStampToken}]}), a CMS SignedData whose signer's
certificate is the authority's.

Exact or nothing: a manifest is answered only when there is one reading (one manifest with the
label, one signature box, one token (verifier/cose_time_stamp.py), one signer, its certificate
among the token's by issuer and serial, read the same by every reasonable comparison
(verifier/token_signer.py)), and the store holds no `c2pa.time-stamp` assertion. Anything else (a malformed or unusual
structure, a limit reached) is left out, and the caller asks the engine's crJSON as before: all
132 corpus tokens are answered. Bytes come from the asset: every
length is checked against its parent (verifier/jumbf.py), nesting and counts are bounded, and
a token is decoded only when its manifest's authority is asked for.
"""

from __future__ import annotations

from verifier.cose_time_stamp import NotOneToken, token_in_signature
from verifier.jumbf import Box, boxes, description
from verifier.token_signer import NotOneSigner, signer_certificate
from verifier.trust import CertificateFacts

_MAX_BOXES = 10_000  # JUMBF boxes looked at in one store
# A token is a few kilobytes (the corpus: under 8 KiB); beyond this the engine's crJSON answers.
_MAX_TOKEN_BYTES = 64 * 1024
_SIGNATURE_LABEL = "c2pa.signature"
_ASSERTIONS_LABEL = "c2pa.assertions"
_TIME_STAMP_ASSERTION = "c2pa.time-stamp"  # with an instance suffix (`__2`) when there are several


class _Malformed(Exception):
    """Not a store read here: every manifest is left to the engine's crJSON."""


class _Walk:
    """The store's boxes, each one whole or the store refused; at most _MAX_BOXES looked at."""

    def __init__(self, store: bytes) -> None:
        self.store = store
        self._budget = _MAX_BOXES

    def boxes(self, start: int, end: int) -> list[Box]:
        found = []
        position = start
        for box in boxes(self.store, start, end):
            self._budget -= 1
            if self._budget < 0:
                raise _Malformed
            found.append(box)
            position = box.end
        if position != end:
            raise _Malformed  # a box that does not fit, or bytes left over
        return found

    def superbox(self, box: Box) -> tuple[str | None, list[Box]]:
        """A `jumb` superbox's label (from its description) and its other boxes."""
        found = description(self.store, box.start, box.end)
        if found is None:
            raise _Malformed
        try:
            label = None if found.label is None else found.label.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed from None
        return label, self.boxes(found.end, box.end)


def _signatures(store: bytes) -> dict[str, Box | None]:
    """Per manifest label: its signature's `cbor` box; None for a label that is not one
    unambiguous manifest. Box headers only: no signature is decoded here."""
    walk = _Walk(store)
    top = walk.boxes(0, len(store))
    if len(top) != 1 or top[0].kind != b"jumb":
        raise _Malformed
    _, manifests = walk.superbox(top[0])
    found: dict[str, Box | None] = {}
    for manifest in manifests:
        if manifest.kind != b"jumb":
            continue
        label, children = walk.superbox(manifest)
        if label is None:
            continue
        signatures = []
        for child in children:
            if child.kind != b"jumb":
                continue
            child_label, contents = walk.superbox(child)
            if child_label == _ASSERTIONS_LABEL and _has_time_stamp_assertion(walk, contents):
                raise _Malformed  # the engine may report that assertion's token for a manifest instead
            if child_label == _SIGNATURE_LABEL:
                signatures.append([box for box in contents if box.kind == b"cbor"])
        one = signatures[0][0] if len(signatures) == 1 and len(signatures[0]) == 1 else None
        found[label] = None if label in found else one
    return found


def _has_time_stamp_assertion(walk: _Walk, assertions: list[Box]) -> bool:
    """Whether a manifest's assertion store holds a `c2pa.time-stamp` assertion (C2PA 2.x: tokens
    for other manifests, which the engine may validate and report in place of their own)."""
    for assertion in assertions:
        if assertion.kind == b"jumb":
            label, _ = walk.superbox(assertion)
            if label is not None and label.split("__", 1)[0] == _TIME_STAMP_ASSERTION:
                return True
    return False


class TimeStampTokens:
    """The time-stamp tokens of a store's manifests: the store's boxes are walked once, and a
    manifest's token is decoded only when its authority is asked for, once."""

    def __init__(self, store: bytes) -> None:
        self._store = store
        try:
            self._signatures = _signatures(store)
        except _Malformed:
            self._signatures = {}  # a store that is not one JUMBF superbox answers nothing
        self._answers: dict[str, CertificateFacts | None] = {}

    @property
    def labels(self) -> frozenset[str]:
        """The manifest labels of the store that have one signature box."""
        return frozenset(label for label, box in self._signatures.items() if box is not None)

    def authority(self, manifest_label: str) -> CertificateFacts | None:
        """The manifest's time-stamping authority certificate, where it has exactly one reading;
        None is to be asked of the engine's crJSON (no token, or a structure not read here)."""
        if manifest_label not in self._answers:
            self._answers[manifest_label] = self._read(manifest_label)
        return self._answers[manifest_label]

    def _read(self, manifest_label: str) -> CertificateFacts | None:
        box = self._signatures.get(manifest_label)
        if box is None:
            return None
        try:
            token = token_in_signature(memoryview(self._store)[box.start : box.end])
            if token is None or len(token) > _MAX_TOKEN_BYTES:
                return None
            return signer_certificate(bytes(token))
        except (NotOneToken, NotOneSigner):
            return None
