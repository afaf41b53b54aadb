"""Inputs the fuzzing found, each made here byte by byte.

- Engine crashers cannot be fixed in originmark (the engine is c2pa-rs), so each pins that
  originmark contains them: the isolated verifier answers an `error` verdict and replaces
  its worker, and the service answers (verify: 200 with that verdict; sign: 422
  `resource_limit`) and goes on serving.
- Verdicts holding a class the pool's reply allow-list lacked (TimeStamp) came back from the
  worker as "the engine exceeded the memory limit or crashed" (the fuzz suite's crash
  confirmation found it: alone, those files verified); every verdict class now crosses.
- Engine messages quoting the upload: a parent whose manifest holds a DEL made the 422's
  message carry it raw (JSON does not escape DEL, C1 or bidi characters); error messages now
  go through the same cleaning as manifest text.
- Unsignable files: the engine signs them, but its output's own credentials do not verify.
  POST /v1/sign used to answer 200 with that output (and store it as signed); it now refuses
  it with 422 `unsignable_media` and keeps nothing.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.api.helpers import ApiKeys
from tests.fuzz.harness import WORKERS, gone
from tests.security.checks import text_problems
from verifier.verdict import VerdictState


def id3_frame_size_bomb() -> bytes:
    """An MP3 whose ID3v2.3 TIT2 frame declares 0xFFFF0003 bytes (compressed, 100 bytes unpacked).

    c2pa-rs 0.91.3 allocates the declared size up front: "memory allocation of 4294901759
    bytes failed", then the process aborts (found by tests/fuzz from the corpus file
    id3v23_compression_underflow.mp3 with two bytes set to 0xFF; 445 bytes).
    """
    id3_header = b"ID3\x03\x00\x00" + b"\x00\x00\x00\x0e"  # version 2.3, no flags, tag size 14 (synchsafe)
    frame = b"TIT2" + b"\xff\xff\x00\x03" + b"\x00\x80" + b"\x00\x00\x00\x64"  # size, flags: compressed, unpacked size
    mpeg_frame = b"\xff\xfb\x90\x00"  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    data = id3_header + frame + mpeg_frame
    return data + bytes(445 - len(data))


CRASHERS = {"id3 frame size bomb (mp3)": id3_frame_size_bomb}


def _image(pillow_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buffer, pillow_format)
    return buffer.getvalue()


def jpeg_with_two_start_markers() -> bytes:
    return b"\xff\xd8" + _image("JPEG")  # the output's data hash no longer covers what a reader hashes


def webp_with_two_riff_headers() -> bytes:
    webp = _image("WEBP")
    return webp[:12] + webp


def mp4_not_starting_with_ftyp() -> bytes:
    # A `free` box before `ftyp`: the engine signs it, then cannot read its own output.
    return (
        b"\x00\x00\x00\x08free" + (Path(__file__).resolve().parents[1] / "fixtures" / "media" / "tiny.mp4").read_bytes()
    )


UNSIGNABLE = {
    "jpeg with two SOI markers": jpeg_with_two_start_markers,
    "webp with two RIFF headers": webp_with_two_riff_headers,
    "mp4 with free before ftyp": mp4_not_starting_with_ftyp,
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_the_isolated_verifier_contains_the_crasher_and_recovers(name, pool, in_process, tmp_path, shared_dir):
    path = tmp_path / "crasher.bin"
    path.write_bytes(CRASHERS[name]())
    before = set(pool.worker_pids)
    verdict = pool.verify_file(path)
    assert verdict.state is VerdictState.ERROR
    assert "memory limit" in verdict.reason and "crashed" in verdict.reason
    after = pool.worker_pids
    assert len(after) == WORKERS and not any(gone(pid) for pid in after) and set(after) != before
    good = shared_dir / "corpus" / "public-testfiles/image/jpeg/adobe-20220124-CA.jpg"
    assert pool.verify_file(good) == in_process.verify_file(good)


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_the_service_answers_the_crasher_and_keeps_serving(name, server):
    data = CRASHERS[name]()
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buffer, "JPEG")
    headers = ApiKeys.header(server.token)
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http:
        verified = http.post("/v1/verify", files={"file": ("x.mp3", data, "audio/mpeg")})
        assert verified.status_code == 200, verified.text
        assert verified.json()["verdict"]["state"] == "error"
        for files in ({"file": ("x.mp3", data)}, {"file": ("e.jpg", buffer.getvalue()), "parent": ("p.mp3", data)}):
            signed = http.post("/v1/sign", files=files, data={"generator": "G"})
            assert signed.status_code == 422 and signed.json()["error"]["code"] == "resource_limit", signed.text
        assert (
            http.post("/v1/sign", files={"file": ("ok.jpg", buffer.getvalue())}, data={"generator": "G"}).status_code
            == 200
        )
    assert server.alive


@pytest.mark.parametrize("name", sorted(UNSIGNABLE))
def test_a_file_the_engine_cannot_sign_into_a_verifiable_one_is_refused(name, server):
    headers = ApiKeys.header(server.token)
    media_id = f"unsignable-{name.split()[0]}"
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http:
        signed = http.post(
            "/v1/sign",
            files={"file": ("upload.bin", UNSIGNABLE[name]())},
            data={"generator": "G", "media_id": media_id},
        )
        assert signed.status_code == 422, (signed.status_code, signed.text[:300])
        error = signed.json()["error"]
        assert error["code"] == "unsignable_media" and "re-encode" in error["message"]
        assert http.get(f"/v1/verdicts/{media_id}").status_code == 404  # nothing was stored as signed
    assert server.alive and sorted(p.name for p in server.spool.iterdir()) == []


def test_an_engine_message_quoting_a_hostile_parent_is_cleaned(server, shared_dir):
    """video1.mp4 with two bytes of its claim set to DEL: the engine's decoding error quotes them."""
    parent = bytearray((shared_dir / "corpus" / "c2pa-rs/sdk/tests/fixtures/video1.mp4").read_bytes())
    parent[17242:17244] = b"\x7f\x7f"
    with httpx.Client(base_url=server.base_url, headers=ApiKeys.header(server.token), timeout=60) as http:
        signed = http.post(
            "/v1/sign",
            files={"file": ("edit.jpg", _image("JPEG")), "parent": ("parent.mp4", bytes(parent))},
            data={"generator": "G"},
        )
    assert signed.status_code == 422, signed.text
    assert b"\x7f" not in signed.content and text_problems(signed.json()) == []
    assert "could not sign the parent" in signed.json()["error"]["message"]


def test_a_verdict_with_a_time_stamp_crosses_the_pool_intact(pool, in_process, shared_dir):
    path = shared_dir / "corpus" / "public-testfiles/image/jpeg/adobe-20220124-CA.jpg"  # time-stamped by Adobe
    verdict = pool.verify_file(path)
    assert verdict == in_process.verify_file(path)
    assert verdict.state is VerdictState.VALID and verdict.time_stamp is not None
