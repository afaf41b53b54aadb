"""Video soft binding (issue 14): what fingerprinting a video's key frames costs at signing, beside the raw engine.

    python bench/video_fingerprint_bench.py [--seconds 30] [--size 1920x1080] [--gop 60] [--rounds 5]

Input: an H.264 MP4 made here with PyAV (tests/videos.py: libx264 `veryfast`, 30 fps, a key frame
every `--gop` frames and nowhere else): scenes of 3 s, each a picture with structure at every scale
(shapes over a gradient, with grain) that pans, so the encoder spends realistic bits on it. Made
once per run, unmeasured.

Each round, interleaved so that machine noise hits every side alike, file to file, in this process:

  raw      the raw engine: c2pa `Builder` + callback `Signer` with the Context originmark signs with
           (`signer.engine_settings.signing_settings`) and the manifest definition it builds
           without a soft binding: the reference;
  without  originmark's `ContentSigner` with `SignerOptions(soft_binding=False)`;
  with     originmark's `ContentSigner` as it signs by default (the key frames' soft binding);
  alone    `verifier.video_fingerprint.fingerprint_video` of the input by itself.

Prints the median and p90 of each, the key frames fingerprinted, and checks that the output of
"with" verifies `trusted` under the development CA with one soft-binding block per key frame.
This script imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import c2pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.*, tests.*
from bench.sign_bench import percentile
from keys.devca import create_development_credentials
from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.engine_settings import signing_settings
from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version
from signer.self_check import chain_anchor_pem
from tests.videos import write_scenes_video
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.video_fingerprint import fingerprint_video

FPS = 30
SCENE_SECONDS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--gop", type=int, default=60, help="frames between key frames (default 60: 2 s)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        source = work / "input.mp4"
        started = time.perf_counter()
        write_scenes_video(
            source,
            seeds=tuple(range(args.seconds // SCENE_SECONDS)),
            size=(width, height),
            fps=FPS,
            frames_per_scene=SCENE_SECONDS * FPS,
            gop=args.gop,
            grain=0.15,
            pan=2,
        )
        print(f"input: {source.stat().st_size} B, made in {time.perf_counter() - started:.1f} s", flush=True)

        credentials = create_development_credentials(work / "keys")
        assert credentials.key_path is not None, "create_development_credentials writes the key file"
        signing_key = load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path)
        request = GenerationRequest(generator_name="Bench Video Model", generator_version="1.0")
        anchor_pem, anchor_is_issuer = chain_anchor_pem(signing_key.chain_pem)
        context = c2pa.Context.from_dict(
            signing_settings(thumbnails=False, local_anchors_pem=anchor_pem if anchor_is_issuer else None)
        )
        raw_signer = c2pa.Signer.from_callback(signing_key.sign, c2pa.C2paSigningAlg.ES256, signing_key.chain_pem, None)
        manifest = build_manifest_definition(
            request, default_title=source.name, originmark_version=originmark_version()
        )
        with_binding = ContentSigner(signing_key=signing_key, options=SignerOptions())
        without_binding = ContentSigner(signing_key=signing_key, options=SignerOptions(soft_binding=False))

        def sign_raw(destination: Path) -> None:
            with c2pa.Builder(manifest, context=context) as builder:
                with source.open("rb") as src, destination.open("w+b") as dst:
                    builder.sign(raw_signer, "video/mp4", src, dst)

        def signing_with(signer: ContentSigner) -> Callable[[Path], None]:
            def sign(destination: Path) -> None:
                signer.sign_file(source=source, destination=destination, request=request)

            return sign

        def fingerprint_alone(_destination: Path) -> None:
            fingerprint_video(source)

        sides: dict[str, Callable[[Path], None]] = {
            "raw": sign_raw,
            "without": signing_with(without_binding),
            "with": signing_with(with_binding),
            "alone": fingerprint_alone,
        }
        timings: dict[str, list[float]] = {name: [] for name in sides}
        for name, run in sides.items():  # warm-up
            run(work / f"warm-{name}.mp4")
        for round_number in range(args.rounds):
            for name, run in sides.items():
                destination = work / f"{name}-{round_number}.mp4"
                started = time.perf_counter()
                run(destination)
                timings[name].append((time.perf_counter() - started) * 1000)
                destination.unlink(missing_ok=True)

        final = with_binding.sign_file(source=source, destination=work / "final.mp4", request=request)
        video = fingerprint_video(source)
        verdict = Verifier(policy=default_trust_policy(local_anchors_pem=credentials.ca_path.read_text())).verify_file(
            final.destination
        )

    print(
        f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}; "
        f"PyAV {av.__version__} (FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})"
    )
    print(
        f"input: {args.seconds} s {width}x{height} H.264 at {FPS} fps, a key frame every {args.gop} frames; "
        f"{args.rounds} rounds, interleaved, file to file"
    )
    print()
    print("| side | median ms | p90 ms |")
    print("|---|---:|---:|")
    for name, label in (
        ("raw", "raw engine sign (originmark's settings, no soft binding)"),
        ("without", "originmark ContentSigner, soft_binding=False"),
        ("with", "originmark ContentSigner (key-frame soft binding)"),
        ("alone", "fingerprint_video alone"),
    ):
        print(f"| {label} | {statistics.median(timings[name]):.0f} | {percentile(timings[name], 0.9):.0f} |")
    added = statistics.median(timings["with"]) - statistics.median(timings["without"])
    print()
    print(
        f"key frames fingerprinted: {len(video.key_frames)} (complete: {video.complete}); the soft binding adds "
        f"{added:.0f} ms to the median signing time"
    )
    print(f"output with the soft binding verifies: {verdict.state.value}")
    return 0 if verdict.state.value == "trusted" else 1


if __name__ == "__main__":
    sys.exit(main())
