"""`originmark rendition`: what it refuses before sending (files that would overwrite each other or
themselves) and 200 answers that are not the signed renditions (a proxy's page): exit 2, a clear
message, no traceback, nothing written."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.exit_codes import EXIT_OK, EXIT_USAGE_OR_IO

from .canned_server import answering


def _run(*args: str):
    return CliRunner().invoke(cli, ["rendition", *args], env={"COLUMNS": "200", "ORIGINMARK_SERVER_URL": ""})


def _args(files: list[Path], out: Path, server: str) -> list[str]:
    ids = [arg for index in range(len(files)) for arg in ("--media-id", f"r{index}")]
    return [*map(str, files), *ids, "--source-media-id", "o", "--action", "c2pa.converted", "-o", str(out),
            "--server", server, "--api-key", "om_test_key"]  # fmt: skip


def _jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    return path


def test_two_files_of_the_same_name_are_refused_before_anything_is_sent(tmp_path):
    files = [_jpeg(tmp_path / "a" / "small.jpg"), _jpeg(tmp_path / "b" / "small.jpg")]
    seen_nothing = "http://127.0.0.1:9"  # never contacted
    result = _run(*_args(files, tmp_path / "out", seen_nothing))
    assert result.exit_code == EXIT_USAGE_OR_IO, result.output
    assert "same file" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_an_output_folder_holding_a_rendition_is_refused(tmp_path):
    files = [_jpeg(tmp_path / "in" / "small.jpg")]
    result = _run(*_args(files, tmp_path / "in", "http://127.0.0.1:9"))
    assert result.exit_code == EXIT_USAGE_OR_IO, result.output
    assert "would replace it" in result.output
    assert (tmp_path / "in" / "small.jpg").read_bytes() == b"\xff\xd8\xff\xe0" + bytes(64)


def _answer(renditions: object) -> bytes:
    return json.dumps({"original": {}, "renditions": renditions}).encode()


GOOD = {"media_id": "r0", "label": {"text": "AI-generated"}, "content_base64": base64.b64encode(b"signed").decode()}


@pytest.mark.parametrize(
    "body",
    [
        b"<html>proxy login</html>",
        b"[1, 2]",
        _answer([]),
        _answer([GOOD, GOOD]),
        _answer(["r0"]),
        _answer([{**GOOD, "label": "AI"}]),
        _answer([{**GOOD, "content_base64": None}]),
        _answer([{**GOOD, "content_base64": "not base64!"}]),
    ],
)
def test_a_200_answer_that_is_not_the_signed_renditions_is_exit_2(tmp_path, body):
    files = [_jpeg(tmp_path / "in" / "small.jpg")]
    with answering(200, {"Content-Type": "application/json"}, body) as url:
        result = _run(*_args(files, tmp_path / "out", str(url)))
    assert result.exit_code == EXIT_USAGE_OR_IO, result.output
    assert "answered 200 but not with the signed renditions" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "out").exists()


def test_the_expected_answer_is_written(tmp_path):
    files = [_jpeg(tmp_path / "in" / "small.jpg")]
    with answering(200, {"Content-Type": "application/json"}, _answer([GOOD])) as url:
        result = _run(*_args(files, tmp_path / "out", str(url)))
    assert result.exit_code == EXIT_OK, result.output
    assert (tmp_path / "out" / "small.jpg").read_bytes() == b"signed"
