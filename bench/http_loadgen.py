"""HTTP load generator for the service benchmarks: `wrk` when installed, else a Python client.

Run by bench/http_sign_verify_bench.py and bench/http_labels_bench.py as a SEPARATE process
(the server under test runs in a third one), optionally pinned to CPUs of its own:

    python bench/http_loadgen.py SPEC.json      # prints one JSON line: the LoadResult

The spec (a JSON object, see `LoadSpec`) names one of three request shapes:

- "fixed": the same request every time (method, path, headers, body read from a file) —
  signing or verifying one prepared multipart upload;
- "labels_get": GET <path>?media_id=..&media_id=.. with `batch` ids drawn at random from
  `<id_prefix>0 .. <id_prefix><id_count - 1>`, a fraction `unknown_fraction` of them ids that
  were never stored;
- "labels_post": the same ids as a JSON list in a POST body.
Label shapes put `query` (e.g. `tenant=bench-0`), when given, first in the query string.

Load generators:
- wrk (C, epoll; Debian package `wrk`): one Lua script per run; it costs the least CPU, which
  matters on a small machine where the load generator and the server share the cores.
  Latency percentiles are wrk's (every completed request, no coordinated-omission correction).
  Statuses: wrk counts responses >= 400 as `errors.status`; it cannot tell 2xx from 3xx.
- python (asyncio streams, uvloop when importable, HTTP/1.1 keep-alive, one connection per
  concurrent client): used when wrk is missing or with `"loadgen": "python"`. It counts every
  status code; it needs noticeably more CPU per request than wrk.

Both keep exactly `concurrency` requests in flight on `concurrency` keep-alive connections
for `duration` seconds, after `warmup` seconds whose requests are not counted: a closed loop,
which runs the server at its saturation point, where latency is mostly queueing.

Paced (`"rate": R`, python load generator only): an open loop instead — each connection sends on a
fixed schedule so that the total is R requests/s, and latency is measured from when a request
was DUE, not from when it was sent, so a stalled server cannot hide its stall by slowing
the client down (no coordinated omission). This says what latency callers see at load R.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REQUEST_SHAPES = ("fixed", "labels_get", "labels_post")


@dataclass(frozen=True, kw_only=True)
class LoadSpec:
    base_url: str  # http://127.0.0.1:PORT
    shape: str  # one of REQUEST_SHAPES
    path: str
    concurrency: int
    duration: float  # seconds measured
    warmup: float = 2.0  # seconds run first and not counted
    method: str = "GET"  # "fixed" only
    headers: dict[str, str] = field(default_factory=dict)
    body_file: str | None = None  # "fixed" only: the request body's bytes
    batch: int = 100  # labels: ids per request
    id_prefix: str = "seed-"
    id_count: int = 0  # labels: ids <prefix>0 .. <prefix><id_count-1> exist
    unknown_fraction: float = 0.0  # labels: this share of the ids is never stored
    query: str = ""  # labels: query string before the ids (GET) or the whole query string (POST)
    loadgen: str = "auto"  # auto | wrk | python
    rate: float = 0.0  # > 0: paced (open loop) at this many requests/s in total; python load generator only
    threads: int = 1  # wrk threads (event loops); the python client always runs one loop


@dataclass(frozen=True, kw_only=True)
class LoadResult:
    loadgen: str
    requests: int
    seconds: float
    errors: int  # connection errors, timeouts and responses >= 400
    error_detail: dict[str, int]
    statuses: dict[str, int]  # python load generator only (wrk: {})
    latency_ms: dict[str, float]  # p50 p90 p95 p99 max mean
    bytes_read: int

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def choose_loadgen(requested: str, *, paced: bool = False) -> str:
    if requested == "python" or paced:
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if requested == "wrk":
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk); use --loadgen python")
    return "python"


def _ids_target(spec: LoadSpec) -> str:
    """The GET request target up to the first id: `<path>?[<query>&]media_id=`."""
    return f"{spec.path}?{spec.query + '&' if spec.query else ''}media_id="


def _post_target(spec: LoadSpec) -> str:
    return f"{spec.path}?{spec.query}" if spec.query else spec.path


# --- wrk ---


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII text


def _wrk_script(spec: LoadSpec) -> str:
    lines = [
        "wrk.method = "
        + _lua_string(spec.method if spec.shape == "fixed" else ("GET" if spec.shape == "labels_get" else "POST"))
    ]
    for name, value in spec.headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if spec.shape == "fixed":
        lines.append(f"wrk.path = {_lua_string(spec.path)}")
        if spec.body_file:
            lines.append(f"local f = assert(io.open({_lua_string(spec.body_file)}, 'rb'))")
            lines.append("wrk.body = f:read('*a')")
            lines.append("f:close()")
    else:
        # Ids drawn per request; unknown ids never match a stored row (different prefix).
        lines += [
            f"local batch, count, unknown = {spec.batch}, {spec.id_count}, {spec.unknown_fraction}",
            f"local prefix = {_lua_string(spec.id_prefix)}",
            "local ids = {}",
            # A different id sequence per thread and per run (the warm-up run must not pre-warm
            # exactly the ids the measured run asks for).
            "local threads = 0",
            "setup = function(thread) threads = threads + 1; thread:set('seed', os.time() * 1000 + threads) end",
            "init = function(args) math.randomseed(seed or os.time()) end",
            "local function draw()",
            "  for i = 1, batch do",
            "    if math.random() < unknown then ids[i] = 'unknown-' .. math.random(0, 2^30)",
            "    else ids[i] = prefix .. math.random(0, count - 1) end",
            "  end",
            "end",
        ]
        if spec.shape == "labels_get":
            lines += [
                "request = function()",
                "  draw()",
                f"  return wrk.format(nil, {_lua_string(_ids_target(spec))} .. table.concat(ids, '&media_id='))",
                "end",
            ]
        else:
            lines += [
                "wrk.headers['Content-Type'] = 'application/json'",
                "request = function()",
                "  draw()",
                f"  return wrk.format(nil, {_lua_string(_post_target(spec))}, nil, '[\"' .. table.concat(ids, '\",\"') .. '\"]')",
                "end",
            ]
    # One JSON line with what wrk measured (latency in microseconds).
    lines += [
        "done = function(summary, latency, requests)",
        "  local e = summary.errors",
        '  io.write(string.format(\'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
        '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
        '"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d,"mean":%f}\\n\',',
        "    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,",
        "    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),",
        "    latency.max, latency.mean))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def _run_wrk(spec: LoadSpec, *, seconds: float, script: Path) -> dict:
    threads = max(1, min(spec.threads, spec.concurrency))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{spec.concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        spec.base_url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line.removeprefix("WRKJSON "))
    raise SystemExit(f"wrk failed (exit {completed.returncode}): {completed.stdout[-2000:]} {completed.stderr[-2000:]}")


def run_wrk(spec: LoadSpec) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="originmark-wrk-") as scratch:
        script = Path(scratch) / "load.lua"
        script.write_text(_wrk_script(spec))
        if spec.warmup > 0:
            _run_wrk(spec, seconds=spec.warmup, script=script)
        raw = _run_wrk(spec, seconds=spec.duration, script=script)
    detail = {name: raw[name] for name in ("connect", "read", "write", "status", "timeout") if raw[name]}
    return LoadResult(
        loadgen="wrk",
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=sum(detail.values()),
        error_detail=detail,
        statuses={},
        latency_ms={name: raw[name] / 1000 for name in ("p50", "p90", "p95", "p99", "max", "mean")},
        bytes_read=raw["bytes"],
    )


# --- python (asyncio) ---


class _Requests:
    """Builds request bytes for one connection (ids drawn per request for the label shapes)."""

    def __init__(self, spec: LoadSpec, host: str) -> None:
        self._spec = spec
        self._random = random.Random()
        method = spec.method if spec.shape == "fixed" else ("GET" if spec.shape == "labels_get" else "POST")
        head = "".join(f"{name}: {value}\r\n" for name, value in spec.headers.items())
        self._head = f"Host: {host}\r\n{head}"
        self._method = method
        self._fixed: bytes | None = None
        if spec.shape == "fixed":
            body = Path(spec.body_file).read_bytes() if spec.body_file else b""
            length = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
            self._fixed = f"{method} {spec.path} HTTP/1.1\r\n{self._head}{length}\r\n".encode() + body

    def _ids(self) -> list[str]:
        spec, draw = self._spec, self._random
        return [
            f"unknown-{draw.randrange(2**30)}"
            if draw.random() < spec.unknown_fraction
            else f"{spec.id_prefix}{draw.randrange(spec.id_count)}"
            for _ in range(spec.batch)
        ]

    def next(self) -> bytes:
        if self._fixed is not None:
            return self._fixed
        ids = self._ids()
        if self._spec.shape == "labels_get":
            target = _ids_target(self._spec) + "&media_id=".join(ids)
            return f"GET {target} HTTP/1.1\r\n{self._head}\r\n".encode()
        body = json.dumps(ids).encode()
        return (
            f"POST {_post_target(self._spec)} HTTP/1.1\r\n{self._head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """(status, bytes read) of one HTTP/1.1 response; Content-Length or chunked bodies."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    total = len(head)
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            await reader.readexactly(size + 2)
            total += len(size_line) + size + 2
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
        total += length
    return status, total


async def _client(spec: LoadSpec, state: dict, latencies: list[float], slot: int) -> None:
    split = urlsplit(spec.base_url)
    requests = _Requests(spec, split.netloc)
    reader, writer = await asyncio.open_connection(split.hostname, split.port)
    interval = spec.concurrency / spec.rate if spec.rate > 0 else 0.0
    due = time.perf_counter() + interval * slot / spec.concurrency  # connections interleave evenly
    try:
        while not state["stop"]:
            payload = requests.next()
            if interval:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                started = due  # latency counts from when the request was due
                due += interval
            else:
                started = time.perf_counter()
            try:
                writer.write(payload)
                await writer.drain()
                status, read = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                state["errors"]["read"] = state["errors"].get("read", 0) + 1
                writer.close()
                reader, writer = await asyncio.open_connection(split.hostname, split.port)
                continue
            if state["measuring"] and not state["stop"]:
                latencies.append(time.perf_counter() - started)
                state["statuses"][str(status)] = state["statuses"].get(str(status), 0) + 1
                state["bytes"] += read
    finally:
        writer.close()


async def _python_load(spec: LoadSpec) -> LoadResult:
    state: dict = {"stop": False, "measuring": False, "errors": {}, "statuses": {}, "bytes": 0}
    latencies: list[float] = []
    tasks = [asyncio.create_task(_client(spec, state, latencies, slot)) for slot in range(spec.concurrency)]
    await asyncio.sleep(spec.warmup)
    state["errors"].clear()
    state["measuring"] = True
    started = time.perf_counter()
    await asyncio.sleep(spec.duration)
    state["stop"] = True
    seconds = time.perf_counter() - started
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    bad = sum(count for status, count in state["statuses"].items() if int(status) >= 400)
    detail = dict(state["errors"])
    if bad:
        detail["status"] = bad

    def at(fraction: float) -> float:
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000 if latencies else 0.0

    return LoadResult(
        loadgen="python",
        requests=len(latencies),
        seconds=seconds,
        errors=sum(detail.values()),
        error_detail=detail,
        statuses=dict(state["statuses"]),
        latency_ms={
            "p50": at(0.50),
            "p90": at(0.90),
            "p95": at(0.95),
            "p99": at(0.99),
            "max": latencies[-1] * 1000 if latencies else 0.0,
            "mean": sum(latencies) / len(latencies) * 1000 if latencies else 0.0,
        },
        bytes_read=state["bytes"],
    )


def run_python(spec: LoadSpec) -> LoadResult:
    try:
        import uvloop

        return uvloop.run(_python_load(spec))
    except ImportError:
        return asyncio.run(_python_load(spec))


# --- the process boundary ---


@dataclass(frozen=True, kw_only=True)
class MeasuredLoad:
    """A LoadResult plus what the load generator's process tree cost in CPU."""

    result: LoadResult
    cpu_seconds: float  # user + system of the load generator (and wrk), whole run incl. warm-up
    wall_seconds: float  # whole run incl. warm-up and start-up


def run_in_process(spec: LoadSpec, *, cpus: set[int] | None) -> MeasuredLoad:
    """Run the load from a child process (pinned to `cpus` when given); wait4 gives its CPU use."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(dataclasses.asdict(spec), handle)
        spec_path = handle.name
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), spec_path],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        assert process.stdout is not None, "stdout=PIPE gives the child a pipe"
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
    finally:
        os.unlink(spec_path)
    if process.returncode != 0:
        raise SystemExit(f"the load generator failed (exit {process.returncode}): {output[-2000:]}")
    result = LoadResult(**json.loads(output.strip().splitlines()[-1]))
    # wait4's rusage covers the child and the children it waited for (wrk).
    return MeasuredLoad(result=result, cpu_seconds=usage.ru_utime + usage.ru_stime, wall_seconds=wall)


def main() -> int:
    spec = LoadSpec(**json.loads(Path(sys.argv[1]).read_text()))
    if spec.shape not in REQUEST_SHAPES:
        raise SystemExit(f"unknown request shape {spec.shape!r}")
    loadgen = choose_loadgen(spec.loadgen, paced=spec.rate > 0)
    result = run_wrk(spec) if loadgen == "wrk" else run_python(spec)
    print(json.dumps(dataclasses.asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
