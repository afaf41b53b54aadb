"""Sign and record: who may sign what, what counts as a signed output, and what is recorded.

Rules (the same for POST /v1/sign and sign jobs; the in-process CLI is the operator itself and
records nothing):
- the key must be active and its signing policy must allow the claim (generator, effective
  digital source type, and `replace_credentials` when asked), checked before any work and again
  before every job attempt;
- credentials the file to sign already carries are kept: the signer (signer/engine.py, the same
  code in-process, in the isolated workers, for routes, jobs and the CLI) records the file as the
  new manifest's parentOf ingredient with the engine's validation results of its store. Dropping
  them (`replace_credentials`) needs a policy that allows it (granted per key by the operator,
  migration 0012); the audit entry says which it was (`prior_credentials`: none, kept, replaced);
- the signed output is verified like any upload; unless it verifies (trusted or valid) it is
  refused (`unsignable_media`), and an output whose verification was stopped is not recorded;
- the audit entry (who, which tenant, what was claimed, input and output hashes, certificate,
  what became of the file's own credentials),
  the output's verdict under the tenant's media id, and the manifest repository's entry for the
  manifest store (app/usecases/manifest_repository.py) commit in one transaction;
- `private`: the entry is private from the start (its tenant's only, as after PUT
  /v1/repository/{id}/visibility), and that is recorded like a later change, naming the key
  (`key:<id>`), in the same transaction: no other tenant can find it even for a moment.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from app.store.interface import ApiKey, AuditEntry, SignatureRecords, StoredVerdict
from app.usecases.active_key import require_active
from app.usecases.errors import OutputVerificationStopped, UnsignableMedia
from app.usecases.manifest_repository import ManifestKeeper
from app.usecases.repository_visibility import api_actor
from signer.manifest import GenerationRequest, PriorCredentials
from verifier.label import label_for
from verifier.verdict import Verdict, VerdictState

if TYPE_CHECKING:
    from verifier.fingerprint import ImageFingerprint
    from verifier.video_fingerprint import VideoFingerprint


@dataclass(frozen=True, slots=True, kw_only=True)
class SignRequest:
    tenant: str
    key_id: str | None  # the API key that asked (for the audit log)
    generation: GenerationRequest
    media_id: str | None = None
    private: bool = False  # the repository entry is the tenant's only from the start

    def __post_init__(self) -> None:
        if self.private and self.key_id is None:
            raise ValueError("a private repository entry records the key that asked for it")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedOutput:
    """What the engine made: the hashes of what went in and came out, and the manifest's identity."""

    input_sha256: str
    output_sha256: str
    manifest_label: str | None  # the active manifest's id (urn:c2pa:...)
    certificate_fingerprint: str | None  # None: the engine did not say (the active identity's is recorded)
    # The manifest store as the engine embedded it (signer.engine.SignResult.manifest_store): kept in
    # the manifest repository. Empty only where it was not available (none is kept then).
    manifest_store: bytes = field(default=b"", repr=False)
    # The source's content fingerprint (SignResult.soft_binding): its descriptors (an image's, a
    # video's key frames') are kept with the store's io.iscc.v0 bindings for the second check of a
    # lookup. None: not fingerprinted.
    fingerprint: ImageFingerprint | VideoFingerprint | None = field(default=None, repr=False)
    # What the signer did with the credentials the input carried (SignResult.prior_credentials), for
    # the audit entry. None: not known (a job's output recorded by an attempt before it was kept).
    prior_credentials: PriorCredentials | None = None
    replaced_manifest_label: str | None = None  # REPLACED: SignResult.replaced_manifest_label


def authorize(key: ApiKey | None, generation: GenerationRequest) -> None:
    """KeyRevoked, or SigningNotPermitted (a SigningError: 403 signing_policy) for a claim the key's
    policy does not allow; None for an allowed request."""
    require_active(key).signing_policy.check(generation)


def accepted_output(verdict: Verdict) -> Verdict:
    """The signed output's verdict, when the output may be handed out as signed."""
    if not verdict.sha256:
        raise OutputVerificationStopped("the signed output could not be verified in time; retry")
    if verdict.state not in (VerdictState.TRUSTED, VerdictState.VALID):
        raise UnsignableMedia(
            f"the engine could not sign this file into one that verifies ({verdict.state.value}: "
            f"{verdict.reason}); its structure is probably malformed: re-encode it and retry"
        )
    return verdict


class SignAndRecord:
    """Records a signature; thread-safe (holds only immutable parts)."""

    def __init__(
        self,
        *,
        store: SignatureRecords,
        keeper: ManifestKeeper,
        trust_fingerprint: str,
        certificate_fingerprint: Callable[[], str],
    ) -> None:
        self._store = store
        self._keeper = keeper
        self._trust_fingerprint = trust_fingerprint
        self._certificate_fingerprint = certificate_fingerprint  # the active identity's, when a result names none

    @property
    def keeper(self) -> ManifestKeeper:
        """The manifest repository's keeper the signatures' stores go to (renditions read their originals' there)."""
        return self._keeper

    def record(
        self,
        request: SignRequest,
        output: SignedOutput,
        verdict: Verdict,
        *,
        in_same_transaction: Callable[[Connection], None] | None = None,
        private_now: Callable[[Connection], bool] | None = None,
    ) -> StoredVerdict:
        """The audit entry, the output's verdict (checked by `accepted_output`) and the repository
        entry of its manifest store, in one transaction (then `in_same_transaction`'s writes).
        `private_now`: asked in that transaction, before the entry is written; True makes a public
        entry private from the start (a rendition whose original was made private meanwhile)."""
        verdict = accepted_output(verdict)
        generation = request.generation
        entry = AuditEntry(
            key_id=request.key_id,
            signed_at=datetime.datetime.now(datetime.UTC),
            input_sha256=output.input_sha256,
            output_sha256=verdict.sha256,
            manifest_label=output.manifest_label,
            certificate_fingerprint=output.certificate_fingerprint or self._certificate_fingerprint(),
            generator=generation.generator_name,
            generator_version=generation.generator_version,
            media_id=request.media_id,
            # A rendition declares no source type (only c2pa.opened and non-editorial actions).
            digital_source_type=None if generation.rendition_of is not None else generation.effective_source_type.term,
            title=generation.title,
            tenant=request.tenant,
            prior_credentials=None if output.prior_credentials is None else output.prior_credentials.value,
            replaced_manifest_id=(
                output.replaced_manifest_label if output.prior_credentials is PriorCredentials.REPLACED else None
            ),
        )
        kept = None
        if output.manifest_store and output.manifest_label:
            # Before the transaction: a large store goes to the object store here.
            kept = self._keeper.signed_entry(
                tenant=request.tenant,
                manifest_id=output.manifest_label,
                asset_sha256=verdict.sha256,
                manifest_store=output.manifest_store,
                fingerprint=output.fingerprint,
                private_by=api_actor(request.key_id) if request.private and request.key_id else None,
            )

        def keep_then_more(connection: Connection) -> None:
            if kept is not None:
                written = kept
                if not kept.private and request.key_id and private_now is not None and private_now(connection):
                    written = dataclasses.replace(kept, private=True, private_by=api_actor(request.key_id))
                self._keeper.repository.write_entry(connection, written)
            if in_same_transaction is not None:
                in_same_transaction(connection)

        return self._store.record_signature(
            tenant=request.tenant,
            entry=entry,
            verdict=verdict,
            label=label_for(verdict),
            trust_fingerprint=self._trust_fingerprint,
            media_id=request.media_id,
            in_same_transaction=keep_then_more,
        )
