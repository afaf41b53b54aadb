"""Signing keys and API tokens never appear in logs, terminal output or HTTP answers.

One run (module fixture) does what an operator and clients do, each in its own process, and keeps
everything they print or answer:
- the CLI: `keys init`, `keys check`, `keys show`, and broken credentials — a truncated key,
  chain and key swapped, the key file given as a chain, a key that does not match the
  certificate — given to `keys check`, `keys show`, `sign` and `serve`;
- `originmark serve` at log level debug, driven through sign, verify, labels, verdicts, metrics and
  every kind of error: no key, malformed, forged, unknown and revoked keys, a key without the
  scope, junk, a missing field, an upload over the limit, a rate-limited key, unknown routes.

Then every byte of it (server log, stdout and stderr of each command, every response's headers
and body, the signed media) is searched for: each private key's PEM header line, every 40-character
slice of its base64 body (at every offset, so a key printed whole, wrapped or cut shows up), its
PKCS#8 DER, its private scalar (raw bytes, hex, decimal); each API token whole and its secret part.
An assertion names where a secret was found, never the secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.store.interface import Scope
from app.store.migrate import upgrade_database
from app.store.sql import open_store
from keys.devca import create_development_credentials
from tests.support import running_server

ORIGINMARK = Path(sys.executable).with_name("originmark")
SLICE = 40


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Needle:
    what: str  # says which secret, never the secret itself
    data: bytes


@dataclass(frozen=True, slots=True)
class Capture:
    artifacts: tuple[Artifact, ...]
    key_needles: tuple[Needle, ...]
    token_needles: tuple[Needle, ...]
    statuses: dict[str, int]  # what each step answered (exit code or HTTP status)
    server_log: str


def private_key_needles(pem_path: Path, *, label: str) -> list[Needle]:
    text = pem_path.read_text()
    lines = [line.strip() for line in text.strip().splitlines()]
    body = "".join(lines[1:-1])
    needles = [Needle(f"{label}: PEM header", lines[0].encode())]
    needles += [
        Needle(f"{label}: base64 body at offset {i}", body[i : i + SLICE].encode())
        for i in range(len(body) - SLICE + 1)
    ]
    key = serialization.load_pem_private_key(text.encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    needles.append(Needle(f"{label}: PKCS#8 DER", der))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        value = key.private_numbers().private_value
        size = (key.curve.key_size + 7) // 8
        needles += [
            Needle(f"{label}: private scalar (raw)", value.to_bytes(size, "big")),
            Needle(f"{label}: private scalar (hex)", f"{value:0{2 * size}x}".encode()),
            Needle(f"{label}: private scalar (HEX)", f"{value:0{2 * size}X}".encode()),
            Needle(f"{label}: private scalar (decimal)", str(value).encode()),
        ]
    return needles


def token_needles(tokens: dict[str, str]) -> list[Needle]:
    needles = []
    for name, token in tokens.items():
        needles.append(Needle(f"API token {name!r}", token.encode()))
        needles.append(Needle(f"API token {name!r}: its secret", token.split("_", 2)[2].encode()))
    return needles


def leaks(artifacts, needles) -> list[str]:
    """Where each needle was found: 'secret description in artifact name'."""
    found = []
    for artifact in artifacts:
        # JSON may escape '/' (base64) or write a newline as \n: look at the unescaped text too.
        unescaped = artifact.data.replace(b"\\/", b"/").replace(b"\\n", b"\n")
        for needle in needles:
            if needle.data in artifact.data or needle.data in unescaped:
                found.append(f"{needle.what} in {artifact.name}")
    return found


def _start(commands: dict[str, tuple[list[str], dict[str, str]]], *, cwd: Path) -> dict[str, subprocess.Popen]:
    """Start CLI commands side by side (each is mostly start-up time): name -> (arguments, environment)."""
    return {
        name: subprocess.Popen(
            [str(ORIGINMARK), *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name, (args, env) in commands.items()
    }


def _finish(started: dict[str, subprocess.Popen]) -> dict[str, subprocess.CompletedProcess]:
    finished = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=120)
        finished[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return finished


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Capture:
    root = tmp_path_factory.mktemp("secrets")
    base_env = {name: value for name, value in os.environ.items() if not name.startswith("ORIGINMARK_")}
    env = {
        **base_env,
        "ORIGINMARK_KEYS_DIR": str(root / "keys"),
        "ORIGINMARK_DATABASE_URL": f"sqlite:///{root / 'originmark.db'}",
        "ORIGINMARK_SPOOL_DIR": str(root),
        "ORIGINMARK_LOG_LEVEL": "debug",
        "ORIGINMARK_VERIFY_WORKERS": "1",
        "ORIGINMARK_SIGN_CONCURRENCY": "1",
        "ORIGINMARK_MAX_UPLOAD_BYTES": str(256 * 1024),
        "ORIGINMARK_SIGN_RATE_PER_SECOND": "0.01",  # a few signs per key, then 429
        "ORIGINMARK_SIGN_RATE_BURST": "4",
        "COLUMNS": "200",
    }
    keys, other = root / "keys", root / "other-keys"
    artifacts: list[Artifact] = []
    statuses: dict[str, int] = {}

    def keep(results: dict[str, subprocess.CompletedProcess]) -> None:
        for name, result in results.items():
            statuses[name] = result.returncode
            artifacts.append(Artifact(f"`{name}` stdout", result.stdout))
            artifacts.append(Artifact(f"`{name}` stderr", result.stderr))

    # The service's credentials through the CLI; a second pair (whose key belongs to another
    # certificate) made in-process, as it is only a prop here.
    keep(_finish(_start({"keys init": (["keys", "init", "--dir", str(keys)], env)}, cwd=root)))
    create_development_credentials(other)
    key_pem = (keys / "key.pem").read_text().strip().splitlines()
    truncated = root / "truncated-key.pem"
    truncated.write_text("\n".join([key_pem[0], key_pem[1][:50], key_pem[-1]]) + "\n")
    truncated.chmod(0o600)
    image = root / "gen.jpg"
    Image.new("RGB", (48, 32), (90, 20, 200)).save(image, "JPEG", quality=90)

    # API keys made and revoked as `apikey create|revoke` do (their output is tested elsewhere).
    upgrade_database(env["ORIGINMARK_DATABASE_URL"])
    with open_store(env["ORIGINMARK_DATABASE_URL"], pool_size=1) as store:
        everything = frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ})
        tokens = {
            "all": store.create_key(name="pipeline", scopes=everything)[1],
            "read": store.create_key(name="feed", scopes=frozenset({Scope.READ}))[1],
            "revoked": store.create_key(name="leaked", scopes=everything)[1],
        }
        store.revoke(tokens["revoked"].split("_")[1])

    truncated_env = {
        **env,
        "ORIGINMARK_SIGNING_CHAIN": str(keys / "chain.pem"),
        "ORIGINMARK_SIGNING_KEY": str(truncated),
    }
    mismatched_env = {
        **env,
        "ORIGINMARK_SIGNING_CHAIN": str(keys / "chain.pem"),
        "ORIGINMARK_SIGNING_KEY": str(other / "key.pem"),
    }
    # Run while the service below starts and answers.
    cli_runs = _start(
        {
            "keys check": (["keys", "check", "--dir", str(keys)], env),
            "keys show": (["keys", "show", "--dir", str(keys)], env),
            "keys show of the key file": (["keys", "show", "--chain", str(keys / "key.pem")], env),
            "keys check, truncated key": (
                ["keys", "check", "--chain", str(keys / "chain.pem"), "--key", str(truncated)],
                env,
            ),
            "keys check, swapped files": (
                ["keys", "check", "--chain", str(keys / "key.pem"), "--key", str(keys / "chain.pem")],
                env,
            ),
            "sign with a truncated key": (
                ["sign", str(image), "--generator", "g", "--out", str(root / "cli-out")],
                truncated_env,
            ),
            "serve with a mismatched key": (["serve", "--port", str(_free_port())], mismatched_env),
        },
        cwd=root,
    )

    # The service, at debug level, and its clients.
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"

    jpeg = image.read_bytes()
    all_key, read_key, revoked_key = tokens["all"], tokens["read"], tokens["revoked"]
    forged = f"om_{all_key.split('_')[1]}_{'A' * 43}"
    unknown = f"om_zzzzzzzzzz_{all_key.split('_', 2)[2]}"  # a real secret under another id

    http: httpx.Client  # the steps below use the client the `with` at the end opens

    def bearer(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def sign(token: str | None, content: bytes = jpeg, **changes):
        form = {"generator": "Secret Test Diffusion", "generator_version": "1.0", **changes}
        form = {name: value for name, value in form.items() if value is not None}
        files = {"file": ("gen.jpg", content, "image/jpeg")}
        return http.post("/v1/sign", headers=bearer(token), files=files, data=form)

    def verify(token: str, content: bytes):
        return http.post("/v1/verify", headers=bearer(token), files={"file": ("upload.jpg", content, "image/jpeg")})

    steps = {
        "sign": lambda: sign(all_key, media_id="m1"),
        "sign junk": lambda: sign(all_key, b"junk" * 10),
        "sign without generator": lambda: sign(all_key, generator=None),
        "sign too large": lambda: sign(all_key, jpeg + b"\0" * 300_000),
        "sign over the rate": lambda: sign(all_key),
        "sign with a read key": lambda: sign(read_key),
        "sign with a revoked key": lambda: sign(revoked_key),
        "sign with a forged key": lambda: sign(forged),
        "sign with an unknown key id": lambda: sign(unknown),
        "sign with a malformed key": lambda: sign(all_key + "x"),
        "sign with Basic auth": lambda: http.post("/v1/sign", headers={"Authorization": f"Basic {all_key}"}),
        "sign without a key": lambda: sign(None),
        "verify": lambda: verify(all_key, signed_media[0]),
        "verify with a revoked key": lambda: verify(revoked_key, jpeg),
        "verify junk": lambda: verify(all_key, b"\x00junk"),
        "labels": lambda: http.get("/v1/labels?media_id=m1&media_id=m2", headers=bearer(read_key)),
        "labels batch": lambda: http.post("/v1/labels:batch", headers=bearer(read_key), json=["m1", "m2"]),
        "labels batch, broken JSON": lambda: http.post("/v1/labels:batch", headers=bearer(read_key), content=b'["m1"'),
        "verdict": lambda: http.get("/v1/verdicts/m1", headers=bearer(all_key)),
        "verdict unknown": lambda: http.get("/v1/verdicts/nothing", headers=bearer(all_key)),
        "verdict with a revoked key": lambda: http.get("/v1/verdicts/m1", headers=bearer(revoked_key)),
        "unknown route": lambda: http.get("/v1/keys", headers=bearer(all_key)),
        "wrong method": lambda: http.delete("/v1/sign", headers=bearer(all_key)),
        "metrics": lambda: http.get("/metrics"),
        "readyz": lambda: http.get("/readyz"),
    }
    signed_media: list[bytes] = []
    serve = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (
        running_server(serve, env=env, log_path=log_path, base_url=base_url),
        httpx.Client(base_url=base_url, timeout=60) as http,
    ):
        for name, step in steps.items():
            response = step()
            statuses[name] = response.status_code
            head = f"{response.status_code}\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            artifacts.append(Artifact(f"response to {name!r}", head.encode() + b"\n\n" + response.content))
            if name == "sign":
                signed_media.append(response.content)  # searched too: the signed file holds the chain, not the key
    keep(_finish(cli_runs))
    server_log = log_path.read_text()
    artifacts.append(Artifact("the server log", server_log.encode()))

    needles = private_key_needles(keys / "key.pem", label="the signing key") + private_key_needles(
        other / "key.pem", label="the other key"
    )
    return Capture(
        artifacts=tuple(artifacts),
        key_needles=tuple(needles),
        token_needles=tuple(token_needles(tokens)),
        statuses=statuses,
        server_log=server_log,
    )


def test_everything_was_really_exercised(capture):
    """The search below means something only if each path ran and answered as expected."""
    s = capture.statuses
    assert s["keys init"] == s["keys check"] == s["keys show"] == 0
    assert s["keys show of the key file"] == s["keys check, truncated key"] == s["keys check, swapped files"] == 2
    assert s["sign with a truncated key"] == s["serve with a mismatched key"] == 2
    assert (s["sign"], s["verify"], s["labels"], s["labels batch"], s["verdict"]) == (200, 200, 200, 200, 200)
    assert (s["sign junk"], s["sign without generator"], s["sign too large"]) == (415, 422, 413)
    assert s["sign over the rate"] == 429
    assert s["sign with a read key"] == 403
    for name in (
        "sign with a revoked key",
        "sign with a forged key",
        "sign with an unknown key id",
        "sign with a malformed key",
        "sign with Basic auth",
    ):
        assert s[name] == 401, name
    assert s["sign without a key"] == s["verify with a revoked key"] == s["verdict with a revoked key"] == 401
    assert (s["verdict unknown"], s["unknown route"], s["wrong method"]) == (404, 404, 405)
    assert '"level": "debug"' in capture.server_log or '"logger": "originmark.access"' in capture.server_log
    assert capture.server_log.count('"route": "/v1/sign"') >= 10  # one access line per sign request
    # The broken credentials were named in the messages that were searched.
    messages = b"".join(a.data for a in capture.artifacts if "truncated key" in a.name or "swapped" in a.name)
    assert b"truncated-key.pem" in messages and b"cannot be parsed" in messages
    mismatched = b"".join(a.data for a in capture.artifacts if "mismatched" in a.name)
    assert b"other-keys" in mismatched  # serve named the key file it refused


def test_no_private_key_material_anywhere(capture):
    assert leaks(capture.artifacts, capture.key_needles) == []


def test_no_api_token_anywhere(capture):
    assert leaks(capture.artifacts, capture.token_needles) == []


def test_the_search_finds_a_key_however_it_is_printed(tmp_path):
    """The detector itself: a key dumped whole, wrapped into JSON, or cut short is found."""
    from keys.devca import create_development_credentials

    key_path = create_development_credentials(tmp_path / "k").key_path
    assert key_path is not None  # development credentials keep their key in a file
    needles = private_key_needles(key_path, label="k")
    pem = key_path.read_bytes()
    private_key = serialization.load_pem_private_key(pem, None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    body = b"".join(pem.splitlines()[1:-1])
    import json

    for name, data in {
        "whole": b"prefix " + pem,
        "json": json.dumps({"message": pem.decode()}).encode(),
        "slice": b"x" + body[17 : 17 + SLICE] + b"y",
        "repr": repr(private_key.private_numbers().private_value).encode(),
    }.items():
        assert leaks([Artifact(name, data)], needles), name
    assert leaks([Artifact("clean", b"the key file /x/key.pem cannot be parsed " + body[: SLICE - 1])], needles) == []
    token = "om_abcdefghij_" + "Q" * 43
    assert leaks([Artifact("t", b"Bearer " + token.encode())], token_needles({"t": token}))
