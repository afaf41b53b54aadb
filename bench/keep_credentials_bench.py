"""What keeping an input's credentials costs: the look for a manifest store, and the signature.

    python bench/keep_credentials_bench.py [--rounds 30] [--shared ../shared]

For real credentialed files of the shared corpus: the look originmark makes for a manifest store
before signing (the engine's Reader, verification off) beside the raw engine's Reader validating
the same file (plain settings, no fetching), then originmark signing a Firefly JPEG keeping its
credentials (parentOf ingredient validated, output read back) and replacing them, interleaved
round by round so machine noise hits both equally. Prints medians in milliseconds.

Imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import c2pa

from keys.devca import create_development_credentials
from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.engine_settings import credentials_lookup_settings
from signer.formats import detect_format
from signer.manifest import GenerationRequest

FILES = (
    "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg",
    "c2pa-js-legacy/tools/testing/fixtures/images/gen-fill.jpg",
    "c2pa-rs/cli/tests/fixtures/C_with_CAWG_data.jpg",
    "c2pa-rs/sdk/tests/fixtures/video1.mp4",
)


def _read_ms(context: c2pa.Context, path: Path, mime: str) -> float:
    with path.open("rb") as stream:
        started = time.perf_counter()
        reader = c2pa.Reader.try_create(mime, stream, context=context)
        if reader is not None:
            reader.get_validation_state()
            reader.close()
        return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    corpus = args.shared / "corpus"

    lookup = c2pa.Context.from_dict(credentials_lookup_settings())
    raw = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    for relative in FILES:
        path = corpus / relative
        mime = detect_format(path).mime
        looks, reads = [], []
        for _ in range(args.rounds):
            looks.append(_read_ms(lookup, path, mime))
            reads.append(_read_ms(raw, path, mime))
        print(
            f"{path.name}: look for a store {statistics.median(looks):.2f} ms, "
            f"raw engine Reader validating {statistics.median(reads):.2f} ms"
        )

    with tempfile.TemporaryDirectory() as folder:
        credentials = create_development_credentials(Path(folder) / "keys")
        assert credentials.key_path is not None  # a development key is a PEM file
        key = load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path)
        signer = ContentSigner(signing_key=key, options=SignerOptions())
        source = corpus / FILES[0]
        times: dict[bool, list[float]] = {False: [], True: []}
        for round_number in range(args.rounds):
            for replace in (False, True):
                destination = Path(folder) / f"out-{round_number}-{replace}.jpg"
                request = GenerationRequest(generator_name="bench", replace_credentials=replace)
                started = time.perf_counter()
                signer.sign_file(source=source, destination=destination, request=request)
                times[replace].append((time.perf_counter() - started) * 1000)
        signer.close()
        print(
            f"sign {source.name}: keep {statistics.median(times[False]):.1f} ms, "
            f"replace {statistics.median(times[True]):.1f} ms (medians of {args.rounds})"
        )


if __name__ == "__main__":
    main()
