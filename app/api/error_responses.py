"""The one place where errors become HTTP answers.

Every error answer has the same JSON shape, whatever raised it (a route, FastAPI's request
validation, the router's 404/405, the signer, the store):

    {"error": {"code": "<stable machine-readable code>", "message": "<what was wrong and what to do>"}}

plus, where useful, extra members inside "error" (`supported` for 415, `details` for validation).
A 5xx never carries a traceback or an exception's text: the message is fixed, and the request
id (X-Request-ID, also in the log line) connects the answer to the server's log.

Status conventions (documented in the README):
- 400 the body cannot be read as what the endpoint takes (broken multipart framing, JSON that
  does not parse or nests too deep: `json_too_deep`, a client that disconnected mid-upload);
- 401 no usable API key (missing, malformed, unknown or revoked), with WWW-Authenticate;
- 403 a valid key without the scope the endpoint needs (`insufficient_scope`), or a sign
  request claiming a generator or source type its key's signing policy does not allow
  (`signing_policy`: nothing was signed, stored or audited);
- 404 nothing stored under that id (`original_not_found`: a rendition's original, unknown or another
  tenant's); 405 wrong method;
- 409 a rendition's original whose credentials cannot be carried (`no_upstream_credentials` without
  allow_no_upstream, `upstream_credentials_unusable`: invalid, not kept, or no longer validating;
  `upstream_store_too_large`: its kept store is over ORIGINMARK_RENDITIONS_MAX_UPSTREAM_STORE_BYTES);
- 413 the body is over ORIGINMARK_MAX_UPLOAD_BYTES (counted as it arrives, whatever
  Content-Length claims); `renditions_too_large`: one request's signed renditions would be over
  ORIGINMARK_RENDITIONS_MAX_ANSWER_BYTES;
- 408 the body arrived too slowly (`upload_too_slow`: past ORIGINMARK_UPLOAD_RECEIVE_TIMEOUT_SECONDS,
  or below ORIGINMARK_UPLOAD_MIN_BYTES_PER_SECOND after the grace period); nothing was kept;
- 415 the request body is not multipart/form-data, or the file's bytes are not a media type
  the endpoint handles (the answer lists those that are);
- 422 the body was read but a field is wrong: missing or empty file, unknown or repeated
  field, malformed media id, more than 1,000 ids, unknown source type, media the engine
  cannot sign, a job's webhook_url on a host not allowlisted (`webhook_url_not_allowed`) or
  webhooks not configured (`webhooks_not_configured`);
- 429 a key over its signing rate (`rate_limited`, with Retry-After and `retry_after_seconds`), or a
  client with too many uploads in flight on the public verify page (`too_many_uploads`);
- 503 a dependency is down (database, time-stamping authority, verifier workers, the Redis
  that holds the shared sign rate limit: `rate_limit_unavailable`, sign fails closed).
- 507 the server's spool disk is full (an upload or a signed output did not fit); nothing was kept.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.objects.errors import (
    InvalidObjectUri,
    ObjectAccessDenied,
    ObjectChangedSinceSubmit,
    ObjectDestinationChanged,
    ObjectNotAllowed,
    ObjectNotFound,
    ObjectSourceChanged,
    ObjectStorageFull,
    ObjectStoreError,
    ObjectStoreUnavailable,
    ObjectTooLarge,
)
from app.store.errors import StoreError, StoreUnavailable
from app.usecases.errors import (
    KeyRevoked,
    MalformedBindingValue,
    ManifestNotFound,
    ManifestStoreUnavailable,
    NoUpstreamCredentials,
    OriginalNotFound,
    RenditionChangesLabel,
    RenditionFileRefused,
    RenditionMediaIdTaken,
    RenditionsTooLarge,
    UndecodableContent,
    UnsignableMedia,
    UnsupportedAlgorithm,
    UpstreamCredentialsUnusable,
    UpstreamStoreTooLarge,
    UseCaseError,
    VerifierStopped,
)
from signer.errors import (
    DestinationUnwritable,
    EngineRejected,
    OutputStorageFull,
    ParentCredentialsUnusable,
    PriorCredentialsConflict,
    PriorCredentialsUnusable,
    SignerProbeFailed,
    SigningError,
    SourceUndecodable,
    SourceUnreadable,
    TimeStampUnavailable,
    UnsupportedFormat,
)
from signer.isolation import SigningLimitExceeded
from signer.manifest import InvalidRequest
from signer.policy import SigningNotPermitted
from verifier.errors import VerifierError
from verifier.hostile_text import clean_text

log = logging.getLogger("originmark.api")
_MAX_MESSAGE_CHARS = 2000

WWW_AUTHENTICATE = 'Bearer realm="originmark"'


class ApiError(Exception):
    """A client-facing error: status, stable code, a sentence for the caller, optional extras."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def malformed_body(message: str) -> ApiError:
    return ApiError(400, "malformed_body", message)


def unauthenticated(code: str, message: str) -> ApiError:
    # RFC 6750: an invalid token is `error="invalid_token"`; a missing one carries no error code.
    challenge = WWW_AUTHENTICATE if code == "missing_api_key" else f'{WWW_AUTHENTICATE}, error="invalid_token"'
    return ApiError(401, code, message, headers={"WWW-Authenticate": challenge})


def forbidden(message: str, *, required_scope: str) -> ApiError:
    return ApiError(
        403,
        "insufficient_scope",
        message,
        extra={"required_scope": required_scope},
        headers={"WWW-Authenticate": f'{WWW_AUTHENTICATE}, error="insufficient_scope", scope="{required_scope}"'},
    )


def signing_policy_refused(error: SigningNotPermitted) -> ApiError:
    """403 `signing_policy`: the key may sign, but not with these claims; says what it may claim."""
    refused: dict[str, str] = {}
    if error.generator is not None:
        # The caller's own text, cleaned like the message (no control or bidi characters).
        refused["generator"] = clean_text(error.generator, limit=300) or ""
    if error.source_type is not None:
        refused["digital_source_type"] = error.source_type.term
    if error.rendition_label is not None:
        refused["rendition_label"] = error.rendition_label.value
    if error.replace_credentials:
        refused["replace_credentials"] = "true"
    policy = error.policy
    return ApiError(
        403,
        "signing_policy",
        f"{error.message}; nothing was signed. Declare what this API key may claim, or ask the operator "
        "to change its policy (`originmark apikey policy`)",
        extra={
            "refused": refused,
            "allowed": {
                "generators": list(policy.generators),
                "digital_source_types": policy.source_type_terms(),
                "replace_credentials": policy.may_replace_credentials,
            },
        },
    )


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def payload_too_large(limit: int, *, limit_name: str | None = "ORIGINMARK_MAX_UPLOAD_BYTES") -> ApiError:
    """413; `limit_name` the setting that sets `limit` (None: a fixed limit of the endpoint)."""
    setting = f" ({limit_name})" if limit_name else ""
    return ApiError(
        413,
        "payload_too_large",
        f"the request body is over the limit of {limit} bytes{setting}",
        extra={"limit_bytes": limit},
        # The rest of the body was not read: the connection cannot carry another request.
        headers={"Connection": "close"},
    )


def unsupported_media(message: str, *, supported: tuple[str, ...]) -> ApiError:
    return ApiError(415, "unsupported_media_type", message, extra={"supported": list(supported)})


def unsupported_content_type(message: str, *, supported: tuple[str, ...]) -> ApiError:
    """415 `unsupported_content_type`: the body's form (its Content-Type) is not one the endpoint reads;
    `supported` the ones it does (unlike `unsupported_media`, about the file's own bytes)."""
    return ApiError(415, "unsupported_content_type", message, extra={"supported": list(supported)})


def unprocessable(code: str, message: str, *, field: str | None = None) -> ApiError:
    return ApiError(422, code, message, extra={"field": field} if field else None)


def request_timeout(code: str, message: str) -> ApiError:
    return ApiError(
        408,
        code,
        message,
        # The rest of the body was not read: the connection cannot carry another request.
        headers={"Connection": "close"},
    )


def json_too_deep(max_depth: int) -> ApiError:
    return ApiError(
        400,
        "json_too_deep",
        f"the JSON body nests lists or objects more than {max_depth} levels deep",
        extra={"max_depth": max_depth},
    )


def too_many_requests(message: str, *, retry_after_seconds: float, code: str = "rate_limited") -> ApiError:
    # Retry-After takes whole seconds (at least 1); the body has the exact wait.
    return ApiError(
        429,
        code,
        message,
        extra={"retry_after_seconds": round(retry_after_seconds, 3)},
        headers={"Retry-After": str(max(1, math.ceil(retry_after_seconds)))},
    )


def service_unavailable(code: str, message: str) -> ApiError:
    return ApiError(503, code, message, headers={"Retry-After": "5"})


def rate_limit_unavailable() -> ApiError:
    # Fails closed: without its limit a key could sign without bound (app/api/ratelimit_redis.py).
    return service_unavailable(
        "rate_limit_unavailable", "the signing rate limit cannot be checked right now; nothing was signed, retry later"
    )


def insufficient_storage(what: str) -> ApiError:
    """507: the server's disk had no room for `what`. The server's condition, not the caller's input:
    the same request can succeed once space is freed (the path stays in the log, not in the answer)."""
    return ApiError(
        507,
        "insufficient_storage",
        f"the server has no disk space left for {what}; nothing was kept, retry later",
        headers={"Retry-After": "30"},
    )


def error_body(code: str, message: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    # Messages may quote the engine, which quotes the upload (found by tests/fuzz: a DEL from a
    # parent's manifest): bounded, without control or bidi characters, like all manifest text.
    message = clean_text(message, limit=_MAX_MESSAGE_CHARS) or code
    return {"error": {"code": code, "message": message, **(extra or {})}}


def error_response(error: ApiError) -> JSONResponse:
    body = error_body(error.code, error.message, error.extra)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


# --- domain errors from the packages below app/ ---


def from_signing_error(error: SigningError) -> ApiError:
    """The HTTP meaning of a signer failure (messages are the signer's own user-facing sentences)."""
    if isinstance(error, UnsupportedFormat):
        return unsupported_media(error.message, supported=error.supported)
    if isinstance(error, SigningNotPermitted):
        return signing_policy_refused(error)
    if isinstance(error, InvalidRequest):
        return unprocessable("invalid_request", error.message)
    if isinstance(error, SourceUndecodable):
        # An image whose pixels cannot be decoded cannot carry its fingerprint: for the client the
        # same as a container the engine signs into an output that does not verify.
        return unprocessable("unsignable_media", error.message, field="file")
    if isinstance(error, SourceUnreadable):
        return unprocessable("unreadable_media", error.message)
    if isinstance(error, ParentCredentialsUnusable):
        return unprocessable("parent_credentials_unusable", error.message, field="parent")
    if isinstance(error, PriorCredentialsUnusable):
        return unprocessable("prior_credentials_unusable", error.message, field="file")
    if isinstance(error, PriorCredentialsConflict):
        return unprocessable("prior_credentials_conflict", error.message, field="parent")
    if isinstance(error, SigningLimitExceeded):
        # The upload (or its parent) exhausted the signer's memory or time limit.
        return unprocessable("resource_limit", error.message)
    if isinstance(error, EngineRejected):
        return unprocessable("media_rejected", error.message)
    if isinstance(error, TimeStampUnavailable):
        return service_unavailable("time_stamp_unavailable", error.message)
    if isinstance(error, SignerProbeFailed):
        return service_unavailable("signer_unavailable", "the signer is not ready; see the server log")
    if isinstance(error, OutputStorageFull):
        log.error("signed output could not be written: %s", error.message)
        return insufficient_storage("the signed output")
    if isinstance(error, DestinationUnwritable):
        # About the server's spool folder, not the caller's input; the path stays in the log.
        log.error("signed output could not be written: %s", error.message)
        return ApiError(500, "internal_error", "the server could not write the signed output; see the server log")
    return unprocessable("signing_failed", error.message)


def from_use_case_error(error: UseCaseError) -> ApiError:
    """The HTTP answer for a use case's refusal (app/usecases/errors.py); the code is the use case's."""
    if isinstance(error, UnsignableMedia):
        return unprocessable(error.code, error.message, field="file")
    if isinstance(error, VerifierStopped):  # the signed output's check (OutputVerificationStopped), or a rendition's
        return service_unavailable(error.code, error.message)
    if isinstance(error, KeyRevoked):
        return ApiError(403, error.code, error.message)
    if isinstance(error, ManifestNotFound):
        return not_found(error.message)
    if isinstance(error, UnsupportedAlgorithm):
        return unprocessable(error.code, error.message, field="alg")
    if isinstance(error, MalformedBindingValue):
        return unprocessable(error.code, error.message, field="value")
    if isinstance(error, UndecodableContent):
        return unprocessable(error.code, error.message)
    if isinstance(error, OriginalNotFound):
        return ApiError(404, error.code, error.message)
    if isinstance(error, NoUpstreamCredentials | UpstreamCredentialsUnusable | UpstreamStoreTooLarge):
        # The request is well-formed; the original's state does not allow it (now).
        return ApiError(409, error.code, error.message)
    if isinstance(error, RenditionChangesLabel):
        return unprocessable(error.code, error.message, field="action")
    if isinstance(error, RenditionMediaIdTaken):
        return unprocessable(error.code, error.message, field="media_id")
    if isinstance(error, RenditionsTooLarge):
        return ApiError(413, error.code, error.message)
    if isinstance(error, RenditionFileRefused):
        return unprocessable(error.code, error.message, field=error.field)
    if isinstance(error, ManifestStoreUnavailable):
        log.error("a kept manifest store cannot be served: %s", error.message)  # the object URI stays in the log
    return ApiError(500, "internal_error", "internal error; see the server log")


async def _use_case_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UseCaseError)
    return error_response(from_use_case_error(error))


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error)


async def _signing_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SigningError)
    return error_response(from_signing_error(error))


def from_verifier_error(error: VerifierError) -> ApiError:
    log.error("verifier unavailable: %s", error)
    return service_unavailable("verifier_unavailable", "the verifier is not available; retry later")


def from_store_error(error: StoreError) -> ApiError:
    log.error("store error: %s: %s", type(error).__name__, error)
    if isinstance(error, StoreUnavailable):
        return service_unavailable("database_unavailable", "the database is not reachable; retry later")
    return ApiError(500, "internal_error", "internal error; see the server log")


async def _verifier_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, VerifierError)
    return error_response(from_verifier_error(error))


async def _store_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StoreError)
    return error_response(from_store_error(error))


def after_recording(error: Exception, recorded_media_ids: list[str]) -> ApiError | None:
    """The answer for `error` raised once some of a request's items were already recorded (POST
    /v1/renditions signs one after the other): its own status and code, saying which media ids were
    recorded (`recorded_media_ids`) so the caller knows what to send again. None: an unexpected
    error (a 500 from the catch-all handler; the ids are in the log)."""
    if isinstance(error, ApiError):
        answer = error
    elif isinstance(error, SigningError):
        answer = from_signing_error(error)
    elif isinstance(error, UseCaseError):
        answer = from_use_case_error(error)
    elif isinstance(error, VerifierError):
        answer = from_verifier_error(error)
    elif isinstance(error, StoreError):
        answer = from_store_error(error)
    else:
        log.error("after recording media ids %s: unexpected %s", recorded_media_ids, type(error).__name__)
        return None
    return ApiError(
        answer.status,
        answer.code,
        f"{answer.message} (already signed and recorded before this failure: {', '.join(recorded_media_ids)}; "
        "send only the others again)",
        extra={**answer.extra, "recorded_media_ids": list(recorded_media_ids)},
        headers=answer.headers,
    )


def from_object_store_error(error: ObjectStoreError, *, public_text=lambda text: text) -> ApiError:
    """The HTTP answer for a storage problem of a job's source or destination (app/objects).

    `public_text` makes a text fit for the client (the server's absolute local paths removed)."""
    uri = {"uri": public_text(error.uri)} if error.uri else None
    message = public_text(error.message)
    if isinstance(error, ObjectStoreUnavailable | ObjectSourceChanged):
        return ApiError(503, "object_store_unavailable", message, headers={"Retry-After": "5"}, extra=uri)
    if isinstance(error, ObjectStorageFull):
        return ApiError(507, "insufficient_storage", message, headers={"Retry-After": "30"}, extra=uri)
    status, code = {
        InvalidObjectUri: (422, "invalid_object_uri"),
        ObjectNotFound: (422, "object_not_found"),  # a job's source: the request names it
        ObjectAccessDenied: (403, "object_access_denied"),
        ObjectNotAllowed: (403, "object_not_allowed"),  # outside the tenant's prefixes: no storage request made
        ObjectChangedSinceSubmit: (409, "source_changed"),
        ObjectDestinationChanged: (409, "destination_changed"),  # a job's only; mapped here as its kin are
        ObjectTooLarge: (413, "object_too_large"),
    }.get(type(error), (500, "internal_error"))
    return ApiError(status, code, message if status != 500 else "internal error; see the server log", extra=uri)


async def _object_store_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ObjectStoreError)
    queue = getattr(request.app.state, "job_queue", None)  # object errors come from the job routes, which made it
    answer = from_object_store_error(error, public_text=queue.resolver.public_text if queue is not None else str)
    if answer.status >= 500:
        log.warning("object store: %s: %s", type(error).__name__, error)
    return error_response(answer)


def _field_name(location: tuple[Any, ...]) -> str:
    # ("query", "media_id", 3) -> "media_id[3]"; ("body",) -> "body"
    parts = [str(part) for part in location[1:] if not isinstance(part, int)] or [str(location[0])]
    indexes = "".join(f"[{part}]" for part in location[1:] if isinstance(part, int))
    return ".".join(parts) + indexes


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return error_response(malformed_body("the request body is not valid JSON"))
    details = [
        # `msg` is pydantic's sentence; the input itself is not echoed (it may be huge or hostile).
        {"field": _field_name(tuple(problem.get("loc", ()))), "message": str(problem.get("msg", "invalid"))}
        for problem in problems
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "the request is invalid"
    return error_response(ApiError(422, "validation_error", summary, extra={"details": details}))


async def _http_exception(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    code = {404: "not_found", 405: "method_not_allowed"}.get(status)
    code = code or HTTPStatus(status).phrase.lower().replace(" ", "_")
    message = {
        404: "no such endpoint; see /docs for the API",
        405: "this endpoint does not take that method; see /docs for the API",
    }.get(status) or (str(error.detail) if status < 500 else "internal error")
    return JSONResponse(error_body(code, message), status_code=status, headers=getattr(error, "headers", None))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # Runs in Starlette's outermost middleware; the traceback goes to the log (uvicorn prints it
    # when the exception is re-raised), never to the client.
    log.error(
        "unhandled %s on %s %s",
        type(error).__name__,
        request.method,
        request.url.path,
        extra={"request_id": request.scope.get("state", {}).get("request_id")},
    )
    return JSONResponse(error_body("internal_error", "internal error; see the server log"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(SigningError, _signing_error)
    app.add_exception_handler(UseCaseError, _use_case_error)
    app.add_exception_handler(VerifierError, _verifier_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(ObjectStoreError, _object_store_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unexpected)
