"""The use cases' own refusals. app/api/error_responses.py maps them to HTTP; app/jobs/tasks.py to job error codes."""

from __future__ import annotations


class UseCaseError(Exception):
    """Base: `code` is the stable machine-readable name shared by the HTTP answer and the job record."""

    code = "use_case_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsignableMedia(UseCaseError):
    """The engine signed the file into output whose own credentials do not verify (a malformed
    source: found by tests/fuzz). Such output is never handed out or stored as signed."""

    code = "unsignable_media"


class VerifierStopped(UseCaseError):
    """The verifier was stopped at its time or memory limit per file (an `error` verdict,
    `resource_limit`) on a file a check needs: no answer either way. Transient (the limit
    depends on the load): retry. (A file over the verifier's size limit, or one the engine dies
    on, is an answer: the file cannot be read.)"""

    code = "verifier_busy"


class OutputVerificationStopped(VerifierStopped):
    """The signed output could not be verified in time (the verifier worker was stopped at a
    limit): nothing exact to store. Transient: retry."""


class KeyRevoked(UseCaseError):
    """The API key that asked for the work is revoked (a queued job re-reads its key before every attempt)."""

    code = "key_revoked"


# The Soft Binding Resolution API's refusals (app/usecases/soft_binding_resolution.py).


class ManifestNotFound(UseCaseError):
    """No manifest with this id that the reader can see (unknown and not visible read the same)."""

    code = "not_found"


class UnsupportedAlgorithm(UseCaseError):
    code = "unsupported_algorithm"


class MalformedBindingValue(UseCaseError):
    code = "malformed_binding_value"


class UndecodableContent(UseCaseError):
    """The asset sent for a lookup by content cannot be fingerprinted (not an image Pillow decodes, corrupt, too large)."""

    code = "undecodable_media"


class ManifestStoreUnavailable(UseCaseError):
    """A visible entry's store cannot be handed out (its object is gone or changed): the server's fault."""

    code = "manifest_store_unavailable"


# Renditions (app/usecases/renditions.py).


class OriginalNotFound(UseCaseError):
    """No original the caller's tenant stored under that media id or SHA-256 (unknown and another
    tenant's read the same)."""

    code = "original_not_found"


class NoUpstreamCredentials(UseCaseError):
    """The original carries no Content Credentials, and the caller did not ask to sign its renditions
    anyway (allow_no_upstream)."""

    code = "no_upstream_credentials"


class UpstreamCredentialsUnusable(UseCaseError):
    """The original's credentials cannot be carried into a rendition: invalid or unevaluated, its
    manifest store not kept in the repository, or the kept store no longer validating."""

    code = "upstream_credentials_unusable"


class UpstreamStoreTooLarge(UseCaseError):
    """The original's kept manifest store is over the bound a rendition may carry (every rendition
    embeds it, and one answer carries every rendition): nothing was signed."""

    code = "upstream_store_too_large"


class RenditionsTooLarge(UseCaseError):
    """The signed renditions of one request would be over the bound of one answer."""

    code = "renditions_too_large"


class RenditionMediaIdTaken(UseCaseError):
    """A rendition named with a media id of its original: it would point that id at the rendition."""

    code = "duplicate_media_id"


class RenditionChangesLabel(UseCaseError):
    """The signed rendition would be labelled as another kind than its original: not recorded."""

    code = "rendition_changes_label"


class RenditionFileRefused(UseCaseError):
    """A rendition refused before it is signed; `field`: how the caller sent it (a form field), if by one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RenditionUnreadable(RenditionFileRefused):
    """The verifier could not evaluate the rendition (unreadable, over a limit): its signed output
    could not be verified either, so it is not signed."""

    code = "unreadable_media"


class RenditionCarriesCredentials(RenditionFileRefused):
    """The rendition carries Content Credentials of its own; a rendition's only history is its original's."""

    code = "prior_credentials_conflict"
