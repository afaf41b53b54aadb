"""CLI start-up benchmark: whole `originmark` processes, beside the interpreter floor (issue 13).

    python bench/cli_startup_bench.py [--runs 15] [--jpeg FILE]
    PYTHONPATH=/tmp/before python bench/cli_startup_bench.py   # another checkout's code, same venv

Each command is started `--runs` times as a fresh process (the way a batch script calling
the CLI once per file pays for it) and the median and fastest wall times are printed. The
commands run round-robin, so load from other work on the machine falls on all of them
alike. Reference rows, measured in the same run:

- `python -c "import typer, rich"`: the floor, what any Typer + Rich CLI pays to start;
- `python -c "import c2pa"`: the engine's own import, which `verify` cannot avoid;
- an empty Typer command with verify's seven parameters: what Typer itself adds to any run
  of a command (typer 0.2x builds a pydantic adapter per parameter), before our code runs.

`verify` and `inspect` run in a scratch folder (no keys, no database: nothing is created
in the project) on a small real JPEG with Content Credentials from the shared corpus.
Targets: `originmark --help` < 0.25 s and `originmark verify one.jpg` < 0.5 s (median).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_JPEG = PROJECT.parent / "shared/corpus/public-testfiles/image/jpeg/adobe-20220124-C.jpg"


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str  # as printed
    argv: list[str]
    target_seconds: float | None = None
    expected_exit: tuple[int, ...] = (0,)  # verify exits 1 for invalid credentials: still a complete run


def _originmark() -> str:
    # The entry point installed beside this interpreter (the venv's), else the one on PATH.
    local = Path(sys.executable).with_name("originmark")
    found = str(local) if local.exists() else shutil.which("originmark")
    if found is None:
        sys.exit("originmark is not installed: pip install -e . first")
    return found


# A command that does nothing, with verify's parameters: Typer's own cost of parsing a command line.
_EMPTY_TYPER_COMMAND = """
from pathlib import Path
from typing import Annotated, Optional
import typer
app = typer.Typer(add_completion=False)
@app.command()
def verify(paths: Annotated[list[Path], typer.Argument()], recursive: bool = False, jobs: int = 1,
           output_format: str = "table", quiet: bool = False, server: Optional[str] = None,
           api_key: Optional[str] = None) -> None:
    pass
app()
"""


def cases(jpeg: Path) -> list[Case]:
    cli = _originmark()
    return [
        Case(name='python -c "import typer, rich" (floor)', argv=[sys.executable, "-c", "import typer, rich"]),
        Case(name='python -c "import c2pa"', argv=[sys.executable, "-c", "import c2pa"]),
        Case(name="empty Typer command, 7 parameters", argv=[sys.executable, "-c", _EMPTY_TYPER_COMMAND, "x.jpg"]),
        Case(name="originmark --help", argv=[cli, "--help"], target_seconds=0.25),
        Case(name="originmark verify --help", argv=[cli, "verify", "--help"]),
        Case(
            name=f"originmark verify {jpeg.name}",
            argv=[cli, "verify", str(jpeg)],
            target_seconds=0.5,
            expected_exit=(0, 1),
        ),
        # The same verify with its worker launched only once the settings are read (no warm start,
        # verifier/warm_start.py): what the warm start saves, in the same run.
        Case(
            name="  same, worker launched after settings",
            argv=[sys.executable, "-c", _COLD_VERIFY, str(jpeg)],
            expected_exit=(0, 1),
        ),
        Case(name=f"originmark inspect {jpeg.name}", argv=[cli, "inspect", str(jpeg)], expected_exit=(0, 1)),
    ]


_COLD_VERIFY = """
import sys
import verifier.warm_start
verifier.warm_start.launch_verifier_workers = lambda count: []
sys.argv = ["originmark", "verify", *sys.argv[1:]]
from app.cli import main
main()
"""


def _measured_code(*, cwd: Path, env: dict[str, str]) -> str:
    # The app package the entry point imports: this checkout, or another one put first with PYTHONPATH
    # (how the "before" figures are taken: `git archive BASE | tar -x -C DIR`, PYTHONPATH=DIR). Run in
    # the scratch folder: `python -c` would otherwise find the package in the current folder first.
    program = "import os, app; print(os.path.dirname(os.path.dirname(os.path.abspath(app.__file__))))"
    completed = subprocess.run([sys.executable, "-c", program], cwd=cwd, env=env, capture_output=True, text=True)
    return completed.stdout.strip()


def run_once(case: Case, *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(case.argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if completed.returncode not in case.expected_exit:
        sys.exit(f"{case.name}: exit {completed.returncode}\n{completed.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="processes per command (default 15)")
    parser.add_argument("--jpeg", type=Path, default=DEFAULT_JPEG, help="the file verify and inspect read")
    args = parser.parse_args()
    if not args.jpeg.is_file():
        sys.exit(f"no such file: {args.jpeg} (give one with --jpeg)")

    load_before = f"{os.getloadavg()[0]:.1f}"  # other work on the machine inflates every row alike
    todo = cases(args.jpeg.resolve())
    times: dict[str, list[float]] = {case.name: [] for case in todo}
    with tempfile.TemporaryDirectory(prefix="originmark-startup-") as scratch:
        cwd = Path(scratch)
        # Only the scratch folder's defaults: no ORIGINMARK_* of the caller's shell changes what is measured.
        env = {key: value for key, value in os.environ.items() if not key.startswith("ORIGINMARK_")}
        env.update(
            COLUMNS="80",
            ORIGINMARK_KEYS_DIR=str(cwd / "keys"),
            ORIGINMARK_DATABASE_URL=f"sqlite:///{cwd / 'originmark.db'}",
        )
        measured_code = _measured_code(cwd=cwd, env=env)
        for case in todo:  # one warm-up each: the first start reads files from disk, later ones from cache
            run_once(case, cwd=cwd, env=env)
        for _ in range(args.runs):
            for case in todo:
                times[case.name].append(run_once(case, cwd=cwd, env=env))

    print(
        f"{args.runs} runs per command, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d')}, load average before {load_before}, after {os.getloadavg()[0]:.1f}"
    )
    print(f"code measured: {measured_code}")
    print()
    print(f"| {'command':<44} | median s | fastest s | target |")
    print(f"|{'-' * 46}|---------:|----------:|--------|")
    failed = False
    for case in todo:
        median, fastest = statistics.median(times[case.name]), min(times[case.name])
        verdict = ""
        if case.target_seconds is not None:
            ok = median < case.target_seconds
            failed |= not ok
            verdict = f"< {case.target_seconds} {'PASS' if ok else 'FAIL'}"
        print(f"| {case.name:<44} | {median:8.3f} | {fastest:9.3f} | {verdict} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
