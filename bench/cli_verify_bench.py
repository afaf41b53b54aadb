"""Whole `originmark verify` processes against the raw engine's one-thread loop (issue 16).

    python bench/cli_verify_bench.py [--copies 4] [--rounds 3] [--corpus ../shared/corpus]

Input: the shared corpus copied `--copies` times into a temporary folder (x4: 648 files, about
220 MB), so that a run is long enough for start-up to be a small part of it, as it is for a
real batch. Each round runs, one after the other, every one of these as a process of its own:

- raw: `python -c` a loop over the files with the plain engine, one thread: c2pa
  `Reader.try_create(path, context)` + `get_validation_state()` per file, with the same trust
  settings as originmark's (`default_trust_policy().engine_settings()`: C2PA trust list, TSA
  list, Interim Trust List, EKU configuration). The process reports its loop's own time: that
  is the reference the target is read against (interpreter start and `import c2pa` left out,
  which favours the raw side). Its whole-process time is printed too.
- raw x2: the same loop split over two processes at once (files alternately), whole processes:
  what the engine alone gets out of this machine's two cores. Context, not a target.
- `originmark verify -r --jobs 1 -q --format jsonl FOLDER` and the same with `--jobs 2`,
  whole processes (interpreter start, settings, worker start-up, records), stdout counted
  and discarded. A scratch ORIGINMARK_HOME and keys folder, so the trust settings are the
  defaults the raw loop uses (no development CA), and no server URL.

With `--recover` and `--server`, the same rounds also run (same input, same load):

- `verify -r --recover --jobs 1/2`: recovery through the streaming pool against a scratch
  SQLite database (migrated, its manifest repository empty): every `none` or `invalid` file is
  fingerprinted by a worker and looked up; nothing is found, so what is measured is the cost of
  looking, the case of almost every file in a real batch.
- `verify -r --server URL --jobs 1/2`: the files sent as raw bodies to an `originmark serve`
  started for the round (one uvicorn process, ORIGINMARK_VERIFY_WORKERS=2, a fresh SQLite store,
  its own keys folder, so its trust settings are the defaults too). First `--jobs 2` on the fresh
  store ("fresh store": each distinct file verified once, the copies after it answered from the
  store), then `--jobs 1` and `--jobs 2` again ("stored": every answer from the store). The CPU
  column of these rows adds the server's process tree (from /proc) to the client's.

The originmark command runs this checkout's code (`python -c "from app.cli import main"` with
the checkout first on the import path), not whatever `originmark` script is installed;
`--also CHECKOUT` (repeatable) measures another checkout's in the same rounds (before/after).
Printed: each run's wall and CPU seconds (its process tree, from the children's rusage), the
median per command over the rounds, ratios of medians, and the machine's load average before
and after (the machine is shared: compare ratios within one run). Target (issue 16):
`--jobs 2` at least 1.6x as fast as the raw one-thread loop.

This script imports c2pa directly: the raw engine is the reference, not product code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))  # bench.*, scripts.*, and the checkout's app/ for the server's key

from bench.http_harness import ServerConfig, ServerUnderTest  # noqa: E402

TARGET = 1.6

# The raw loop: argv = settings file, file list file (both JSON); prints the loop's own seconds.
_RAW_LOOP = """
import json, sys, time
import c2pa
settings, paths = (json.loads(open(name).read()) for name in sys.argv[1:3])
context = c2pa.Context.from_dict(settings)
started = time.perf_counter()
for path in paths:
    try:
        reader = c2pa.Reader.try_create(path, context=context)
        if reader is not None:
            reader.get_validation_state()
            reader.close()
    except c2pa.C2paError:
        pass  # unsupported or malformed: the loop moves on, as originmark's does
print(time.perf_counter() - started)
"""
_ORIGINMARK = "import sys; from app.cli import main; sys.argv[0] = 'originmark'; main()"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def build_input(corpus: Path, copies: int, into: Path) -> list[Path]:
    for copy in range(copies):
        shutil.copytree(corpus, into / f"copy{copy}", symlinks=False)
    return sorted(path for path in into.rglob("*") if path.is_file())


class Timed:
    """Wall and CPU seconds (the whole process tree, reaped) of `processes` run at once."""

    def __init__(self, commands: list[list[str]], env: dict[str, str], *, stdout: int | None = None) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                command, env=env, cwd=env["ORIGINMARK_HOME"], stdout=stdout, stderr=subprocess.PIPE, text=True
            )
            for command in commands
        ]
        self.outputs = [process.communicate() for process in processes]
        self.wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.returncodes = [process.returncode for process in processes]


def run_raw(file_lists: list[Path], settings: Path, env: dict[str, str]) -> tuple[Timed, float]:
    """The raw loop, one process per file list, at once; (timing, the slowest loop's own seconds)."""
    commands = [[sys.executable, "-c", _RAW_LOOP, str(settings), str(listing)] for listing in file_lists]
    timed = Timed(commands, env, stdout=subprocess.PIPE)
    if any(timed.returncodes):
        raise SystemExit(f"the raw loop failed: {[err[-2000:] for _out, err in timed.outputs]}")
    return timed, max(float(out) for out, _err in timed.outputs)


def run_originmark(folder: Path, jobs: int, env: dict[str, str], expected: int, *extra: str) -> Timed:
    """One whole `verify` process (the checkout on env's PYTHONPATH first); checks it gave every record.
    `extra`: more options (--recover, --server URL)."""
    command = [sys.executable, "-c", _ORIGINMARK, "verify", "-r", "--jobs", str(jobs), "-q", "--format", "jsonl"]
    timed = Timed([[*command, *extra, str(folder)]], env, stdout=subprocess.PIPE)
    (out, err), (code,) = timed.outputs[0], timed.returncodes
    records = out.count("\n")
    if code not in (0, 1) or records != expected:
        raise SystemExit(
            f"originmark verify --jobs {jobs} {' '.join(extra)}: exit {code}, {records} records of {expected}: "
            f"{err[-2000:]}"
        )
    return timed


@contextmanager
def verify_server(scratch: Path, round_number: int, env: dict[str, str]) -> Iterator[tuple[ServerUnderTest, str]]:
    """An `originmark serve` with a fresh store and keys folder of its own, and a verify key for it."""
    from app.store.interface import Scope
    from app.store.sql import open_store

    data = scratch / f"server-{round_number}"
    data.mkdir(parents=True)
    database_url = f"sqlite:///{data / 'originmark.db'}"
    config = ServerConfig(verify_workers=2, log_level="warning")
    with ServerUnderTest(config=config, database_url=database_url, data_dir=data, cpus=None) as server:
        with open_store(database_url) as store:
            token = store.create_key(name="bench", scopes=frozenset({Scope.VERIFY}))[1]
        yield server, token


def run_through_server(
    server: ServerUnderTest, token: str, folder: Path, jobs: int, env: dict[str, str], expected: int
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the client and the server) of one `verify --server` process."""
    before = server.cpu_seconds()
    timed = run_originmark(folder, jobs, {**env, "ORIGINMARK_API_KEY": token}, expected, "--server", server.base_url)
    return timed.wall, timed.cpu + server.cpu_seconds() - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=PROJECT.parent / "shared" / "corpus")
    parser.add_argument(
        "--also",
        type=Path,
        action="append",
        default=[],
        metavar="CHECKOUT",
        help="another originmark checkout (e.g. a worktree of main) whose --jobs 1/2 runs are "
        "measured in the same rounds: before/after in one run",
    )
    parser.add_argument(
        "--recover", action="store_true", help="also `verify --recover --jobs 1/2` (a scratch database)"
    )
    parser.add_argument(
        "--server", action="store_true", help="also `verify --server URL --jobs 1/2` (a server started per round)"
    )
    args = parser.parse_args()

    import c2pa

    from app.store.migrate import upgrade_database
    from verifier.trust import default_trust_policy

    load_before = load_average()
    checkouts = {"": PROJECT, **{f" [{path.name}]": path.resolve() for path in args.also}}
    with tempfile.TemporaryDirectory(prefix="originmark-cli-bench-") as scratch_name:
        scratch = Path(scratch_name)
        folder = scratch / "input"
        files = build_input(args.corpus, args.copies, folder)
        all_files, halves = scratch / "all.json", [scratch / "half0.json", scratch / "half1.json"]
        settings = scratch / "settings.json"
        settings.write_text(json.dumps(default_trust_policy().engine_settings()))
        all_files.write_text(json.dumps([str(path) for path in files]))
        for index, half in enumerate(halves):
            half.write_text(json.dumps([str(path) for path in files[index::2]]))
        (scratch / "keys").mkdir()
        (scratch / "home").mkdir()  # also every process's working directory: no checkout is imported from there
        base_env = {
            **os.environ,
            "ORIGINMARK_HOME": str(scratch / "home"),
            "ORIGINMARK_KEYS_DIR": str(scratch / "keys"),
            "ORIGINMARK_SERVER_URL": "",
        }
        if args.recover:
            base_env["ORIGINMARK_DATABASE_URL"] = f"sqlite:///{scratch / 'recover.db'}"
            upgrade_database(base_env["ORIGINMARK_DATABASE_URL"])
        envs = {suffix: {**base_env, "PYTHONPATH": code_path(checkout)} for suffix, checkout in checkouts.items()}
        for env in envs.values():
            run_originmark(folder, 1, env, len(files))  # warm the page cache and the bytecode caches

        rows: dict[str, list[tuple[float, float]]] = {"raw loop": [], "raw": [], "raw x2": []}
        for round_number in range(1, args.rounds + 1):
            raw, loop_seconds = run_raw([all_files], settings, envs[""])
            rows["raw"].append((raw.wall, raw.cpu))
            rows["raw loop"].append((loop_seconds, float("nan")))
            pair, _slowest_loop = run_raw(halves, settings, envs[""])
            rows["raw x2"].append((pair.wall, pair.cpu))
            for suffix, env in envs.items():
                for jobs in (1, 2):
                    timed = run_originmark(folder, jobs, env, len(files))
                    rows.setdefault(f"jobs {jobs}{suffix}", []).append((timed.wall, timed.cpu))
                if args.recover:
                    for jobs in (1, 2):
                        timed = run_originmark(folder, jobs, env, len(files), "--recover")
                        rows.setdefault(f"recover jobs {jobs}{suffix}", []).append((timed.wall, timed.cpu))
                if args.server:
                    with verify_server(scratch / suffix.strip(" []"), round_number, env) as (server, token):
                        for name, jobs in (("fresh store", 2), ("stored", 1), ("stored", 2)):
                            measured = run_through_server(server, token, folder, jobs, env, len(files))
                            rows.setdefault(f"server jobs {jobs}{suffix}, {name}", []).append(measured)
            ours = "; ".join(f"{name} {values[-1][0]:.2f} s" for name, values in rows.items() if "jobs" in name)
            print(
                f"round {round_number}: raw loop {loop_seconds:.2f} s (process {raw.wall:.2f} s); raw x2 "
                f"{pair.wall:.2f} s; {ours}; load {load_average()}",
                flush=True,
            )
    load_after = load_average()

    def median(name: str, index: int = 0) -> float:
        return statistics.median(value[index] for value in rows[name])

    titles = {
        "raw loop": "raw engine loop, 1 thread, same trust (loop only)",
        "raw": "  the same, whole process",
        "raw x2": "raw engine loop, 2 processes at once (ceiling)",
    }
    reference = median("raw loop")
    print()
    print(
        f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}; "
        f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}; originmark from {PROJECT}"
        + "".join(f", {suffix.strip()} = {checkout}" for suffix, checkout in checkouts.items() if suffix)
    )
    print(
        f"input: {len(files)} files ({args.copies} copies of {args.corpus}); {args.rounds} rounds; "
        f"load average before {load_before}, after {load_after}"
    )
    print(f"{'':60s} {'median s':>9s} {'min s':>7s} {'CPU s':>6s} {'raw loop / this':>16s}")
    for name, values in rows.items():
        title = titles.get(name, _title(name))
        cpu = "" if name == "raw loop" else f"{median(name, 1):6.2f}"
        walls = [value[0] for value in values]
        print(f"{title:60s} {median(name):9.2f} {min(walls):7.2f} {cpu:>6s} {reference / median(name):15.2f}x")
    ratio = reference / median("jobs 2")
    print(
        f"--jobs 2 / --jobs 1 speed-up: {median('jobs 1') / median('jobs 2'):.2f}x; "
        f"raw x2 / raw loop: {reference / median('raw x2'):.2f}x"
    )
    print(
        f"target: --jobs 2 at least {TARGET}x as fast as the raw loop: {ratio:.2f}x ->",
        "PASS" if ratio >= TARGET else "FAIL",
    )
    return 0 if ratio >= TARGET else 1


def _title(row: str) -> str:
    """`jobs 2` -> `originmark verify -r --jobs 2 (whole process)`; `recover jobs 1`, `server jobs 2, stored` alike."""
    mode, _, rest = row.rpartition("jobs ")
    option = {"": "", "recover ": "--recover ", "server ": "--server "}[mode]
    jobs, _, note = rest.partition(", ")
    return f"originmark verify -r {option}--jobs {jobs}" + (f" ({note})" if note else " (whole process)")


def code_path(checkout: Path) -> str:
    """PYTHONPATH for running `checkout`'s originmark: it first, then whatever was there."""
    return os.pathsep.join([str(checkout), *filter(None, [os.environ.get("PYTHONPATH")])])


if __name__ == "__main__":
    sys.exit(main())
