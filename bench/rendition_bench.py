"""What signing a rendition costs beside signing the same file plainly.

    python bench/rendition_bench.py [--rounds 30] [--shared ../shared]

A Firefly JPEG of the shared corpus is resized with Pillow (a platform's rendition); its manifest
store (what the manifest repository keeps) is cut out of the original. Each round signs the
rendition twice with originmark's signer, interleaved so machine noise hits both equally: as a
rendition (the kept store as the parentOf ingredient: the engine validates it, output read back)
and plainly (new AI output, c2pa.created). The raw engine's own signing of the rendition (a
Builder with one created action, no ingredient) is timed in the same rounds as the reference.
Prints medians in milliseconds.

Imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root: bench.*

from bench.raw_engine import RawEngineSigner
from keys.devca import create_development_credentials
from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest, Upstream
from verifier.embedded_store import embedded_manifest_store

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    original = args.shared / "corpus" / FIREFLY
    store = embedded_manifest_store(original, "image/jpeg")
    assert store is not None

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        rendition = folder / "rendition.jpg"
        with Image.open(original) as image:
            image.convert("RGB").resize((image.width // 2, image.height // 2)).save(rendition, "JPEG", quality=85)
        credentials = create_development_credentials(folder / "keys")
        assert credentials.key_path is not None  # a development key is a PEM file
        key = load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path)
        signer = ContentSigner(signing_key=key, options=SignerOptions())
        raw_engine = RawEngineSigner(credentials)
        upstream = Upstream(
            title=original.name, format="image/jpeg", actions=("c2pa.resized.proportional",), manifest_store=store
        )
        requests = {
            "rendition": GenerationRequest(generator_name="bench", rendition_of=upstream),
            "plain": GenerationRequest(generator_name="bench"),
        }
        times: dict[str, list[float]] = {"rendition": [], "plain": [], "raw engine": []}
        for round_number in range(args.rounds):
            for kind, request in requests.items():
                started = time.perf_counter()
                signer.sign_file(source=rendition, destination=folder / f"{kind}-{round_number}.jpg", request=request)
                times[kind].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            with rendition.open("rb") as source:
                raw_engine.sign(source)
            times["raw engine"].append((time.perf_counter() - started) * 1000)
        signer.close()
        size = rendition.stat().st_size
        medians = ", ".join(f"{kind} {statistics.median(values):.1f} ms" for kind, values in times.items())
        print(f"sign a {size // 1024} KB rendition of {original.name}: {medians} (medians of {args.rounds})")


if __name__ == "__main__":
    main()
