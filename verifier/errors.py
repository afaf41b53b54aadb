"""The verifier's domain errors.

A bad *asset* is never an exception: it is a `Verdict` (`invalid`, `error`).
These errors are for the cases where nothing can be evaluated at all: a trust
policy that is misconfigured, an engine that refuses its settings, a verifier
pool that is closed or cannot start its workers.
"""

from __future__ import annotations


class VerifierError(Exception):
    """Base class: the verifier cannot evaluate anything (not: this asset is bad)."""


class TrustPolicyError(VerifierError):
    """A trust policy was configured wrongly; raised when it is built, never at first use."""


class EngineSettingsError(VerifierError):
    """The C2PA engine rejected the settings derived from a trust policy."""


class VerifierUnavailableError(VerifierError):
    """The isolated verifier cannot run: a worker process failed to start."""


class VerifierClosedError(VerifierError):
    """The isolated verifier was used after `close()`."""


class UndecodableImage(ValueError):
    """verifier/fingerprint.py cannot fingerprint these bytes: not an image Pillow decodes, corrupt, or too large.

    About the asset, not the verifier (so not a VerifierError): signing turns it into a refusal,
    a content lookup into "no match possible".
    """


class UndecodableVideo(ValueError):
    """verifier/video_fingerprint.py cannot fingerprint this file: no video track FFmpeg decodes, a
    corrupt stream, frames too large, or no key frame within the time budget.

    About the asset, not the verifier: signing goes on without a soft binding (the hard binding
    still holds), a content lookup finds nothing.
    """
