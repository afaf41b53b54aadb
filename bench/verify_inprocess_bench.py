"""In-process verify per file against the raw engine with the same trust settings (issue 16).

    python bench/verify_inprocess_bench.py [--rounds 7] [--corpus ../shared/corpus]

Both sides run in this process, in the same run, over every file of the corpus index (161 files),
one file at a time:

- raw engine: c2pa `Reader.try_create(path, context)` + `get_validation_state()`, with the Context
  built from the service's trust settings (`default_trust_policy().engine_settings()`: the C2PA
  trust list, the C2PA TSA list, the Interim Trust List, the EKU configuration; remote manifest and
  OCSP fetching off). A file the engine refuses is counted and skipped, as a loop would.
- originmark: `Verifier.verify_file(path)` (verifier/reader.py, the code every verifier worker
  runs) + `label_for(verdict)`: the SHA-256 of the file, the verdict with every field, trust and
  time-stamp attribution, every manifest summary, and the label — what `originmark verify`
  prints and the service stores.

The two sides alternate, round by round, after one warm-up pass each, so a load that comes and
goes on the machine falls on both; the median round of each side is compared (the fastest are
printed too). The load average is printed: read figures from a loaded machine as such.

This script imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import c2pa

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from verifier.label import label_for  # noqa: E402 - after the project root is on sys.path
from verifier.reader import Verifier  # noqa: E402
from verifier.trust import default_trust_policy  # noqa: E402

TARGET = 1.2  # originmark's time per file at most 1.2x the raw engine's


def corpus_files(corpus: Path) -> list[Path]:
    return [corpus / entry["path"] for entry in json.loads((corpus / "index.json").read_text())["files"]]


def raw_pass(files: list[Path], context: c2pa.Context) -> None:
    for path in files:
        try:
            reader = c2pa.Reader.try_create(str(path), context=context)
        except c2pa.C2paError:
            continue  # unsupported or malformed: the loop moves on, as the verifier answers it
        if reader is not None:
            reader.get_validation_state()
            reader.close()


def originmark_pass(files: list[Path], verifier: Verifier) -> None:
    for path in files:
        label_for(verifier.verify_file(path))


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--corpus", type=Path, default=PROJECT.parent / "shared" / "corpus")
    args = parser.parse_args()

    files = corpus_files(args.corpus)
    policy = default_trust_policy()
    context = c2pa.Context.from_dict(policy.engine_settings())
    verifier = Verifier(policy=policy)
    load_before = os.getloadavg()

    def raw() -> None:
        raw_pass(files, context)

    def ours() -> None:
        originmark_pass(files, verifier)

    raw()  # warm-up: page cache, the engine's lazy set-up, Python's imports
    ours()
    raw_times, our_times = [], []
    for _ in range(args.rounds):
        raw_times.append(timed(raw))
        our_times.append(timed(ours))
    load_after = os.getloadavg()

    raw_median, our_median = statistics.median(raw_times), statistics.median(our_times)
    ratio = our_median / raw_median
    count = len(files)
    print(f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}")
    print(f"input: {count} corpus files x {args.rounds} rounds (after one warm-up each); {os.cpu_count()} CPUs")
    print(
        f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    for name, times in (("raw engine, same trust", raw_times), ("originmark Verifier + label", our_times)):
        median = statistics.median(times)
        print(
            f"{name:28s}: median {median:6.3f} s per corpus ({median / count * 1000:6.2f} ms per file), "
            f"fastest {min(times):6.3f} s, slowest {max(times):6.3f} s"
        )
    print(
        f"ratio originmark / raw (medians): {ratio:.3f}x  (fastest rounds: {min(our_times) / min(raw_times):.3f}x; "
        f"target <= {TARGET}x)"
    )
    ok = ratio <= TARGET
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
