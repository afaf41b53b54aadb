"""Bombs and remote manifests through the real served API (issue 4: isolation and network).

The app is served over real HTTP with real worker pools whose limits are set low (a 1 s time
limit and 112 MB of address space per worker, below what ORIGINMARK_* settings allow), so that
the crafted inputs of tests/verifier/hostile_assets.py exceed them quickly:
- POST /v1/verify of a bomb answers 200 with an `error` verdict, `error_code` `resource_limit`,
  and stores nothing; POST /v1/sign with a bomb answers 422 `resource_limit`;
- requests sent meanwhile are answered before the bomb's own answer;
- afterwards each pool has its size again (the stuck worker replaced) and the next call works;
- the same for a raw body read by the worker in shared memory instead of a spooled file, and a
  worker crashing on it (SIGSEGV) is an `engine_crash` verdict, never a 500.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.api.main import create_app
from app.wiring import build_signer_options, build_trust_policy
from app.worker_pools import WorkerPools, signing_certificate_fingerprint, trust_fingerprint
from signer.isolation import IsolatedSigner, SignLimits
from tests.verifier.hostile_assets import (
    MB,
    assertion_bomb,
    big_svg,
    bomb_credentials,
    listening,
    remote_manifest_asset,
)
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.reader import engine_version
from verifier.remote_manifest import RemoteManifestPolicy
from verifier.trust import default_trust_policy

from .helpers import ApiKeys, assert_error, jpeg_bytes, sign_form

TIME_LIMIT = 1.0  # the bomb takes the engine over 3 s (idle machine); a small JPEG a few ms
MEMORY_LIMIT = 112 * MB  # a worker needs ~75 MB; a 32 MB SVG needs more than the rest
SHARED_BYTES = 8 * MB  # each verifier worker's shared region (in its memory limit): raw bodies up to this


@pytest.fixture(scope="module")
def bounded_worker_pools(base_settings) -> Iterator[WorkerPools]:
    policy = build_trust_policy(base_settings)
    verifier = IsolatedVerifier(
        policy=policy,
        limits=VerifyLimits(timeout_seconds=TIME_LIMIT, memory_bytes=MEMORY_LIMIT, max_asset_bytes=1024 * MB),
        workers=2,
        shared_bytes=SHARED_BYTES,  # a raw body is read in memory, as in the service
    )
    signer = IsolatedSigner(
        chain_path=base_settings.chain_path,
        key_path=base_settings.key_path,
        options=build_signer_options(base_settings),
        limits=SignLimits(timeout_seconds=TIME_LIMIT, memory_bytes=MEMORY_LIMIT),
        workers=2,
    )
    worker_pools = WorkerPools(
        signer=signer,
        verifier=verifier,
        trust_fingerprint=trust_fingerprint(policy, engine=engine_version()),
        certificate_fingerprint=signing_certificate_fingerprint(base_settings.chain_path.read_bytes()),
    )
    yield worker_pools
    worker_pools.close()


def _serve(app_switch, make_settings, store, worker_pools) -> Iterator[httpx.Client]:
    switch, http = app_switch
    settings = make_settings(max_upload_bytes=48 * MB, verify_workers=2, sign_workers=2, sign_concurrency=4)
    with switch.installed(create_app(settings, store=store, worker_pools=worker_pools)):
        yield http


@pytest.fixture
def bounded(app_switch, make_settings, store, bounded_worker_pools) -> Iterator[httpx.Client]:
    yield from _serve(app_switch, make_settings, store, bounded_worker_pools)


def _post_verify(client: httpx.Client, token: str, data: bytes, name: str = "upload.jpg") -> httpx.Response:
    return client.post(
        "/v1/verify", headers=ApiKeys.header(token), files={"file": (name, data, "application/octet-stream")}
    )


def _post_raw_verify(client: httpx.Client, token: str, data: bytes) -> httpx.Response:
    headers = {**ApiKeys.header(token), "Content-Type": "image/jpeg"}
    return client.post("/v1/verify", params={"refresh": "true"}, content=data, headers=headers)


def _post_sign(client: httpx.Client, token: str, data: bytes, *, parent: bytes | None = None, name: str = "gen.jpg"):
    files = {"file": (name, data, "application/octet-stream")}
    if parent is not None:
        files["parent"] = ("parent.jpg", parent, "application/octet-stream")
    return client.post("/v1/sign", headers=ApiKeys.header(token), files=files, data=sign_form())


def _in_background(call) -> tuple[threading.Thread, dict]:
    """Run `call(client)` on its own connection; the outcome records the response and when it came."""
    outcome: dict = {}

    def run() -> None:
        with httpx.Client(base_url=outcome["base_url"], timeout=60) as own:
            outcome["response"] = call(own)
            outcome["at"] = time.monotonic()

    return threading.Thread(target=run), outcome


def test_a_verify_time_bomb_is_an_error_verdict_while_the_service_carries_on(bounded, bounded_worker_pools, api_keys):
    bomb = assertion_bomb().read_bytes()
    before = set(bounded_worker_pools.verifier.worker_pids)
    thread, outcome = _in_background(lambda own: _post_verify(own, api_keys.verify, bomb))
    outcome["base_url"] = bounded.base_url
    thread.start()
    others = [_post_verify(bounded, api_keys.verify, jpeg_bytes()) for _ in range(2)]
    labels = bounded.get("/v1/labels", params={"media_id": "nothing-yet"}, headers=ApiKeys.header(api_keys.read))
    others_at = time.monotonic()
    thread.join(60)

    answer = outcome["response"]
    assert answer.status_code == 200, answer.text
    verdict = answer.json()["verdict"]
    assert verdict["state"] == "error"
    assert verdict["error_code"] == "resource_limit"
    assert verdict["reason"].startswith(f"verification took longer than {TIME_LIMIT:g} s")
    assert answer.json()["sha256"] == hashlib.sha256(bomb).hexdigest()
    assert [o.status_code for o in others] == [200, 200] and labels.status_code == 200
    assert {o.json()["verdict"]["state"] for o in others} == {"none"}
    assert others_at < outcome["at"]
    # Not stored: the same bytes will be tried again.
    stored = bounded.get(
        f"/v1/verdicts/sha256/{hashlib.sha256(bomb).hexdigest()}", headers=ApiKeys.header(api_keys.read)
    )
    assert stored.status_code == 404
    after = set(bounded_worker_pools.verifier.worker_pids)
    assert len(after) == 2 and len(after & before) == 1
    assert _post_verify(bounded, api_keys.verify, jpeg_bytes()).json()["verdict"]["state"] == "none"
    assert bounded.get("/readyz").status_code == 200


def test_a_verify_memory_bomb_is_an_error_verdict_and_the_pool_recovers(
    bounded, bounded_worker_pools, api_keys, tmp_path
):
    heavy = big_svg(tmp_path / "heavy.svg", 32).read_bytes()
    answer = _post_verify(bounded, api_keys.verify, heavy, name="heavy.svg")
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"]["state"] == "error"
    assert answer.json()["verdict"]["error_code"] == "resource_limit"
    assert len(bounded_worker_pools.verifier.worker_pids) == 2
    assert _post_verify(bounded, api_keys.verify, jpeg_bytes()).json()["verdict"]["state"] == "none"


def test_a_raw_body_time_bomb_read_in_memory_is_the_same_error_verdict(bounded, bounded_worker_pools, api_keys):
    bomb = assertion_bomb().read_bytes()
    assert len(bomb) <= SHARED_BYTES  # read by the worker in shared memory, not from the spool
    before = set(bounded_worker_pools.verifier.worker_pids)
    raw = _post_raw_verify(bounded, api_keys.verify, bomb)
    assert raw.status_code == 200, raw.text
    spooled = _post_verify(bounded, api_keys.verify, bomb)  # the same bytes from a file
    assert raw.json() == spooled.json()
    verdict = raw.json()["verdict"]
    # Stopped at the time limit (or, on a slow machine, the memory limit first: the same for both forms).
    assert (verdict["state"], verdict["error_code"]) == ("error", "resource_limit")
    assert verdict["size"] == len(bomb) and raw.json()["sha256"] == hashlib.sha256(bomb).hexdigest()
    stored = bounded.get(
        f"/v1/verdicts/sha256/{hashlib.sha256(bomb).hexdigest()}", headers=ApiKeys.header(api_keys.read)
    )
    assert stored.status_code == 404  # not stored: tried again next time
    after = set(bounded_worker_pools.verifier.worker_pids)
    assert len(after) == 2 and not after & before  # each stuck worker replaced
    assert _post_raw_verify(bounded, api_keys.verify, jpeg_bytes()).json()["verdict"]["state"] == "none"


def test_a_worker_crashing_on_a_raw_body_in_memory_is_an_engine_crash_verdict(bounded, bounded_worker_pools, api_keys):
    bomb = assertion_bomb().read_bytes()  # keeps a worker busy long enough to be crashed on it
    before = set(bounded_worker_pools.verifier.worker_pids)
    idle = {pid: _cpu_seconds(pid) for pid in before}
    thread, outcome = _in_background(lambda own: _post_raw_verify(own, api_keys.verify, bomb))
    outcome["base_url"] = bounded.base_url
    thread.start()
    deadline = time.monotonic() + 30
    busy = None
    while busy is None:
        assert time.monotonic() < deadline, "no worker started on the upload"
        busy = next((pid for pid in before if _cpu_seconds(pid) - idle[pid] > 0.1), None)
        time.sleep(0.01)
    os.kill(busy, signal.SIGSEGV)  # as a fault in native code would
    thread.join(60)
    answer = outcome["response"]
    assert answer.status_code == 200, answer.text
    verdict = answer.json()["verdict"]
    assert (verdict["state"], verdict["error_code"]) == ("error", "engine_crash")
    assert verdict["reason"] == "the engine crashed on this file (SIGSEGV); it was stopped"
    assert verdict["size"] == len(bomb) and answer.json()["sha256"] == hashlib.sha256(bomb).hexdigest()
    after = set(bounded_worker_pools.verifier.worker_pids)
    assert len(after) == 2 and busy not in after
    assert _post_raw_verify(bounded, api_keys.verify, jpeg_bytes()).json()["verdict"]["state"] == "none"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_sign_time_bomb_is_a_422_while_other_signatures_carry_on(bounded, bounded_worker_pools, api_keys):
    bomb = assertion_bomb().read_bytes()
    before = set(bounded_worker_pools.signer.worker_pids)
    thread, outcome = _in_background(lambda own: _post_sign(own, api_keys.sign, jpeg_bytes(), parent=bomb))
    outcome["base_url"] = bounded.base_url
    thread.start()
    others = [_post_sign(bounded, api_keys.sign, jpeg_bytes()) for _ in range(2)]
    others_at = time.monotonic()
    thread.join(60)

    error = assert_error(outcome["response"], 422, "resource_limit")
    assert f"took longer than {TIME_LIMIT:g} s" in error["message"]
    assert [o.status_code for o in others] == [200, 200]
    assert others_at < outcome["at"]
    after = set(bounded_worker_pools.signer.worker_pids)
    assert len(after) == 2 and len(after & before) == 1
    assert _post_sign(bounded, api_keys.sign, jpeg_bytes()).status_code == 200


def test_a_sign_memory_bomb_is_a_422_and_the_pool_recovers(bounded, bounded_worker_pools, api_keys, tmp_path):
    heavy = big_svg(tmp_path / "heavy.svg", 32).read_bytes()
    error = assert_error(_post_sign(bounded, api_keys.sign, heavy, name="heavy.svg"), 422, "resource_limit")
    assert "exceeded the memory limit (112 MB)" in error["message"]
    assert len(bounded_worker_pools.signer.worker_pids) == 2
    assert _post_sign(bounded, api_keys.sign, jpeg_bytes()).status_code == 200


def test_the_verdict_json_and_openapi_carry_the_error_code(client, api_keys):
    answer = _post_verify(client, api_keys.verify, b"\xff\xd8\xff" + b"\x00" * 300)
    assert answer.json()["verdict"]["error_code"] == "malformed"
    assert _post_verify(client, api_keys.verify, jpeg_bytes()).json()["verdict"]["error_code"] is None
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "resource_limit" in schema["VerdictError"]["enum"]
    assert "error_code" in schema["Verdict"]["properties"]


# --- network: remote manifests named by an upload ---


def test_a_remote_manifest_in_an_upload_is_not_fetched(client, api_keys):
    # The service as configured by default (ORIGINMARK_REMOTE_FETCH_HOSTS empty).
    with listening() as listener:
        url = listener.url()
        asset, _manifest = remote_manifest_asset(url)
        answer = _post_verify(client, api_keys.verify, asset)
        assert listener.connections() == 0
    verdict = answer.json()["verdict"]
    assert verdict["state"] == "error"
    assert verdict["error_code"] == "remote_manifest"
    assert url in verdict["reason"] and "were not fetched" in verdict["reason"]


def test_an_allowlisted_remote_manifest_is_fetched_and_verifies(
    app_switch, make_settings, store, bounded_worker_pools, api_keys
):
    with listening() as listener:
        asset, manifest = remote_manifest_asset(listener.url())
        listener.serve_http(manifest)
        verifier = IsolatedVerifier(
            policy=default_trust_policy(local_anchors_pem=bomb_credentials().ca_path.read_text()),
            limits=VerifyLimits(timeout_seconds=20, memory_bytes=1024 * MB, max_asset_bytes=1024 * MB),
            workers=1,
            remote_manifests=RemoteManifestPolicy.from_hosts([f"127.0.0.1:{listener.port}"]),
        )
        with verifier:
            worker_pools = dataclasses.replace(bounded_worker_pools, verifier=verifier)
            for client in _serve(app_switch, make_settings, store, worker_pools):
                answer = _post_verify(client, api_keys.verify, asset)
        assert listener.connections() == 1
    assert answer.json()["verdict"]["state"] == "trusted"
    assert answer.json()["verdict"]["trust_list"] == "local"
