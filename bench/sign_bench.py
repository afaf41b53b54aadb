"""Signing benchmark: originmark's ContentSigner against the raw engine, same run, same files.

    python bench/sign_bench.py [--rounds 30] [--size 2048]

Reference: c2pa-python used the way its README shows — `Builder(manifest)` and
`Signer.from_info(...)` with the engine's default settings (thumbnails on,
verify-after-sign on) — signing the same 2048x2048 JPEG file to file with the same
development key. Both sides run interleaved round by round so machine noise hits
both equally. Prints the median and p90 per side and the ratio; then checks that
originmark's output verifies `trusted` under the local development CA.

This script (like bench/verify_bench.py) imports c2pa directly: it measures the raw
engine as the reference, which is not product code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import sys
import tempfile
import time
from pathlib import Path

import c2pa
from PIL import Image

from keys.devca import create_development_credentials
from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState


def make_photo_like_jpeg(path: Path, size: int) -> None:
    """A JPEG with real texture (noise over a gradient) so encode sizes are realistic."""
    gradient = Image.linear_gradient("L").resize((size, size))
    noise = Image.effect_noise((size, size), 60)
    Image.merge("RGB", (gradient, noise, gradient.rotate(90))).save(path, quality=90)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        credentials = create_development_credentials(work / "keys")
        assert credentials.key_path is not None, "create_development_credentials writes the key file"
        signing_key = load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path)
        source = work / "generated.jpg"
        make_photo_like_jpeg(source, args.size)
        request = GenerationRequest(generator_name="Bench Diffusion", generator_version="1.0")

        ours = ContentSigner(signing_key=signing_key, options=SignerOptions())
        raw_signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                c2pa.C2paSigningAlg.ES256,
                credentials.chain_path.read_bytes(),
                credentials.key_path.read_bytes(),
                None,
            )
        )
        # The same manifest content on both sides; only the engine settings differ.
        manifest = build_manifest_definition(
            request, default_title=source.name, originmark_version=originmark_version()
        )

        def sign_raw(destination: Path) -> None:
            builder = c2pa.Builder(manifest)  # no Context: the engine's default settings
            with source.open("rb") as src, destination.open("w+b") as dst:
                builder.sign(raw_signer, "image/jpeg", src, dst)

        def sign_ours(destination: Path) -> None:
            ours.sign_file(source=source, destination=destination, request=request)

        sign_raw(work / "warm-raw.jpg")
        sign_ours(work / "warm-ours.jpg")
        raw_ms: list[float] = []
        ours_ms: list[float] = []
        for round_number in range(args.rounds):
            for label, sign, sink in (("raw", sign_raw, raw_ms), ("ours", sign_ours, ours_ms)):
                destination = work / f"{label}-{round_number}.jpg"
                started = time.perf_counter()
                sign(destination)
                sink.append((time.perf_counter() - started) * 1000)
                destination.unlink()

        final = work / "final.jpg"
        sign_ours(final)
        policy = default_trust_policy(local_anchors_pem=credentials.ca_path.read_text())
        verdict = Verifier(policy=policy).verify_file(final)

    raw_median, ours_median = statistics.median(raw_ms), statistics.median(ours_ms)
    ratio = ours_median / raw_median
    print(f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}")
    print(f"input: {args.size}x{args.size} JPEG, {args.rounds} rounds, interleaved, file to file")
    print(f"raw engine, default settings : median {raw_median:8.2f} ms   p90 {percentile(raw_ms, 0.9):8.2f} ms")
    print(f"originmark ContentSigner      : median {ours_median:8.2f} ms   p90 {percentile(ours_ms, 0.9):8.2f} ms")
    print(f"ratio originmark / raw        : {ratio:.3f}  (target <= 0.5)")
    print(f"originmark output verifies    : {verdict.state.value} (trust list: {verdict.trust_list})")
    ok = ratio <= 0.5 and verdict.state is VerdictState.TRUSTED
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
