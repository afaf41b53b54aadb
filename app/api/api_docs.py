"""/docs (Swagger UI) and /redoc (ReDoc), with every asset served by this server: both work offline.

FastAPI's own pages load Swagger UI from a CDN (ReDoc also Google Fonts): on a server without
internet egress /docs was a blank page. The assets here are the `fastapi-offline` package's
copies of Swagger UI and ReDoc's standalone bundle, unmodified, mounted at ASSETS_PATH; the pages
are FastAPI's own HTML (get_swagger_ui_html, get_redoc_html) pointed at them.

Each page carries a Content-Security-Policy that allows no other origin at all, so even a part
of either tool that reaches out (ReDoc 2.5 always draws Redocly's logo from its CDN) is refused
by the browser before a request is made. Scripts come only from this server, plus Swagger UI's
start-up script that FastAPI writes inline, allowed by the hash of its exact text. ReDoc alone
also gets inline styles and a blob: worker (REDOC_NEEDS); tests/web/test_browser.py loads both
pages with every other origin cut off and fails on any request or refusal beyond that logo.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs-assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")

# The validator badge would send the OpenAPI document's URL to validator.swagger.io: off.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def assets_directory() -> Path:
    """The installed package's folder of assets; fails at start-up, not at the first page view."""
    folder = Path(str(importlib.resources.files("fastapi_offline").joinpath("static")))
    missing = [name for name in ASSET_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"the fastapi-offline package has no {', '.join(missing)} in {folder}: reinstall it")
    return folder


def content_security_policy(html: str, *, extra: tuple[str, ...] = ()) -> str:
    """A docs page's policy: nothing from another origin; inline script only by its hash.

    `extra`: what one tool needs beyond that (REDOC_NEEDS), each measured: without it the page
    does not render, or the browser reports the refusal.
    """
    hashes = "".join(
        " 'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    directives = {
        "default-src": "'none'",
        "script-src": "'self'" + hashes,
        "style-src": "'self'",
        "img-src": "'self' data:",  # Swagger UI's icons are data: URIs
        "connect-src": "'self'",  # the OpenAPI document, and Swagger UI's "Try it out" requests
        "form-action": "'self'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
    }
    for directive in extra:
        name, _, value = directive.partition(" ")
        directives[name] = value
    return "; ".join(f"{name} {value}" for name, value in directives.items())


# ReDoc styles itself at run time (styled-components writes <style> elements; FastAPI's page has
# one too) and builds its search index in a worker made from a blob. Styles cannot run code.
REDOC_NEEDS = ("style-src 'self' 'unsafe-inline'", "worker-src blob:")


def _page(html: HTMLResponse, *, extra: tuple[str, ...] = ()) -> HTMLResponse:
    text = bytes(html.body).decode("utf-8")
    headers = {
        "Content-Security-Policy": content_security_policy(text, extra=extra),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(text, headers=headers)


def _swagger_ui(title: str, openapi_url: str, assets: str) -> HTMLResponse:
    js, css, icon = (f"{assets}/{name}" for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"))
    html = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} API (Swagger UI)",
        swagger_js_url=js,
        swagger_css_url=css,
        swagger_favicon_url=icon,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    return _page(html)


def _redoc(title: str, openapi_url: str, assets: str) -> HTMLResponse:
    html = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{title} API (ReDoc)",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,  # no request to Google Fonts
    )
    return _page(html, extra=REDOC_NEEDS)


def install_api_docs(app: FastAPI) -> None:
    """Mount the assets and add /docs and /redoc (create the app with docs_url=None, redoc_url=None)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_directory()), name="docs-assets")
    openapi_path = app.openapi_url or "/openapi.json"

    def add_page(path: str, render: Callable[[str, str, str], HTMLResponse]) -> None:
        async def page(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy's path prefix
            return render(app.title, root + openapi_path, root + ASSETS_PATH)

        app.add_api_route(path, page, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)

    add_page(DOCS_PATH, _swagger_ui)
    add_page(REDOC_PATH, _redoc)
