"""The web pages: a verify page at `/` and a feed page at `/feed`.

Server-rendered with Jinja2 (autoescape always on) plus a little plain JavaScript from
`static/` (no build step). `app.api.main.create_app` installs them unless
ORIGINMARK_WEB_PAGES is off:

- `pages.py`     the routes, the upload bounds of the public page, the security headers;
- `view.py`      a Verdict + Label turned into what the page shows (plain data, cleaned text);
- `words.py`     C2PA vocabulary in plain words (actions, source types, trust lists, states);
- `text.py`      hostile manifest text made displayable (controls, bidi overrides, length).
"""

from app.web.pages import STATIC_DIR, web_router

__all__ = ["STATIC_DIR", "web_router"]
