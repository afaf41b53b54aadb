"""`originmark verify --recover`: a stripped copy is matched to its kept manifest store in the local
database's repository; without --recover, or for an unrelated picture, nothing is recovered."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings
from app.store.interface import DEFAULT_TENANT
from app.store.migrate import upgrade_database
from app.store.sql import open_store
from app.wiring import build_content_signer, build_manifest_keeper
from signer.engine import SignResult
from signer.manifest import GenerationRequest


def _picture(path: Path, variant: int) -> Path:
    left = -2.0 + 0.37 * variant
    image = Image.effect_mandelbrot((320, 240), (left, -1.2, left + 2.4, 1.2), 40 + variant).convert("RGB")
    image.save(path, "JPEG", quality=92)
    return path


def _stripped(signed: Path, out: Path) -> Path:
    buffer = io.BytesIO()
    Image.open(signed).convert("RGB").save(buffer, "JPEG", quality=70)
    out.write_bytes(buffer.getvalue())
    return out


def _keep(settings: Settings, url: str, result: SignResult) -> None:
    """The signed store kept in the repository, as `serve` keeps what it signs."""
    assert result.manifest_label is not None and result.soft_binding is not None
    with open_store(url) as store:
        keeper = build_manifest_keeper(settings, store)
        store.repository.add_entry(
            keeper.signed_entry(
                tenant=DEFAULT_TENANT,
                manifest_id=result.manifest_label,
                asset_sha256="0" * 64,
                manifest_store=result.manifest_store,
                fingerprint=result.soft_binding,
            )
        )


@pytest.fixture
def home(dev_credentials, tmp_path) -> tuple[dict[str, str], str]:
    """A database whose repository keeps one signed store (as `serve` would), and the signed file."""
    url = f"sqlite:///{tmp_path}/originmark.db"
    upgrade_database(url)
    env = {"ORIGINMARK_KEYS_DIR": str(dev_credentials.directory), "ORIGINMARK_DATABASE_URL": url, "COLUMNS": "200"}
    settings = Settings(keys_dir=dev_credentials.directory, database_url=url, spool_dir=tmp_path)
    signed = tmp_path / "signed.jpg"
    result = build_content_signer(settings).sign_file(
        source=_picture(tmp_path / "gen.jpg", 0),
        destination=signed,
        request=GenerationRequest(generator_name="Acme Diffusion"),
    )
    assert result.manifest_label is not None and result.soft_binding is not None
    _keep(settings, url, result)
    return env, result.manifest_label


def _run(env: dict[str, str], *args: object):
    return CliRunner().invoke(cli, ["verify", "-f", "jsonl", *map(str, args)], env=env, catch_exceptions=False)


def test_recover_finds_the_kept_manifest_of_a_stripped_copy(home, tmp_path):
    env, manifest_id = home
    copy = _stripped(tmp_path / "signed.jpg", tmp_path / "copy.jpg")

    plain = json.loads(_run(env, copy).stdout)
    assert plain["state"] == "none" and plain["recovered"] is None

    result = _run(env, "--recover", copy, _picture(tmp_path / "other.jpg", 5))
    assert result.exit_code == 0, result.output
    found, unrelated = (json.loads(line) for line in result.stdout.splitlines())
    assert found["state"] == "none" and found["recovered"]["manifest_id"] == manifest_id
    assert found["recovered"]["state"] == "trusted" and found["label"]["recovered"] is True
    assert found["label"]["text"] == "AI-generated · credentials found by content match"
    assert unrelated["recovered"] is None and unrelated["label"]["recovered"] is False


def test_recover_without_a_database_says_so_and_exits_2(dev_credentials, tmp_path):
    env = {
        "ORIGINMARK_KEYS_DIR": str(dev_credentials.directory),
        "ORIGINMARK_DATABASE_URL": f"sqlite:///{tmp_path}/missing.db",
    }
    result = _run(env, "--recover", _picture(tmp_path / "x.jpg", 1))
    assert result.exit_code == 2
    assert "database" in result.stderr and result.stdout == ""


def test_recover_prints_the_same_records_with_one_or_two_jobs(home, tmp_path):
    """A mixed batch through the streaming pool with recovery: stripped copies (JPEG at two
    qualities, PNG) found, the signed file itself (trusted: never looked up), unrelated pictures,
    a file that is no media and a missing path; byte-identical records for --jobs 1 and 2."""
    env, manifest_id = home
    signed = tmp_path / "signed.jpg"
    pixels = Image.open(signed).convert("RGB")
    batch = tmp_path / "batch"
    batch.mkdir()
    pixels.save(batch / "a-copy-q70.jpg", "JPEG", quality=70)
    pixels.save(batch / "b-copy-q90.jpg", "JPEG", quality=90)
    pixels.save(batch / "c-copy.png", "PNG")
    (batch / "d-signed.jpg").write_bytes(signed.read_bytes())
    for variant in (3, 5, 7):
        _picture(batch / f"e-other-{variant}.jpg", variant)
    (batch / "f-notes.txt").write_text("not media\n")
    missing = tmp_path / "gone.jpg"
    spool = tmp_path / "spool"  # where the kept stores are written for the engine to validate
    spool.mkdir()
    env = {**env, "ORIGINMARK_SPOOL_DIR": str(spool)}

    one = _run(env, "--recover", "--jobs", "1", batch, missing)
    two = _run(env, "--recover", "--jobs", "2", batch, missing)

    assert one.exit_code == two.exit_code == 2, one.output  # the missing path
    assert one.stdout == two.stdout
    records = {Path(record["path"]).name: record for record in map(json.loads, one.stdout.splitlines())}
    assert list(records) == sorted(path.name for path in batch.iterdir()) + ["gone.jpg"]
    found = {name for name, record in records.items() if record["recovered"] is not None}
    assert found == {"a-copy-q70.jpg", "b-copy-q90.jpg", "c-copy.png"}
    for name in found:
        assert records[name]["recovered"]["manifest_id"] == manifest_id
        assert records[name]["label"]["recovered"] is True
    assert records["d-signed.jpg"]["state"] == "trusted"
    assert records["f-notes.txt"]["state"] == "error" and records["gone.jpg"]["state"] == "error"
    assert list(spool.iterdir()) == []  # every kept store's spool file removed


def test_recover_finds_a_cut_video_by_its_video_code_through_the_pool(dev_credentials, tmp_path):
    """A video copy cut by 1 s, whose key frames find nothing (tests/api/test_video_recovery.py's hard
    case): the streaming pool's workers compute its Video-Code when recovery asks for it, and the copy
    is recovered, the same with one job and with two."""
    from app.usecases.video_code_match import VIDEO_CODE_RADIUS
    from tests.videos import cut_copy, write_scenes_video

    url = f"sqlite:///{tmp_path}/originmark.db"
    upgrade_database(url)
    env = {"ORIGINMARK_KEYS_DIR": str(dev_credentials.directory), "ORIGINMARK_DATABASE_URL": url, "COLUMNS": "200"}
    settings = Settings(keys_dir=dev_credentials.directory, database_url=url, spool_dir=tmp_path)
    source = write_scenes_video(
        tmp_path / "scenes.mp4", seeds=(0, 1), size=(640, 360), fps=30, frames_per_scene=90, gop=60, grain=0.15, pan=2
    )
    signed = tmp_path / "signed.mp4"
    result = build_content_signer(settings).sign_file(
        source=source, destination=signed, request=GenerationRequest(generator_name="Acme Video")
    )
    assert result.manifest_label is not None and result.soft_binding is not None
    _keep(settings, url, result)
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(cut_copy(signed.read_bytes(), tmp_path, cut_seconds=1))

    one = _run(env, "--recover", "--jobs", "1", copy)
    two = _run(env, "--recover", "--jobs", "2", copy)

    assert one.exit_code == two.exit_code == 0, one.output
    assert one.stdout == two.stdout
    record = json.loads(one.stdout)
    assert record["recovered"]["manifest_id"] == result.manifest_label
    assert 0 < record["recovered"]["distance"] <= VIDEO_CODE_RADIUS  # found by the Video-Code
    assert record["label"]["recovered"] is True


def _tampered(signed: Path, out: Path) -> Path:
    """The signed JPEG with one byte of its entropy-coded image data changed: its credentials are
    still there, its hard binding no longer matches (`invalid`)."""
    data = bytearray(signed.read_bytes())
    offset = 2
    while data[offset + 1] != 0xDA:  # walk the marker segments up to the start of scan
        offset += 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
    position = offset + 2 + int.from_bytes(data[offset + 2 : offset + 4], "big") + 200
    while data[position] >= 0xF0:  # never make (or break) a 0xFF marker byte
        position += 1
    data[position] ^= 0x01
    out.write_bytes(bytes(data))
    return out


def test_recover_keeps_an_invalid_verdict_when_the_repository_fails_and_exits_2(home, tmp_path):
    """The lookup of an `invalid` file fails (the database is broken): its record stays its own
    verdict, the reason says recovery could not be checked, and the run is not a success."""
    import sqlite3

    env, _ = home
    tampered = _tampered(tmp_path / "signed.jpg", tmp_path / "tampered.jpg")
    plain = _run(env, tampered)
    assert plain.exit_code == 1 and json.loads(plain.stdout)["state"] == "invalid"
    own = json.loads(plain.stdout)
    with sqlite3.connect(tmp_path / "originmark.db") as database:
        database.execute("DROP TABLE repository_buckets")

    result = _run(env, "--recover", tampered)

    assert result.exit_code == 2, result.output
    record = json.loads(result.stdout)
    assert record["state"] == "invalid" and record["recovered"] is None
    assert (record["sha256"], record["size"], record["label"]) == (own["sha256"], own["size"], own["label"])
    assert record["failure_codes"] == own["failure_codes"]
    assert record["reason"].startswith(own["reason"])
    assert "recovery could not be checked: the database is unavailable" in record["reason"]


class _StoreValidationFails:
    """A verifier that fingerprints images (the real code, in this process) but fails when asked to
    validate a kept store: the worker died, say."""

    def fingerprint_file(self, path: Path):
        from verifier.fingerprint import QUERY_VIEWS, fingerprint_image

        return fingerprint_image(path, views=QUERY_VIEWS)

    def fingerprint_video_file(self, path: Path):
        return None

    def video_code_file(self, path: Path):
        return None

    def verify_manifest_store(self, path: Path):
        assert path.is_file()  # the kept store, spooled for the engine
        raise RuntimeError("the worker died")


def test_a_failing_store_validation_removes_its_spool_file_at_once(home, tmp_path, dev_credentials):
    """`recover` raising out of a step closes the steps, so the kept store's spool file is gone
    before the caller has even let go of the exception."""
    from app.usecases.recovery import ContentRecovery
    from verifier.verdict import Verdict, VerdictState

    env, _ = home
    url = env["ORIGINMARK_DATABASE_URL"]
    copy = _stripped(tmp_path / "signed.jpg", tmp_path / "copy.jpg")
    spool = tmp_path / "recovery-spool"
    spool.mkdir()
    settings = Settings(keys_dir=dev_credentials.directory, database_url=url, spool_dir=spool)
    own = Verdict(
        state=VerdictState.NONE, sha256="1" * 64, size=copy.stat().st_size, engine_version="", format="image/jpeg"
    )
    with open_store(url) as store:
        recovery = ContentRecovery(
            keeper=build_manifest_keeper(settings, store), verifier=_StoreValidationFails(), spool_dir=spool
        )
        with pytest.raises(RuntimeError, match="the worker died") as failure:
            recovery.recover(tenant=DEFAULT_TENANT, path=copy, verdict=own)
        assert failure.value is not None  # still held (with the frames it went through)
        assert list(spool.iterdir()) == []
