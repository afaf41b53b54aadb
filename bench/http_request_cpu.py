"""CPU per request of one HTTP path, server process only; optionally its profile (pyinstrument).

    python bench/http_request_cpu.py MODE [--requests N] [--size 2048] [--pyinstrument FILE]

MODE: stored | stored-raw | verify | verify-raw | sign | sign-raw (multipart, or `-raw`: the file as
the request body). The server (the real app, uvicorn + uvloop, SQLite, development keys) runs in
this process; a client in a child process sends N requests one after the other over one keep-alive
connection. Printed: the server process's user and system CPU per request (its threads included),
and that against hashlib's SHA-256 of the same body in the same process — a ratio that a busy
machine disturbs far less than requests per second (bench/http_sign_verify_bench.py measures
throughput); then the CPU per request of its signing and verifier worker processes (from /proc),
so that a sign request's whole cost is seen process by process.

`--pyinstrument FILE` (needs pyinstrument importable, e.g. `pip install --target DIR pyinstrument`
and PYTHONPATH=DIR) writes the event-loop thread's profile as text: where a request's time on the
loop goes. Worker threads are not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.*

from bench.http_harness import processes_cpu_seconds
from bench.http_sign_verify_bench import GENERATOR, GENERATOR_VERSION, multipart, prepare
from scripts.local_service import free_port
from signer.engine import ContentSigner

MODES = ("stored", "stored-raw", "verify", "verify-raw", "sign", "sign-raw")
_CLIENT = r"""
import sys, time, httpx
base, token, path, content_type, body_file, count = sys.argv[1:7]
body = open(body_file, "rb").read()
headers = {"Authorization": "Bearer " + token, "Content-Type": content_type}
with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
    for _ in range(5):  # warm: the stored answer exists, caches and pools are filled
        answer = client.post(path, content=body)
        assert answer.status_code == 200, answer.text[:300]
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for _ in range(int(count)):
        answer = client.post(path, content=body)
        assert answer.status_code == 200, answer.text[:300]
    print(time.perf_counter() - started, flush=True)
"""


def _request(mode: str, scratch: Path, base_url: str, token: str) -> tuple[str, str, Path]:
    """(path, Content-Type, body file) of MODE; signs the input once for the verify modes."""
    data = (scratch / "input.jpg").read_bytes()
    if mode.startswith("sign"):
        fields = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION}
        if mode == "sign-raw":
            query = "&".join(f"{name}={value.replace(' ', '+')}" for name, value in fields.items())
            return f"/v1/sign?{query}&filename=input.jpg", "image/jpeg", scratch / "input.jpg"
        body, content_type = multipart(fields, {"file": ("input.jpg", data, "image/jpeg")})
        (scratch / "request.body").write_bytes(body)
        return "/v1/sign", content_type, scratch / "request.body"
    signed = httpx.post(
        f"{base_url}/v1/sign",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("input.jpg", data, "image/jpeg")},
        data={"generator": GENERATOR},
        timeout=120,
    )
    assert signed.status_code == 200, signed.text
    (scratch / "signed.jpg").write_bytes(signed.content)
    path = "/v1/verify?refresh=true" if mode.startswith("verify") else "/v1/verify"
    if mode.endswith("-raw"):
        return path, "image/jpeg", scratch / "signed.jpg"
    body, content_type = multipart({}, {"file": ("signed.jpg", signed.content, "image/jpeg")})
    (scratch / "request.body").write_bytes(body)
    return path, content_type, scratch / "request.body"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--pyinstrument", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()

    from app.api.main import create_app
    from app.settings import Settings

    scratch = Path(tempfile.mkdtemp(prefix="originmark-request-cpu-"))
    database_url, token = prepare(scratch, args.size)
    (scratch / "spool").mkdir()
    settings = Settings(
        keys_dir=scratch / "keys", database_url=database_url, spool_dir=scratch / "spool", log_level="warning"
    )
    app = create_app(settings, freeze_gc_after_startup=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=free_port(),
            access_log=False,
            log_level="warning",
        )
    )
    profiler = None
    if args.pyinstrument is not None:
        # Imported by name: an optional tool, not a dependency of the project (no stubs for mypy).
        profiler = importlib.import_module("pyinstrument").Profiler(interval=0.001, async_mode="disabled")
    measured: dict[str, float] = {}

    async def run() -> None:
        serving = asyncio.create_task(server.serve())
        loop = asyncio.get_running_loop()
        while not server.started:
            await asyncio.sleep(0.05)
        base_url = f"http://127.0.0.1:{server.config.port}"
        path, content_type, body = await loop.run_in_executor(None, _request, args.mode, scratch, base_url, token)
        client = subprocess.Popen(
            [sys.executable, "-c", _CLIENT, base_url, token, path, content_type, str(body), str(args.requests)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdin is not None and client.stdout is not None
        assert (await loop.run_in_executor(None, client.stdout.readline)).strip() == "ready"
        pools = app.state.services.worker_pools
        # An in-process ContentSigner (not the service's choice) would count in the server's own CPU.
        signing_pids = () if isinstance(pools.signer, ContentSigner) else pools.signer.worker_pids
        workers = {"signing": signing_pids, "verifier": pools.verifier.worker_pids}
        workers_before = {kind: processes_cpu_seconds(pids) for kind, pids in workers.items()}
        before = os.times()
        if profiler is not None:
            profiler.start()
        client.stdin.write("go\n")
        client.stdin.flush()
        measured["wall"] = float(await loop.run_in_executor(None, client.stdout.readline))
        if profiler is not None:
            profiler.stop()
        after = os.times()
        measured["user"], measured["system"] = after.user - before.user, after.system - before.system
        for kind, pids in workers.items():
            measured[kind] = processes_cpu_seconds(pids) - workers_before[kind]
        client.wait()
        measured["body_bytes"] = body.stat().st_size
        server.should_exit = True
        await serving

    try:
        uvloop.run(run())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    data = os.urandom(int(measured["body_bytes"]))
    started = time.process_time()
    for _ in range(50):
        hashlib.sha256(data).digest()
    sha_ms = (time.process_time() - started) / 50 * 1000
    count = args.requests
    user_ms, system_ms = measured["user"] / count * 1000, measured["system"] / count * 1000
    print(
        f"{args.mode}: {count} requests, {measured['body_bytes'] / 1e6:.2f} MB bodies, load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(
        f"  server process CPU per request: {user_ms + system_ms:.2f} ms (user {user_ms:.2f}, system {system_ms:.2f}); "
        f"wall {measured['wall'] / count * 1000:.2f} ms"
    )
    print(f"  SHA-256 of the body: {sha_ms:.2f} ms CPU; request / SHA-256 = {(user_ms + system_ms) / sha_ms:.2f}")
    signing_ms, verifier_ms = measured["signing"] / count * 1000, measured["verifier"] / count * 1000
    print(
        f"  worker processes' CPU per request: signing {signing_ms:.2f} ms, verifier {verifier_ms:.2f} ms; "
        f"with the server's: {user_ms + system_ms + signing_ms + verifier_ms:.2f} ms"
    )
    if profiler is not None:
        args.pyinstrument.write_text(profiler.output_text(unicode=False, color=False))
        print(f"  event-loop profile: {args.pyinstrument}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
