"""What isolation costs: verify and sign in worker processes vs in this process, same run.

    python bench/isolation_bench.py [--rounds 30] [--size 2048]

Input: a photo-like JPEG of --size x --size (`sign_bench.make_photo_like_jpeg`), signed once
with development credentials for the verify side. For each operation, three sides run
interleaved round by round (so machine noise hits all of them alike), sequentially, one file
at a time:

- raw engine (the reference): verify = c2pa `Reader(mime, stream, context)` + `json()` +
  validation state with originmark's trust settings; sign = c2pa `Builder(manifest,
  context)` + a callback `Signer` with originmark's signing settings, file to file;
- in-process: originmark's `Verifier.verify_file` / `ContentSigner.sign_file`;
- isolated: `IsolatedVerifier` / `IsolatedSigner` with ONE worker (what the service runs;
  the difference to in-process is the pipe, the worker round trip and, for signing, the
  private output folder and the rename).

Prints per-file median and p90 wall time in ms, files per second (rounds / total time), the
CPU time per file (this process, plus the worker's from /proc for the isolated side: it does
not depend on how busy the machine is, wall time does) and the isolated / in-process ratio.
Worker start-up is excluded (it happens once per server process). This script imports c2pa
directly: the raw engine is the reference.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import c2pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.*
from bench.sign_bench import make_photo_like_jpeg, percentile
from keys.devca import create_development_credentials
from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.engine_settings import signing_settings
from signer.isolation import IsolatedSigner, SignLimits
from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version
from signer.self_check import chain_anchor_pem
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

MB = 1024 * 1024


_TICK = os.sysconf("SC_CLK_TCK")


def worker_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def run_interleaved(
    sides: dict[str, Callable[[int], object]], rounds: int, *, worker_pid: Callable[[], int]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Wall ms per call for each side, and CPU ms per call (the isolated side's worker included)."""
    timings: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, float] = {name: 0.0 for name in sides}
    for call in sides.values():
        call(-1)  # warm-up
    for round_number in range(rounds):
        for name, call in sides.items():
            isolated = name.startswith("isolated")
            cpu_before = time.process_time() + (worker_cpu_seconds(worker_pid()) if isolated else 0.0)
            started = time.perf_counter()
            call(round_number)
            timings[name].append((time.perf_counter() - started) * 1000)
            cpu_after = time.process_time() + (worker_cpu_seconds(worker_pid()) if isolated else 0.0)
            cpu[name] += (cpu_after - cpu_before) * 1000
    return timings, {name: total / rounds for name, total in cpu.items()}


def report(title: str, measured: tuple[dict[str, list[float]], dict[str, float]]) -> None:
    timings, cpu = measured
    print(f"\n{title}")
    for name, values in timings.items():
        rate = len(values) / (sum(values) / 1000)
        print(
            f"  {name:<24} median {statistics.median(values):8.2f} ms   p90 {percentile(values, 0.9):8.2f} ms"
            f"   {rate:7.1f} files/s   cpu {cpu[name]:7.2f} ms/file"
        )
    inproc, isolated = statistics.median(timings["in-process"]), statistics.median(timings["isolated (1 worker)"])
    print(
        f"  isolated / in-process: wall {isolated / inproc:.3f} (+{isolated - inproc:.2f} ms per file), "
        f"cpu {cpu['isolated (1 worker)'] / cpu['in-process']:.3f} "
        f"(+{cpu['isolated (1 worker)'] - cpu['in-process']:.2f} ms per file)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        credentials = create_development_credentials(work / "keys")
        assert credentials.key_path is not None, "create_development_credentials writes the key file"
        signing_key = load_signing_key(chain_path=credentials.chain_path, key_path=credentials.key_path)
        source = work / "generated.jpg"
        make_photo_like_jpeg(source, args.size)
        input_bytes = source.stat().st_size
        request = GenerationRequest(generator_name="Bench Diffusion", generator_version="1.0")
        options = SignerOptions()
        policy = default_trust_policy(local_anchors_pem=credentials.ca_path.read_text())

        in_process_signer = ContentSigner(signing_key=signing_key, options=options)
        signed = work / "signed.jpg"
        in_process_signer.sign_file(source=source, destination=signed, request=request)
        out = work / "out"
        out.mkdir()

        # --- verify ---
        verify_context = c2pa.Context.from_dict(policy.engine_settings())
        in_process_verifier = Verifier(policy=policy)
        verify_limits = VerifyLimits(timeout_seconds=60, memory_bytes=2048 * MB, max_asset_bytes=2 * 1024**3)

        def verify_raw(_round: int) -> None:
            with signed.open("rb") as stream:
                reader = c2pa.Reader("image/jpeg", stream, context=verify_context)
                json.loads(reader.json())
                reader.get_validation_state()
                reader.close()

        with IsolatedVerifier(policy=policy, limits=verify_limits, workers=1) as isolated_verifier:
            verdicts = {
                in_process_verifier.verify_file(signed).state,
                isolated_verifier.verify_file(signed).state,
            }
            verify_timings = run_interleaved(
                {
                    "raw engine": verify_raw,
                    "in-process": lambda _r: in_process_verifier.verify_file(signed),
                    "isolated (1 worker)": lambda _r: isolated_verifier.verify_file(signed),
                },
                args.rounds,
                worker_pid=lambda: isolated_verifier.worker_pids[0],
            )

        # --- sign ---
        anchor_pem, anchor_is_issuer = chain_anchor_pem(signing_key.chain_pem)
        sign_context = c2pa.Context.from_dict(
            signing_settings(thumbnails=False, local_anchors_pem=anchor_pem if anchor_is_issuer else None)
        )
        raw_signer = c2pa.Signer.from_callback(signing_key.sign, c2pa.C2paSigningAlg.ES256, signing_key.chain_pem, None)
        manifest = build_manifest_definition(
            request, default_title=source.name, originmark_version=originmark_version()
        )

        def sign_raw(round_number: int) -> None:
            destination = out / f"raw-{round_number}.jpg"
            with c2pa.Builder(manifest, context=sign_context) as builder:
                with source.open("rb") as src, destination.open("w+b") as dst:
                    builder.sign(raw_signer, "image/jpeg", src, dst)
            destination.unlink()

        def sign_with(signer, label: str) -> Callable[[int], None]:
            def sign(round_number: int) -> None:
                destination = out / f"{label}-{round_number}.jpg"
                signer.sign_file(source=source, destination=destination, request=request)
                destination.unlink()

            return sign

        sign_limits = SignLimits(timeout_seconds=120, memory_bytes=3072 * MB)
        with IsolatedSigner(
            chain_path=credentials.chain_path,
            key_path=credentials.key_path,
            options=options,
            limits=sign_limits,
            workers=1,
        ) as isolated_signer:
            sign_timings = run_interleaved(
                {
                    "raw engine": sign_raw,
                    "in-process": sign_with(in_process_signer, "in"),
                    "isolated (1 worker)": sign_with(isolated_signer, "iso"),
                },
                args.rounds,
                worker_pid=lambda: isolated_signer.worker_pids[0],
            )
        in_process_signer.close()

    print(f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}")
    print(
        f"input: {args.size}x{args.size} photo-like JPEG ({input_bytes} B), {args.rounds} rounds, interleaved, "
        f"sequential; load average before: {os.getloadavg()[0]:.2f}"
    )
    report("verify (the signed file; trust as the service configures it)", verify_timings)
    report("sign (file to file, thumbnails off)", sign_timings)
    ok = verdicts == {VerdictState.TRUSTED}
    print(f"\nverdicts: {sorted(v.value for v in verdicts)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
