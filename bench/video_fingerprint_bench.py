"""Video soft binding (issue 14): what fingerprinting a video (key frames and ISCC Video-Code) costs at
signing, beside the raw engine, and how well a re-encoded copy is found again.

    python bench/video_fingerprint_bench.py [--seconds 30] [--size 1920x1080] [--gop 60] [--rounds 5]
                                            [--videos 8] [--recall-seconds 12] [--distractors 0] [--recall-only]

Input: an H.264 MP4 made here with PyAV (tests/videos.py: libx264 `veryfast`, 30 fps, a key frame
every `--gop` frames and nowhere else): scenes of 3 s, each a picture with structure at every scale
(shapes over a gradient, with grain) that pans, so the encoder spends realistic bits on it. Made
once per run, unmeasured.

Each round, interleaved so that machine noise hits every side alike, file to file, in this process:

  raw      the raw engine: c2pa `Builder` + callback `Signer` with the Context originmark signs with
           (`signer.engine_settings.signing_settings`) and the manifest definition it builds
           without a soft binding: the reference;
  without  originmark's `ContentSigner` with `SignerOptions(soft_binding=False)`;
  with     originmark's `ContentSigner` as it signs by default (key frames and Video-Code);
  alone    `verifier.video_fingerprint.fingerprint_video` of the input by itself (both);
  frames   the key frames alone (`code_bounds=None`: what a lookup computes);
  code     `verifier.video_code.video_code` alone (FFmpeg's signature filter, a child process).

Prints the median and p90 of each, the key frames fingerprinted, and checks that the output of
"with" verifies `trusted` under the development CA.

Recall: `--videos` distinct videos (`--recall-seconds` long, 640x360, other seeds: synthetic scenes,
the only video corpus here), each re-encoded by the FFmpeg imageio-ffmpeg ships in the ways a
platform does (metadata stripped each time), and `--distractors` more made the same way but never
copied (unrelated to every copy). Each copy is looked up among all the originals as recovery does
(app/usecases/recovery.py): its key frames first (code within SEARCH_RADIUS of an original's key
frame, then its descriptor at least DESCRIPTOR_THRESHOLD; the best original reported), and when
they find nothing, its Video-Code (app/usecases/video_code_match.py: within VIDEO_CODE_RADIUS of
an original's, confirmed by the best descriptor similarity of any key frame of the copy to any of
the original's, at least VIDEO_CODE_THRESHOLD): right, wrong (another original), or none; and
again with its own original left out (leave-one-out), where anything reported is a false
recovery. By binding alone: the copy's Video-Code within VIDEO_CODE_BINDING_ONLY_RADIUS of its own
original's, and of the others'. `--recall-only` skips the signing costs.

Then, over every (copy, original) pair: the Video-Code's Hamming distances of copies to their own
original and to the others (and between originals), the second check's similarities, and the
Video-Code rule alone over a grid of radii and thresholds (copies found / of those the key frames
missed / unrelated pairs passing): the grid the constants were chosen from.
This script imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import c2pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.*, tests.*
from app.usecases.video_code_match import (
    VIDEO_CODE_BINDING_ONLY_RADIUS,
    VIDEO_CODE_RADIUS,
    VIDEO_CODE_THRESHOLD,
)
from bench.sign_bench import percentile
from keys.devca import create_development_credentials
from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.engine_settings import signing_settings
from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version
from signer.self_check import chain_anchor_pem
from tests.videos import write_scenes_video
from verifier.fingerprint import DESCRIPTOR_THRESHOLD, SEARCH_RADIUS, descriptor_similarity, hamming64
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.video_code import ffmpeg_executable, video_code
from verifier.video_fingerprint import VideoFingerprint, fingerprint_video

# What a platform does to an upload (FFmpeg arguments between input and output; -map_metadata -1 and -an always).
TRANSFORMS: dict[str, list[str]] = {
    "remux, metadata stripped (same frames)": ["-c:v", "copy"],
    "MPEG-4 at 1 Mbit/s, same size": ["-c:v", "mpeg4", "-b:v", "1M", "-g", "45"],
    "MPEG-4 at 300 kbit/s, 50% size": ["-vf", "scale=iw/2:-2", "-c:v", "mpeg4", "-b:v", "300k", "-g", "25"],
    "MPEG-4 at 150 kbit/s, 25% size": ["-vf", "scale=iw/4:-2", "-c:v", "mpeg4", "-b:v", "150k", "-g", "12"],
    "Motion JPEG q10, 15 fps": ["-r", "15", "-c:v", "mjpeg", "-q:v", "10"],
    "MPEG-4 at 1 Mbit/s, first second cut": ["-ss", "1", "-c:v", "mpeg4", "-b:v", "1M", "-g", "45"],
    # No key frame of the copy at the time of one of the original's (0.5 s off, then every 37 frames).
    "MPEG-4 at 1 Mbit/s, first 0.5 s cut, key frames every 37 frames": [
        "-ss", "0.5", "-c:v", "mpeg4", "-b:v", "1M", "-g", "37",
    ],
}  # fmt: skip

FPS = 30
SCENE_SECONDS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--gop", type=int, default=60, help="frames between key frames (default 60: 2 s)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--videos", type=int, default=8, help="distinct videos for the recall part")
    parser.add_argument("--recall-seconds", type=int, default=12)
    parser.add_argument(
        "--distractors", type=int, default=0, help="more distinct originals, never copied: only unrelated to every copy"
    )
    parser.add_argument("--recall-only", action="store_true", help="only the recall part (no signing costs)")
    args = parser.parse_args()
    if args.recall_only:
        recall(args.videos, args.recall_seconds, args.distractors)
        return 0
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

        def key_frames_alone(_destination: Path) -> None:
            fingerprint_video(source, code_bounds=None)

        def video_code_alone(_destination: Path) -> None:
            video_code(source, duration_ms=args.seconds * 1000)

        sides: dict[str, Callable[[Path], None]] = {
            "raw": sign_raw,
            "without": signing_with(without_binding),
            "with": signing_with(with_binding),
            "alone": fingerprint_alone,
            "frames": key_frames_alone,
            "code": video_code_alone,
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
        ("with", "originmark ContentSigner (soft binding: key frames and Video-Code)"),
        ("alone", "fingerprint_video alone (key frames and Video-Code)"),
        ("frames", "key frames alone"),
        ("code", "Video-Code alone"),
    ):
        print(f"| {label} | {statistics.median(timings[name]):.0f} | {percentile(timings[name], 0.9):.0f} |")
    added = statistics.median(timings["with"]) - statistics.median(timings["without"])
    print()
    print(
        f"key frames fingerprinted: {len(video.key_frames)} (complete: {video.complete}); Video-Code: "
        f"{video.video_code}; the soft binding adds {added:.0f} ms to the median signing time"
    )
    print(f"output with the soft binding verifies: {verdict.state.value}")
    print()
    recall(args.videos, args.recall_seconds, args.distractors)
    return 0 if verdict.state.value == "trusted" else 1


def best_match(copy: VideoFingerprint, originals: list[VideoFingerprint]) -> tuple[int | None, float]:
    """The original the key-frame lookup reports for the copy (index), and its similarity; None: nothing passes."""
    best: tuple[int | None, float] = (None, 0.0)
    for index, original in enumerate(originals):
        for query in copy.key_frames:
            for kept in original.key_frames:
                if hamming64(query.fingerprint.code64, kept.fingerprint.code64) > SEARCH_RADIUS:
                    continue
                similarity = descriptor_similarity(query.fingerprint.descriptor, kept.fingerprint.descriptor)
                if similarity >= DESCRIPTOR_THRESHOLD and similarity > best[1]:
                    best = (index, similarity)
    return best


def frames_similarity(copy: VideoFingerprint, original: VideoFingerprint) -> float:
    """The Video-Code search's second check: the best descriptor similarity of any key frame of the copy
    to any key frame of the original (app/usecases/video_code_match.frames_similarity)."""
    return max(
        descriptor_similarity(query.fingerprint.descriptor, kept.fingerprint.descriptor)
        for query in copy.key_frames
        for kept in original.key_frames
    )


@dataclass(frozen=True, slots=True)
class Pair:
    """A copy against one original: the Video-Codes' distance and the key frames' best similarity."""

    transform: str
    copy: int
    original: int
    distance: int
    similarity: float
    key_frame_match: bool  # the key-frame lookup alone (code, then descriptor) reports this original

    @property
    def own(self) -> bool:
        return self.copy == self.original


def video_code_match(pair: Pair, radius: int, threshold: float) -> bool:
    return pair.distance <= radius and pair.similarity >= threshold


def recall(videos: int, seconds: int, distractors: int) -> None:
    executable = ffmpeg_executable()
    assert executable is not None, "imageio-ffmpeg is a dependency"
    pairs: list[Pair] = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        sources = [
            write_scenes_video(
                work / f"v{number}.mp4", seeds=tuple(1000 * number + scene for scene in range(seconds // SCENE_SECONDS)),
                size=(640, 360), fps=FPS, frames_per_scene=SCENE_SECONDS * FPS, gop=60, grain=0.15, pan=2,
            )
            for number in range(videos + distractors)
        ]  # fmt: skip
        originals = [fingerprint_video(source) for source in sources]
        sources = sources[:videos]  # the ones copied; every original is looked up
        assert all(original.video_code is not None for original in originals), "every original has a Video-Code"
        print(
            f"recall: {videos} videos of {seconds} s 640x360 H.264 ({distractors} more never copied), each re-encoded with FFmpeg "
            f"{ffmpeg_version(executable)} (imageio-ffmpeg); SEARCH_RADIUS {SEARCH_RADIUS}, "
            f"DESCRIPTOR_THRESHOLD {DESCRIPTOR_THRESHOLD}; Video-Code search: radius {VIDEO_CODE_RADIUS}, "
            f"key frames at least {VIDEO_CODE_THRESHOLD}; by binding alone: {VIDEO_CODE_BINDING_ONLY_RADIUS} bits"
        )
        print()
        print(
            "| transform | right | wrong | none | unrelated reported | best similarity p50 / min "
            "| Video-Code to its original p50 / max | to the nearest other min "
            "| right, key frames or Video-Code | unrelated reported, either | by binding alone: own / other |"
        )
        print("|---|---:|---:|---:|---:|---|---|---:|---:|---:|---|")
        for name, arguments in TRANSFORMS.items():
            right = wrong = none = unrelated = 0
            either_right = either_unrelated = binding_own = binding_other = 0
            similarities: list[float] = []
            for index, source in enumerate(sources):
                copy_path = work / "copy.mp4"
                subprocess.run(
                    [executable, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-map_metadata", "-1",
                     "-an", *arguments, str(copy_path)],
                    check=True,
                )  # fmt: skip
                copy = fingerprint_video(copy_path)
                assert copy.video_code is not None, f"{name}: the copy has a Video-Code"
                found, similarity = best_match(copy, originals)
                right += found == index
                wrong += found is not None and found != index
                none += found is None
                others = originals[:index] + originals[index + 1 :]
                left_out = best_match(copy, others)[0] is not None
                unrelated += left_out
                if found == index:
                    similarities.append(similarity)
                row = [
                    Pair(
                        transform=name,
                        copy=index,
                        original=number,
                        distance=hamming64(copy.video_code.code64, original.video_code.code64),
                        similarity=frames_similarity(copy, original),
                        key_frame_match=best_match(copy, [original])[0] is not None,
                    )
                    for number, original in enumerate(originals)
                    if original.video_code is not None
                ]
                pairs.extend(row)
                by_code = sorted(
                    (pair for pair in row if video_code_match(pair, VIDEO_CODE_RADIUS, VIDEO_CODE_THRESHOLD)),
                    key=lambda pair: (-pair.similarity, pair.distance),
                )
                # Recovery: the key frames first; the Video-Code only when they found nothing.
                either = found if found is not None else (by_code[0].original if by_code else None)
                either_right += either == index
                either_unrelated += left_out or any(not pair.own for pair in by_code)
                binding_own += row[index].distance <= VIDEO_CODE_BINDING_ONLY_RADIUS
                binding_other += sum(not pair.own and pair.distance <= VIDEO_CODE_BINDING_ONLY_RADIUS for pair in row)
            spread = f"{statistics.median(similarities):.3f} / {min(similarities):.3f}" if similarities else "-"
            own = [pair.distance for pair in pairs if pair.transform == name and pair.own]
            nearest_other = min(pair.distance for pair in pairs if pair.transform == name and not pair.own)
            print(
                f"| {name} | {right}/{videos} | {wrong} | {none} | {unrelated} | {spread} "
                f"| {statistics.median(own):.0f} / {max(own)} | {nearest_other} | {either_right}/{videos} "
                f"| {either_unrelated} | {binding_own}/{videos} / {binding_other} |"
            )
    originals_apart = [
        hamming64(a.video_code.code64, b.video_code.code64)
        for position, a in enumerate(originals)
        for b in originals[position + 1 :]
        if a.video_code is not None and b.video_code is not None
    ]
    report_distances(pairs, originals_apart)
    report_grid(pairs)


def report_distances(pairs: list[Pair], originals_apart: list[int]) -> None:
    """How far copies lie from their own original's Video-Code, and unrelated videos from each other."""
    own: list[float] = [pair.distance for pair in pairs if pair.own]
    other: list[float] = [pair.distance for pair in pairs if not pair.own]
    print()
    print(
        f"Video-Code distances (64 bits): copy to its own original ({len(own)}): p50 {statistics.median(own):.0f}, "
        f"p95 {percentile(own, 0.95):.0f}, max {max(own)}; copy to another original ({len(other)}): min {min(other)}, "
        f"p1 {percentile(other, 0.01):.0f}, p50 {statistics.median(other):.0f}; two originals "
        f"({len(originals_apart)}): min {min(originals_apart)}, p50 {statistics.median(originals_apart):.0f}"
    )
    print()
    print("| within bits | copies of their own original | copy to another original | two originals |")
    print("|---:|---:|---:|---:|")
    for bits in range(17):
        print(
            f"| {bits} | {sum(d <= bits for d in own)}/{len(own)} | {sum(d <= bits for d in other)}/{len(other)} "
            f"| {sum(d <= bits for d in originals_apart)}/{len(originals_apart)} |"
        )
    own_similarity = [pair.similarity for pair in pairs if pair.own]
    other_similarity = [pair.similarity for pair in pairs if not pair.own]
    print()
    print(
        f"key frames' best similarity (the second check): copy to its own original p1 "
        f"{percentile(own_similarity, 0.01):.3f}, min {min(own_similarity):.3f}; copy to another original "
        f"p99 {percentile(other_similarity, 0.99):.3f}, max {max(other_similarity):.3f}"
    )


def report_grid(pairs: list[Pair]) -> None:
    """The Video-Code rule alone at other radii and thresholds: copies whose own original passes it /
    those of them the key frames did not find / (copy, other original) pairs that pass it."""
    copies = [pair for pair in pairs if pair.own]
    missed = [pair for pair in copies if not pair.key_frame_match]
    unrelated = [pair for pair in pairs if not pair.own]
    thresholds = (0.80, 0.85, 0.90, 0.92)
    print()
    print(
        f"Video-Code rule alone (copies found / of the {len(missed)} the key frames missed / unrelated pairs passing, "
        f"of {len(copies)} copies and {len(unrelated)} unrelated pairs):"
    )
    print()
    print("| radius | " + " | ".join(f"T {threshold:.2f}" for threshold in thresholds) + " |")
    print("|---|" + "---|" * len(thresholds))
    for radius in range(6, 21, 2):
        cells = [
            f"{sum(video_code_match(p, radius, t) for p in copies)} / {sum(video_code_match(p, radius, t) for p in missed)}"
            f" / {sum(video_code_match(p, radius, t) for p in unrelated)}"
            for t in thresholds
        ]
        print(f"| {radius} | " + " | ".join(cells) + " |")


def ffmpeg_version(executable: str) -> str:
    first = subprocess.run([executable, "-version"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    return first.split()[2] if first.startswith("ffmpeg version") else first


if __name__ == "__main__":
    sys.exit(main())
