"""What the crop views cost at signing, and what the unrolled DCT saves: one run, one file.

    python bench/fingerprint_views_bench.py [--rounds 30] [--size 2048]

A photo-like JPEG (bench/sign_bench.py's: noise over gradients, q90), fingerprinted as signing
does, interleaved round by round: without views, and with INDEX_VIEWS (the 4 centre crops).
Then the 64-bit code of 32x32 pixels both ways: `view_code64` (verifier/iscc_dct.py, unrolled)
and the reference it replaced, iscc-core's recursive `alg_dct` on the same 32 rows and 8 columns,
checked equal on every round. Prints medians (p90).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import iscc_core
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sign_bench import make_photo_like_jpeg, percentile
from verifier.fingerprint import INDEX_VIEWS, code64_through, fingerprint_image, view_code64


def code64_with_alg_dct(pixels: bytes) -> int:
    """The 8x8 lowest coefficients' bits through iscc-core's own DCT, as view_code64 computed them before."""
    return code64_through(pixels, lambda values: iscc_core.alg_dct(list(values))[:8])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "in.jpg"
        make_photo_like_jpeg(source, args.size)
        with Image.open(source) as image:
            pixels = image.convert("L").resize((32, 32), Image.Resampling.BICUBIC).tobytes()
        sides: dict[str, Callable[[], object]] = {
            "fingerprint_image, no views": lambda: fingerprint_image(source),
            "fingerprint_image, INDEX_VIEWS": lambda: fingerprint_image(source, views=INDEX_VIEWS),
            "one code64, view_code64 (unrolled)": lambda: view_code64(pixels),
            "one code64, iscc-core alg_dct": lambda: code64_with_alg_dct(pixels),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        for round_number in range(args.rounds + 1):  # round 0 warms up
            for name, run in sides.items():
                started = time.perf_counter()
                run()
                if round_number:
                    times[name].append((time.perf_counter() - started) * 1000)
            if view_code64(pixels) != code64_with_alg_dct(pixels):
                sys.exit("!! view_code64 differs from iscc-core's DCT")
    print(f"{args.size}x{args.size} JPEG q90, {args.rounds} rounds, interleaved:")
    for name, values in times.items():
        print(f"  {name:36s} median {statistics.median(values):7.2f} ms   p90 {percentile(values, 0.9):7.2f} ms")
    views = statistics.median(times["fingerprint_image, INDEX_VIEWS"]) - statistics.median(
        times["fingerprint_image, no views"]
    )
    print(f"  the {len(INDEX_VIEWS)} views: {views:.2f} ms (difference of the medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
