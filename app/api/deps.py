"""Dependencies shared by the routes, as `Annotated` aliases: services and API-key access.

Access rules:
- sign needs a key with scope `sign` (never public); verify needs `verify`; marking the tenant's own
  manifest repository entry private or public (PUT /v1/repository/{id}/visibility) needs `sign`;
- label and verdict reads need `read`, unless ORIGINMARK_PUBLIC_LABEL_READS is on: then
  they take no key at all (an Authorization header is not even looked at, so a feed's
  reads cost no key lookup and any CDN may cache them) and name the tenant whose labels they
  read with `?tenant=NAME` (422 `tenant_required` without it).
- every route acts for ONE tenant: the key's, or the one a public read names. Every id it is
  given (media id, content hash, job id) is looked up in that tenant only; another tenant's
  id reads as unknown (404 / null), never as a refusal that would confirm it exists.
- no key, a header that is not `Bearer <token>`, or an unknown / revoked key: 401 with
  WWW-Authenticate; a valid key without the scope: 403 naming the scope.
- the Soft Binding Resolution API (/sbr/v1) needs a key with scope `sbr`, except for the tenants
  the operator opened (`originmark tenants update NAME --sbr-public`; or, deprecated, listed in
  ORIGINMARK_SBR_PUBLIC_TENANTS): a read without a key that names one of them (`?tenant=NAME`)
  sees what that tenant publishes (its shared repository entries), nothing else.
- sign is rate-limited per key (app/api/ratelimit.py, ORIGINMARK_SIGN_RATE_*): over the limit,
  429 with Retry-After, before the upload is read; with the limit shared in Redis
  (ORIGINMARK_RATE_LIMIT_REDIS_URL) and Redis not answering, 503 `rate_limit_unavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.error_responses import forbidden, rate_limit_unavailable, too_many_requests, unauthenticated, unprocessable
from app.api.ratelimit import RateDecision, RateLimiter, RateLimitUnavailable, TokenBucketLimiter
from app.api.services import Services
from app.store.interface import MAX_TENANT_NAME_LENGTH, ApiKey, Scope
from app.usecases.soft_binding_resolution import Viewer, open_to_public_reading
from app.wiring import build_sign_rate_limiter

# Declares the scheme for OpenAPI (the Authorize button in /docs); the checks are below.
_bearer = HTTPBearer(auto_error=False, description="An API key from `originmark apikey create`.")


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread (a hop per request).
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def _authenticated_key(request: Request, services: Services) -> ApiKey:
    header = request.headers.get("authorization")
    if header is None:
        raise unauthenticated("missing_api_key", "this endpoint needs an API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("invalid_authorization", "the Authorization header must be 'Bearer <key>'")
    key = await anyio.to_thread.run_sync(services.store.authenticate, token)
    if key is None:
        raise unauthenticated("invalid_api_key", "the API key is unknown or has been revoked")
    request.state.key_id = key.key_id  # the public part only, for the request's log line
    return key


def _requires(scope: Scope):
    async def dependency(
        request: Request,
        services: ServicesDep,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        key = await _authenticated_key(request, services)
        if scope not in key.scopes:
            raise forbidden(
                f"the API key {key.key_id!r} does not have the {scope.value!r} scope this endpoint needs",
                required_scope=scope.value,
            )
        return key

    return dependency


_TENANT_DOC = (
    "The tenant whose labels to read. Required when the server serves label reads publicly "
    "(ORIGINMARK_PUBLIC_LABEL_READS); with an API key the key's own tenant is used and this is ignored."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reader:
    """Who a label or verdict read is for: a tenant, through its key or publicly by name."""

    tenant: str
    public: bool  # no key: the read sees what the tenant publishes (its media ids), nothing else


async def _read_access(
    request: Request,
    services: ServicesDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    tenant: Annotated[str | None, Query(max_length=MAX_TENANT_NAME_LENGTH, description=_TENANT_DOC)] = None,
) -> Reader:
    """The tenant a label or verdict read is for."""
    if services.settings.public_label_reads:
        if tenant is None:
            raise unprocessable(
                "tenant_required",
                "label reads on this server are public and per tenant: add ?tenant=NAME (the tenant whose feed it is)",
                field="tenant",
            )
        # An unknown or malformed name reads as a tenant with no media: nothing to confirm.
        return Reader(tenant=tenant, public=True)
    key = await _requires(Scope.READ)(request, services, _credentials)
    return Reader(tenant=key.tenant, public=False)


_SBR_TENANT_DOC = (
    "Without an API key: the tenant whose published manifests to resolve (only tenants the operator "
    "opened to public reading: `originmark tenants update NAME --sbr-public`). With a key, the key's tenant is used and this is ignored."
)
_sbr_scope = _requires(Scope.SBR)


async def _sbr_access(
    request: Request,
    services: ServicesDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    tenant: Annotated[str | None, Query(max_length=MAX_TENANT_NAME_LENGTH, description=_SBR_TENANT_DOC)] = None,
) -> Viewer:
    """Who a Soft Binding Resolution query is for: the key's tenant, or the public reading a tenant's entries."""
    if request.headers.get("authorization") is None and tenant is not None:
        # Read on every request: `tenants update --sbr-public` takes effect on the next one in every process.
        named = await anyio.to_thread.run_sync(services.store.tenant, tenant)
        if open_to_public_reading(named, deprecated_names=services.settings.deprecated_sbr_public_tenants):
            return Viewer(tenant=tenant, public=True)
    key = await _sbr_scope(request, services, _credentials)
    return Viewer(tenant=key.tenant, public=False)


def _sign_limiter(request: Request, services: Services) -> RateLimiter:
    """The app's sign limiter, made on first use (the dependency runs on the event loop: no race)."""
    limiter = getattr(request.app.state, "sign_rate_limiter", None)
    if limiter is None:
        limiter = build_sign_rate_limiter(services.settings)
        request.app.state.sign_rate_limiter = limiter
    return limiter


async def _acquire(limiter: RateLimiter, key_id: str) -> RateDecision:
    if isinstance(limiter, TokenBucketLimiter):
        return limiter.acquire(key_id)  # microseconds, no I/O: stays on the event loop
    # A shared store is a network round trip (bounded by its timeout): off the event loop.
    try:
        return await anyio.to_thread.run_sync(limiter.acquire, key_id)
    except RateLimitUnavailable:
        raise rate_limit_unavailable() from None  # the limiter has logged why


_sign_scope = _requires(Scope.SIGN)


async def _sign_access(request: Request, services: ServicesDep, key: Annotated[ApiKey, Depends(_sign_scope)]) -> ApiKey:
    await charge_signatures(request, services, key, 1)
    return key


async def charge_signatures(request: Request, services: Services, key: ApiKey, count: int) -> None:
    """Take `count` tokens of the key's sign rate (a request of several renditions signs several
    files: one token each; SignKey takes the first); 429 at the first one refused (those taken stay taken)."""
    limiter = _sign_limiter(request, services)
    for _ in range(count):
        decision = await _acquire(limiter, key.key_id)
        if not decision.allowed:
            raise too_many_requests(
                f"the API key {key.key_id!r} is over its signing rate of {services.settings.sign_rate_per_second:g} "
                f"requests per second (bursts of {services.settings.sign_rate_burst}); retry after the time given",
                retry_after_seconds=decision.retry_after_seconds,
            )


SignKey = Annotated[ApiKey, Depends(_sign_access)]
# The owner of what a key signs decides about it (a repository entry's visibility): scope `sign`,
# without the sign rate limit (nothing is signed).
EntryOwnerKey = Annotated[ApiKey, Depends(_sign_scope)]
VerifyKey = Annotated[ApiKey, Depends(_requires(Scope.VERIFY))]
ReadKey = Annotated[ApiKey, Depends(_requires(Scope.READ))]  # reads that are never public (jobs)
# Who a read is for (the key's tenant, or the one a public read names).
ReadAccess = Annotated[Reader, Depends(_read_access)]
SbrAccess = Annotated[Viewer, Depends(_sbr_access)]  # who a /sbr/v1 query is for
