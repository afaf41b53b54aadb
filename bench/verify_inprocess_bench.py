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

The two sides alternate file by file (raw first in even rounds, originmark first in odd ones),
after one warm-up pass each, so a load that comes and goes on a shared machine falls on both
alike. Each side's time per round is the sum over the files, as wall time and as this process's
CPU time (`time.process_time`, all its threads): on a loaded machine the wall time also counts
the waits for a core, so the target is read on CPU time; both ratios are printed, from the
median round of each side. The load average is printed too.

This script imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import functools
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


def raw_one(path: Path, context: c2pa.Context) -> None:
    try:
        reader = c2pa.Reader.try_create(str(path), context=context)
    except c2pa.C2paError:
        return  # unsupported or malformed: a loop moves on, as the verifier answers it
    if reader is not None:
        reader.get_validation_state()
        reader.close()


def originmark_one(path: Path, verifier: Verifier) -> None:
    label_for(verifier.verify_file(path))


class Clock:
    """Wall and CPU seconds spent in the calls it timed."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def time(self, run: Callable[[], None]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall


def interleaved_round(
    files: list[Path], context: c2pa.Context, verifier: Verifier, *, raw_first: bool
) -> tuple[Clock, Clock]:
    raw, ours = Clock(), Clock()
    for path in files:
        sides = [
            (raw, functools.partial(raw_one, path, context)),
            (ours, functools.partial(originmark_one, path, verifier)),
        ]
        for clock, run in sides if raw_first else reversed(sides):
            clock.time(run)
    return raw, ours


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

    interleaved_round(files, context, verifier, raw_first=True)  # warm-up: page cache, lazy set-up, imports
    rounds = [interleaved_round(files, context, verifier, raw_first=index % 2 == 0) for index in range(args.rounds)]
    load_after = os.getloadavg()

    count = len(files)
    raw_cpu = statistics.median(raw.cpu for raw, _ in rounds)
    our_cpu = statistics.median(ours.cpu for _, ours in rounds)
    raw_wall = statistics.median(raw.wall for raw, _ in rounds)
    our_wall = statistics.median(ours.wall for _, ours in rounds)
    ratio = our_cpu / raw_cpu
    print(f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}")
    print(
        f"input: {count} corpus files x {args.rounds} rounds, file by file (after one warm-up); {os.cpu_count()} CPUs"
    )
    print(
        f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    for name, cpu, wall in (
        ("raw engine, same trust", raw_cpu, raw_wall),
        ("originmark Verifier + label", our_cpu, our_wall),
    ):
        print(
            f"{name:28s}: CPU {cpu:6.3f} s per corpus ({cpu / count * 1000:6.2f} ms per file), "
            f"wall {wall:6.3f} s ({wall / count * 1000:6.2f} ms per file)  [median rounds]"
        )
    print(f"ratio originmark / raw: CPU {ratio:.3f}x, wall {our_wall / raw_wall:.3f}x  (target <= {TARGET}x, on CPU)")
    ok = ratio <= TARGET
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
