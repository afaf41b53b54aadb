"""Everything that can go wrong while signing, as originmark's own error types.

c2pa raises its own `C2paError` family; `signer/` catches those at the boundary and
re-raises one of these with the engine's message kept as `engine_message`, so callers
(the CLI, the HTTP routes) never import c2pa to handle a failure.
"""

from __future__ import annotations

from collections.abc import Iterable


class SigningError(Exception):
    """Base class: a file could not be signed, or a signer could not be built."""

    def __init__(self, message: str, *, engine_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.engine_message = engine_message  # c2pa's own text, for logs; may echo file content

    def __str__(self) -> str:
        return self.message


class UnsupportedFormat(SigningError):
    """The file's bytes are not a format originmark can embed Content Credentials into."""

    def __init__(self, reason: str, *, supported: Iterable[str]) -> None:
        self.reason = reason
        self.supported = tuple(supported)
        super().__init__(f"{reason}; supported formats: {', '.join(self.supported)}")

    def about(self, subject: str) -> UnsupportedFormat:
        """The same error, saying which file it is about (e.g. a parent, not the file being signed)."""
        return UnsupportedFormat(f"{subject}: {self.reason}", supported=self.supported)


class SourceUnreadable(SigningError):
    """The source (or parent) file cannot be opened or read: missing, a folder, no permission, empty."""


class SourceUndecodable(SourceUnreadable):
    """An image whose pixels cannot be decoded (corrupt, truncated, too many pixels): it is not fingerprinted, so not signed."""


class DestinationUnwritable(SigningError):
    """The output cannot be written: the folder is missing or read-only, or it would overwrite the source."""


class OutputStorageFull(DestinationUnwritable):
    """The output's file system is full (or the user's quota is used up): nothing was kept; retry with room."""


class SidecarUnsupported(SigningError):
    """The engine must rewrite this file to sign it, so a sidecar cannot leave it untouched."""


class ParentCredentialsUnusable(SigningError):
    """The parent's own credentials, carried into the edit, would make the edit fail validation."""


class EngineRejected(SigningError):
    """The C2PA engine refused to sign this file (malformed container, unsupported variant, ...)."""


class TimeStampUnavailable(SigningError):
    """The configured time-stamping authority could not be reached or refused the request.

    The engine does not fall back to an untimestamped signature, and neither do we.
    """


class SignerProbeFailed(SigningError):
    """The signer refused to start: signing and verifying a small probe asset did not come out valid."""


class PriorCredentialsUnusable(SigningError):
    """The credentials the file to sign already carries cannot be kept: the engine cannot record them
    as its parentOf ingredient, or, recorded, they would make the output fail validation."""


class PriorCredentialsConflict(SigningError):
    """The file to sign carries credentials of its own and a separate parent was named: keeping both
    histories is not supported, and dropping the file's own is done only when asked (replace_credentials)."""
