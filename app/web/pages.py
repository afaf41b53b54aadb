"""The routes of the web pages: GET / and POST / (verify a file), GET /feed (the feed example).

Verify page. Works without JavaScript: the form posts the file (multipart) to `/` and the
server answers the whole page with the result. With JavaScript (static/verify.js) the same POST
is sent by `fetch` with the `X-Originmark-Fragment: 1` header and the server answers only the
result section, which the script swaps in (drag and drop, no reload). Either way the upload
takes the API's path: streamed to a spool folder by `receive_form` (deleted when the request
ends), sniffed, then verified by the isolated verifier pool (`app.api.work.verify_file`).

The page is public (no API key), so its abuse is bounded:
- size: ORIGINMARK_WEB_MAX_UPLOAD_BYTES (default 64 MiB; never above MAX_UPLOAD_BYTES), counted
  on the bytes received, whatever Content-Length says;
- work: each file runs in a verifier worker with the time and memory limits of every
  verification (VERIFY_TIMEOUT_SECONDS, VERIFY_MEMORY_MB), and verifications share the pool's
  VERIFY_WORKERS slots with the API;
- time: every body must arrive within ORIGINMARK_UPLOAD_RECEIVE_TIMEOUT_SECONDS and, after
  ORIGINMARK_UPLOAD_RATE_GRACE_SECONDS, at ORIGINMARK_UPLOAD_MIN_BYTES_PER_SECOND or more; a
  slower client gets 408 and its spooled bytes are deleted (app/api/receive_pace.py);
- per client: at most ORIGINMARK_WEB_MAX_UPLOADS_PER_CLIENT uploads in flight (received or
  verified) per client address; more get 429 (Retry-After) before a byte is read. The address
  is the socket's peer, never X-Forwarded-For (any client can write that header): behind a
  reverse proxy all clients share the proxy's address, so limit per client in the proxy too;
- queue: at most ORIGINMARK_WEB_MAX_PENDING of the page's uploads are verified or waiting for
  the verifier pool at once per server process; more get 503 (Retry-After). The place is taken
  only once the body is spooled: slow senders cannot hold the verifier's places (eight
  trickling connections used to lock the page), and the spool they can fill is bounded by the
  size and per-client limits instead;
- storage: nothing is stored unless ORIGINMARK_WEB_STORE_UPLOADS is on (then the verdict is
  stored by content SHA-256, as POST /v1/verify without a media id does).

Feed page. A static shell for one tenant's feed (`/feed?tenant=NAME`, default `default`);
static/feed.js reads GET /v1/labels/recent?tenant=NAME (and, on a click,
GET /v1/verdicts/{id}?tenant=NAME) like any platform's client would. It needs
ORIGINMARK_PUBLIC_LABEL_READS=true, and says so when it is off.

Every response carries a strict Content-Security-Policy (scripts only from /static, no inline
script or event handler, no plugins, no framing): even if some manifest text escaped the
templates' autoescaping, the browser would not run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api import work
from app.api.deps import ServicesDep
from app.api.error_responses import ApiError, service_unavailable, too_many_requests, unsupported_media
from app.api.routes.verify import VERIFIABLE_FORMAT_NAMES
from app.api.services import Services
from app.api.uploads import FormSpec, UploadSpool, receive_form
from app.settings import Settings
from app.spool import safe_filename
from app.store.errors import StoreUnavailable
from app.store.interface import DEFAULT_TENANT
from app.store.validation import is_tenant_name
from app.usecases.verification import VerifyRequest
from app.web.upload_gates import ClientUploads, PendingGate
from app.web.view import VerifyResult, verify_result
from signer.manifest import originmark_version
from verifier.errors import VerifierError
from verifier.media_type import sniff_media_type

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"

FRAGMENT_HEADER = "x-originmark-fragment"
FEED_LIMIT = 24
UPLOADS_PER_CLIENT_RETRY_SECONDS = 5  # a small file is verified in well under a second
WEB_FORM = FormSpec(file_fields=frozenset({"file"}), text_fields=frozenset())

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",  # blob: the local preview of the chosen file (never uploaded for it)
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # a result is one person's; the shells are tiny
}

# Autoescape on for every template, whatever its name; undefined names fail loudly in tests.
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _file_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


_templates.filters["file_size"] = _file_size


def _render(request: Request, template: str, context: Mapping[str, Any], *, status: int = 200, headers=None):
    settings: Settings = request.app.state.services.settings
    body = _templates.get_template(template).render(
        root=request.scope.get("root_path", "").rstrip("/"),
        version=originmark_version(),
        public_label_reads=settings.public_label_reads,
        **context,
    )
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _client_address(request: Request) -> str:
    # The socket's peer: `serve` runs uvicorn without proxy headers, so no header can change it.
    return request.client.host if request.client is not None else ""


def _upload_limit(settings: Settings) -> int:
    return min(settings.web_max_upload_bytes, settings.max_upload_bytes)


def _verify_context(settings: Settings, *, result: VerifyResult | None, error: ApiError | None) -> dict[str, Any]:
    return {
        "page": "verify",
        "result": result,
        "error": None if error is None else {"status": error.status, "message": error.message},
        "max_upload_bytes": _upload_limit(settings),
        "formats": VERIFIABLE_FORMAT_NAMES,
        "store_uploads": settings.web_store_uploads,
    }


async def _verify_upload(request: Request, services: Services, *, gate: PendingGate) -> VerifyResult:
    settings = services.settings
    async with UploadSpool(settings.spool_dir) as spool:
        form = await receive_form(request, spec=WEB_FORM, spool=spool, max_bytes=_upload_limit(settings))
        upload = form.required_file("file")
        if sniff_media_type(upload.head) is None:
            raise unsupported_media(
                "this file is not a media type originmark can verify", supported=VERIFIABLE_FORMAT_NAMES
            )
        if not gate.enter():  # only now: a place is never held while bytes trickle in
            raise service_unavailable("busy", "the verifier is busy with other uploads: try again in a moment")
        try:
            # Nobody's submission (the page is public): stored by content hash only, and only when
            # the operator asked for it; always verified afresh, as the page has always done.
            wanted = VerifyRequest(tenant=None, sha256=upload.sha256, refresh=True, record=settings.web_store_uploads)
            # The spool folder is removed in the thread of the last store call (as /v1/verify does).
            outcome = await work.verify_and_record(services, wanted, upload.on_disk, then=spool.release)
        finally:
            gate.leave()
    services.metrics.verdicts.labels(outcome.verdict.state.value, "false").inc()
    return verify_result(
        outcome.verdict,
        outcome.label,
        file_name=safe_filename(upload.client_filename, fallback="upload"),
        size=upload.size,
        stored=outcome.stored,
    )


def web_router(settings: Settings) -> APIRouter:
    """The pages' routes for one app; `settings` sizes the page's upload gates."""
    router = APIRouter(include_in_schema=False)
    gate = PendingGate(limit=settings.web_max_pending)
    per_client = ClientUploads(limit=settings.web_max_uploads_per_client)

    @router.get("/", response_class=HTMLResponse)
    async def verify_page(request: Request, services: ServicesDep) -> HTMLResponse:
        return _render(request, "verify.html", _verify_context(services.settings, result=None, error=None))

    @router.post("/", response_class=HTMLResponse)
    async def verify_upload(request: Request, services: ServicesDep) -> HTMLResponse:
        template = "result.html" if request.headers.get(FRAGMENT_HEADER) == "1" else "verify.html"
        result: VerifyResult | None = None
        error: ApiError | None = None
        client = _client_address(request)
        if not per_client.enter(client):
            error = too_many_requests(
                "you have other uploads in progress: wait for them to finish, then try again",
                retry_after_seconds=UPLOADS_PER_CLIENT_RETRY_SECONDS,
                code="too_many_uploads",
            )
            error.headers["Connection"] = "close"  # the body was not read
        else:
            try:
                result = await _verify_upload(request, services, gate=gate)
            except ApiError as raised:
                error = raised
            except (VerifierError, StoreUnavailable):
                # The API answers these 503 through app/api/error_responses.py; the page says it in HTML.
                error = service_unavailable("unavailable", "the verifier is not available right now: try again later")
            finally:
                per_client.leave(client)
        context = _verify_context(services.settings, result=result, error=error)
        if error is not None:
            return _render(request, template, context, status=error.status, headers=error.headers)
        return _render(request, template, context)

    @router.get("/feed", response_class=HTMLResponse)
    async def feed_page(request: Request, tenant: str = DEFAULT_TENANT) -> HTMLResponse:
        # One tenant's public feed (the label reads it makes name the tenant). A name that cannot
        # be a tenant's is refused here; any other shows that tenant's feed, empty if it has none.
        if not is_tenant_name(tenant):
            return HTMLResponse("no such feed", status_code=404, headers=SECURITY_HEADERS)
        return _render(request, "feed.html", {"page": "feed", "feed_limit": FEED_LIMIT, "tenant": tenant})

    return router
