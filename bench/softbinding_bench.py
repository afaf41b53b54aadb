"""Soft-binding benchmark: does a transformed copy of a signed image find its original again, and nothing else?

    python bench/softbinding_bench.py [--limit N] [--no-install] [--sign-rounds 20] [--workers 2]

Corpus: distinct natural images from Debian packages that this script installs when they are
missing (as root, with apt-get): Tux Paint's stamps (photographs and drawings of objects,
animals, plants, ...), and the GNOME, MATE and KDE Plasma wallpapers. One file per picture
(a Plasma wallpaper ships each picture at several resolutions: the one nearest 1920 wide is
kept); SVG is skipped, and so are Tux Paint's series drawn from one template (TEMPLATE_SERIES:
letters, coins, flags in several colours, dreidels) and its `_mirror` copies. The list of files is cached (`--cache`); no image is ever written to
the repository. Each file is made into the "signed original" the way an AI product's output
looks: transparency flattened onto white, the empty border trimmed, full-frame RGB, as PNG.
Pictures whose fingerprints say they are the same picture (code within 8 bits and descriptor
above the threshold: one wallpaper at several resolutions) are kept once; pictures that are
blank once flattened onto white (transparent overlays) are left out: they can never match.

Each original is transformed as a platform would (metadata is stripped by all of them: Pillow
writes none): JPEG q90/70/50, WebP q80, PNG, downscale to 50% and 25% of the width (JPEG
q90), centre crop keeping 95% and 90% of each side (JPEG q90), horizontal mirror (JPEG q90),
a screenshot-like pass (80% bilinear resize, unsharp mask, PNG), and "metadata stripped" (the
original's pixels re-written, i.e. a signed file whose manifest was removed).

Lookup, brute force over the in-memory repository of the originals, by the rule of
app/usecases/content_match.py: each original is kept with its code and the index-only codes of
its views (INDEX_VIEWS: centre crops), each with its descriptor, as signing keeps them; a query
probes with its own code and its views' (QUERY_VIEWS: mirrored, tolerant trim,
symmetrised when nearly symmetric); candidates are the rows within
SEARCH_RADIUS bits of a probe, and the original with the highest descriptor similarity (probe
against row) at or above DESCRIPTOR_THRESHOLD is reported. `--no-views` measures the code alone
(no views kept, none probed). Per transform:
- recall: the right original reported;
- false recoveries: another original reported, with the right one in the repository, and
  again with the right one left out of it (leave-one-out: every query is then an unrelated
  image; queries = originals x transforms);
- the Hamming distance of positives (to justify SEARCH_RADIUS) and of the nearest unrelated
  entry, and the descriptor similarity of positives and of unrelated candidates; the same
  separation for the alternative second stage (bits 64-255 of the ISCC-256 Image-Code).
Then the fingerprint time per image, and the signing time of a JPEG and a PNG with
ContentSigner with and without the soft binding, beside the raw engine (c2pa Builder with
the same manifest definition and Context settings, no fingerprint), interleaved round by round.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import c2pa
import iscc_core
from PIL import Image, ImageFilter, ImageOps

from keys.devca import create_development_credentials
from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.engine_settings import signing_settings
from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version
from verifier.fingerprint import (
    DESCRIPTOR_THRESHOLD,
    INDEX_VIEWS,
    QUERY_VIEWS,
    SEARCH_RADIUS,
    ImageFingerprint,
    descriptor_similarity,
    fingerprint_image,
    hamming64,
)
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

PACKAGES = ("tuxpaint-stamps-default", "gnome-backgrounds", "mate-backgrounds", "plasma-workspace-wallpapers")
ROOTS = (Path("/usr/share/tuxpaint/stamps"), Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp"}
# Tux Paint series drawn from one template (the letters of an alphabet, the coins of a currency,
# one flag in several colours, the dreidel with each letter) and its `_mirror` copies of other
# stamps: variants of one picture, not distinct pictures.
TEMPLATE_SERIES = ("symbols/alphabets/", "symbols/money/", "town/flags/", "seasonal/hanukkah/")
MIN_EDGE = 64  # smaller files are icons, not pictures
MAX_EDGE = 2048  # originals larger than this are downscaled first (an AI product's output size)
SAME_PICTURE_BITS = 8
DEFAULT_CACHE = Path.home() / ".cache" / "originmark-bench" / "softbinding-corpus.txt"

# Platform-typical transforms, the goal's subject (recall >= 0.98, zero false recoveries).
PLATFORM = ("jpeg q90", "jpeg q70", "jpeg q50", "webp", "png", "downscale 50%", "downscale 25%", "crop 5%", "strip")


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def resized(image: Image.Image, fraction: float, resample: Image.Resampling = Image.Resampling.LANCZOS) -> Image.Image:
    width, height = image.size
    return image.resize((max(1, round(width * fraction)), max(1, round(height * fraction))), resample)


def centre_crop(image: Image.Image, kept: float) -> Image.Image:
    width, height = image.size
    dx, dy = round(width * (1 - kept) / 2), round(height * (1 - kept) / 2)
    return image.crop((dx, dy, width - dx, height - dy))


def screenshot_like(image: Image.Image) -> bytes:
    shot = resized(image, 0.8, Image.Resampling.BILINEAR).filter(ImageFilter.UnsharpMask(radius=2, percent=80))
    return encoded(shot, "PNG")


TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg q90": lambda im: encoded(im, "JPEG", quality=90),
    "jpeg q70": lambda im: encoded(im, "JPEG", quality=70),
    "jpeg q50": lambda im: encoded(im, "JPEG", quality=50),
    "webp": lambda im: encoded(im, "WEBP", quality=80),
    "png": lambda im: encoded(im, "PNG", optimize=True),
    "downscale 50%": lambda im: encoded(resized(im, 0.5), "JPEG", quality=90),
    "downscale 25%": lambda im: encoded(resized(im, 0.25), "JPEG", quality=90),
    "crop 5%": lambda im: encoded(centre_crop(im, 0.95), "JPEG", quality=90),
    "crop 10%": lambda im: encoded(centre_crop(im, 0.90), "JPEG", quality=90),
    "mirror": lambda im: encoded(ImageOps.mirror(im), "JPEG", quality=90),
    "screenshot": screenshot_like,
    "strip": lambda im: encoded(im, "PNG", compress_level=1),
}


# --- the corpus ---


def install_packages() -> None:
    missing = [name for name in PACKAGES if subprocess.run(["dpkg", "-s", name], capture_output=True).returncode]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing Debian packages {missing}: run as root, or `apt-get install {' '.join(missing)}`")
    print(f"installing {' '.join(missing)} ...", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=environment, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=environment,
        stdout=subprocess.DEVNULL,
    )


def plasma_choice(files: list[Path]) -> Path:
    """Of one Plasma picture's resolutions, the landscape one nearest 1920 wide."""

    def width_height(path: Path) -> tuple[int, int]:
        try:
            width, height = (int(v) for v in path.stem.split("x"))
        except ValueError:
            return (0, 0)
        return width, height

    landscape = [f for f in files if width_height(f)[0] >= width_height(f)[1]] or files
    return min(landscape, key=lambda f: abs(width_height(f)[0] - 1920))


def find_corpus_files() -> list[Path]:
    chosen: list[Path] = []
    plasma: dict[Path, list[Path]] = {}
    for root in ROOTS:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in EXTENSIONS or not path.is_file() or path.name == "screenshot.png":
                continue
            if path.stem.endswith("_mirror") or any(series in str(path) for series in TEMPLATE_SERIES):
                continue
            if root.name == "wallpapers" and path.parent.name == "images":  # Name/contents/images/WxH.ext
                plasma.setdefault(path.parent, []).append(path)
            elif root.name != "wallpapers":
                chosen.append(path)
    chosen += [plasma_choice(files) for _, files in sorted(plasma.items())]
    return chosen


def corpus_files(cache: Path) -> list[Path]:
    if cache.is_file():
        files = [Path(line) for line in cache.read_text().splitlines() if line]
        if all(f.is_file() for f in files):
            return files
    files = find_corpus_files()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(f"{f}\n" for f in files))
    return files


def signed_original(path: Path) -> Image.Image | None:
    """The file as an AI product's output: flattened onto white, border trimmed, RGB; None for icons."""
    with Image.open(path) as opened:
        opened.load()
        image = ImageOps.exif_transpose(opened)
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    box = Image.eval(rgba.getchannel("A"), lambda a: 255 if a > 0 else 0).getbbox()
    if box is not None:
        flat = flat.crop(box)
    if min(flat.size) < MIN_EDGE:
        return None
    if max(flat.size) > MAX_EDGE:
        flat = resized(flat, MAX_EDGE / max(flat.size))
    return flat


@dataclass(frozen=True)
class Entry:
    name: str
    fingerprint: ImageFingerprint
    image: Image.Image

    @property
    def rows(self) -> list[tuple[int, bytes]]:
        """(code64, descriptor) of every row the repository keeps for it: its own, then its views'."""
        return codes_of(self.fingerprint)


def codes_of(fingerprint: ImageFingerprint) -> list[tuple[int, bytes]]:
    """Its own code and its views', each with its descriptor (the rows kept, or the probes of a query)."""
    return [(fingerprint.code64, fingerprint.descriptor)] + [(v.code64, v.descriptor) for v in fingerprint.views]


# What a lookup uses (main() sets them from --no-views).
INDEXED_VIEWS: tuple = INDEX_VIEWS
PROBED_VIEWS: tuple = QUERY_VIEWS


def extra_bits(fingerprint: ImageFingerprint) -> int:
    """Bits 64-255 of the ISCC-256 Image-Code body: the alternative second stage."""
    body = bytes(iscc_core.decode_base32(fingerprint.iscc.removeprefix("ISCC:")))[2:]
    return int.from_bytes(body[8:], "big")


def build_repository(files: list[Path], limit: int | None) -> tuple[list[Entry], int, int, list[float]]:
    entries: list[Entry] = []
    dropped = blank = 0
    fingerprint_ms: list[float] = []
    for path in files:
        if limit is not None and len(entries) >= limit:
            break
        image = signed_original(path)
        if image is None:
            continue
        data = encoded(image, "PNG", compress_level=1)
        started = time.perf_counter()
        fingerprint = fingerprint_image(data, views=INDEXED_VIEWS)
        fingerprint_ms.append((time.perf_counter() - started) * 1000)
        if descriptor_similarity(fingerprint.descriptor, fingerprint.descriptor) == 0.0:
            blank += 1  # nearly blank once flattened onto white (a transparent overlay): never matches
            continue
        if any(
            hamming64(fingerprint.code64, other.fingerprint.code64) <= SAME_PICTURE_BITS
            and descriptor_similarity(fingerprint.descriptor, other.fingerprint.descriptor) >= DESCRIPTOR_THRESHOLD
            for other in entries
        ):
            dropped += 1
            continue
        entries.append(Entry(name=str(path), fingerprint=fingerprint, image=image))
    return entries, dropped, blank, fingerprint_ms


# --- lookup and measurement ---


def pairs_near(query: ImageFingerprint, entry: Entry, bits: int) -> list[tuple[int, float]]:
    """(distance, descriptor similarity) of every (probe, row) pair of the query and the entry within `bits`."""
    return [
        (distance, descriptor_similarity(probe_descriptor, row_descriptor))
        for probe_code, probe_descriptor in codes_of(query)
        for row_code, row_descriptor in entry.rows
        if (distance := hamming64(probe_code, row_code)) <= bits
    ]


def best_passing(pairs: list[tuple[int, float]], radius: int, threshold: float) -> float | None:
    """The highest similarity among the pairs that pass both checks (None: none does)."""
    return max((s for d, s in pairs if d <= radius and s >= threshold), default=None)


def reported(pairs_by_entry: list[tuple[int, list[tuple[int, float]]]], *, exclude: int | None) -> int | None:
    """The reported entry: a pair within SEARCH_RADIUS, at least DESCRIPTOR_THRESHOLD, most similar first
    (the first in repository order on a tie). `pairs_by_entry`: (entry index, its pairs within GRID_BITS
    of the query), in repository order, for every entry that has any (a superset of the radius's)."""
    best: tuple[float, int] | None = None
    for index, pairs in pairs_by_entry:
        if index == exclude:
            continue
        similarity = best_passing(pairs, SEARCH_RADIUS, DESCRIPTOR_THRESHOLD)
        if similarity is not None and (best is None or similarity > best[0]):
            best = (similarity, index)
    return None if best is None else best[1]


@dataclass
class TransformStats:
    queries: int = 0
    found: int = 0
    wrong: int = 0  # another entry reported, the right one in the repository
    unrelated_reported: int = 0  # leave-one-out: anything reported is a false recovery
    distances: list[int] | None = None
    similarities: list[float] | None = None
    extra_similarities: list[float] | None = None
    nearest_unrelated: list[int] | None = None
    # Per query: the (distance, similarity) pairs of its probes and its original's rows within
    # GRID_BITS, and those of every unrelated entry with any.
    pairs: list[tuple[list[tuple[int, float]], list[list[tuple[int, float]]]]] | None = None


GRID_BITS = 16
GRID_RADII = (8, 10, 12, 14, 16)
GRID_THRESHOLDS = (0.85, 0.90, 0.92, 0.94, 0.96)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))]


@dataclass(frozen=True)
class QueryResult:
    """One copy looked up (measure_original): what TransformStats gathers."""

    name: str
    distance: int
    similarity: float
    extra_similarity: float
    nearest_unrelated: int
    pairs: tuple[list[tuple[int, float]], list[list[tuple[int, float]]]]
    found: bool
    wrong: bool
    unrelated_reported: bool


# The repository a worker process looks copies up in: set before the workers fork (they inherit it).
_ENTRIES: list[Entry] = []
_EXTRAS: list[int] = []


def measure_original(index: int) -> tuple[list[QueryResult], list[float], list[float], list[int]]:
    """Every transform of one original, each looked up among all the entries: its results, and the
    unrelated (query, entry) pairs' thumbnail and ISCC-extra similarities within SEARCH_RADIUS and
    Hamming distances."""
    entries, extras, entry = _ENTRIES, _EXTRAS, _ENTRIES[index]
    results: list[QueryResult] = []
    negative_similarities: list[float] = []
    negative_extra: list[float] = []
    negative_distances: list[int] = []
    for name, transform in TRANSFORMS.items():
        query = fingerprint_image(transform(entry.image), views=PROBED_VIEWS)
        query_extra = extra_bits(query)
        nearest = 64
        unrelated: list[list[tuple[int, float]]] = []
        # Every entry's pairs within GRID_BITS, computed once: the grid, and both lookups below.
        pairs_by_entry: list[tuple[int, list[tuple[int, float]]]] = []
        own = pairs_near(query, entry, GRID_BITS)
        for other_index, other in enumerate(entries):
            if other_index == index:
                pairs_by_entry.append((index, own))
                continue
            d = hamming64(query.code64, other.fingerprint.code64)
            negative_distances.append(d)
            if d <= SEARCH_RADIUS:
                negative_extra.append(1 - (query_extra ^ extras[other_index]).bit_count() / 192)
            near = pairs_near(query, other, GRID_BITS)
            if near:
                unrelated.append(near)
                pairs_by_entry.append((other_index, near))
                nearest = min(nearest, *(d for d, _ in near))
                negative_similarities += [sim for d, sim in near if d <= SEARCH_RADIUS]
        found = reported(pairs_by_entry, exclude=None)
        results.append(
            QueryResult(
                name=name,
                distance=hamming64(query.code64, entry.fingerprint.code64),
                similarity=descriptor_similarity(query.descriptor, entry.fingerprint.descriptor),
                extra_similarity=1 - (query_extra ^ extras[index]).bit_count() / 192,
                nearest_unrelated=nearest,
                pairs=(own, unrelated),
                found=found == index,
                wrong=found is not None and found != index,
                unrelated_reported=reported(pairs_by_entry, exclude=index) is not None,
            )
        )
    return results, negative_similarities, negative_extra, negative_distances


def measure(
    entries: list[Entry], workers: int
) -> tuple[dict[str, TransformStats], list[float], list[float], list[int]]:
    """Per-transform stats; the descriptor similarities (thumbnail, ISCC bits 64-255) of unrelated
    (query, entry) pairs within SEARCH_RADIUS; the Hamming distances of all unrelated (query, entry) pairs.
    The originals are shared out among `workers` processes; the results are gathered in their order."""
    global _ENTRIES, _EXTRAS
    _ENTRIES, _EXTRAS = entries, [extra_bits(e.fingerprint) for e in entries]
    stats = {
        name: TransformStats(distances=[], similarities=[], extra_similarities=[], nearest_unrelated=[], pairs=[])
        for name in TRANSFORMS
    }
    negative_similarities: list[float] = []
    negative_extra: list[float] = []
    negative_distances: list[int] = []
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for index, (results, similarities, extra, distances) in enumerate(
            pool.imap(measure_original, range(len(entries)))
        ):
            for result in results:
                s = stats[result.name]
                s.queries += 1
                s.distances.append(result.distance)  # type: ignore[union-attr]
                s.similarities.append(result.similarity)  # type: ignore[union-attr]
                s.extra_similarities.append(result.extra_similarity)  # type: ignore[union-attr]
                s.nearest_unrelated.append(result.nearest_unrelated)  # type: ignore[union-attr]
                s.pairs.append(result.pairs)  # type: ignore[union-attr]
                s.found += result.found
                s.wrong += result.wrong
                s.unrelated_reported += result.unrelated_reported
            negative_similarities += similarities
            negative_extra += extra
            negative_distances += distances
            if (index + 1) % 100 == 0:
                print(f"  {index + 1}/{len(entries)} originals queried", flush=True)
    return stats, negative_similarities, negative_extra, negative_distances


# --- signing time ---


def signing_times(rounds: int, sample: Image.Image) -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        credentials = create_development_credentials(work / "keys")
        assert credentials.key_path is not None, "development credentials are PEM files"
        key_path = credentials.key_path
        signing_key = load_signing_key(chain_path=credentials.chain_path, key_path=key_path)
        request = GenerationRequest(generator_name="Bench Diffusion", generator_version="1.0")
        with_binding = ContentSigner(signing_key=signing_key, options=SignerOptions())
        without_binding = ContentSigner(signing_key=signing_key, options=SignerOptions(soft_binding=False))
        raw_signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                c2pa.C2paSigningAlg.ES256, credentials.chain_path.read_bytes(), key_path.read_bytes(), None
            )
        )
        raw_context = c2pa.Context.from_dict(signing_settings(thumbnails=False, local_anchors_pem=None))
        policy = default_trust_policy(local_anchors_pem=credentials.ca_path.read_text())
        inputs = {
            "JPEG 2048 px q90": (
                work / "in.jpg",
                "image/jpeg",
                lambda p: resized(sample, 2048 / max(sample.size)).save(p, "JPEG", quality=90),
            ),
            "PNG 1024 px": (
                work / "in.png",
                "image/png",
                lambda p: resized(sample, 1024 / max(sample.size)).save(p, "PNG"),
            ),
        }
        for label, (source, mime, make) in inputs.items():
            make(source)
            manifest = build_manifest_definition(
                request, default_title=source.name, originmark_version=originmark_version()
            )

            def raw(destination: Path, source: Path = source, mime: str = mime, manifest: dict = manifest) -> None:
                builder = c2pa.Builder(manifest, context=raw_context)
                with source.open("rb") as src, destination.open("w+b") as dst:
                    builder.sign(raw_signer, mime, src, dst)

            def signed_without(destination: Path, source: Path = source) -> object:
                return without_binding.sign_file(source=source, destination=destination, request=request)

            def signed_with(destination: Path, source: Path = source) -> object:
                return with_binding.sign_file(source=source, destination=destination, request=request)

            sides: dict[str, Callable[[Path], object]] = {
                "raw engine (no fingerprint)": raw,
                "ContentSigner, soft binding off": signed_without,
                "ContentSigner, soft binding on": signed_with,
            }
            times: dict[str, list[float]] = {name: [] for name in sides}
            fingerprint_ms: list[float] = []
            views_ms: list[float] = []
            for round_number in range(rounds + 1):  # round 0 warms up
                for name, sign in sides.items():
                    destination = work / f"out-{round_number}{source.suffix}"
                    started = time.perf_counter()
                    sign(destination)
                    if round_number:
                        times[name].append((time.perf_counter() - started) * 1000)
                    destination.unlink()
                started = time.perf_counter()
                fingerprint_image(source)
                if round_number:
                    fingerprint_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                fingerprint_image(source, views=INDEX_VIEWS)  # what signing computes
                if round_number:
                    views_ms.append((time.perf_counter() - started) * 1000)
            final = work / f"final{source.suffix}"
            with_binding.sign_file(source=source, destination=final, request=request)
            verdict = Verifier(policy=policy).verify_file(final)
            size = Image.open(source).size
            lines.append(
                f"{label} ({size[0]}x{size[1]}, {source.stat().st_size / 1e6:.2f} MB), {rounds} rounds, interleaved:"
            )
            for name, values in times.items():
                lines.append(
                    f"  {name:34s} median {statistics.median(values):7.1f} ms   p90 {percentile(values, 0.9):7.1f} ms"
                )
            lines.append(
                f"  {'fingerprint_image alone, no views':34s} median {statistics.median(fingerprint_ms):7.1f} ms"
            )
            lines.append(f"  {'fingerprint_image alone, INDEX_VIEWS':34s} median {statistics.median(views_ms):7.1f} ms")
            lines.append(f"  output with soft binding verifies: {verdict.state.value}")
            if verdict.state is not VerdictState.TRUSTED:
                lines.append("  !! the signed output did not verify trusted")
        with_binding.close()
        without_binding.close()
        raw_context.close()
    return lines


# --- report ---


def distribution(values: list[float] | list[int]) -> str:
    v = [float(x) for x in values]
    return (
        f"min {min(v):6.3g}  p1 {percentile(v, 0.01):6.3g}  p5 {percentile(v, 0.05):6.3g}  p50 {percentile(v, 0.5):6.3g}  "
        f"p95 {percentile(v, 0.95):6.3g}  p99 {percentile(v, 0.99):6.3g}  max {max(v):6.3g}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="at most this many originals (default: all)")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install missing packages")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="the cached list of corpus files")
    parser.add_argument("--sign-rounds", type=int, default=20)
    parser.add_argument("--no-views", action="store_true", help="the code alone: no views kept nor probed")
    parser.add_argument("--workers", type=int, default=2, help="processes that look the copies up")
    args = parser.parse_args()
    global INDEXED_VIEWS, PROBED_VIEWS
    if args.no_views:
        INDEXED_VIEWS, PROBED_VIEWS = (), ()

    if not args.no_install and shutil.which("apt-get"):
        install_packages()
    files = corpus_files(args.cache)
    print(f"corpus: {len(files)} files listed in {args.cache}", flush=True)
    entries, dropped, blank, original_ms = build_repository(files, args.limit)
    print(
        f"repository: {len(entries)} distinct originals ({dropped} dropped as the same picture as another, "
        f"{blank} as blank once flattened: below MIN_DESCRIPTOR_STD)"
    )
    print(f"fingerprint_image per original (PNG, at most {MAX_EDGE} px): {distribution(original_ms)} ms")
    print(f"SEARCH_RADIUS = {SEARCH_RADIUS}, DESCRIPTOR_THRESHOLD = {DESCRIPTOR_THRESHOLD}", flush=True)
    print(f"views kept: {[v.value for v in INDEXED_VIEWS]}, probed: {[v.value for v in PROBED_VIEWS]}", flush=True)

    started = time.perf_counter()
    stats, negative_similarities, negative_extra, negative_distances = measure(entries, args.workers)
    print(f"queries: {sum(s.queries for s in stats.values())} in {time.perf_counter() - started:.0f} s\n")

    print(
        f"{'transform':14s} {'recall':>7s} {'wrong':>6s} {'LOO-false':>9s}   hamming to original (p50/p95/p99/max)   "
        f"<=R   thumb sim p1/min   iscc-extra sim p1/min"
    )
    platform_ok = True
    for name, s in stats.items():
        recall = s.found / s.queries
        d = s.distances or []
        within = sum(1 for x in d if x <= SEARCH_RADIUS) / len(d)
        sims = s.similarities or []
        extra = s.extra_similarities or []
        print(
            f"{name:14s} {recall:7.3f} {s.wrong:6d} {s.unrelated_reported:9d}   "
            f"{percentile(d, 0.5):4.0f} {percentile(d, 0.95):4.0f} {percentile(d, 0.99):4.0f} {max(d):4.0f}"
            f"                     {within:5.3f}   {percentile(sims, 0.01):6.3f} {min(sims):6.3f}   "
            f"{percentile(extra, 0.01):6.3f} {min(extra):6.3f}"
        )
        if name in PLATFORM and (recall < 0.98 or s.wrong or s.unrelated_reported):
            platform_ok = False
    total_loo = sum(s.unrelated_reported for s in stats.values())
    total_queries = sum(s.queries for s in stats.values())
    print(f"\nleave-one-out false recoveries: {total_loo} of {total_queries} unrelated queries")
    print(f"hamming, unrelated (query, entry) pairs ({len(negative_distances)}): {distribution(negative_distances)}")
    for radius in (8, 10, 12, 14, 16, 18, 20):
        count = sum(1 for x in negative_distances if x <= radius)
        print(f"  <= {radius:2d} bits: {count:7d} pairs ({count / len(negative_distances):.2e})")
    nearest = [x for s in stats.values() for x in (s.nearest_unrelated or [])]
    print(f"hamming to the nearest unrelated entry per query: {distribution(nearest)}")
    if negative_similarities:
        print(
            f"thumbnail similarity, unrelated pairs within R ({len(negative_similarities)}): {distribution(negative_similarities)}"
        )
        print(
            f"iscc-extra similarity, unrelated pairs within R ({len(negative_extra)}): {distribution(negative_extra)}"
        )
        above = sum(1 for x in negative_similarities if x >= DESCRIPTOR_THRESHOLD)
        print(f"  unrelated pairs within R at or above DESCRIPTOR_THRESHOLD: {above}")
    else:
        print("no unrelated pair within R")
    platform_sims = [x for name in PLATFORM for x in (stats[name].similarities or [])]
    platform_extra = [x for name in PLATFORM for x in (stats[name].extra_similarities or [])]
    print(f"thumbnail similarity, platform positives: {distribution(platform_sims)}")
    print(f"iscc-extra similarity, platform positives: {distribution(platform_extra)}")

    print(
        "\n(SEARCH_RADIUS, DESCRIPTOR_THRESHOLD) grid: worst recall over the platform transforms but crop 5%, "
        "crop 5% recall, leave-one-out false recoveries (all transforms)"
    )
    for radius in GRID_RADII:
        cells = []
        for threshold in GRID_THRESHOLDS:
            recalls = {}
            false = 0
            for name, s in stats.items():
                found = 0
                for own, unrelated in s.pairs or []:
                    rivals = [r for r in (best_passing(u, radius, threshold) for u in unrelated) if r is not None]
                    false += bool(rivals)
                    sim = best_passing(own, radius, threshold)
                    found += sim is not None and all(r < sim for r in rivals)
                recalls[name] = found / s.queries
            worst = min(recalls[name] for name in PLATFORM if name != "crop 5%")
            cells.append(f"T {threshold:.2f}: {worst:.3f} {recalls['crop 5%']:.3f} {false:3d}")
        print(f"  R {radius:2d}  " + "  |  ".join(cells))
    print("unrelated (query, entry) pairs reported at the chosen values:")
    for name, s in stats.items():
        for i, (_positive, unrelated) in enumerate(s.pairs or []):
            for near in unrelated:
                for distance, sim in near:
                    if distance <= SEARCH_RADIUS and sim >= DESCRIPTOR_THRESHOLD:
                        print(f"  {name:14s} {Path(entries[i].name).name:32s} d {distance:2d} sim {sim:.3f}")

    print("\nsigning time:")
    for line in signing_times(args.sign_rounds, entries[-1].image):
        print(line)
    print(
        "\nRESULT:", "PASS" if platform_ok else "FAIL", "(platform transforms: recall >= 0.98, zero false recoveries)"
    )
    return 0 if platform_ok else 1


if __name__ == "__main__":
    sys.exit(main())
