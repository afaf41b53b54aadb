"""IsolatedSigner: signing in worker processes bounded in memory and time, same results as in-process."""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from keys.errors import KeyProblem
from signer.engine import SignerOptions
from signer.errors import DestinationUnwritable, SourceUnreadable, UnsupportedFormat
from signer.isolation import IsolatedSigner, SignerWorkersUnavailable, SigningLimitExceeded, SignLimits, _Setup
from signer.manifest import DigitalSourceType, GenerationRequest, PriorCredentials
from tests.verifier.hostile_assets import MB, assertion_bomb, big_svg
from verifier.fingerprint import INDEX_VIEWS, fingerprint_image
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

GENEROUS = SignLimits(timeout_seconds=30, memory_bytes=1024 * MB)
TIME_LIMIT = 1.0  # the bomb parent takes the engine several seconds; a small JPEG a few ms


def _signer(credentials, *, limits: SignLimits = GENEROUS, workers: int = 1) -> IsolatedSigner:
    return IsolatedSigner(
        chain_path=credentials.chain_path,
        key_path=credentials.key_path,
        options=SignerOptions(),
        limits=limits,
        workers=workers,
    )


@pytest.fixture(scope="module")
def pool(dev_credentials):
    with _signer(dev_credentials, workers=2) as signer:
        yield signer


@pytest.fixture(scope="module")
def verifier(dev_credentials):
    return Verifier(policy=default_trust_policy(local_anchors_pem=dev_credentials.ca_path.read_text()))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_signs_like_the_in_process_signer(pool, verifier, make_jpeg, tmp_path):
    source = make_jpeg(tmp_path / "gen.jpg")
    (tmp_path / "out").mkdir()
    result = pool.sign_file(
        source=source, destination=tmp_path / "out" / "gen.jpg", request=GenerationRequest(generator_name="Diffusion")
    )
    assert pool.probe.state == "Trusted"
    assert result.destination == tmp_path / "out" / "gen.jpg"
    assert result.format.name == "JPEG" and result.sidecar is False
    assert result.manifest_label and result.manifest_label.startswith("urn:c2pa:")
    assert result.bytes_written == result.destination.stat().st_size
    assert result.digital_source_type is DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA
    # Computed in the worker (with the views the repository indexes), checked on the way back.
    assert result.soft_binding == fingerprint_image(source, views=INDEX_VIEWS) and result.soft_binding.views
    verdict = verifier.verify_file(result.destination)
    assert verdict.state is VerdictState.TRUSTED and verdict.title == "gen.jpg"  # the real name, not the worker's
    assert _leftovers(tmp_path / "out") == []


def test_credentials_the_source_carries_are_kept_across_the_pipe(pool, verifier, shared_dir, tmp_path):
    source = shared_dir / "corpus" / "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
    (tmp_path / "out").mkdir()
    result = pool.sign_file(
        source=source, destination=tmp_path / "out" / "ff.jpg", request=GenerationRequest(generator_name="Upscaler")
    )
    assert result.prior_credentials is PriorCredentials.KEPT
    verdict = verifier.verify_file(result.destination)
    assert verdict.state is VerdictState.TRUSTED and len(verdict.manifests) == 2
    assert [i.relationship for i in verdict.ingredients] == ["parentOf"]
    assert result.replaced_manifest_label is None
    replaced = pool.sign_file(
        source=source,
        destination=tmp_path / "out" / "ff2.jpg",
        request=GenerationRequest(generator_name="Upscaler", replace_credentials=True),
    )
    assert replaced.prior_credentials is PriorCredentials.REPLACED
    assert replaced.replaced_manifest_label == "adobe:5468a4d3-0dc5-4550-8248-590eb7c520ec"  # for the audit log


def test_a_destination_in_the_scratch_folder_is_written_in_place(dev_credentials, verifier, make_jpeg, tmp_path):
    # The service's spool: the worker writes the request's folder itself (no private folder to make
    # and remove); the output is the same, under its own name, and nothing else is left there.
    spool = tmp_path / "spool"
    folder = spool / "request" / "signed"
    folder.mkdir(parents=True)
    source = make_jpeg(tmp_path / "gen.jpg")
    with IsolatedSigner(
        chain_path=dev_credentials.chain_path,
        key_path=dev_credentials.key_path,
        options=SignerOptions(scratch_dir=spool),
        limits=GENEROUS,
        workers=1,
    ) as signer:
        result = signer.sign_file(
            source=source, destination=folder / "gen.jpg", request=GenerationRequest(generator_name="Diffusion")
        )
    assert result.destination == folder / "gen.jpg" and result.bytes_written == result.destination.stat().st_size
    verdict = verifier.verify_file(result.destination)
    assert verdict.state is VerdictState.TRUSTED and verdict.title == "gen.jpg"
    assert sorted(p.name for p in folder.iterdir()) == ["gen.jpg"]


def test_an_ai_edit_with_a_relative_parent(pool, verifier, make_jpeg, tmp_path, monkeypatch):
    parent = make_jpeg(tmp_path / "original.jpg")
    make_jpeg(tmp_path / "edit.jpg", size=(30, 30))
    monkeypatch.chdir(tmp_path)
    result = pool.sign_file(
        source=Path("edit.jpg"),
        destination=Path("signed.jpg"),
        request=GenerationRequest(generator_name="Inpaint", parent=Path("original.jpg")),
    )
    assert result.parent == parent
    verdict = verifier.verify_file(tmp_path / "signed.jpg")
    assert verdict.state is VerdictState.TRUSTED
    assert [i.relationship for i in verdict.ingredients] == ["parentOf"]


def test_failures_come_back_as_the_same_error_types(pool, make_jpeg, tmp_path):
    request = GenerationRequest(generator_name="x")
    text = tmp_path / "notes.txt"
    text.write_text("not media")
    with pytest.raises(UnsupportedFormat) as unsupported:
        pool.sign_file(source=text, destination=tmp_path / "o.txt", request=request)
    assert "JPEG" in unsupported.value.supported
    with pytest.raises(SourceUnreadable):
        pool.sign_file(source=tmp_path / "missing.jpg", destination=tmp_path / "o.jpg", request=request)
    source = make_jpeg(tmp_path / "a.jpg")
    with pytest.raises(DestinationUnwritable, match="does not exist"):
        pool.sign_file(source=source, destination=tmp_path / "nowhere" / "a.jpg", request=request)
    with pytest.raises(DestinationUnwritable, match="never overwrites an original"):
        pool.sign_file(source=source, destination=source, request=request)
    assert _leftovers(tmp_path) == []


def test_threads_share_the_workers(pool, verifier, make_jpeg, tmp_path):
    sources = [make_jpeg(tmp_path / f"in{i}.jpg", size=(20 + i, 20)) for i in range(8)]
    (tmp_path / "out").mkdir()
    with ThreadPoolExecutor(4) as threads:
        results = list(
            threads.map(
                lambda s: pool.sign_file(
                    source=s, destination=tmp_path / "out" / s.name, request=GenerationRequest(generator_name="x")
                ),
                sources,
            )
        )
    assert [r.destination.name for r in results] == [s.name for s in sources]
    assert {verifier.verify_file(r.destination).state for r in results} == {VerdictState.TRUSTED}
    assert len(pool.worker_pids) == 2


def test_a_time_bomb_parent_is_stopped_and_the_pool_recovers(dev_credentials, make_jpeg, tmp_path):
    limits = SignLimits(timeout_seconds=TIME_LIMIT, memory_bytes=1024 * MB)
    source = make_jpeg(tmp_path / "edit.jpg")
    bomb = tmp_path / "parent.jpg"
    shutil.copyfile(assertion_bomb(), bomb)
    (tmp_path / "out").mkdir()
    with _signer(dev_credentials, limits=limits, workers=2) as signer:
        before = set(signer.worker_pids)
        failure: dict = {}

        def sign_bomb() -> None:
            try:
                signer.sign_file(
                    source=source,
                    destination=tmp_path / "out" / "bombed.jpg",
                    request=GenerationRequest(generator_name="x", parent=bomb),
                )
            except SigningLimitExceeded as error:
                failure["error"] = error
                failure["at"] = time.monotonic()

        thread = threading.Thread(target=sign_bomb)
        thread.start()
        # The other worker keeps signing meanwhile.
        others = [
            signer.sign_file(
                source=source,
                destination=tmp_path / "out" / f"ok{i}.jpg",
                request=GenerationRequest(generator_name="x"),
            )
            for i in range(3)
        ]
        others_at = time.monotonic()
        thread.join(30)
        assert str(failure["error"]).startswith(f"signing edit.jpg took longer than {TIME_LIMIT:g} s")
        assert others_at < failure["at"]
        assert all(r.bytes_written > 0 for r in others)
        after = set(signer.worker_pids)
        assert len(after) == 2 and len(after & before) == 1
        signer.sign_file(
            source=source, destination=tmp_path / "out" / "again.jpg", request=GenerationRequest(generator_name="x")
        )
    # Nothing of the stopped signature is left: no output, no temp file, no private folder.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["again.jpg", "ok0.jpg", "ok1.jpg", "ok2.jpg"]


def test_a_memory_bomb_is_stopped_and_the_pool_recovers(dev_credentials, make_jpeg, tmp_path):
    heavy = big_svg(tmp_path / "heavy.svg", 32)
    limits = SignLimits(timeout_seconds=30, memory_bytes=112 * MB)
    with _signer(dev_credentials, limits=limits) as signer:
        (before,) = signer.worker_pids
        with pytest.raises(SigningLimitExceeded, match=r"exceeded the memory limit \(112 MB\)"):
            signer.sign_file(
                source=heavy, destination=tmp_path / "out.svg", request=GenerationRequest(generator_name="x")
            )
        (after,) = signer.worker_pids
        assert after != before
        source = make_jpeg(tmp_path / "small.jpg")
        assert signer.sign_file(
            source=source, destination=tmp_path / "signed.jpg", request=GenerationRequest(generator_name="x")
        ).bytes_written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heavy.svg", "signed.jpg", "small.jpg"]


def test_the_key_never_crosses_the_pipe(dev_credentials, pool):
    # Workers are told where the credential is, never what it is.
    key_pem = dev_credentials.key_path.read_bytes()
    body = b"".join(line for line in key_pem.splitlines() if not line.startswith(b"-----"))
    setup = pool._setup
    assert isinstance(setup, _Setup)
    sent = pickle.dumps(setup)
    assert body[:40] not in sent and b"PRIVATE KEY" not in sent
    assert setup.key_path == os.path.abspath(dev_credentials.key_path)
    for pid in pool.worker_pids:
        assert b"PRIVATE KEY" not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_bad_credentials_fail_at_construction_with_the_loaders_error(dev_credentials, tmp_path):
    broken = tmp_path / "key.pem"
    broken.write_text("not a key")
    with pytest.raises(KeyProblem, match="contains no PEM private key"):
        IsolatedSigner(
            chain_path=dev_credentials.chain_path, key_path=broken, options=SignerOptions(), limits=GENEROUS, workers=1
        )


def test_a_memory_limit_too_small_to_start_fails_at_construction(dev_credentials):
    with pytest.raises(SignerWorkersUnavailable, match="could not start|exited while starting"):
        _signer(dev_credentials, limits=SignLimits(timeout_seconds=5, memory_bytes=16 * MB))


def test_close_stops_the_workers_and_refuses_more_work(dev_credentials, make_jpeg, tmp_path):
    signer = _signer(dev_credentials, workers=2)
    pids = signer.worker_pids
    signer.close()
    signer.close()
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "\nState:\tZ" in status.read_text()
    with pytest.raises(SignerWorkersUnavailable, match="closed"):
        signer.sign_file(
            source=make_jpeg(tmp_path / "a.jpg"),
            destination=tmp_path / "b.jpg",
            request=GenerationRequest(generator_name="x"),
        )


def test_limits_are_checked():
    with pytest.raises(ValueError, match="timeout_seconds"):
        SignLimits(timeout_seconds=0, memory_bytes=MB)
    with pytest.raises(ValueError, match="memory_bytes"):
        SignLimits(timeout_seconds=1, memory_bytes=0)
