"""Signing with an RFC 3161 time-stamping authority: a credential carries a token, or nothing is signed.

All against the local TSA (tests/tsa) and the real engine. A TSA that fails in any way the
tests can make it fail — an HTTP 500, bytes that are not a response, a token for another
nonce or another digest, a rejection, a closed port, no answer at all — fails the signature
after the configured retries, and no output file is left behind.
"""

from __future__ import annotations

from pathlib import Path

import c2pa
import pytest

from signer.engine import ContentSigner, SignerOptions
from signer.errors import SigningError, TimeStampUnavailable
from signer.manifest import GenerationRequest
from signer.time_stamping import TimeStampRetries, store_has_time_stamp, with_time_stamp_retries
from tests.tsa.server import TsaMode

# Starts the signature against a silent TSA (tests/tsa/fixtures.py) now, so the engine's 30 s wait
# overlaps these tests; tests/verifier/test_time_stamps.py, the last time-stamp module, collects it.
pytestmark = pytest.mark.usefixtures("silent_tsa_signature")

REQUEST = GenerationRequest(generator_name="time-stamp tests")
FAILURES = [
    TsaMode.HTTP_500,
    TsaMode.GARBAGE,
    TsaMode.WRONG_NONCE,
    TsaMode.WRONG_DIGEST,
    TsaMode.REJECTED,
    TsaMode.DOWN,
]


def _options(url: str, *, retries: int = 1) -> SignerOptions:
    return SignerOptions(time_stamp_url=url, time_stamp_retries=retries, time_stamp_retry_delay_seconds=0)


@pytest.fixture(scope="module")
def stamping_signer(signing_key, local_tsa_server):
    signer = ContentSigner(signing_key=signing_key, options=_options(local_tsa_server.url))
    yield signer
    signer.close()


def _time_stamp_info(read_back, path: Path, mime: str) -> dict:
    report = read_back(path, mime=mime)
    assert report.state == "Trusted" and report.failures == []
    return report.manifest["signature"].get("timeStampInfo") or {}


def test_the_start_up_probe_is_time_stamped(signing_key, local_tsa):
    signer = ContentSigner(signing_key=signing_key, options=_options(local_tsa.url))
    signer.close()
    assert local_tsa.requests == 1


def test_a_failing_tsa_stops_the_signer_at_start_up_without_retrying(signing_key, local_tsa):
    local_tsa.set_mode(TsaMode.HTTP_500)
    with pytest.raises(TimeStampUnavailable, match="status = 500"):
        ContentSigner(signing_key=signing_key, options=_options(local_tsa.url, retries=2))
    assert local_tsa.requests == 1  # the probe tries once: a wrong URL fails start-up at once


@pytest.mark.parametrize("format_name", ["JPEG", "PNG", "MP4"])
def test_every_signature_carries_a_token_from_the_tsa(
    stamping_signer, local_tsa, media_samples, read_back, tmp_path, format_name
):
    source = media_samples[format_name]
    result = stamping_signer.sign_file(source=source, destination=tmp_path / source.name, request=REQUEST)
    info = _time_stamp_info(read_back, result.destination, result.format.mime)
    assert info["certificateInfo"]["subject"]["CN"] == "originmark test TSA"  # tests/tsa/server.py's name
    assert info["timestamp"]  # the TSA's genTime
    assert local_tsa.requests == 1


def test_a_sidecar_carries_a_token_too(stamping_signer, local_tsa, media_samples, tmp_path):
    sidecar = tmp_path / "gen.c2pa"
    stamping_signer.sign_sidecar(source=media_samples["JPEG"], sidecar=sidecar, request=REQUEST)
    assert store_has_time_stamp(sidecar.read_bytes())
    assert local_tsa.requests == 1


@pytest.mark.parametrize("mode", FAILURES, ids=[m.value for m in FAILURES])
def test_a_failing_tsa_fails_the_signature_after_the_retries_and_leaves_nothing(
    stamping_signer, local_tsa, make_jpeg, tmp_path, mode
):
    source = make_jpeg(tmp_path / "source.jpg")
    local_tsa.set_mode(mode)
    with pytest.raises(TimeStampUnavailable) as caught:
        stamping_signer.sign_file(source=source, destination=tmp_path / "signed.jpg", request=REQUEST)
    assert "gave up after 2 attempts" in str(caught.value)
    assert local_tsa.url in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.jpg"]  # no output, no temp file
    assert local_tsa.requests == (0 if mode is TsaMode.DOWN else 2)


def test_a_tsa_that_fails_once_is_retried_and_the_signature_is_time_stamped(
    stamping_signer, local_tsa, make_jpeg, read_back, tmp_path
):
    local_tsa.fail_next(1, TsaMode.HTTP_500)
    result = stamping_signer.sign_file(
        source=make_jpeg(tmp_path / "source.jpg"), destination=tmp_path / "signed.jpg", request=REQUEST
    )
    assert _time_stamp_info(read_back, result.destination, "image/jpeg")["timestamp"]
    assert local_tsa.requests == 2


def test_with_no_retries_the_first_failure_is_final(signing_key, local_tsa, make_jpeg, tmp_path):
    signer = ContentSigner(signing_key=signing_key, options=_options(local_tsa.url, retries=0))
    local_tsa.fail_next(1, TsaMode.GARBAGE)
    with pytest.raises(TimeStampUnavailable) as caught:
        signer.sign_file(source=make_jpeg(tmp_path / "a.jpg"), destination=tmp_path / "b.jpg", request=REQUEST)
    signer.close()
    assert "gave up" not in str(caught.value) and "decode error" in str(caught.value)
    assert local_tsa.requests == 2  # the probe, then one attempt


def test_retries_wait_a_growing_delay_and_only_for_time_stamp_failures():
    waits: list[float] = []
    attempts: list[int] = []

    def failing() -> None:
        attempts.append(1)
        raise TimeStampUnavailable("the TSA failed")

    with pytest.raises(TimeStampUnavailable, match=r"gave up after 4 attempts"):
        with_time_stamp_retries(failing, retries=TimeStampRetries(retries=3, delay_seconds=0.5), sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0] and len(attempts) == 4

    def broken() -> None:
        attempts.append(1)
        raise SigningError("the file is broken")

    attempts.clear()
    with pytest.raises(SigningError, match="the file is broken"):
        with_time_stamp_retries(broken, retries=TimeStampRetries(retries=3), sleep=waits.append)
    assert len(attempts) == 1
    assert TimeStampRetries(retries=2, delay_seconds=1).worst_case_seconds() == 3 * 30 + 1 + 2


def test_retry_settings_are_checked_when_the_options_are_made():
    with pytest.raises(SigningError, match="retries must be 0..10"):
        SignerOptions(time_stamp_url="http://tsa.example", time_stamp_retries=11)
    with pytest.raises(SigningError, match="retry delay"):
        SignerOptions(time_stamp_url="http://tsa.example", time_stamp_retry_delay_seconds=-1)


def test_an_untimestamped_signature_is_refused_if_the_engine_ever_skips_the_tsa(
    signing_key, local_tsa, make_jpeg, tmp_path
):
    """c2pa-rs 0.91.3 never does (the failure tests above); this is the net under a later engine.

    Simulated with the real engine: the signer's engine-side Signer is swapped for one without
    the TSA URL after the start-up probe, which is what a silent fallback would produce.
    """
    signer = ContentSigner(signing_key=signing_key, options=_options(local_tsa.url))
    algorithm = c2pa.C2paSigningAlg.ES256
    signer._signer = c2pa.Signer.from_callback(signing_key.sign, algorithm, signing_key.chain_pem, None)
    with pytest.raises(TimeStampUnavailable, match="without a time-stamp"):
        signer.sign_file(source=make_jpeg(tmp_path / "a.jpg"), destination=tmp_path / "b.jpg", request=REQUEST)
    signer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_store_has_time_stamp_reads_only_the_active_manifest(content_signer, stamping_signer, media_samples, tmp_path):
    plain = tmp_path / "plain.c2pa"
    content_signer.sign_sidecar(source=media_samples["JPEG"], sidecar=plain, request=REQUEST)
    stamped = tmp_path / "stamped.c2pa"
    stamping_signer.sign_sidecar(source=media_samples["JPEG"], sidecar=stamped, request=REQUEST)
    assert store_has_time_stamp(stamped.read_bytes()) is True
    assert store_has_time_stamp(plain.read_bytes()) is False
    data = stamped.read_bytes()
    for broken in (b"", b"\x00" * 64, data[: len(data) // 2], data[:-40]):
        assert store_has_time_stamp(broken) is False


def test_credentials_in_the_tsa_url_are_not_shown(signing_key, local_tsa):
    port = local_tsa.url.split(":")[2].split("/")[0]
    local_tsa.set_mode(TsaMode.DOWN)
    url = f"http://operator:s3cret-token@127.0.0.1:{port}/tsa"
    with pytest.raises(TimeStampUnavailable) as caught:
        ContentSigner(signing_key=signing_key, options=_options(url))
    assert "s3cret-token" not in str(caught.value) and "s3cret-token" not in (caught.value.engine_message or "")
    assert f"http://***@127.0.0.1:{port}/tsa" in str(caught.value)


def _sign_command(env: dict[str, str], *args: str):
    from typer.testing import CliRunner

    from app.cli import cli

    return CliRunner().invoke(cli, ["sign", *args], env={"COLUMNS": "300", **env}, catch_exceptions=False)


def test_the_sign_command_fails_a_file_with_exit_1_when_the_tsa_fails_after_start_up(
    dev_credentials, local_tsa, make_jpeg, tmp_path
):
    env = {
        "ORIGINMARK_KEYS_DIR": str(dev_credentials.directory),
        "ORIGINMARK_TSA_URL": local_tsa.url,
        "ORIGINMARK_TSA_RETRIES": "1",
        "ORIGINMARK_TSA_RETRY_DELAY_SECONDS": "0",
    }
    source = make_jpeg(tmp_path / "gen.jpg")
    local_tsa.fail_after(1, TsaMode.HTTP_500)  # the start-up probe is stamped, the file is not
    result = _sign_command(env, str(source), "--generator", "Acme", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    assert "gave no usable time-stamp for gen.jpg" in result.output and "gave up after 2 attempts" in result.output
    assert "0 signed, 1 failed" in result.output
    assert list((tmp_path / "out").iterdir()) == []
    assert local_tsa.requests == 3
    local_tsa.reset()
    result = _sign_command(env, str(source), "--generator", "Acme", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["gen.jpg"]


def test_the_sign_command_does_not_start_while_the_tsa_is_down(dev_credentials, local_tsa, make_jpeg, tmp_path):
    local_tsa.set_mode(TsaMode.DOWN)
    env = {"ORIGINMARK_KEYS_DIR": str(dev_credentials.directory), "ORIGINMARK_TIME_STAMP_URL": local_tsa.url}
    source = make_jpeg(tmp_path / "gen.jpg")
    result = _sign_command(env, str(source), "--generator", "Acme", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output  # app/exit_codes.py: a signer that cannot start is exit 2
    assert "the signer cannot start: the time-stamping authority" in result.output


def test_the_time_stamp_settings(tmp_path, local_tsa_anchors):
    from pydantic import ValidationError

    from app.settings import Settings
    from app.wiring import build_signer_options, build_trust_policy

    settings = Settings(keys_dir=tmp_path, tsa_url="http://tsa.example/", tsa_trust_anchors=local_tsa_anchors)
    assert settings.time_stamp_url == "http://tsa.example/"  # ORIGINMARK_TSA_URL is another name for it
    options = build_signer_options(settings)
    assert (options.time_stamp_url, options.time_stamp_retries, options.time_stamp_retry_delay_seconds) == (
        "http://tsa.example/",
        2,
        1.0,
    )
    tsa_list = build_trust_policy(settings).list_named("local-tsa")
    assert tsa_list.kind.value == "tsa" and tsa_list.anchors_pem == local_tsa_anchors.read_text()
    with pytest.raises(ValidationError, match="name different time-stamping authorities"):
        Settings(time_stamp_url="http://a.example/", tsa_url="http://b.example/")
    with pytest.raises(ValidationError, match="can spend 127 s on a silent time-stamping authority"):
        Settings(time_stamp_url="http://a.example/", tsa_retries=3)  # 4 x 30 s + 1 + 2 + 4 > 120 s
    Settings(time_stamp_url="http://a.example/", tsa_retries=3, sign_timeout_seconds=180)
    with pytest.raises(FileNotFoundError):
        build_trust_policy(Settings(keys_dir=tmp_path, tsa_trust_anchors=tmp_path / "missing.pem"))
