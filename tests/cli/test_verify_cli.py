"""`originmark verify` through its entry point (Typer's CliRunner on `app.cli.cli`), real engine, real files.

States pinned here are what the default trust policy (C2PA list + ITL, no local anchors) reports
for these corpus files; `test_corpus_verdicts` in tests/verifier pins the whole corpus.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.cli.verify_output import csv_columns

FIXTURES = "corpus/c2pa-rs/sdk/tests/fixtures"
# file name in the batch -> (corpus path, state, label kind)
BATCH = {
    "ai-trusted.jpg": (f"{FIXTURES}/ocsp.jpg", "trusted", "ai_generated"),
    "tampered.jpg": (f"{FIXTURES}/XCA.jpg", "invalid", "invalid"),
    "plain.jpg": (f"{FIXTURES}/no_manifest.jpg", "none", "none"),
    "riff-bomb.wav": (f"{FIXTURES}/riff_bomb_1000.wav", "none", "none"),
    "moov-bomb.mp4": (f"{FIXTURES}/nested_moov_1000.mp4", "error", "none"),
    "test-signer.jpg": (f"{FIXTURES}/C.jpg", "valid", "credentials"),
}
NESTED = {"deeper/inner/nested-plain.jpg": (f"{FIXTURES}/no_manifest.jpg", "none", "none")}


@pytest.fixture(scope="module")
def batch_dir(shared_dir: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    for name, (source, _, _) in {**BATCH, **NESTED}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_dir / source, root / name)
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    # No development CA in the keys dir: only the bundled trust lists apply.
    return {"ORIGINMARK_KEYS_DIR": str(tmp_path_factory.mktemp("no-keys")), "COLUMNS": "200"}


def run(env: dict[str, str], *args: object):
    return CliRunner().invoke(cli, ["verify", *map(str, args)], env=env, catch_exceptions=False)


def jsonl(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def test_jsonl_one_record_per_file_in_sorted_order_and_exit_1_for_an_invalid_file(batch_dir, env):
    result = run(env, batch_dir, "-r", "--format", "jsonl")

    assert result.exit_code == 1, result.stderr
    records = jsonl(result.stdout)
    expected = {**BATCH, **NESTED}
    assert [record["path"] for record in records] == sorted(str(batch_dir / name) for name in expected)
    for record in records:
        name = str(Path(record["path"]).relative_to(batch_dir))
        _, state, kind = expected[name]
        assert (record["state"], record["label"]["kind"]) == (state, kind), name
        assert list(record)[:3] == ["path", "state", "label"]
        assert set(record["label"]) == {
            "kind",
            "trusted",
            "text",
            "issuer",
            "evidence",
            "recovered",
            "recovered_manifest_id",
        }
    trusted = next(record for record in records if record["path"].endswith("ai-trusted.jpg"))
    assert trusted["trust_list"] == "itl" and trusted["label"]["trusted"] is True
    assert len(trusted["sha256"]) == 64 and trusted["size"] == (batch_dir / "ai-trusted.jpg").stat().st_size
    assert trusted["signed_at"] is None or "T" in trusted["signed_at"]  # ISO 8601 when present
    invalid = next(record for record in records if record["state"] == "invalid")
    assert "assertion.dataHash.mismatch" in invalid["failure_codes"]
    bomb = next(record for record in records if record["path"].endswith("moov-bomb.mp4"))
    assert bomb["reason"]  # an `error` always says why
    # The summary is on stderr: stdout held only the records.
    assert "Verified 7 files" in result.stderr and "invalid 1" in result.stderr


def test_only_valid_and_no_credentials_exit_0(batch_dir, env):
    result = run(
        env, batch_dir / "plain.jpg", batch_dir / "test-signer.jpg", batch_dir / "riff-bomb.wav", "-f", "jsonl"
    )

    assert result.exit_code == 0, result.stderr
    assert [record["state"] for record in jsonl(result.stdout)] == ["none", "valid", "none"]


def test_a_missing_path_is_reported_per_path_the_rest_is_verified_and_the_exit_is_2(batch_dir, env, tmp_path):
    missing = tmp_path / "nowhere.jpg"
    result = run(env, batch_dir / "plain.jpg", missing, batch_dir / "tampered.jpg", "-f", "jsonl")

    assert result.exit_code == 2
    records = jsonl(result.stdout)
    assert [(record["path"], record["state"]) for record in records] == [
        (str(batch_dir / "plain.jpg"), "none"),
        (str(missing), "error"),
        (str(batch_dir / "tampered.jpg"), "invalid"),
    ]
    assert records[1]["reason"] == "No such file or directory"
    assert records[1]["sha256"] is None and records[1]["label"]["kind"] == "none"
    assert list(records[1]) == list(records[0])  # one schema for every record
    assert f"error: {missing}: No such file or directory" in result.stderr
    assert "1 path(s) could not be read" in result.stderr


def test_a_folder_without_r_gives_its_direct_files_and_says_what_r_would_add(batch_dir, env):
    flat = run(env, batch_dir, "-f", "jsonl")
    recursive = run(env, batch_dir, "--recursive", "-f", "jsonl")

    assert {Path(record["path"]).name for record in jsonl(flat.stdout)} == set(BATCH)
    assert "1 subfolder(s) not entered: pass -r" in flat.stderr
    assert {Path(record["path"]).name for record in jsonl(recursive.stdout)} == set(BATCH) | {"nested-plain.jpg"}
    assert "subfolder" not in recursive.stderr


def test_recursion_survives_a_symlink_loop_and_lists_each_file_once(batch_dir, env, tmp_path):
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    shutil.copyfile(batch_dir / "plain.jpg", root / "a" / "one.jpg")
    (root / "a" / "back-to-root").symlink_to(root, target_is_directory=True)
    (root / "alias-of-a").symlink_to(root / "a", target_is_directory=True)
    (root / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")

    result = run(env, root, "-r", "-f", "jsonl")

    records = jsonl(result.stdout)
    assert [(Path(record["path"]).name, record["state"]) for record in records] == [
        ("one.jpg", "none"),
        ("dangling.jpg", "error"),
    ]
    assert records[1]["reason"] == "broken symbolic link"
    assert result.exit_code == 2


def test_a_fifo_is_an_error_record_not_a_hang(batch_dir, env, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)

    result = run(env, fifo, batch_dir / "plain.jpg", "-f", "jsonl")

    records = jsonl(result.stdout)
    assert [record["state"] for record in records] == ["error", "none"]
    assert "not a regular file" in records[0]["reason"]
    assert result.exit_code == 2


def test_bad_files_zero_bytes_random_bytes_wrong_extension_each_get_an_error_or_none(env, tmp_path, batch_dir):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "noise.png").write_bytes(os.urandom(4096))
    shutil.copyfile(batch_dir / "tampered.jpg", tmp_path / "tampered.mp4")  # a JPEG named .mp4
    truncated = (batch_dir / "ai-trusted.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(truncated[: len(truncated) // 3])

    result = run(env, tmp_path, "-f", "jsonl")

    states = {Path(record["path"]).name: record for record in jsonl(result.stdout)}
    assert states["empty.jpg"]["state"] == "error"
    assert states["noise.png"]["state"] in ("error", "none")
    assert states["tampered.mp4"]["state"] == "invalid"  # the format comes from the bytes, not the name
    assert states["truncated.jpg"]["state"] in ("error", "invalid")
    assert all(record["reason"] for record in states.values() if record["state"] == "error")
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_csv_has_the_fixed_header_and_one_flattened_row_per_file(batch_dir, env):
    result = run(env, batch_dir, "-f", "csv")

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == csv_columns()
    assert rows[0][:5] == ["path", "state", "label_kind", "label_trusted", "label_text"]
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert {Path(row["path"]).name: (row["state"], row["label_kind"]) for row in body} == {
        name: (state, kind) for name, (_, state, kind) in BATCH.items()
    }
    trusted = next(row for row in body if row["state"] == "trusted")
    assert trusted["label_trusted"] == "true" and trusted["trust_list"] == "itl"
    assert trusted["signer_organisation"]  # nested objects become prefixed columns
    tampered = next(row for row in body if row["state"] == "invalid")
    assert "assertion.dataHash.mismatch" in tampered["failure_codes"].split("; ")
    assert result.exit_code == 1


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(env, batch_dir, tmp_path, monkeypatch):
    shutil.copyfile(batch_dir / "plain.jpg", tmp_path / "@SUM(1).jpg")
    shutil.copyfile(batch_dir / "plain.jpg", tmp_path / "=HYPERLINK(evil).jpg")
    monkeypatch.chdir(tmp_path)

    result = run(env, "@SUM(1).jpg", "=HYPERLINK(evil).jpg", "-f", "csv")

    paths = [row[0] for row in list(csv.reader(io.StringIO(result.stdout)))[1:]]
    assert paths == ["'@SUM(1).jpg", "'=HYPERLINK(evil).jpg"]


def test_json_is_one_array_with_a_record_per_file(batch_dir, env, tmp_path):
    result = run(env, batch_dir, "-r", "--format", "json")
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    nothing = run(env, empty, "--format", "json")

    records = json.loads(result.stdout)
    assert isinstance(records, list) and len(records) == len(BATCH) + len(NESTED)
    assert result.exit_code == 1
    assert json.loads(nothing.stdout) == [] and nothing.exit_code == 0


def test_jobs_2_gives_the_same_records_in_the_same_order_as_jobs_1(batch_dir, env):
    one = run(env, batch_dir, "-r", "-f", "jsonl", "--jobs", "1")
    two = run(env, batch_dir, "-r", "-f", "jsonl", "--jobs", "2")

    assert one.exit_code == two.exit_code == 1
    assert jsonl(one.stdout) == jsonl(two.stdout)


def test_table_shows_states_labels_and_summary_and_hostile_names_stay_text(batch_dir, env, tmp_path, monkeypatch):
    # A file name can carry anything but "/" and NUL: markup, an OSC 8 hyperlink, a screen clear.
    # (No closing tags: they need "/"; an opening tag alone would style the rest of the line.)
    hostile_name = "[link=evil.example]click [bold red]x\x1b]8;;evil.example\x07\x1b[2J.jpg"
    shutil.copyfile(batch_dir / "tampered.jpg", tmp_path / hostile_name)
    shutil.copyfile(batch_dir / "ai-trusted.jpg", tmp_path / "ai.jpg")

    # A short relative path, so that the path column does not wrap the name, whatever the length
    # of the temporary folder.
    monkeypatch.chdir(tmp_path)
    result = run(env, ".")

    assert result.exit_code == 1
    out = result.stdout
    assert "\x1b" not in out and "\x07" not in out  # no terminal control from a file name
    assert "[link=evil.example]click [bold red]x" in out  # markup shown literally
    assert "trusted" in out and "AI-generated" in out and "itl" in out
    assert "invalid" in out and "assertion.dataHash.mismatch" in out
    # Table format: the summary follows the table on stdout.
    assert out.index("Verified 2 files") > out.index("ai.jpg")


def test_usage_errors_exit_2(env, batch_dir):
    assert run(env, batch_dir, "--jobs", "0").exit_code == 2
    assert run(env, batch_dir, "--format", "xml").exit_code == 2
    assert CliRunner().invoke(cli, ["verify"], env=env).exit_code == 2


def test_bad_configuration_exits_2_with_the_setting_named(env, batch_dir):
    result = run({**env, "ORIGINMARK_VERIFY_TIMEOUT_SECONDS": "-1"}, batch_dir / "plain.jpg")

    assert result.exit_code == 2
    assert "configuration" in result.stderr and "verify_timeout_seconds" in result.stderr
    assert result.stdout == ""


def test_a_file_signed_with_the_local_development_ca_is_trusted_on_the_local_list(dev_credentials, batch_dir, tmp_path):
    env = {"ORIGINMARK_KEYS_DIR": str(dev_credentials.chain_path.parent)}
    signed = tmp_path / "signed"
    sign = CliRunner().invoke(
        cli, ["sign", str(batch_dir / "plain.jpg"), "--generator", "Acme Diffusion", "--out", str(signed)], env=env
    )
    assert sign.exit_code == 0, sign.output

    result = run(env, signed, "-f", "jsonl")

    (record,) = jsonl(result.stdout)
    assert (record["state"], record["trust_list"], record["label"]["kind"]) == ("trusted", "local", "ai_generated")
    assert result.exit_code == 0


def test_hostile_signer_name_in_a_manifest_is_shown_as_text_in_the_table(batch_dir, tmp_path):
    from keys.devca import create_development_credentials

    # Short: the organisation also goes into the 64-character common names of the certificates.
    hostile = "[link=x.io]Evil[/] [red]\x1b[2JCo\x07"
    credentials = create_development_credentials(tmp_path / "keys", organisation=hostile)
    env = {"ORIGINMARK_KEYS_DIR": str(credentials.directory), "COLUMNS": "200"}
    sign = CliRunner().invoke(
        cli, ["sign", str(batch_dir / "plain.jpg"), "--generator", "Acme", "--out", str(tmp_path / "out")], env=env
    )
    assert sign.exit_code == 0, sign.output

    table = run(env, tmp_path / "out")
    (record,) = jsonl(run(env, tmp_path / "out", "-f", "jsonl").stdout)

    assert record["state"] == "trusted" and "[link=x.io]Evil[/] [red]" in record["label"]["issuer"]
    assert table.exit_code == 0
    assert "[link=x.io]Evil[/]" in table.stdout and "[red]" in table.stdout  # literal, not markup
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
