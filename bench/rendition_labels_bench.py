"""The issue 15 evidence for renditions at feed scale: 1,000 renditions of 100 originals, their labels
read back in one request.

    python bench/rendition_labels_bench.py [--originals 100] [--per-original 10]

`originmark serve` in its own process (bench/http_harness.py) on a scratch SQLite database and
development keys. 100 small generated JPEGs are signed (POST /v1/sign, AI-generated); each gets
`--per-original` renditions (resized with Pillow, 8 per POST /v1/renditions at most), signed with the
original's kept manifest store. Then one POST /v1/labels:batch with every rendition's media id: each
label must be the original's kind (ai_generated). Prints the counts, the time per rendition request
and per rendition, and the labels read's time; exits 1 if any label differs.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root: bench.*

from bench.http_harness import ServerConfig, ServerUnderTest

PER_REQUEST = 8  # file, file_2 ... file_8 (app/api/routes/renditions.py)


def _jpeg(index: int) -> bytes:
    image = Image.new("RGB", (160, 120), ((index * 37) % 256, (index * 91) % 256, (index * 13) % 256))
    for x in range(0, 160, 8):  # some texture, so fingerprints differ
        image.paste(
            ((x * index) % 256, x % 256, (255 - x) % 256), (x, (index % 12) * 10, x + 4, (index % 12) * 10 + 10)
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _resized(data: bytes, width: int) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.resize((width, width * 3 // 4)).save(out, "JPEG", quality=80)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=100)
    parser.add_argument("--per-original", type=int, default=10)
    args = parser.parse_args()

    from app.store.interface import Scope
    from app.store.migrate import upgrade_database
    from app.store.sql import open_store
    from keys.devca import create_development_credentials

    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        create_development_credentials(scratch / "keys")
        database_url = f"sqlite:///{scratch}/originmark.db"
        upgrade_database(database_url)
        with open_store(database_url, pool_size=1) as store:
            _, token = store.create_key(name="rendition bench", scopes=frozenset({Scope.SIGN, Scope.READ}))
        config = ServerConfig(extra_env=(("ORIGINMARK_SIGN_RATE_BURST", "100000"),))
        with (
            ServerUnderTest(config=config, database_url=database_url, data_dir=scratch, cpus=None) as server,
            httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http,
        ):
            request_seconds: list[float] = []
            rendition_ids: list[str] = []
            for index in range(args.originals):
                signed = http.post(
                    "/v1/sign",
                    files={"file": ("original.jpg", _jpeg(index), "image/jpeg")},
                    data={"generator": "Bench Diffusion", "media_id": f"orig-{index}"},
                )
                signed.raise_for_status()
                widths = [40 + 8 * n for n in range(args.per_original)]
                for start in range(0, len(widths), PER_REQUEST):
                    chunk = widths[start : start + PER_REQUEST]
                    files, data = {}, {"source_media_id": f"orig-{index}", "action": ["c2pa.resized.proportional"]}
                    for position, width in enumerate(chunk):
                        suffix = "" if position == 0 else f"_{position + 1}"
                        media_id = f"orig-{index}-w{width}"
                        files[f"file{suffix}"] = (f"{media_id}.jpg", _resized(signed.content, width), "image/jpeg")
                        data[f"media_id{suffix}"] = media_id
                        rendition_ids.append(media_id)
                    started = time.perf_counter()
                    response = http.post("/v1/renditions", files=files, data=data)
                    request_seconds.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise SystemExit(f"renditions of orig-{index}: {response.status_code} {response.text[:500]}")
            started = time.perf_counter()
            labels = http.post("/v1/labels:batch", json=rendition_ids)
            read_ms = (time.perf_counter() - started) * 1000
            labels.raise_for_status()
            kinds = [(label or {}).get("kind") for label in labels.json()["labels"].values()]
    wrong = [kind for kind in kinds if kind != "ai_generated"]
    per_request = statistics.median(request_seconds) * 1000
    per_rendition = sum(request_seconds) / len(rendition_ids) * 1000
    print(
        f"{len(rendition_ids)} renditions of {args.originals} originals: {len(kinds)} labels read in one "
        f"POST /v1/labels:batch in {read_ms:.1f} ms, {len(kinds) - len(wrong)} ai_generated, {len(wrong)} other; "
        f"rendition requests: median {per_request:.0f} ms ({len(request_seconds)} requests), "
        f"{per_rendition:.1f} ms per rendition on average"
    )
    sys.exit(1 if wrong or len(kinds) != len(rendition_ids) else 0)


if __name__ == "__main__":
    main()
