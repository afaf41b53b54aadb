"""The web pages over real HTTP: rendering, the verify flow with and without the page's script,
escaping of hostile manifest text, storage only when asked, the upload bounds, and the switch."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markupsafe import escape

from app.web.text import display_text
from tests.support import record_spool_removals

from .conftest import WEB_UPLOAD_LIMIT, file_part

FRAGMENT = {"X-Originmark-Fragment": "1"}


def _is_page(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    return response.text


class _Markup(HTMLParser):
    """The elements and attributes a browser would see (tags, event handlers, script sources)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[tuple[str, str]] = []
        self.script_urls: list[str] = []
        self.scripts: list[str] = []
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        values = dict(attrs)
        self.handlers += [(tag, name) for name, _ in attrs if name.startswith("on")]
        self.script_urls += [v for _, v in attrs if v and v.strip().lower().startswith("javascript:")]
        if tag == "script":
            self.scripts.append((values.get("src") or "<inline>").split("?")[0])
        if tag == "img":
            self.images.append(values)


def test_the_verify_page_is_a_plain_form_that_works_without_javascript(client):
    html = _is_page(client.get("/"))
    assert '<form id="verify-form"' in html
    assert 'method="post"' in html and 'enctype="multipart/form-data"' in html
    assert '<input class="file-input" type="file" id="file" name="file"' in html
    assert '<label class="drop-zone" id="drop-zone" for="file">' in html  # the drop zone is the input's label
    assert '<button type="submit"' in html
    assert "<h1>" in html and 'lang="en"' in html
    assert "Nothing you check here is kept" in html
    parsed = _Markup()
    parsed.feed(html)
    assert parsed.scripts == ["/static/verify.js"] and parsed.handlers == []


def test_a_signed_ai_image_shows_its_label_signer_time_tool_actions_and_codes_in_that_order(client, media):
    html = _is_page(client.post("/", files=file_part(media.ai)))
    order = [
        "AI-generated",  # the label (the dev CA is this server's local anchor: trusted)
        "Issued by",
        "Trusted signer",
        "own trust anchors",
        "Signed on",
        "App or device used",
        "What was done",
        "Created",
        "— made with generative AI",
        "Acme Diffusion 2.1",
        "Ingredients",
        "Validation details",
        "Raw manifest summary (JSON)",
    ]
    positions = [html.find(text) for text in order]
    assert all(p >= 0 for p in positions), dict(zip(order, positions, strict=True))
    assert positions == sorted(positions)
    assert "Harbour at dusk" in html
    assert 'class="cr-pin label-card__pin"' in html and ">CR</text>" in html
    assert '<details class="more">' in html  # codes and raw summary folded away


def test_an_ai_edit_shows_its_parent_as_an_ingredient_with_its_own_state(client, media):
    html = _is_page(client.post("/", files=file_part(media.edit)))
    assert "AI-generated" in html  # label.py: the earliest ancestor's inception (the AI parent) decides
    assert "Opened an existing file" in html and "combined with generative AI output" in html
    tree = html[html.index('<ul class="tree" id="ingredients">') :].split("</ul>")[0]
    assert '<span class="ingredient__title">ai.jpg</span>' in tree
    # Its own state, as the engine recorded it for the ingredient (valid: the signer's context
    # has no local trust anchors when it records the parent).
    assert re.search(r'<span class="state state--(trusted|valid)">', tree)
    assert "the file this one was made from" in tree


def test_a_tampered_file_is_invalid_and_shows_no_provenance_claim(client, media):
    html = _is_page(client.post("/", files=file_part(media.tampered)))
    assert "Content Credentials could not be verified" in html
    assert "assertion.dataHash.mismatch" in html  # in the folded validation details
    for claim in (
        "Acme Diffusion",
        "Harbour at dusk",
        "Issued by",
        "Signed on",
        "App or device used",
        "What was done",
        "Ingredients",
        "Raw manifest summary",
        "development",
        "originmark",
    ):
        if claim == "originmark":
            continue  # the site's own name is in its header and footer
        assert claim not in html, claim


def test_a_file_without_credentials_says_so(client, media):
    html = _is_page(client.post("/", files=file_part(media.plain)))
    assert "No Content Credentials" in html
    assert "Issued by" not in html
    assert 'class="cr-pin label-card__pin"' not in html  # no pin: there are no credentials


def test_the_uploads_spool_folder_is_removed_off_the_event_loop(client, media, monkeypatch):
    removals = record_spool_removals(monkeypatch)
    _is_page(client.post("/", files=file_part(media.plain)))
    assert removals == [False]


def test_the_script_gets_only_the_result_section(client, media):
    html = _is_page(client.post("/", files=file_part(media.ai), headers=FRAGMENT))
    assert html.lstrip().startswith('<section id="result"')
    assert "<html" not in html and "<form" not in html
    assert "AI-generated" in html


@pytest.mark.parametrize("fragment", [False, True])
def test_hostile_manifest_text_is_shown_as_text(client, media, fragment):
    html = _is_page(client.post("/", files=file_part(media.xss), headers=FRAGMENT if fragment else {}))
    for hostile in (media.xss_generator, media.xss_version, media.xss_title):
        shown = display_text(hostile)
        assert str(escape(shown)) in html, shown
    for raw in ("<script>alert", "<script>window.__pwned", "<img src=x", 'onmouseover="document', "<foo bar="):
        assert raw not in html, raw
    # What a browser would build from it: only the page's own elements, no handler, no script URL.
    parsed = _Markup()
    parsed.feed(html)
    assert parsed.scripts == ([] if fragment else ["/static/verify.js"])
    assert parsed.handlers == [] and parsed.script_urls == []
    assert parsed.tags <= {
        "section",
        "h2",
        "h3",
        "div",
        "p",
        "span",
        "svg",
        "path",
        "text",
        "dl",
        "dt",
        "dd",
        "strong",
        "ol",
        "ul",
        "li",
        "code",
        "details",
        "summary",
        "pre",
        "br",
        "time",
        "html",
        "head",
        "meta",
        "title",
        "link",
        "body",
        "a",
        "header",
        "nav",
        "main",
        "footer",
        "h1",
        "form",
        "input",
        "label",
        "button",
        "figure",
        "img",
        "figcaption",
        "script",
    }, parsed.tags
    assert parsed.images == ([] if fragment else [{"id": "preview-image", "alt": ""}])  # the page's own preview


def test_control_characters_bidi_overrides_and_long_text_are_cleaned(client, media):
    html = _is_page(client.post("/", files=file_part(media.controls)))
    result = html[html.index('<section id="result"') :]
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]", result)
    assert "Horizontal Tab" in result and "BackSpace" in result  # controls gone, the text still there
    assert "AAAA…" in result  # the 1,000-character title is cut at 200 characters
    assert "A" * 200 not in result.split("Raw manifest summary")[0]


def test_a_hostile_upload_file_name_is_cleaned(client, media):
    html = _is_page(client.post("/", files=file_part(media.ai, name='"><img src=x onerror=alert(1)>.jpg')))
    assert "<img src=x" not in html
    assert "__img src_x onerror_alert(1)_.jpg" in html


def test_nothing_is_stored_unless_the_setting_says_so(client, serve, store, media, worker_pools):
    _is_page(client.post("/", files=file_part(media.ai)))
    sha256 = worker_pools.verifier.verify_file(media.ai).sha256
    assert store.cached_verdict(sha256) is None
    assert store.recent_labels("default", 10) == []

    serve(web_store_uploads=True)
    html = _is_page(client.post("/", files=file_part(media.ai)))
    assert "Yes, by its content hash" in html
    # In the shared verification cache, but nobody's submission: no tenant reads it by hash.
    assert store.verdict_by_sha256("default", sha256) is None
    stored = store.cached_verdict(sha256)
    assert stored is not None and stored.label.text == "AI-generated"
    assert store.recent_labels("default", 10) == []  # stored by content hash, under no media id


def test_an_upload_over_the_page_limit_gets_413_as_a_page(client):
    html = _is_page(client.post("/", files={"file": ("big.jpg", b"\xff\xd8\xff" + b"0" * WEB_UPLOAD_LIMIT)}), 413)
    assert "The file could not be checked" in html
    assert "over the limit" in html


def test_the_page_limit_never_exceeds_the_api_limit(serve, client):
    serve(max_upload_bytes=1000)
    html = _is_page(client.get("/"))
    assert 'data-max-bytes="1000"' in html
    _is_page(client.post("/", files={"file": ("big.jpg", b"\xff\xd8\xff" + b"0" * 5000)}), 413)


def test_bytes_of_no_media_type_get_415_and_a_missing_file_422(client):
    html = _is_page(client.post("/", files={"file": ("notes.txt", b"just some text")}), 415)
    assert "not a media type originmark can verify" in html
    html = _is_page(client.post("/", data={"nothing": "here"}), 422)
    assert "The file could not be checked" in html
    html = _is_page(client.post("/", files={"other": ("a.jpg", b"\xff\xd8\xff")}), 422)
    assert "unknown form field" in html


def test_static_files_are_served(client):
    response = client.get("/static/verify.js")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/feed.js").status_code == 200


def test_the_pages_can_be_switched_off(serve, client):
    serve(web_pages=False)
    for path in ("/", "/feed", "/static/style.css"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
    assert client.get("/healthz").status_code == 200
    assert client.get("/docs").status_code == 200  # the API documentation is the API's, not the pages'


def test_the_pages_api_link_is_this_servers_docs(client):
    html = _is_page(client.get("/"))
    assert '<a href="/docs">API</a>' in html  # served with its assets from here (app/api/api_docs.py)
    assert client.get("/docs").status_code == 200 and client.get("/redoc").status_code == 200


def test_the_feed_page_says_when_label_reads_are_not_public(serve, client):
    html = _is_page(client.get("/feed"))
    assert "Label reads are not public on this server" in html
    assert "ORIGINMARK_PUBLIC_LABEL_READS=true" in html
    assert 'data-public="false"' in html

    serve(public_label_reads=True)
    html = _is_page(client.get("/feed"))
    assert "Label reads are not public" not in html
    assert 'data-public="true"' in html
    assert 'data-recent-url="/v1/labels/recent?limit=24&amp;tenant=default"' in html
    assert 'data-verdict-query="?tenant=default"' in html
    other = _is_page(client.get("/feed?tenant=acme-ai"))  # one tenant's public feed
    assert 'data-recent-url="/v1/labels/recent?limit=24&amp;tenant=acme-ai"' in other
    assert client.get("/feed?tenant=../x").status_code == 404
    assert '<template id="cr-pin-template">' in html
