"""Batch verification benchmark: `originmark verify --jobs N` against a raw engine loop.

    python bench/verify_bench.py [--jobs 2] [--rounds 3] [--corpus ../shared/corpus]

Reference: a single-threaded loop over the raw engine's `Reader.try_create(path)` on the
same files (every file under the corpus folder, as `verify -r` walks it), reading each
file and asking for the validation state, nothing more. Measured twice in the same run:

- "same trust": the engine given the same trust configuration originmark uses (C2PA
  trust list, TSA list, Interim Trust List, EKU list). Evaluating trust is most of the
  engine's cost on a signed file (about 2x: it checks the chain against every anchor),
  so this is the like-for-like reference and the one the 1.6x target is read against.
- "no trust": the engine with no trust anchors at all (its defaults, with remote
  manifest and OCSP fetching off so a crafted file cannot make the loop wait on the
  network). Printed for honesty: it does less work than any verifier that reports trust.

originmark side: the verify command itself, run in this process through Typer's
CliRunner (`originmark verify -r --jobs N --format jsonl -q CORPUS CORPUS ...`, one
CORPUS argument per round): settings, the IsolatedVerifier with N worker processes,
labels and JSONL records — everything but the Python interpreter start. Worker
start-up is included. Both sides walk the whole corpus `--rounds` times; files per second are
reported for each and their ratio. The command's end-to-end wall time (a subprocess,
interpreter start included) is printed too.

This script imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import c2pa

PROJECT = Path(__file__).resolve().parents[1]


NO_TRUST_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(path for path in corpus.rglob("*") if path.is_file())


def raw_engine_loop(files: list[Path], rounds: int, settings: dict) -> tuple[float, int]:
    context = c2pa.Context.from_dict(settings)
    count = 0
    started = time.perf_counter()
    for _ in range(rounds):
        for path in files:
            try:
                reader = c2pa.Reader.try_create(str(path), context=context)
                if reader is not None:
                    reader.get_validation_state()
                    reader.close()
            except c2pa.C2paError:
                pass  # unsupported or malformed: the loop moves on, as ours does
            count += 1
    return time.perf_counter() - started, count


def raw_engine_two_processes(files: list[Path], rounds: int, settings: dict) -> tuple[float, int]:
    """The machine's ceiling: the raw loop split over two processes, no work of ours at all."""
    halves = [files[0::2], files[1::2]]
    script = (
        "import json, sys, c2pa\n"
        "settings, paths, rounds = json.loads(sys.stdin.read())\n"
        "context = c2pa.Context.from_dict(settings)\n"
        "print('ready', flush=True)\n"
        "for _ in range(rounds):\n"
        "    for path in paths:\n"
        "        try:\n"
        "            reader = c2pa.Reader.try_create(path, context=context)\n"
        "            if reader is not None:\n"
        "                reader.get_validation_state(); reader.close()\n"
        "        except c2pa.C2paError:\n"
        "            pass\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in halves
    ]
    for process, half in zip(processes, halves, strict=True):
        assert process.stdin is not None, "stdin=PIPE gives the child a pipe"
        process.stdin.write(json.dumps([settings, [str(path) for path in half], rounds]))
        process.stdin.close()
    for process in processes:
        assert process.stdout is not None, "stdout=PIPE gives the child a pipe"
        process.stdout.readline()  # both have imported c2pa and built their context
    started = time.perf_counter()
    for process in processes:
        process.wait()
    return time.perf_counter() - started, len(files) * rounds


def originmark_batch(corpus: Path, rounds: int, jobs: int) -> tuple[float, int]:
    from typer.testing import CliRunner

    from app.cli import cli

    arguments = ["verify", "-r", "--jobs", str(jobs), "--format", "jsonl", "-q"] + [str(corpus)] * rounds
    started = time.perf_counter()
    result = CliRunner().invoke(cli, arguments)
    elapsed = time.perf_counter() - started
    if result.exit_code not in (0, 1):
        raise SystemExit(f"originmark verify failed (exit {result.exit_code}): {result.output[-2000:]}")
    return elapsed, sum(1 for line in result.stdout.splitlines() if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=PROJECT.parent / "shared" / "corpus")
    args = parser.parse_args()

    from verifier.trust import default_trust_policy

    files = corpus_files(args.corpus)
    same_trust = default_trust_policy().engine_settings()
    raw_seconds, raw_count = raw_engine_loop(files, args.rounds, same_trust)
    bare_seconds, bare_count = raw_engine_loop(files, args.rounds, NO_TRUST_SETTINGS)
    pair_seconds, pair_count = raw_engine_two_processes(files, args.rounds, same_trust)
    ours_seconds, ours_count = originmark_batch(args.corpus, args.rounds, args.jobs)
    raw_rate, ours_rate = raw_count / raw_seconds, ours_count / ours_seconds
    bare_rate = bare_count / bare_seconds

    started = time.perf_counter()
    command = [
        str(Path(sys.executable).with_name("originmark")),
        "verify",
        "-r",
        "--jobs",
        str(args.jobs),
        "--format",
        "jsonl",
        str(args.corpus),
    ]
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    command_seconds = time.perf_counter() - started

    print(f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}")
    print(f"input: {len(files)} corpus files x {args.rounds} rounds; {os.cpu_count()} CPUs")
    print(
        f"raw Reader loop, 1 thread, same trust : {raw_count:5d} files in {raw_seconds:7.2f} s "
        f"= {raw_rate:8.1f} files/s"
    )
    print(
        f"raw Reader loop, 1 thread, no trust   : {bare_count:5d} files in {bare_seconds:7.2f} s "
        f"= {bare_rate:8.1f} files/s"
    )
    print(
        f"raw Reader loop, 2 processes, same trust: {pair_count:5d} files in {pair_seconds:7.2f} s "
        f"= {pair_count / pair_seconds:8.1f} files/s  (the machine's ceiling: "
        f"{pair_count / pair_seconds / raw_rate:.2f}x the 1-thread loop)"
    )
    print(
        f"originmark verify --jobs {args.jobs:<2d}          : {ours_count:5d} files in {ours_seconds:7.2f} s "
        f"= {ours_rate:8.1f} files/s"
    )
    print(f"ratio originmark / raw, same trust    : {ours_rate / raw_rate:.2f}x  (target >= 1.6x)")
    print(f"ratio originmark / raw, no trust      : {ours_rate / bare_rate:.2f}x")
    print(
        f"end to end `originmark verify -r --jobs {args.jobs}` over the corpus once (interpreter start "
        f"included): {command_seconds:.2f} s, exit code {completed.returncode}"
    )
    ok = ours_rate / raw_rate >= 1.6
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
