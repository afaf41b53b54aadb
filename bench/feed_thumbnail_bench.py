"""What feed thumbnails cost the sign answer, and how long until the thumbnail is kept.

    python bench/feed_thumbnail_bench.py [--rounds 15]

`originmark serve` in its own process (bench/http_harness.py) on a scratch SQLite database and
development keys. Each round signs a 2048x1536 JPEG (noisy, ~1 MB) under a fresh media id twice,
once with the default tenant's feed thumbnails off and once on (switched in the database between
the two: the server reads the setting on every request), in alternating order so that machine noise
hits both equally. Timed: the sign answer (request sent to last byte received) either way, and with
thumbnails on the time from the answer until GET /v1/thumbnails/{id} answers 200 (the thumbnail is
made after the answer). In the same rounds, in this process: Pillow making the 320 px picture from
the signed file (verifier/thumbnail.make_picture, which the server runs in a verifier worker) and the raw engine signing that picture (a
c2pa Builder with one created action: the reference, not product code). Prints medians in ms.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root: bench.*

from bench.http_harness import ServerConfig, ServerUnderTest
from bench.raw_engine import RawEngineSigner


def _jpeg(seed: int) -> bytes:
    noise = Image.effect_noise((2048, 1536), 40 + seed % 20).convert("RGB")
    out = io.BytesIO()
    Image.blend(noise, Image.new("RGB", noise.size, (200, 120, 60)), 0.5).save(out, "JPEG", quality=90)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    from app.store.interface import DEFAULT_TENANT, Scope
    from app.store.migrate import upgrade_database
    from app.store.sql import open_store
    from keys.devca import create_development_credentials
    from verifier.thumbnail import make_picture

    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        credentials = create_development_credentials(scratch / "keys")
        assert credentials.key_path is not None
        raw_engine = RawEngineSigner(credentials)
        database_url = f"sqlite:///{scratch}/originmark.db"
        upgrade_database(database_url)
        store = open_store(database_url, pool_size=1)
        _, token = store.create_key(name="thumbnail bench", scopes=frozenset({Scope.SIGN, Scope.READ}))
        config = ServerConfig(extra_env=(("ORIGINMARK_SIGN_RATE_BURST", "100000"),))
        times: dict[str, list[float]] = {"answer off": [], "answer on": [], "until kept": [], "pillow": [], "raw": []}
        size = 0
        with (
            ServerUnderTest(config=config, database_url=database_url, data_dir=scratch, cpus=None) as server,
            httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http,
        ):
            for round_number in range(args.rounds):
                order = (False, True) if round_number % 2 == 0 else (True, False)
                for enabled in order:
                    store.set_feed_thumbnails(DEFAULT_TENANT, enabled)
                    data = _jpeg(round_number * 2 + int(enabled))
                    size = len(data)
                    media_id = f"r{round_number}-{'on' if enabled else 'off'}"
                    started = time.perf_counter()
                    signed = http.post(
                        "/v1/sign",
                        files={"file": ("big.jpg", data, "image/jpeg")},
                        data={"generator": "Bench Diffusion", "media_id": media_id},
                    )
                    answered = time.perf_counter()
                    signed.raise_for_status()
                    times[f"answer {'on' if enabled else 'off'}"].append((answered - started) * 1000)
                    if enabled:
                        while http.get(f"/v1/thumbnails/{media_id}").status_code != 200:
                            if time.perf_counter() - answered > 30:
                                raise SystemExit("no thumbnail kept in 30 s")
                            time.sleep(0.005)
                        times["until kept"].append((time.perf_counter() - answered) * 1000)
                        path = scratch / "signed.jpg"
                        path.write_bytes(signed.content)
                        started = time.perf_counter()
                        picture = make_picture(path)
                        times["pillow"].append((time.perf_counter() - started) * 1000)
                        started = time.perf_counter()
                        raw_engine.sign(io.BytesIO(picture.content))
                        times["raw"].append((time.perf_counter() - started) * 1000)
        store.close()
        medians = ", ".join(f"{kind} {statistics.median(values):.1f} ms" for kind, values in times.items())
        print(f"{size // 1024} KB JPEG 2048x1536, {args.rounds} rounds, load {os.getloadavg()[0]:.2f}: {medians}")


if __name__ == "__main__":
    main()
