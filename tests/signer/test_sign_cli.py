"""`originmark sign` through the real CLI entry point (app.cli.cli), with real keys and files."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from typer.testing import CliRunner

from app.cli import cli

runner = CliRunner()


@pytest.fixture
def keys_env(dev_credentials, monkeypatch):
    """Point the CLI at the session's development credentials, and nothing else from the environment."""
    for name in (
        "ORIGINMARK_SIGNING_CHAIN",
        "ORIGINMARK_SIGNING_KEY",
        "ORIGINMARK_TIME_STAMP_URL",
        "ORIGINMARK_THUMBNAILS",
        "ORIGINMARK_LOCAL_TRUST_ANCHORS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORIGINMARK_KEYS_DIR", str(dev_credentials.directory))
    return dev_credentials


def _sign(*args: str):
    return runner.invoke(cli, ["sign", *map(str, args)], catch_exceptions=False)


def test_signs_each_file_into_the_output_folder(keys_env, media_samples, read_back, tmp_path):
    out = tmp_path / "signed" / "nested"
    result = _sign(
        media_samples["PNG"],
        media_samples["MP4"],
        "--generator",
        "Acme Diffusion",
        "--generator-version",
        "2.1",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"signed  {media_samples['PNG']} -> {out / 'gen.png'}  (PNG, trainedAlgorithmicMedia, urn:c2pa:"
    )
    assert lines[1].startswith(f"signed  {media_samples['MP4']} -> {out / 'tiny.mp4'}  (MP4, ")
    assert "2 signed, 0 failed" in result.stderr
    for name, mime in (("gen.png", "image/png"), ("tiny.mp4", "video/mp4")):
        report = read_back(out / name, mime=mime)
        assert report.state == "Trusted"
        action = report.manifest["assertions"]["c2pa.actions.v2"]["actions"][0]
        assert action["softwareAgent"] == {"name": "Acme Diffusion", "version": "2.1"}


def test_a_bad_file_fails_alone_and_the_exit_code_is_1(keys_env, media_samples, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = tmp_path / "out"
    result = _sign(bad, tmp_path / "missing.jpg", media_samples["JPEG"], "--generator", "g", "--out", out)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"failed  {bad}: not a supported media format; supported formats: " + (
        "JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC, HEIF, SVG, MP4, MOV, M4A, WAV, MP3, FLAC, AVI, PDF"
    )
    assert lines[1] == f"failed  {tmp_path / 'missing.jpg'}: cannot read it: No such file or directory"
    assert lines[2].startswith("signed  ")
    assert "1 signed, 2 failed" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["gen.jpg"]


def test_two_sources_with_one_output_name_do_not_overwrite_each_other(keys_env, make_jpeg, tmp_path):
    first = make_jpeg((tmp_path / "a").mkdir() or tmp_path / "a" / "same.jpg")
    second = make_jpeg((tmp_path / "b").mkdir() or tmp_path / "b" / "same.jpg")
    result = _sign(first, second, "--generator", "g", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == (
        f"failed  {second}: same.jpg was already written for {first} in this run; rename one of them"
    )


def test_usage_errors_exit_2_without_signing(keys_env, media_samples, tmp_path):
    missing_generator = _sign(media_samples["JPEG"], "--out", tmp_path / "o1")
    assert missing_generator.exit_code == 2
    assert "--generator" in missing_generator.output

    no_out = _sign(media_samples["JPEG"], "--generator", "g")
    assert no_out.exit_code == 2
    assert "--out FOLDER is required" in no_out.stderr

    bad_type = _sign(media_samples["JPEG"], "--generator", "g", "--out", tmp_path / "o2", "--source-type", "magic")
    assert bad_type.exit_code == 2
    assert "unknown digital source type 'magic'" in bad_type.stderr

    bad_parent = tmp_path / "parent.txt"
    bad_parent.write_text("text")
    unsupported_parent = _sign(
        media_samples["JPEG"], "--generator", "g", "--out", tmp_path / "o3", "--parent", bad_parent
    )
    assert unsupported_parent.exit_code == 2
    assert f"--parent {bad_parent}: not a supported media format" in unsupported_parent.stderr
    assert not (tmp_path / "o3").exists() or list((tmp_path / "o3").iterdir()) == []


def test_unusable_keys_are_shown_as_problem_and_fix_with_exit_2(monkeypatch, media_samples, tmp_path):
    monkeypatch.delenv("ORIGINMARK_SIGNING_CHAIN", raising=False)
    monkeypatch.delenv("ORIGINMARK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("ORIGINMARK_KEYS_DIR", str(tmp_path / "no-keys"))
    result = _sign(media_samples["JPEG"], "--generator", "g", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert "Fix:" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_sidecar_next_to_the_untouched_file(keys_env, media_samples, read_back, tmp_path):
    source = tmp_path / "clip.wav"
    shutil.copyfile(media_samples["WAV"], source)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    result = _sign(source, "--generator", "Acme Voice", "--sidecar")
    assert result.exit_code == 0, result.output
    sidecar = tmp_path / "clip.c2pa"
    assert result.stdout.startswith(f"signed  {source} -> {sidecar}  (WAV, ")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    assert read_back(source, mime="audio/wav", manifest_data=sidecar.read_bytes()).state == "Trusted"


def test_parent_source_type_title_and_thumbnails_reach_the_manifest(keys_env, media_samples, read_back, tmp_path):
    result = _sign(
        media_samples["JPEG"],
        "--generator",
        "Acme Inpaint",
        "--out",
        tmp_path / "out",
        "--parent",
        media_samples["PNG"],
        "--title",
        "Edited cat",
        "--thumbnails",
    )
    assert result.exit_code == 0, result.output
    assert "compositeWithTrainedAlgorithmicMedia" in result.stdout
    manifest = read_back(tmp_path / "out" / "gen.jpg", mime="image/jpeg").manifest
    assert manifest["claim.v2"]["dc:title"] == "Edited cat"
    assert manifest["assertions"]["c2pa.ingredient.v3"]["dc:title"] == "gen.png"
    assert [a["action"] for a in manifest["assertions"]["c2pa.actions.v2"]["actions"]] == ["c2pa.opened", "c2pa.edited"]
    assert "c2pa.thumbnail.claim" in manifest["assertions"]

    explicit = _sign(
        media_samples["GIF"], "--generator", "g", "--out", tmp_path / "out2", "--source-type", "algorithmicMedia"
    )
    assert explicit.exit_code == 0, explicit.output
    manifest = read_back(tmp_path / "out2" / "gen.gif", mime="image/gif").manifest
    assert manifest["assertions"]["c2pa.actions.v2"]["actions"][0]["digitalSourceType"].endswith("/algorithmicMedia")
    assert "c2pa.thumbnail.claim" not in manifest["assertions"]


def test_hostile_file_names_are_printed_inert(keys_env, make_jpeg, tmp_path):
    hostile = make_jpeg(tmp_path / "[bold red]x \x1b[31mred\x1b[0m \u202eevil.jpg")  # no "/" in a file name
    result = _sign(hostile, "--generator", "[link=https://evil.example]g[/link]", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "[bold red]x" in result.stdout


def test_a_malformed_image_the_engine_would_sign_is_refused(keys_env, make_jpeg, tmp_path):
    # Found by tests/fuzz: a JPEG whose start-of-image marker repeats is signed by the engine into
    # output whose own credentials verify as invalid. Its pixels cannot be decoded either, so it is
    # refused before anything is written (no fingerprint for its soft binding: docs/soft-bindings.md).
    good = make_jpeg(tmp_path / "good.jpg")
    malformed = tmp_path / "twice.jpg"
    malformed.write_bytes(b"\xff\xd8" + good.read_bytes())
    out = tmp_path / "out"
    result = _sign(malformed, good, "--generator", "g", "--out", out)
    assert result.exit_code == 1, result.output
    failed, signed = result.stdout.splitlines()
    assert failed.startswith(f"failed  {malformed}: twice.jpg is a JPEG file whose image cannot be decoded (")
    assert "re-encode it and retry (nothing was written)" in failed
    assert signed.startswith("signed  ")
    assert sorted(p.name for p in out.iterdir()) == ["good.jpg"]


def test_credentials_a_file_carries_are_kept_unless_replaced(keys_env, shared_dir, read_back, tmp_path):
    firefly = tmp_path / "firefly.jpg"
    shutil.copyfile(shared_dir / "corpus" / "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg", firefly)
    kept = _sign(firefly, "--generator", "Acme Upscaler", "--out", tmp_path / "kept")
    assert kept.exit_code == 0, kept.output
    assert "(JPEG, trainedAlgorithmicMedia, kept credentials, urn:c2pa:" in kept.stdout
    manifest = read_back(tmp_path / "kept" / "firefly.jpg", mime="image/jpeg").manifest
    assert manifest["assertions"]["c2pa.ingredient.v3"]["relationship"] == "parentOf"
    assert [a["action"] for a in manifest["assertions"]["c2pa.actions.v2"]["actions"]] == ["c2pa.opened", "c2pa.edited"]

    replaced = _sign(firefly, "--generator", "Acme Upscaler", "--replace-credentials", "--out", tmp_path / "new")
    assert replaced.exit_code == 0, replaced.output
    assert "replaced credentials" in replaced.stdout
    manifest = read_back(tmp_path / "new" / "firefly.jpg", mime="image/jpeg").manifest
    assert "c2pa.ingredient.v3" not in manifest["assertions"]


def test_credentials_that_cannot_be_kept_fail_that_file(keys_env, shared_dir, tmp_path):
    broken = shared_dir / "corpus" / "c2pa-js-legacy/tools/testing/fixtures/images/E-clm-CAICAI.jpg"
    result = _sign(broken, "--generator", "g", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "ingredient.manifest.missing" in result.stdout and "replace_credentials" in result.stdout
    assert list((tmp_path / "out").iterdir()) == []
