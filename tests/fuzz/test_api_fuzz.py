"""Mutated corpus files through the HTTP API of a real server (`originmark serve` in a subprocess).

POST /v1/verify with the mutated file, POST /v1/sign with it as `file` and as `parent`.
Every answer must come within a bound, never be a 5xx, and be what the README documents:
a verdict body (`media_id, sha256, verdict, label, cached, kept_manifest_id`) or signed media, or the JSON
error shape with a 4xx. The server must stay up, and log no error.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.api.helpers import ApiKeys
from tests.fuzz.harness import FINDINGS, TEST_TIMEOUT_SECONDS, Case, Seed, draw_case, fuzz_settings, long_run_seed
from tests.fuzz.mutations import SPECIAL_INPUTS, HypothesisChooser
from tests.fuzz.server import VERIFY_TIMEOUT_SECONDS, FuzzedServer
from tests.security.checks import text_problems
from verifier.label_types import LabelKind
from verifier.verdict import VerdictState

# A sign request signs, then verifies its own output in a worker: two engine runs and a commit.
REQUEST_BOUND_SECONDS = 2 * VERIFY_TIMEOUT_SECONDS + 20
CLIENT_ERRORS = {400, 413, 415, 422, 429}
VERIFY_FIELDS = {"media_id", "sha256", "verdict", "label", "cached", "kept_manifest_id"}
STATES = {state.value for state in VerdictState}
KINDS = {kind.value for kind in LabelKind}
DEFAULT_EXAMPLES = {"verify": 200, "sign file": 100, "sign parent": 100}


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=REQUEST_BOUND_SECONDS + 30) as client:
        yield client


@pytest.fixture(scope="module")
def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def _post(target: str, case: Case, server: FuzzedServer, http: httpx.Client, **request) -> httpx.Response | None:
    """One request; transport failures, hangs and a dead server are findings (the server is restarted)."""
    FINDINGS.ran(target)
    started = time.monotonic()
    try:
        response = http.request(
            "POST", server.base_url + request.pop("path"), headers=ApiKeys.header(server.token), **request
        )
    except httpx.TimeoutException:
        FINDINGS.record(target, "hang", f"no answer within {http.timeout.read:g} s", case)
        response = None
    except httpx.TransportError as error:
        FINDINGS.record(target, "connection failed", type(error).__name__, case)
        response = None
    elapsed = time.monotonic() - started
    if response is not None and elapsed > REQUEST_BOUND_SECONDS:
        FINDINGS.record(target, "slow", f"answered in {elapsed:.0f} s (bound {REQUEST_BOUND_SECONDS} s)", case)
    if not server.alive:
        exit_code = server.process.returncode if server.process is not None else "none (never started)"
        FINDINGS.record(target, "server died", f"exit code {exit_code}", case)
        server.restart()
        return None
    return response


def _check_error(target: str, case: Case, response: httpx.Response) -> None:
    """A non-200 answer: a 4xx in the documented JSON error shape."""
    code = "?"
    try:
        body = response.json()
        code = body["error"]["code"]
        if set(body) != {"error"} or not isinstance(body["error"].get("message"), str):
            raise ValueError("not the error shape")
        for problem in text_problems(body)[:1]:
            FINDINGS.record(target, "unsafe error text", problem, case)
    except (ValueError, KeyError, TypeError):
        FINDINGS.record(
            target, "error not in the JSON error shape", f"{response.status_code} {response.text[:120]!r}", case
        )
    if response.status_code >= 500:
        FINDINGS.record(target, "5xx", f"{response.status_code} {code}", case)
    elif response.status_code not in CLIENT_ERRORS:
        FINDINGS.record(target, "undocumented status", f"{response.status_code} {code}", case)


def check_verify(case: Case, server: FuzzedServer, http: httpx.Client) -> None:
    target = "api verify"
    response = _post(
        target,
        case,
        server,
        http,
        path="/v1/verify?refresh=true",
        files={"file": ("upload.bin", case.data, "application/octet-stream")},
        data={"media_id": "fuzz-case"},
    )
    if response is None:
        return
    if response.status_code != 200:
        _check_error(target, case, response)
        return
    try:
        body = response.json()
        assert response.headers["content-type"].startswith("application/json")
        assert set(body) == VERIFY_FIELDS, sorted(body)
        assert body["sha256"] == case.sha256 and body["media_id"] == "fuzz-case"
        assert body["verdict"]["state"] in STATES and body["label"]["kind"] in KINDS
    except (AssertionError, ValueError, KeyError, TypeError) as error:
        FINDINGS.record(target, "undocumented verify body", f"{type(error).__name__}: {str(error)[:100]}", case)
        return
    for problem in text_problems(body)[:1]:
        FINDINGS.record(target, "unsafe text", problem.split(":")[0], case)


def check_sign(case: Case, server: FuzzedServer, http: httpx.Client, *, as_parent: bytes | None) -> None:
    """The mutated file as the media to sign (`as_parent` None), or as the parent of a clean JPEG."""
    target = "api sign parent" if as_parent is not None else "api sign file"
    if as_parent is None:
        files = {"file": ("upload.bin", case.data, "application/octet-stream")}
    else:
        files = {
            "file": ("edit.jpg", as_parent, "image/jpeg"),
            "parent": ("parent.bin", case.data, "application/octet-stream"),
        }
    response = _post(
        target, case, server, http, path="/v1/sign", files=files, data={"generator": "Fuzz", "media_id": "fuzz-sign"}
    )
    if response is None:
        return
    if response.status_code != 200:
        _check_error(target, case, response)
        return
    digest = hashlib.sha256(response.content).hexdigest()
    if not response.content or response.headers.get("x-content-sha256") != digest:
        FINDINGS.record(target, "signed body does not match X-Content-SHA256", str(len(response.content)), case)
        return
    # A 200 promises media whose own credentials verify (the stored verdict is of these bytes).
    stored = http.get(f"{server.base_url}/v1/verdicts/sha256/{digest}", headers=ApiKeys.header(server.token))
    state = stored.json()["verdict"]["state"] if stored.status_code == 200 else f"HTTP {stored.status_code}"
    if state not in ("trusted", "valid"):
        FINDINGS.record(target, "signed output does not verify", state, case)


def _check_server_log(target: str, server: FuzzedServer) -> None:
    """Nothing the fuzzing sent may make the server log an error (each 5xx and crash logs one)."""
    placeholder = Case(seed="server log", data=b"", steps=())
    for line in server.new_log_lines():
        try:
            entry = json.loads(line)
        except ValueError:
            FINDINGS.record(target, "log line is not JSON", line[:120], placeholder)
            continue
        if entry.get("level") in ("error", "critical") or "exception" in entry:
            FINDINGS.record(target, "error logged", str(entry.get("message"))[:200], placeholder)


def _run(examples: int, seeds: list[Seed], check: Callable[[Case], None]) -> None:
    @fuzz_settings(examples)
    @long_run_seed
    @given(data=st.data())
    def property_(data):
        check(draw_case(HypothesisChooser(data), seeds))

    property_()


@pytest.fixture(scope="module")
def seeds(fuzz_seeds) -> list[Seed]:
    # Uploads of a megabyte and more make this the slowest target for no more coverage.
    return [seed for seed in fuzz_seeds if len(seed.data) <= 1024 * 1024]


@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
def test_verify_endpoint_answers_every_mutated_file(server, http, seeds):
    _run(DEFAULT_EXAMPLES["verify"], seeds, lambda case: check_verify(case, server, http))
    for name, data in SPECIAL_INPUTS.items():
        check_verify(Case(seed=f"special: {name}", data=data, steps=()), server, http)
    _check_server_log("api verify", server)
    FINDINGS.assert_none_fatal("api verify")


@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
def test_sign_endpoint_answers_every_mutated_file(server, http, seeds):
    _run(DEFAULT_EXAMPLES["sign file"], seeds, lambda case: check_sign(case, server, http, as_parent=None))
    _check_server_log("api sign file", server)
    FINDINGS.assert_none_fatal("api sign file")


@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
def test_sign_endpoint_answers_every_mutated_parent(server, http, seeds, small_jpeg):
    _run(DEFAULT_EXAMPLES["sign parent"], seeds, lambda case: check_sign(case, server, http, as_parent=small_jpeg))
    for name, data in SPECIAL_INPUTS.items():
        if data:
            check_sign(Case(seed=f"special: {name}", data=data, steps=()), server, http, as_parent=small_jpeg)
    _check_server_log("api sign parent", server)
    FINDINGS.assert_none_fatal("api sign parent")


def test_the_server_still_signs_verifies_and_labels_after_the_fuzzing(server, http, small_jpeg):
    headers = ApiKeys.header(server.token)
    signed = http.post(
        f"{server.base_url}/v1/sign",
        headers=headers,
        files={"file": ("after.jpg", small_jpeg, "image/jpeg")},
        data={"generator": "After Fuzz", "media_id": "after-fuzz"},
    )
    assert signed.status_code == 200, signed.text
    verified = http.post(
        f"{server.base_url}/v1/verify", headers=headers, files={"file": ("after.jpg", signed.content, "image/jpeg")}
    )
    assert verified.status_code == 200 and verified.json()["verdict"]["state"] == "trusted", verified.text
    labels = http.get(f"{server.base_url}/v1/labels", params={"media_id": "after-fuzz"}, headers=headers)
    assert labels.json()["labels"]["after-fuzz"]["kind"] == "ai_generated"
    assert server.alive
    assert sorted(p.name for p in server.spool.iterdir()) == []  # no upload left behind
