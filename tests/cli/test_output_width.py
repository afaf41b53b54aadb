"""Output that fits 80 columns and pipes (issue 13): tables, long paths and `--help`.

Through the CLI's entry point with COLUMNS=80 (what Rich uses when stdout is not a terminal).
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from app.cli import _Commands, cli
from app.cli.batch_cmd import _print_table
from app.cli.tables import middle_ellipsis

SIGNED_JPEG = "corpus/public-testfiles/image/jpeg/adobe-20220124-C.jpg"
TYPE_TAG = re.compile(r"<(bool|int|float|str|path|file|dir|list\[[^>]*\]|[a-z]+ range|[a-z|]+)>")


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "80", **(env or {})}, catch_exceptions=False)


def assert_fits(output: str, width: int = 80) -> None:
    too_wide = [line for line in output.splitlines() if len(line.rstrip()) > width]
    assert not too_wide, too_wide


# --- long paths ---


def test_middle_ellipsis_keeps_both_ends_and_the_width():
    path = "/srv/media/incoming/2026/12/07/generated-image-000042.jpg"
    short = middle_ellipsis(path, 24)
    assert len(short) == 24 and short.count("…") == 1
    head, tail = short.split("…")
    assert path.startswith(head) and path.endswith(tail) and len(tail) > len(head)
    assert middle_ellipsis(path, len(path)) == path
    assert middle_ellipsis("写真写真写真写真.jpg", 9).endswith(".jpg")  # wide characters count two cells


# --- verify's table ---


@pytest.fixture()
def long_path(tmp_path, shared_dir) -> Path:
    folder = tmp_path / "a-folder-with-a-rather-long-name" / "and-another-level-below-it"
    folder.mkdir(parents=True)
    target = folder / "generated-portrait-of-a-lighthouse-0042.jpg"
    shutil.copyfile(shared_dir / SIGNED_JPEG, target)
    return target


def test_verify_table_at_80_columns_keeps_headers_and_shortens_a_long_path_in_the_middle(tmp_path, long_path):
    result = invoke("verify", "-q", str(long_path), env={"ORIGINMARK_KEYS_DIR": str(tmp_path / "no-keys")})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Path +State +Label +Issuer +Trust list", lines[0].rstrip())
    row = lines[2]
    shown = row.split()[0]
    assert "…" in shown and shown.endswith("0042.jpg") and str(long_path).startswith(shown.split("…")[0])
    assert "valid" in row.split() and "Content Credentials ·" in row
    assert_fits(result.stdout)


def test_verify_records_keep_the_whole_path(tmp_path, long_path):
    result = invoke(
        "verify", "-q", "--format", "csv", str(long_path), env={"ORIGINMARK_KEYS_DIR": str(tmp_path / "no-keys")}
    )
    assert str(long_path) in result.stdout and "…" not in result.stdout


# --- apikey list, tenants list ---


def test_apikey_list_at_80_columns_is_one_block_per_key_with_every_field(tmp_path):
    env = {"ORIGINMARK_DATABASE_URL": f"sqlite:///{tmp_path / 'originmark.db'}"}
    created = invoke(
        "apikey", "create", "--name", "upload pipeline of the image generator", "--scopes", "sign,verify", env=env
    )
    assert created.exit_code == 0, created.output
    invoke("apikey", "create", "--name", "feed", "--scopes", "read", env=env)

    result = invoke("apikey", "list", env=env)
    assert result.exit_code == 0, result.output
    fields = [line.split("  ")[0] for line in result.stdout.splitlines() if line.strip()]
    expected = [
        "key id",
        "tenant",
        "name",
        "scopes",
        "may claim generators",
        "source types",
        "replace credentials",
        "created",
        "revoked",
    ]
    assert [field for field in fields if field] == expected * 2  # every heading whole, once per key
    assert re.search(r"^name +upload pipeline of the image generator *$", result.stdout, flags=re.MULTILINE)
    assert re.search(r"^source types +compositeWithTrainedAlgorithmicMedia *$", result.stdout, flags=re.MULTILINE)
    assert re.search(r"^created +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC *$", result.stdout, flags=re.MULTILINE)
    assert_fits(result.stdout)

    wide = invoke("apikey", "list", env={**env, "COLUMNS": "220"})  # a wide terminal keeps the table
    assert re.search(r"key id +tenant +name +scopes +may claim generators +source types +replace credentials +created +revoked", wide.stdout)


def test_tenants_list_at_80_columns_keeps_its_headers(tmp_path):
    env = {
        "ORIGINMARK_DATABASE_URL": f"sqlite:///{tmp_path / 'originmark.db'}",
        "ORIGINMARK_OBJECTS_DIR": str(tmp_path / "objects"),
    }
    assert invoke("tenants", "create", "acme-ai-production-images", env=env).exit_code == 0
    result = invoke("tenants", "list", env=env)
    assert result.exit_code == 0, result.output
    assert re.search(r"tenant +active keys +public sbr +object prefixes", result.stdout)
    assert re.search(r"acme-ai-production-images +0 +no +-", result.stdout)
    assert_fits(result.stdout)


# --- batch report ---


def test_batch_report_table_at_80_columns_shortens_object_names_in_the_middle():
    names = ["renders/2026/12/portrait-of-a-lighthouse-keeper-at-dusk-in-the-rain-0001.jpg", "renders/short.jpg"]
    report = SimpleNamespace(
        batch_id="0" * 32,
        prefix="s3://acme-generated-images/",
        by_status={"succeeded": 2},
        by_state={"valid": 2},
        by_label={"credentials": 2},
        rows=[
            SimpleNamespace(
                source=f"s3://acme-generated-images/{name}",
                status=SimpleNamespace(value="succeeded"),
                state="valid",
                label_kind="credentials",
                label_text="Content Credentials · unrecognized signer",
                error_code=None,
            )
            for name in names
        ],
    )
    buffer = io.StringIO()
    _print_table(Console(file=buffer, width=80, color_system=None), report)
    output = buffer.getvalue()
    assert "objects under s3://acme-generated-images/renders/" in output  # the common folder, once
    assert re.search(r"┃ object +┃ status +┃ state +┃ label +┃", output)
    long_row = next(line for line in output.splitlines() if "0001.jpg" in line)
    shown = long_row.split("│")[1].strip()
    assert shown.startswith("2026/12/") and "…" in shown and shown.endswith("-0001.jpg")
    assert "short.jpg" in output and "succeeded" in long_row
    assert_fits(output)


# --- --help ---


def _every_command() -> list[list[str]]:
    commands = []
    for name in _Commands.lazy_commands:
        commands.append([name])
        group = invoke(name, "--help")
        if "Commands" in group.output:
            commands.extend(
                [name, sub]
                for sub in re.findall(r"^│ ([a-z][a-z-]*) ", group.output.split("Commands")[1], flags=re.MULTILINE)
            )
    return commands


def test_help_shows_plain_metavars_and_no_type_tags():
    for command in _every_command():
        result = invoke(*command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert not TYPE_TAG.search(result.output), (command, TYPE_TAG.search(result.output))
        assert "{" not in result.output.splitlines()[1], command  # no {NAME} in the usage line
        assert_fits(result.output)


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["verify"], "originmark verify [OPTIONS] PATH..."),
        (["sign"], "originmark sign [OPTIONS] FILE..."),
        (["inspect"], "originmark inspect [OPTIONS] FILE"),
        (["batch", "verify"], "originmark batch verify [OPTIONS] URI"),
        (["tenants", "show"], "originmark tenants show [OPTIONS] NAME"),
    ],
)
def test_usage_lines_name_arguments_the_same_way(command, usage):
    assert usage in invoke(*command, "--help").output


def test_option_values_are_named_plainly():
    verify_help = invoke("verify", "--help").output
    assert re.search(r"--jobs +-j +INTEGER \[1<=x<=64\]", verify_help)
    assert re.search(r"--format +-f +\[table\|json\|jsonl\|csv\]", verify_help)
    assert re.search(r"--server +URL", verify_help)
    assert re.search(r"│ --recursive +-r +Verify folders", verify_help)  # a flag: no value named
    assert re.search(r"--out +-o +FOLDER", invoke("sign", "--help").output)
    assert re.search(r"--tenant +NAME", invoke("apikey", "create", "--help").output)
    assert re.search(r"--name +NAME", invoke("apikey", "create", "--help").output)
    assert re.search(r"--database-url +URL", invoke("audit", "show", "--help").output)  # as --server URL
    keys_help = invoke("keys", "init", "--help").output
    assert re.search(r"--dir +FOLDER", keys_help) and re.search(r"--identity +NAME", keys_help)  # as --out FOLDER


def test_help_texts_are_shown_as_written_not_as_markup():
    # "[default: ...]" in a help text is a style tag to Rich: it vanished from the help before.
    keys_help = invoke("keys", "init", "--help", env={"COLUMNS": "200"}).output
    assert "Where the key is [default: ORIGINMARK_KEY_BACKEND]." in keys_help
    audit_help = invoke("audit", "show", "--help", env={"COLUMNS": "200"}).output
    assert "The database to read [default: ORIGINMARK_DATABASE_URL or" in audit_help
