"""/docs and /redoc over HTTP: every asset from this server, and a policy that allows no other origin.

tests/web/test_browser.py loads both pages in Chromium with every other origin cut off.
"""

from __future__ import annotations

import re

import httpx
import pytest

from app.api.api_docs import ASSET_FILES, ASSETS_PATH

# Any absolute URL in the page (a CDN, Google Fonts, a favicon elsewhere).
ABSOLUTE_URL = re.compile(r"""(?:src|href|url)\s*[=(:]\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_elsewhere(client: httpx.Client, path: str):
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert ABSOLUTE_URL.search(page.text) is None
    assert "cdn." not in page.text and "fonts.googleapis" not in page.text
    assert f'"{ASSETS_PATH}/' in page.text  # its script from here
    policy = dict(part.split(" ", 1) for part in page.headers["content-security-policy"].split("; "))
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    for directive, sources in policy.items():
        assert "http" not in sources and "*" not in sources, (directive, sources)
    script_sources = policy["script-src"].split()
    assert script_sources[0] == "'self'" and all(s.startswith("'sha256-") for s in script_sources[1:])
    assert "unsafe" not in policy["script-src"]


def test_swagger_uis_inline_start_up_script_is_allowed_by_its_hash_only(client: httpx.Client):
    page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    assert policy.count("'sha256-") == 1 and "SwaggerUIBundle(" in page.text
    assert '"validatorUrl": null' in page.text  # the validator badge would send the spec's URL away


def test_the_assets_are_served_from_the_installed_package(client: httpx.Client):
    for name in ASSET_FILES:
        answer = client.get(f"{ASSETS_PATH}/{name}")
        assert answer.status_code == 200 and len(answer.content) > 1000, name
    assert client.get(f"{ASSETS_PATH}/../pyproject.toml").status_code == 404
    assert client.get("/docs-assets/nothing.js").status_code == 404
