"""The service with a time-stamping authority: stamped credentials, their verdicts, and 503 when the TSA fails.

A signer pool and a verifier pool of their own (one worker each) configured like production:
ORIGINMARK_TIME_STAMP_URL at the local TSA, its root as ORIGINMARK_TSA_TRUST_ANCHORS, one retry.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.api.main import create_app
from app.wiring import build_worker_pools
from app.worker_pools import WorkerPools
from tests.tsa.server import TsaMode

from .helpers import ApiKeys, assert_error, jpeg_bytes, sign_form

# Starts the signature against a silent TSA (tests/tsa/fixtures.py) now, so the engine's 30 s
# wait overlaps the rest of the run.
pytestmark = pytest.mark.usefixtures("silent_tsa_signature")


@pytest.fixture(scope="module")
def tsa_settings(base_settings, local_tsa_server, local_tsa_anchors):
    return base_settings.model_copy(
        update={
            "time_stamp_url": local_tsa_server.url,
            "tsa_trust_anchors": local_tsa_anchors,
            "tsa_retries": 1,
            "tsa_retry_delay_seconds": 0.0,
            "sign_workers": 1,
            "verify_workers": 1,
        }
    )


@pytest.fixture(scope="module")
def tsa_worker_pools(tsa_settings) -> Iterator[WorkerPools]:
    built = build_worker_pools(tsa_settings)
    yield built
    built.close()


@pytest.fixture
def tsa_client(tsa_settings, tsa_worker_pools, database_url, store, app_switch) -> Iterator[httpx.Client]:
    switch, http = app_switch
    app = create_app(
        tsa_settings.model_copy(update={"database_url": database_url}), store=store, worker_pools=tsa_worker_pools
    )
    with switch.installed(app):
        yield http


def _sign(client: httpx.Client, token: str, **fields: str) -> httpx.Response:
    files = {"file": ("gen.jpg", jpeg_bytes(seed=7), "image/jpeg")}
    return client.post("/v1/sign", headers=ApiKeys.header(token), files=files, data=sign_form(**fields))


def test_a_signed_upload_is_time_stamped_and_its_verdict_says_when_and_by_which_list(tsa_client, api_keys, local_tsa):
    signed = _sign(tsa_client, api_keys.sign)
    assert signed.status_code == 200, signed.text
    assert local_tsa.requests == 1
    stored = tsa_client.get(
        f"/v1/verdicts/sha256/{signed.headers['x-content-sha256']}", headers=ApiKeys.header(api_keys.read)
    ).json()["verdict"]
    assert stored["state"] == "trusted" and stored["trust_list"] == "local"
    stamp = stored["time_stamp"]
    assert stamp["trusted"] is True and stamp["trust_list"] == "local-tsa"
    assert stamp["authority"] == "originmark test TSA" and stamp["time"].endswith("Z")
    verified = tsa_client.post(
        "/v1/verify",
        headers=ApiKeys.header(api_keys.verify),
        files={"file": ("signed.jpg", signed.content, "image/jpeg")},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["verdict"]["time_stamp"] == stamp


@pytest.mark.parametrize("mode", [TsaMode.HTTP_500, TsaMode.WRONG_DIGEST, TsaMode.DOWN], ids=lambda m: m.value)
def test_a_failing_tsa_gives_503_time_stamp_unavailable_after_one_retry(tsa_client, api_keys, local_tsa, mode):
    local_tsa.set_mode(mode)
    error = assert_error(_sign(tsa_client, api_keys.sign), 503, "time_stamp_unavailable")
    assert local_tsa.url in error["message"] and "gave up after 2 attempts" in error["message"]
    assert local_tsa.requests == (0 if mode is TsaMode.DOWN else 2)
    local_tsa.reset()
    assert _sign(tsa_client, api_keys.sign).status_code == 200  # the service recovers with the TSA


def test_a_tsa_that_fails_once_costs_a_retry_not_the_request(tsa_client, api_keys, local_tsa):
    local_tsa.fail_next(1, TsaMode.GARBAGE)
    assert _sign(tsa_client, api_keys.sign).status_code == 200
    assert local_tsa.requests == 2
