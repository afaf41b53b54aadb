"""The CLI imports only what the command run needs (issue 13): checked through `sys.modules`, not timing.

Each case runs the installed `originmark` entry point in a fresh interpreter and reports the
modules it ended with; `bench/cli_startup_bench.py` measures what that saves.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import _Commands, cli
from app.cli.lazy import load_command

ORIGINMARK = Path(sys.executable).parent / "originmark"
# The database, web, jobs and cloud stacks: none of them is needed to verify, inspect or sign a file.
HEAVY = ("sqlalchemy", "fastapi", "boto3", "procrastinate", "alembic")
SIGNED_JPEG = "corpus/public-testfiles/image/jpeg/adobe-20220124-C.jpg"

# Runs the console script, then writes the modules it imported (a package's parents are among them).
_PROBE = """
import json, runpy, sys
sys.argv = sys.argv[1:]  # [the console script, its arguments...], as the shell would run it
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    code = stop.code
with open(REPORT, "w") as out:
    json.dump({"exit": code, "modules": sorted(sys.modules)}, out)
"""


def _modules_after(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    report = tmp_path / "modules.json"
    program = _PROBE.replace("REPORT", repr(str(report)))
    env = {**os.environ, "ORIGINMARK_KEYS_DIR": str(tmp_path / "no-keys"), "COLUMNS": "80"}
    completed = subprocess.run(
        [sys.executable, "-c", program, str(ORIGINMARK), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.exists(), completed.stderr
    answer = json.loads(report.read_text())
    return answer["exit"], set(answer["modules"])


def test_importing_the_cli_loads_no_command_and_no_heavy_stack():
    program = "import sys, app.cli; print(' '.join(sorted(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    modules = set(imported.stdout.split())
    assert not {name for name in modules if name.split(".")[0] in HEAVY}
    assert not {name for name in modules if name.endswith("_cmd")}  # commands load when they run
    assert "pydantic_settings" not in modules and "c2pa" not in modules


@pytest.mark.parametrize("args", [["--help"], ["verify", "--help"], ["inspect", "--help"], ["sign", "--help"]])
def test_help_loads_no_heavy_stack(tmp_path, args):
    code, modules = _modules_after(tmp_path, *args)
    assert code == 0
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_root_help_loads_no_command_module(tmp_path):
    code, modules = _modules_after(tmp_path, "--help")
    assert code == 0
    assert not {name for name in modules if name.startswith("app.cli.") and name.endswith("_cmd")}
    assert modules.isdisjoint({"pydantic_settings", "c2pa", "httpx"})


def test_verifying_a_file_here_loads_no_database_web_or_jobs_stack(tmp_path, shared_dir):
    code, modules = _modules_after(tmp_path, "verify", "-q", str(shared_dir / SIGNED_JPEG))
    assert code == 0
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))
    assert "httpx" not in modules  # the --server client is not needed either
    # The verifier worker loads the engine and parses the trust lists; the CLI process needs neither.
    # Nor pydantic-settings (app/settings.py reads the environment itself) or croniter (the default schedule).
    unneeded = {"c2pa", "cryptography", "croniter", "pydantic_settings"}
    assert modules.isdisjoint(unneeded), sorted(modules & unneeded)


@pytest.mark.parametrize("name", list(_Commands.lazy_commands))
def test_the_root_help_lists_each_command_with_its_own_short_help(name):
    command = load_command(name, _Commands.lazy_commands[name])
    own = inspect.cleandoc(command.help or "").split("\n\n")[0].replace("\n", " ")
    assert _Commands.lazy_commands[name].short_help == own


def test_root_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    listed = re.findall(r"^│ (\w+) ", result.output, flags=re.MULTILINE)
    assert listed == list(_Commands.lazy_commands)


def test_a_mistyped_command_is_suggested_among_commands_not_loaded_yet():
    result = CliRunner().invoke(cli, ["verfy", "x.jpg"], env={"COLUMNS": "80"})
    assert result.exit_code == 2
    assert "Did you mean 'verify'?" in result.output
