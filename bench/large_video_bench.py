"""Large video (issue 6): sign and verify a ~2 GB MP4 from S3 to S3 with bounded worker memory.

    python bench/large_video_bench.py [--size-mb 2048] [--keep] [--work DIR] [--merkle-chunk-kb N]

Target: signing a 2 GB MP4 from S3 to S3 keeps a worker under 600 MB of memory; verifying it
likewise. Memory here is peak resident memory (VmHWM in /proc/<pid>/status) of the process that
runs the engine, printed in MiB (as every `*_mb` setting of originmark) and in 10^6 bytes; the
verdict takes the stricter reading, 600 MB = 600,000,000 bytes (572.2 MiB).

Input: tests/fixtures/media/tiny.mp4 (ftyp, free, mdat, moov) with its `mdat` box grown by
filler bytes after the real samples (the sample offsets in `stco` point into the start of
`mdat`, which does not move; `moov` moves, nothing points at it). Over 4 GiB the 8-byte `free`
box before `mdat` becomes the 64-bit largesize, so no offset moves either. The engine signs and
verifies it like any MP4 (it hashes every byte of `mdat`).

S3: moto's server on loopback in a child process (tests/objects/s3_server.py); the input is
uploaded once, unmeasured. Each measured step runs in a fresh Python process of its own, so that
its peak RSS belongs to that step alone:

  (a) raw engine sign, file to file: c2pa `Builder(manifest, context)` + a callback `Signer`,
      with the Context originmark signs with (`signer.engine_settings.signing_settings`) and
      the manifest definition it builds, local files — the reference;
  (b) originmark `sign_object` S3 -> S3 with an `IsolatedSigner` of one worker (download to a
      spool file, sign in the worker, SHA-256 of the output, multipart upload);
  (c) raw engine verify of (b)'s signed file (downloaded beforehand, unmeasured): c2pa
      `Reader("video/mp4", stream, context)` + `json()` + validation state with the service's
      trust settings;
  (d) originmark `verify_object` from S3 with an `IsolatedVerifier` of one worker;
  (f) (b) again without the soft binding (`SignerOptions(soft_binding=False)`, to another key):
      what the key frames' fingerprint (verifier/video_fingerprint.py) adds to (b);
  (g) `fingerprint_video` of the input alone, in the step process. The input's frames are the
      fixture's five 32x32 pictures: the fingerprint seeks to key frames and never reads the
      filler, so (g) shows that its cost does not grow with the file, not what decoding a real
      video's key frames costs (docs/performance.md has that).

For (b) and (d) the engine runs in the worker, a child of the step process: its VmHWM is read
from /proc before the pool is closed ("engine" column); the step process's own is the
"orchestrator" column. For (a) and (c) the step process is the engine. Worker limits are the
service's defaults (app/settings.py: RLIMIT_AS 2048 MB) except the time limits and
`max_asset_bytes`, widened so that the run measures instead of stopping (the defaults are
printed next to the measured times). `--backing-store-mb` changes the engine's
`core.backing_store_memory_threshold_in_mb` in the raw sign (a) only, to show what that
setting does (default: originmark's, signer/engine_settings.py; the isolated worker always
runs with originmark's own; the verifier sets none). `--merkle-chunk-kb N` signs (a) with
`core.merkle_tree_chunk_size_in_kb` = N and `core.merkle_tree_max_proofs` = 0 (the `mdat` is
hashed as a Merkle tree of N KiB leaves whose hashes are all in the manifest, so no proof
boxes are added to the file) and adds (e), the raw verify of that output. originmark's own
signer (b) does that by default for BMFF sources of 512 MiB or more (16 MiB leaves,
ORIGINMARK_SIGN_MERKLE_BMFF_FROM_MB); `--plain-hash` makes (b) sign with the plain hash instead,
as third-party videos are, so that (d) shows the verifier's hash pacing on such a file.
This script imports c2pa directly: the raw engine is the reference, not product code.

What sets the peak (measured 2026-11-26, c2pa-rs 0.91.3): not the file's size. From about
512 MiB up (512 MiB, 1, 2 and 4.1 GiB inputs, sign and verify alike) the raw engine's peak is
flat at ~560-600 MiB RSS, of which ~510-530 MiB is anonymous memory: c2pa-rs hashes in buffers
of up to 256 MB (its MAX_HASH_BUF, not a setting in this version) and reads the next chunk
while a "c2pa-hash" thread hashes the previous one, so two buffers are full at once; the rest
is Python with the engine loaded (~45-57 MiB). Below 256 MB the buffers shrink to the file.
The verifier worker hands the engine its file through verifier/hash_pacing.py, whose large
reads wait for the previous chunk's hash thread to end: one buffer at a time, ~300 MiB on a
plain-hashed file. The signer cannot pace the engine (it hashes its own temporary copy of the
asset, not our stream): with the plain hash (b) holds two buffers, ~525-570 MiB depending on
whether hashing or reading is the slower. Signed with a Merkle tree over `mdat` (originmark's
default for large BMFF), the engine hashes in leaf-sized buffers: ~70 MiB to sign, and the
output verifies at ~65 MiB.
The backing-store threshold only decides whether the asset itself is also held in memory (4096
on a 1 GiB input: 1.5 GiB RSS).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
TARGET_BYTES = 600_000_000  # "600 MB", read as 10^6 bytes: the stricter of the two readings
FIXTURE = ROOT / "tests" / "fixtures" / "media" / "tiny.mp4"
GENERATOR, GENERATOR_VERSION = "Bench Video Model", "1.0"  # what both sign steps declare
STEP_TIMEOUT_SECONDS = 3600.0  # per measured step; the worker limits below are what a step may use


# --- the input ---


def make_large_mp4(path: Path, size_bytes: int) -> None:
    """tiny.mp4 grown to about `size_bytes` by filler at the end of its `mdat` box."""
    data = FIXTURE.read_bytes()
    boxes = []  # (type, start, size)
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append((kind, offset, size))
        offset += size
    kinds = [kind for kind, _, _ in boxes]
    if kinds != [b"ftyp", b"free", b"mdat", b"moov"]:
        raise SystemExit(f"{FIXTURE} changed layout ({kinds}); update make_large_mp4")
    (_, ftyp_at, ftyp_size), (_, free_at, free_size), (_, mdat_at, mdat_size), (_, moov_at, moov_size) = boxes
    payload = data[mdat_at + 8 : mdat_at + mdat_size]
    moov = data[moov_at : moov_at + moov_size]
    filler = max(0, size_bytes - len(data))
    body = len(payload) + filler
    block = os.urandom(MB)  # not compressible, no two MiB alike (an index in front)
    with path.open("wb") as out:
        out.write(data[ftyp_at : ftyp_at + ftyp_size])
        if 8 + body <= 0xFFFFFFFF:
            out.write(data[free_at : free_at + free_size])
            out.write(struct.pack(">I4s", 8 + body, b"mdat"))
        else:  # 64-bit largesize: 16-byte header in place of free (8) + mdat (8): no sample offset moves
            assert free_size == 8
            out.write(struct.pack(">I4sQ", 1, b"mdat", 16 + body))
        out.write(payload)
        written, index = 0, 0
        while written < filler:
            chunk = (index.to_bytes(8, "big") + block[8:])[: filler - written]
            out.write(chunk)
            written += len(chunk)
            index += 1
        out.write(moov)


# --- measuring ---


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def s3_store(state: dict):
    from app.objects.s3 import S3ObjectStore, S3Options

    return S3ObjectStore(
        options=S3Options(
            endpoint_url=state["endpoint_url"], region="us-east-1", addressing_style="path", read_timeout_seconds=600
        )
    )


def setting_default(name: str):
    from app.settings import Settings

    return Settings.model_fields[name].default


def step_raw_sign(state: dict) -> dict:
    import c2pa

    from keys.loader import load_signing_key
    from signer.engine_settings import signing_settings
    from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version
    from signer.self_check import chain_anchor_pem

    source, destination = Path(state["source"]), Path(state["raw_signed"])
    signing_key = load_signing_key(chain_path=Path(state["chain"]), key_path=Path(state["key"]))
    anchor_pem, anchor_is_issuer = chain_anchor_pem(signing_key.chain_pem)
    settings = signing_settings(thumbnails=False, local_anchors_pem=anchor_pem if anchor_is_issuer else None)
    if state["backing_store_mb"] is not None:
        settings["core"]["backing_store_memory_threshold_in_mb"] = state["backing_store_mb"]
    if state.get("merkle_chunk_kb") is not None:
        settings["core"]["merkle_tree_chunk_size_in_kb"] = state["merkle_chunk_kb"]
        settings["core"]["merkle_tree_max_proofs"] = 0  # every leaf hash in the manifest: no uuid proof boxes
    context = c2pa.Context.from_dict(settings)
    raw_signer = c2pa.Signer.from_callback(signing_key.sign, c2pa.C2paSigningAlg.ES256, signing_key.chain_pem, None)
    manifest = build_manifest_definition(
        GenerationRequest(generator_name=GENERATOR, generator_version=GENERATOR_VERSION),
        default_title="large.mp4",
        originmark_version=originmark_version(),
    )
    started = time.perf_counter()
    with c2pa.Builder(manifest, context=context) as builder:
        with source.open("rb") as src, destination.open("w+b") as dst:
            builder.sign(raw_signer, "video/mp4", src, dst)
    seconds = time.perf_counter() - started
    output_bytes = destination.stat().st_size
    return {"seconds": seconds, "engine_mb": vm_hwm_mb(), "orchestrator_mb": None, "output_bytes": output_bytes}


def step_originmark_sign(state: dict, *, soft_binding: bool = True) -> dict:
    from app.objects.media import sign_object
    from signer.engine import SignerOptions
    from signer.isolation import IsolatedSigner, SignLimits
    from signer.manifest import GenerationRequest

    limits = SignLimits(timeout_seconds=STEP_TIMEOUT_SECONDS, memory_bytes=setting_default("sign_memory_mb") * MB)
    store = s3_store(state)
    with IsolatedSigner(
        chain_path=Path(state["chain"]),
        key_path=Path(state["key"]),
        # originmark's default: a Merkle-tree hash for BMFF sources of 512 MiB or more.
        options=SignerOptions(
            merkle_bmff_from_bytes=None if state.get("plain_hash") else SignerOptions().merkle_bmff_from_bytes,
            soft_binding=soft_binding,
        ),
        limits=limits,
        workers=1,
    ) as signer:
        worker = signer.worker_pids[0]
        started_mb = vm_hwm_mb(worker)
        started = time.perf_counter()
        signed = sign_object(
            store=store,
            signer=signer,
            source=state["source_uri"],
            destination=state["signed_uri"] if soft_binding else state["unfingerprinted_uri"],
            request=GenerationRequest(generator_name=GENERATOR, generator_version=GENERATOR_VERSION),
            spool_dir=Path(state["spool"]),
        )
        seconds = time.perf_counter() - started
        if signer.worker_pids[0] != worker:
            raise SystemExit("the signing worker was replaced during the run: its peak is lost")
        engine_mb = vm_hwm_mb(worker)
    return {
        "seconds": seconds,
        "engine_seconds": signed.result.elapsed_seconds,
        "engine_mb": engine_mb,
        "engine_idle_mb": started_mb,
        "orchestrator_mb": vm_hwm_mb(),
        "output_bytes": signed.destination.size,
        "output_sha256": signed.output_sha256,
    }


def step_raw_verify(state: dict, *, signed_key: str = "local_signed") -> dict:
    import c2pa

    from verifier.trust import default_trust_policy

    policy = default_trust_policy(local_anchors_pem=Path(state["ca"]).read_text())
    context = c2pa.Context.from_dict(policy.engine_settings())
    started = time.perf_counter()
    with Path(state[signed_key]).open("rb") as stream:
        reader = c2pa.Reader("video/mp4", stream, context=context)
        json.loads(reader.json())
        validation = reader.get_validation_state()
        reader.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "engine_mb": vm_hwm_mb(), "orchestrator_mb": None, "state": str(validation)}


def step_originmark_verify(state: dict) -> dict:
    from app.objects.media import verify_object
    from verifier.isolation import IsolatedVerifier, VerifyLimits
    from verifier.trust import default_trust_policy

    policy = default_trust_policy(local_anchors_pem=Path(state["ca"]).read_text())
    limits = VerifyLimits(
        timeout_seconds=STEP_TIMEOUT_SECONDS,
        memory_bytes=setting_default("verify_memory_mb") * MB,
        max_asset_bytes=max(setting_default("max_asset_bytes"), state["signed_bytes"]),
    )
    store = s3_store(state)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1) as verifier:
        worker = verifier.worker_pids[0]
        started_mb = vm_hwm_mb(worker)
        started = time.perf_counter()
        verified = verify_object(
            store=store, verifier=verifier, uri=state["signed_uri"], spool_dir=Path(state["spool"])
        )
        seconds = time.perf_counter() - started
        if verifier.worker_pids[0] != worker:
            raise SystemExit(f"the verifier worker was replaced during the run: {verified.verdict.state}")
        engine_mb = vm_hwm_mb(worker)
    verdict = verified.verdict
    return {
        "seconds": seconds,
        "engine_mb": engine_mb,
        "engine_idle_mb": started_mb,
        "orchestrator_mb": vm_hwm_mb(),
        "state": verdict.state.value,
        "detail": f"{verdict.reason} {verdict.error_code} {verdict.failure_codes}"[:400],
        "sha256_matches": verified.sha256 == state["signed_sha256"],
    }


def step_raw_verify_raw_signed(state: dict) -> dict:
    """(e): (a)'s output, signed with --merkle-chunk-kb."""
    return step_raw_verify(state, signed_key="raw_signed")


def step_fingerprint(state: dict) -> dict:
    from verifier.video_fingerprint import fingerprint_video

    started = time.perf_counter()
    video = fingerprint_video(Path(state["source"]))
    return {
        "seconds": time.perf_counter() - started,
        "engine_mb": None,
        "orchestrator_mb": vm_hwm_mb(),
        "key_frames": len(video.key_frames),
    }


STEPS = {
    "raw-sign": step_raw_sign,
    "originmark-sign": step_originmark_sign,
    "originmark-sign-unfingerprinted": lambda state: step_originmark_sign(state, soft_binding=False),
    "fingerprint": step_fingerprint,
    "raw-verify": step_raw_verify,
    "originmark-verify": step_originmark_verify,
    "raw-verify-raw-signed": step_raw_verify_raw_signed,
}


def run_step(name: str, state_path: Path) -> dict:
    """One step in a fresh process; its last stdout line is the result as JSON."""
    process = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--step", name, "--state", str(state_path)],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_SECONDS + 60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if process.returncode != 0:
        raise SystemExit(f"step {name} failed (exit {process.returncode}):\n{process.stderr[-4000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


# --- the run ---


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048, help="size of the MP4 in MiB (default 2048)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (input, signed file, logs)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a new one in the temp dir)")
    parser.add_argument(
        "--backing-store-mb",
        type=int,
        default=None,
        help="backing_store_memory_threshold_in_mb for the raw sign (a) only (default: originmark's)",
    )
    parser.add_argument(
        "--merkle-chunk-kb",
        type=int,
        default=None,
        help="sign (a) with a Merkle tree of N KiB leaves over mdat and raw-verify its output as (e) (default: off)",
    )
    parser.add_argument(
        "--plain-hash",
        action="store_true",
        help="sign (b) with the plain BMFF hash (ORIGINMARK_SIGN_MERKLE_BMFF_FROM_MB unset), as a third-party "
        "video would be: (b) then holds two 256 MB engine buffers, and (d) shows the verifier's hash pacing",
    )
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step:  # a measured step, in a process of its own
        state = json.loads(args.state.read_text())
        print(json.dumps(STEPS[args.step](state)), flush=True)
        return 0

    from app.objects.transfer import upload_file
    from keys.devca import create_development_credentials
    from signer.engine_settings import BACKING_STORE_MEMORY_THRESHOLD_MB
    from tests.objects.s3_server import AWS_TEST_ENVIRONMENT, AWS_VARIABLES_TO_CLEAR, moto_s3_server

    # Throw-away credentials for moto, in this process and (inherited) in every step's.
    os.environ.update(AWS_TEST_ENVIRONMENT)
    for name in AWS_VARIABLES_TO_CLEAR:
        os.environ.pop(name, None)

    work = args.work or Path(tempfile.mkdtemp(prefix="originmark-large-video-"))
    work.mkdir(parents=True, exist_ok=True)
    size = args.size_mb * MB
    free = shutil.disk_usage(work).free
    if free < 6 * size:  # input, moto's copies of input and output, spool copy, signed output, local signed copy
        raise SystemExit(f"{work}: {free // MB} MiB free, this run needs about {6 * size // MB} MiB")
    try:
        credentials = create_development_credentials(work / "keys")
        assert credentials.key_path is not None, "create_development_credentials writes the key file"
        source = work / "large.mp4"
        started = time.perf_counter()
        make_large_mp4(source, size)
        print(f"input: {source} {source.stat().st_size} B, made in {time.perf_counter() - started:.1f} s", flush=True)
        (work / "spool").mkdir(exist_ok=True)
        state = {
            "source": str(source),
            "raw_signed": str(work / "raw-signed.mp4"),
            "local_signed": str(work / "originmark-signed.mp4"),
            "spool": str(work / "spool"),
            "chain": str(credentials.chain_path),
            "key": str(credentials.key_path),
            "ca": str(credentials.ca_path),
            "backing_store_mb": args.backing_store_mb,
            "merkle_chunk_kb": args.merkle_chunk_kb,
            "plain_hash": args.plain_hash,
        }
        state_path = work / "state.json"
        results: dict[str, dict] = {}
        with moto_s3_server(work / "moto.log") as server:
            state["endpoint_url"] = server.endpoint_url
            store = s3_store(state)
            store.client().create_bucket(Bucket="videos")
            state["source_uri"] = "s3://videos/in/large.mp4"
            state["signed_uri"] = "s3://videos/out/large-signed.mp4"
            state["unfingerprinted_uri"] = "s3://videos/out/large-signed-unfingerprinted.mp4"
            state_path.write_text(json.dumps(state))
            started = time.perf_counter()
            upload_file(store, source, state["source_uri"])
            print(f"uploaded to moto in {time.perf_counter() - started:.1f} s", flush=True)

            results["a"] = run_step("raw-sign", state_path)
            print(f"(a) raw sign: {results['a']}", flush=True)
            if args.merkle_chunk_kb is not None:
                results["e"] = run_step("raw-verify-raw-signed", state_path)
                print(f"(e) raw verify of (a): {results['e']}", flush=True)
            if not args.keep:
                Path(state["raw_signed"]).unlink()
            results["b"] = run_step("originmark-sign", state_path)
            print(f"(b) originmark sign: {results['b']}", flush=True)
            results["f"] = run_step("originmark-sign-unfingerprinted", state_path)
            print(f"(f) originmark sign without the soft binding: {results['f']}", flush=True)
            store.delete(store_location(state["unfingerprinted_uri"]))
            results["g"] = run_step("fingerprint", state_path)
            print(f"(g) fingerprint_video alone: {results['g']}", flush=True)

            # (b)'s output, local, for the raw verify (unmeasured); its hash must be what (b) reported
            with (
                store.open_read(store_location(state["signed_uri"])) as reader,
                open(state["local_signed"], "wb") as out,
            ):
                while chunk := reader.read(MB):
                    out.write(chunk)
            state["signed_bytes"] = Path(state["local_signed"]).stat().st_size
            state["signed_sha256"] = file_sha256(Path(state["local_signed"]))
            if state["signed_sha256"] != results["b"]["output_sha256"]:
                raise SystemExit("the stored signed object is not what sign_object reported")
            state_path.write_text(json.dumps(state))

            results["c"] = run_step("raw-verify", state_path)
            print(f"(c) raw verify: {results['c']}", flush=True)
            results["d"] = run_step("originmark-verify", state_path)
            print(f"(d) originmark verify: {results['d']}", flush=True)

        report(args, source.stat().st_size, state, results, BACKING_STORE_MEMORY_THRESHOLD_MB)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def store_location(uri: str):
    from app.objects.location import parse_object_uri

    return parse_object_uri(uri)


def report(args, input_bytes: int, state: dict, results: dict, default_threshold: int) -> None:
    import c2pa

    def mb(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    def million_bytes(value: float | None) -> str:
        return "-" if value is None else f"{value * MB / 1e6:.0f}"

    def verdict(value: float) -> str:  # judged in 10^6 bytes; the margin left to 600,000,000 bytes in both units
        peak = value * MB
        passed = peak < TARGET_BYTES
        margin = (TARGET_BYTES - peak) / 1e6
        return f"{'PASS' if passed else 'FAIL'} (margin {margin:.0f} MB = {margin * 1e6 / MB:.0f} MiB)"

    rows = [
        ("(a) raw engine sign, file to file", results["a"], input_bytes, None),
        ("(b) originmark sign_object S3 -> S3", results["b"], input_bytes, verdict(results["b"]["engine_mb"])),
        ("(c) raw engine verify, local file", results["c"], state["signed_bytes"], None),
        (
            "(d) originmark verify_object from S3",
            results["d"],
            state["signed_bytes"],
            verdict(results["d"]["engine_mb"]),
        ),
        ("(f) = (b) without the soft binding", results["f"], input_bytes, verdict(results["f"]["engine_mb"])),
        ("(g) fingerprint_video of the input alone", results["g"], input_bytes, None),
    ]
    if "e" in results:
        merkle_note = f" (--merkle-chunk-kb {args.merkle_chunk_kb})"
        rows[0] = (rows[0][0] + merkle_note, *rows[0][1:])
        rows.append(
            (f"(e) raw engine verify of (a)'s output{merkle_note}", results["e"], results["a"]["output_bytes"], None)
        )
    threshold = args.backing_store_mb if args.backing_store_mb is not None else default_threshold
    print()
    print(
        f"engine: c2pa-python {importlib.metadata.version('c2pa-python')} / c2pa-rs {c2pa.sdk_version()}; "
        f"backing_store_memory_threshold_in_mb={threshold}; worker RLIMIT_AS "
        f"{setting_default('sign_memory_mb')} MB (sign) / {setting_default('verify_memory_mb')} MB (verify)"
    )
    print(
        f"input: {input_bytes} B MP4 ({input_bytes / MB:.0f} MiB); signed: {state['signed_bytes']} B; "
        f"S3: moto {importlib.metadata.version('moto')} on loopback (child process)"
    )
    print()
    print(
        "| operation | seconds | MiB/s | engine peak RSS MiB | engine peak 10^6 B | orchestrator peak RSS MiB "
        "| target (< 600,000,000 B) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, result, size, target in rows:
        print(
            f"| {name} | {result['seconds']:.1f} | {size / MB / result['seconds']:.0f} | {mb(result['engine_mb'])} | "
            f"{million_bytes(result['engine_mb'])} | {mb(result['orchestrator_mb'])} | {target or '-'} |"
        )
    print()
    print(
        f"(b): engine time in the worker {results['b']['engine_seconds']:.1f} s (the rest: download to spool, "
        f"output SHA-256, multipart upload); worker peak after start-up, before the file: "
        f"{results['b']['engine_idle_mb']:.0f} MiB; service default sign timeout {setting_default('sign_timeout_seconds'):g} s"
    )
    print(f"(c): validation state {results['c']['state']}")
    print(
        f"(d): verdict {results['d']['state']}, sha256 matches {results['d']['sha256_matches']}; worker peak before the "
        f"file {results['d']['engine_idle_mb']:.0f} MiB; service default verify timeout "
        f"{setting_default('verify_timeout_seconds'):g} s, max_asset_bytes {setting_default('max_asset_bytes')} "
        f"({'over' if state['signed_bytes'] > setting_default('max_asset_bytes') else 'within'} it: signed file "
        f"{state['signed_bytes']} B)"
    )
    if results["d"]["state"] != "trusted":
        print(f"(d) detail: {results['d']['detail']}")
    if "e" in results:
        print(f"(e): validation state {results['e']['state']}")
    print(
        f"(f): engine time in the worker {results['f']['engine_seconds']:.2f} s, (b)'s {results['b']['engine_seconds']:.2f} s "
        f"(with the fingerprint); (g): {results['g']['key_frames']} key frames in {results['g']['seconds'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
