#!/usr/bin/env python3
"""Regenerate the screenshots of the web pages in docs/ (the README shows them).

    python scripts/screenshots.py [--out docs]

Starts `originmark serve` on a free port with demo content in a temporary folder (fresh
development keys, an SQLite database, public label reads), signs and verifies a few made-up
images through the HTTP API under media ids (the default tenant keeps feed thumbnails, so the
feed shows signed thumbnails, and a placeholder for the tampered repost, which gets none), then
photographs the verify page (an AI edit of a captured photo, and a tampered file) and the feed
page, at desktop and phone width, with
headless Chromium from Debian (/usr/bin/chromium; `apt-get install -y chromium`) driven by
Playwright. Nothing outside the temporary folder and the output folder is touched.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from PIL import Image, ImageDraw, ImageFilter

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize  # playwright itself is imported where the browser starts

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from app.store.interface import Scope  # noqa: E402
from app.store.migrate import upgrade_database  # noqa: E402
from app.store.sql import open_store  # noqa: E402
from keys.devca import create_development_credentials  # noqa: E402
from scripts.local_service import free_port  # noqa: E402
from signer.policy import SigningPolicy  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 812}


def picture(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int], *, sun: bool) -> bytes:
    """A made-up scene: a vertical gradient sky, a sun or a hill. No one's real photo."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    if sun:
        draw.ellipse([width * 0.58, height * 0.30, width * 0.78, height * 0.60], fill=(255, 214, 120))
        draw.rectangle([0, height * 0.70, width, height], fill=(38, 44, 80))
    else:
        draw.ellipse([-width * 0.2, height * 0.55, width * 0.7, height * 1.4], fill=(46, 110, 70))
        draw.ellipse([width * 0.4, height * 0.62, width * 1.3, height * 1.5], fill=(36, 92, 58))
    buffer = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(1.2)).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def tampered(data: bytes) -> bytes:
    """Change a few bytes of the image data after signing (the JPEG stays well-formed)."""
    sos = data.rfind(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    out = bytearray(data)
    index, changed = (start + len(data)) // 2, 0
    while changed < 8:
        if out[index] not in (0xFE, 0xFF) and out[index - 1] != 0xFF:
            out[index] ^= 0x01
            changed += 1
        index += 1
    return bytes(out)


def wait_until_ready(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready in time:\n{log.read_text()[-3000:]}")


def sign(http: httpx.Client, data: bytes, media_id: str, *, parent: bytes | None = None, **fields: str) -> bytes:
    files = {"file": (f"{media_id}.jpg", data, "image/jpeg")}
    if parent is not None:
        files["parent"] = ("parent.jpg", parent, "image/jpeg")
    response = http.post("/v1/sign", files=files, data={"media_id": media_id, **fields})
    response.raise_for_status()
    return response.content


def verify(http: httpx.Client, data: bytes, media_id: str) -> None:
    files = {"file": (f"{media_id}.jpg", data, "image/jpeg")}
    http.post("/v1/verify", files=files, data={"media_id": media_id}).raise_for_status()


def wait_for_thumbnails(http: httpx.Client, media_ids: tuple[str, ...]) -> None:
    """The feed thumbnails are made after each answer: wait until those of `media_ids` are kept."""
    deadline = time.monotonic() + 60
    for media_id in media_ids:
        while http.get(f"/v1/thumbnails/{media_id}", params={"tenant": "default"}).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"no feed thumbnail was kept for {media_id}")
            time.sleep(0.2)


def demo_content(http: httpx.Client, folder: Path) -> dict[str, Path]:
    """Signed and verified items under media ids, oldest first; returns files for the verify page."""
    photo = sign(
        http,
        picture((720, 480), (120, 170, 230), (220, 235, 250), sun=False),
        "photo-1041",
        generator="Demo Camera App",
        generator_version="3.2",
        digital_source_type="digitalCapture",
        title="Hills after the rain",
    )
    verify(http, picture((720, 480), (90, 90, 90), (200, 200, 200), sun=False), "upload-1042")  # no credentials
    sunset = sign(
        http,
        picture((720, 480), (250, 140, 70), (110, 60, 140), sun=True),
        "gen-1043",
        generator="Acme Diffusion",
        generator_version="2.1",
        title="Sunset over the harbour",
    )
    verify(http, tampered(sunset), "repost-1044")  # changed after signing: invalid
    edit = sign(
        http,
        picture((720, 480), (250, 150, 90), (130, 80, 160), sun=False),
        "edit-1045",
        parent=photo,
        generator="Acme Inpaint",
        generator_version="1.4",
        title="Hills after the rain (sky replaced)",
    )
    wait_for_thumbnails(http, ("photo-1041", "upload-1042", "gen-1043", "edit-1045"))
    files = {"edit": folder / "hills-sky-replaced.jpg", "tampered": folder / "sunset-repost.jpg"}
    files["edit"].write_bytes(edit)
    files["tampered"].write_bytes(tampered(sunset))
    return files


def photograph(base_url: str, files: dict[str, Path], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            page.goto(base_url + "/")
            page.set_input_files("#file", str(files["edit"]))
            page.locator("#label-text").wait_for()
            page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
            written.append(out / f"web-verify-{name}.png")
            page.screenshot(path=str(written[-1]), full_page=True)

            if name == "desktop":
                page.goto(base_url + "/")
                page.set_input_files("#file", str(files["tampered"]))
                page.locator("#label-text").wait_for()
                page.click("#result details summary")
                page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
                written.append(out / "web-verify-invalid-desktop.png")
                page.screenshot(path=str(written[-1]), full_page=True)

            page.goto(base_url + "/feed")
            page.locator(".card").nth(4).wait_for()
            page.wait_for_function(
                "() => [...document.querySelectorAll('img.media__img')].every((i) => i.complete && i.naturalWidth)"
                " && document.querySelectorAll('img.media__img').length === 4"
            )
            page.locator(".card summary").nth(0).click()
            page.locator(".card dt", has_text="App or device used").first.wait_for()
            page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
            written.append(out / f"web-feed-{name}.png")
            page.screenshot(path=str(written[-1]), full_page=True)
            context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT / "docs", help="where the PNG files go (default: docs/)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    originmark = shutil.which("originmark", path=str(Path(sys.executable).parent)) or shutil.which("originmark")
    if originmark is None:
        raise SystemExit("the originmark command is not installed: pip install -e .")
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="originmark-screenshots-") as temp:
        folder = Path(temp)
        keys = create_development_credentials(folder / "keys")
        database_url = f"sqlite:///{folder / 'originmark.db'}"
        upgrade_database(database_url)
        with open_store(database_url) as store:
            _, token = store.create_key(
                name="screenshots",
                scopes=frozenset({Scope.SIGN, Scope.VERIFY}),
                # The demo feed includes a captured photo: grant digitalCapture too.
                signing_policy=SigningPolicy.unrestricted(),
            )
            store.set_feed_thumbnails("default", True)  # the feed shows the media
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ORIGINMARK_")},
            "ORIGINMARK_KEYS_DIR": str(keys.directory),
            "ORIGINMARK_DATABASE_URL": database_url,
            "ORIGINMARK_PUBLIC_LABEL_READS": "true",
            "ORIGINMARK_LOG_LEVEL": "warning",
        }
        log = folder / "server.log"
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [originmark, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until_ready(base_url, server, log)
                with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                    files = demo_content(http, folder)
                for path in photograph(base_url, files, args.out):
                    print(path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


if __name__ == "__main__":
    main()
