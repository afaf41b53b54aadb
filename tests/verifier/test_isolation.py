"""IsolatedVerifier: worker processes bounded in memory and time, safe from many threads; batches streamed to them."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.verifier.hostile_assets import assertion_bomb, png_claiming_size
from verifier.errors import TrustPolicyError, VerifierClosedError, VerifierUnavailableError
from verifier.isolation import IsolatedVerifier, VerifyLimits, VerifyStream
from verifier.reader import Verifier, engine_version
from verifier.trust import default_trust_policy
from verifier.trust_spec import TrustKind, TrustList, TrustPolicySpec, default_trust_spec
from verifier.verdict import Verdict, VerdictError, VerdictState

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
NO_MANIFEST = "c2pa-rs/sdk/tests/fixtures/no_manifest.jpg"
TAMPERED = "public-testfiles/image/jpeg/adobe-20220124-XCA.jpg"
CA = "c2pa-rs/sdk/tests/fixtures/CA.jpg"
GENEROUS = VerifyLimits(timeout_seconds=30, memory_bytes=1024**3, max_asset_bytes=1024**3)
MB = 1024 * 1024


@pytest.fixture(scope="module")
def pool(policy):
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=2) as verifier:
        yield verifier


def _worker_children() -> set[int]:
    """Live (non-zombie) processes whose parent is this test process and that run a worker."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if (
            int(fields.get("PPid", "0")) == os.getpid()
            and b"_worker_entry" in cmdline
            and not fields["State"].startswith("Z")
        ):
            found.add(int(status.parent.name))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in state  # dead, waiting for init to reap it


def test_limits_are_checked():
    with pytest.raises(ValueError, match="timeout_seconds"):
        VerifyLimits(timeout_seconds=0, memory_bytes=MB, max_asset_bytes=1)
    with pytest.raises(ValueError, match="memory_bytes"):
        VerifyLimits(timeout_seconds=1, memory_bytes=0, max_asset_bytes=1)
    with pytest.raises(ValueError, match="max_asset_bytes"):
        VerifyLimits(timeout_seconds=1, memory_bytes=MB, max_asset_bytes=-1)
    with pytest.raises(ValueError, match="workers"):
        IsolatedVerifier(policy=default_trust_policy(), limits=GENEROUS, workers=0)


def test_pool_gives_the_same_verdicts_as_in_process(pool, policy, corpus):
    in_process = Verifier(policy=policy)
    for path in (FIREFLY, NO_MANIFEST, TAMPERED, "public-testfiles/image/jpeg/adobe-20220124-CAICAI.jpg"):
        assert pool.verify_file(corpus / path) == in_process.verify_file(corpus / path)


def test_a_spec_verifies_as_its_policy_does(pool, policy, corpus):
    # The CLI sends the spec (no certificate parsed in its process); the worker builds the same policy.
    with IsolatedVerifier(policy=default_trust_spec(), limits=GENEROUS, workers=1) as from_spec:
        for name in (FIREFLY, TAMPERED):
            assert from_spec.verify_file(corpus / name) == pool.verify_file(corpus / name)


def test_a_certificate_that_does_not_parse_is_a_trust_policy_error_at_start_up():
    unparseable = TrustList(
        name="mine",
        kind=TrustKind.MANIFEST,
        anchors_pem="-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        source="test",
    )
    spec = TrustPolicySpec.of([unparseable])  # only a parse finds it: the worker's
    with pytest.raises(TrustPolicyError, match="trust list 'mine' anchors is not valid PEM"):
        IsolatedVerifier(policy=spec, limits=GENEROUS, workers=1)


def test_the_owner_reports_the_workers_engine_version(pool, tmp_path):
    # The owner does not load the engine; its own verdicts name the version its workers report.
    assert pool.verify_file(tmp_path).engine_version == engine_version()
    assert "c2pa-rs" in engine_version()


def test_bad_paths_are_answered_without_a_worker(pool, tmp_path):
    assert "is a directory" in pool.verify_file(tmp_path).reason
    empty = tmp_path / "empty.png"
    empty.touch()
    assert pool.verify_file(empty).reason == "empty file: there is nothing to verify"
    assert pool.verify_file(tmp_path / "missing.jpg").reason == "the file could not be read: No such file or directory"


def test_four_threads_share_two_workers(pool, policy, corpus):
    paths = [corpus / p for p in (FIREFLY, NO_MANIFEST, TAMPERED, "c2pa-rs/sdk/tests/fixtures/CA.jpg")] * 6
    expected = {p: Verifier(policy=policy).verify_file(p) for p in set(paths)}
    with ThreadPoolExecutor(4) as threads:
        verdicts = list(threads.map(pool.verify_file, paths))
    assert verdicts == [expected[p] for p in paths]
    assert len(pool.worker_pids) == 2


def test_oversized_file_is_refused_without_the_engine(policy, corpus):
    limits = VerifyLimits(timeout_seconds=30, memory_bytes=1024**3, max_asset_bytes=1000)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1) as small:
        verdict = small.verify_file(corpus / FIREFLY)
    assert verdict.state is VerdictState.ERROR
    assert verdict.reason == "the file is 843562 bytes, over the limit of 1000 bytes; not verified"
    assert (verdict.size, verdict.sha256) == (843562, "")


def test_timeout_kills_the_worker_and_the_pool_keeps_working(policy, corpus, tmp_path):
    # A dedicated slow input: 1 GiB (sparse, so it costs no disk) takes far longer than
    # the limit to read and hash.
    slow = tmp_path / "slow.svg"
    with open(slow, "wb") as handle:
        handle.write(b'<svg xmlns="http://www.w3.org/2000/svg">')
        handle.truncate(1024 * MB)
    limits = VerifyLimits(timeout_seconds=0.3, memory_bytes=1024**3, max_asset_bytes=2 * 1024**3)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1) as bounded:
        (before,) = bounded.worker_pids
        started = time.monotonic()
        verdict = bounded.verify_file(slow)
        assert time.monotonic() - started < 10
        assert verdict.state is VerdictState.ERROR
        assert verdict.reason is not None
        assert verdict.reason.startswith("verification took longer than 0.3 s (the time limit per file)")
        assert verdict.size == 1024 * MB
        (after,) = bounded.worker_pids
        assert after != before and _gone(before)
        assert bounded.verify_file(corpus / NO_MANIFEST).state is VerdictState.NONE


def test_memory_limit_stops_the_engine_and_the_pool_keeps_working(policy, corpus, tmp_path):
    # The engine reads a whole SVG into memory: 64 MB of it does not fit in 112 MB of
    # address space once the worker itself (~70 MB) is counted.
    heavy = tmp_path / "heavy.svg"
    with open(heavy, "wb") as handle:
        handle.write(b'<svg xmlns="http://www.w3.org/2000/svg"><!-- ')
        block = b"x" * MB
        for _ in range(64):
            handle.write(block)
        handle.write(b" --></svg>")
    limits = VerifyLimits(timeout_seconds=30, memory_bytes=112 * MB, max_asset_bytes=1024**3)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1) as bounded:
        (before,) = bounded.worker_pids
        verdict = bounded.verify_file(heavy)
        assert verdict.state is VerdictState.ERROR
        assert verdict.reason is not None
        assert verdict.reason.startswith("the engine exceeded the memory limit (112 MB) or crashed")
        assert bounded.worker_pids != (before,)
        assert bounded.verify_file(corpus / FIREFLY).state is VerdictState.TRUSTED


def test_a_worker_killed_from_outside_is_replaced(policy, corpus):
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=1) as bounded:
        (victim,) = bounded.worker_pids
        os.kill(victim, signal.SIGKILL)
        assert bounded.verify_file(corpus / FIREFLY).state is VerdictState.TRUSTED
        assert bounded.worker_pids != (victim,)


def test_a_memory_limit_too_small_to_start_fails_at_construction(policy):
    before = _worker_children()
    limits = VerifyLimits(timeout_seconds=5, memory_bytes=16 * MB, max_asset_bytes=MB)
    with pytest.raises(VerifierUnavailableError, match="could not start|exited while starting"):
        IsolatedVerifier(policy=policy, limits=limits, workers=2)
    assert _worker_children() <= before


def test_close_stops_every_worker_and_is_idempotent(policy, corpus):
    before = _worker_children()
    verifier = IsolatedVerifier(policy=policy, limits=GENEROUS, workers=2)
    pids = set(verifier.worker_pids)
    assert len(pids) == 2 and pids <= _worker_children()
    assert verifier.verify_file(corpus / NO_MANIFEST).state is VerdictState.NONE
    verifier.close()
    verifier.close()
    assert all(_gone(pid) for pid in pids)
    assert _worker_children() <= before
    with pytest.raises(VerifierClosedError):
        verifier.verify_file(corpus / NO_MANIFEST)


def test_workers_die_with_their_owner(tmp_path):
    # The owner is SIGKILLed (no cleanup runs): its workers must not outlive it.
    script = tmp_path / "owner.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal
            from verifier.isolation import IsolatedVerifier, VerifyLimits
            from verifier.trust import default_trust_policy
            limits = VerifyLimits(timeout_seconds=5, memory_bytes=1024**3, max_asset_bytes=10**9)
            pool = IsolatedVerifier(policy=default_trust_policy(), limits=limits, workers=2)
            print(*pool.worker_pids, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            """
        )
    )
    owner = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert owner.returncode == -signal.SIGKILL
    pids = [int(pid) for pid in owner.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in pids)


def test_the_owner_unpickles_only_verdicts_from_a_worker():
    # Workers parse hostile input in native code: a worker that were ever subverted
    # must not be able to make its owner run code through a crafted reply.
    import pickle

    from verifier.isolation import _load_reply

    with pytest.raises(pickle.UnpicklingError, match="forbidden object: posix.system"):
        _load_reply(pickle.dumps(os.system))
    with pytest.raises(pickle.UnpicklingError, match="forbidden object"):
        _load_reply(pickle.dumps(subprocess.Popen))


def test_manifest_store_of_cuts_out_and_reads_a_store_in_a_worker(pool, corpus, tmp_path):
    from verifier.manifest_store import read_manifest_store

    kept = pool.manifest_store_of(corpus / "c2pa-rs/sdk/tests/fixtures/CA.jpg")
    assert kept is not None
    contents = read_manifest_store(kept.store)
    assert contents is not None and kept.active_manifest == contents.active_manifest
    assert pool.manifest_store_of(corpus / NO_MANIFEST) is None
    # A JPEG whose APP11 segment claims more than the file holds: None, and the pool still answers.
    hostile = tmp_path / "hostile.jpg"
    hostile.write_bytes(b"\xff\xd8\xff\xeb\xff\xffJP\x00\x01\x00\x00\x00\x01" + b"\x00" * 64)
    assert pool.manifest_store_of(hostile) is None
    assert pool.manifest_store_of(corpus / "c2pa-rs/sdk/tests/fixtures/CA.jpg") == kept


def test_a_worker_fingerprints_a_video_s_key_frames_as_the_owner_would(pool, tmp_path):
    from tests.videos import write_scenes_video
    from verifier.video_fingerprint import fingerprint_video

    video = write_scenes_video(tmp_path / "scenes.mp4")
    codes = pool.fingerprint_video_file(video)
    # The key frames with their descriptors; no Video-Code (lookups search the key frames' codes).
    assert codes == fingerprint_video(video, code_bounds=None)
    assert len({frame.fingerprint.code64 for frame in codes.key_frames}) == 4  # one key frame per scene
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(2000))
    assert pool.fingerprint_video_file(garbage) is None
    assert pool.fingerprint_video_file(video) == codes  # the worker is still serving


def test_a_worker_computes_a_video_s_video_code_as_the_owner_would(pool, tmp_path):
    """Asked by a lookup whose key frames found nothing: the same code as in-process; None for a file
    FFmpeg refuses, and the worker still serves."""
    from tests.videos import write_scenes_video
    from verifier.video_code import video_code

    video = write_scenes_video(tmp_path / "scenes.mp4")
    code = pool.video_code_file(video)
    assert code is not None and code == video_code(video, duration_ms=None)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(2000))
    assert pool.video_code_file(garbage) is None
    assert pool.video_code_file(video) == code


# --- a batch: IsolatedVerifier.stream(), two files in flight per worker ---
#
# Same verdicts as `verify_file`, file by file; a file that times out or kills its worker is an
# `error` verdict and the file queued behind it on that worker is verified by the replacement.


def _drain(stream: VerifyStream[int], paths: list[Path]) -> dict[int, Verdict]:
    """Submit every path (tagged with its index) as room allows; every verdict, by tag."""
    verdicts: dict[int, Verdict] = {}

    def collect() -> None:
        for tag, answer in stream.wait():
            assert isinstance(answer, Verdict)  # every job here is a file to verify
            verdicts[tag] = answer

    for index, path in enumerate(paths):
        while not stream.has_room():
            collect()
        stream.submit(index, path)
    while stream.pending:
        collect()
    assert stream.wait() == []  # nothing left: it does not block
    return verdicts


def _worker_with_open(pids: tuple[int, ...], path: Path, *, within: float = 30.0) -> int:
    """The worker that has `path` open (it works on it), as soon as one has."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for pid in pids:
            try:
                targets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            except OSError:
                continue  # a descriptor closed meanwhile
            if str(path) in targets:
                return pid
        time.sleep(0.01)
    raise AssertionError(f"no worker opened {path} within {within} s")


def test_a_stream_gives_every_file_the_verdict_verify_file_gives(policy, corpus, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.touch()
    paths = [corpus / name for name in (FIREFLY, NO_MANIFEST, TAMPERED, CA)] * 3 + [tmp_path, empty]
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=2) as verifier:
        expected = [verifier.verify_file(path) for path in paths]
        with verifier.stream() as stream:
            verdicts = _drain(stream, paths)
        assert [verdicts[index] for index in range(len(paths))] == expected
        assert "is a directory" in (verdicts[len(paths) - 2].reason or "")
        # The batch gave its workers back: single calls work again, on the same two processes.
        pids = verifier.worker_pids
        assert verifier.verify_file(corpus / FIREFLY).state is VerdictState.TRUSTED
        assert verifier.worker_pids == pids


def test_a_stream_answers_recovery_s_jobs_as_the_single_calls_do(pool, corpus, tmp_path):
    """Fingerprints (image, video) and kept-store validations queued among files to verify: each
    answer is what fingerprint_file, fingerprint_video_file and verify_manifest_store give."""
    from tests.videos import write_scenes_video

    video = write_scenes_video(tmp_path / "scenes.mp4")
    kept = pool.manifest_store_of(corpus / CA)
    assert kept is not None
    store = tmp_path / "kept.c2pa"
    store.write_bytes(kept.store)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + os.urandom(500))
    expected = {
        "verify": pool.verify_file(corpus / FIREFLY),
        "image": pool.fingerprint_file(corpus / FIREFLY),
        "video": pool.fingerprint_video_file(video),
        "store": pool.verify_manifest_store(store),
        "undecodable": None,
        "verify again": pool.verify_file(corpus / NO_MANIFEST),
    }
    assert expected["image"] is not None and expected["video"] is not None
    assert expected["store"].manifests  # a store the engine read
    answers: dict[str, object] = {}
    with pool.stream() as stream:
        submissions = [
            lambda: stream.submit("verify", corpus / FIREFLY),
            lambda: stream.submit_fingerprint("image", corpus / FIREFLY),
            lambda: stream.submit_video_fingerprint("video", video),
            lambda: stream.submit_store("store", store),
            lambda: stream.submit_fingerprint("undecodable", garbage),
            lambda: stream.submit("verify again", corpus / NO_MANIFEST),
        ]
        for submit in submissions:
            while not stream.has_room():
                answers.update(stream.wait())
            submit()
        while stream.pending:
            answers.update(stream.wait())
    assert answers == expected


def test_a_worker_crashing_on_a_file_is_that_file_s_error_and_the_file_queued_behind_it_is_verified(policy, corpus):
    bomb = assertion_bomb()  # keeps the engine busy for seconds: time to crash its worker on it
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=1) as verifier:
        (before,) = verifier.worker_pids
        with verifier.stream() as stream:
            stream.submit("bomb", bomb)
            stream.submit("next", corpus / FIREFLY)  # waits in the same worker's socket
            assert not stream.has_room()
            os.kill(_worker_with_open((before,), bomb), signal.SIGSEGV)  # as a fault in native code would
            verdicts = dict(stream.wait())
            while stream.pending:
                verdicts.update(stream.wait())
        crashed = verdicts["bomb"]
        assert crashed.state is VerdictState.ERROR and crashed.error_code is VerdictError.ENGINE_CRASH
        assert crashed.reason == "the engine crashed on this file (SIGSEGV); it was stopped"
        assert crashed.size == bomb.stat().st_size
        assert verdicts["next"].state is VerdictState.TRUSTED
        (after,) = verifier.worker_pids
        assert after != before


def test_a_file_over_the_time_limit_is_stopped_while_the_other_worker_carries_on(policy, corpus):
    limits = VerifyLimits(timeout_seconds=1.0, memory_bytes=1024**3, max_asset_bytes=1024**3)
    bomb = assertion_bomb()  # over 3 s on an idle machine
    paths = [corpus / NO_MANIFEST] * 3 + [bomb] + [corpus / FIREFLY, corpus / NO_MANIFEST] * 4
    with IsolatedVerifier(policy=policy, limits=limits, workers=2) as verifier:
        before = set(verifier.worker_pids)
        with verifier.stream() as stream:
            verdicts = _drain(stream, paths)
        stopped = verdicts[3]
        assert stopped.error_code is VerdictError.RESOURCE_LIMIT
        assert stopped.reason is not None and stopped.reason.startswith("verification took longer than 1 s")
        others = [verdicts[index].state for index in range(len(paths)) if index != 3]
        assert others == [VerdictState.NONE] * 3 + [VerdictState.TRUSTED, VerdictState.NONE] * 4
        after = set(verifier.worker_pids)
        assert len(after) == 2 and len(after & before) == 1  # the stuck worker, and only it, was replaced


def test_a_worker_gone_before_its_file_is_replaced_and_the_file_verified(policy, corpus):
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=1) as verifier:
        (victim,) = verifier.worker_pids
        os.kill(victim, signal.SIGKILL)  # an operator or the OOM killer, while it waited
        time.sleep(0.1)
        with verifier.stream() as stream:
            verdicts = _drain(stream, [corpus / FIREFLY, corpus / TAMPERED])
        assert [verdicts[0].state, verdicts[1].state] == [VerdictState.TRUSTED, VerdictState.INVALID]
        assert verifier.worker_pids != (victim,)


def test_a_batch_left_with_files_in_flight_stops_those_workers_and_the_verifier_goes_on(policy, corpus):
    bomb = assertion_bomb()
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=2) as verifier:
        before = set(verifier.worker_pids)
        started = time.monotonic()
        with verifier.stream() as stream:
            stream.submit(0, bomb)
            stream.submit(1, corpus / NO_MANIFEST)
            _worker_with_open(tuple(before), bomb)
        # Left at once (an interrupt, a closed pipe): no waiting for the bomb, whose worker is gone.
        assert time.monotonic() - started < 3
        # Both had a file in flight: both were stopped, and each is replaced when next used (a stale
        # reply never answers a later call).
        assert verifier.verify_file(corpus / FIREFLY).state is VerdictState.TRUSTED
        assert verifier.verify_file(corpus / TAMPERED).state is VerdictState.INVALID
        assert set(verifier.worker_pids).isdisjoint(before) and len(verifier.worker_pids) == 2


def test_a_worker_makes_a_feed_thumbnail_and_refuses_a_bomb_from_its_header(pool, corpus, tmp_path):
    import pickle

    from PIL import Image

    from verifier.isolation import _THUMBNAIL, _load_thumbnail
    from verifier.thumbnail import Picture

    picture = pool.thumbnail_of(corpus / FIREFLY)
    assert isinstance(picture, Picture) and picture.actions == ("c2pa.resized.proportional",)
    with Image.open(io.BytesIO(picture.content)) as image:
        assert image.format == "JPEG" and max(image.size) == 320 and image.size == (picture.width, picture.height)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming_size(20_000, 20_000))
    reason = pool.thumbnail_of(bomb)
    assert isinstance(reason, str) and "pixels" in reason
    assert pool.thumbnail_of(corpus / FIREFLY) == picture  # the pool still answers
    # A reply that is not a thumbnail's shape is refused by the owner.
    for bad in (
        (_THUMBNAIL, b"x" * (2 * 1024 * 1024), 10, 10, ("c2pa.resized.proportional",)),
        (_THUMBNAIL, b"jpeg", 10_000, 10, ("c2pa.resized.proportional",)),
        (_THUMBNAIL, b"jpeg", 10, 10, ("c2pa.created",)),
    ):
        with pytest.raises(pickle.UnpicklingError):
            _load_thumbnail(pickle.dumps(bad))
