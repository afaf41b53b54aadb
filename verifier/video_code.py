"""The ISCC Video-Code of a video (ISO 24138, `io.iscc.v0`): MPEG-7 frame signatures from FFmpeg's
`signature` filter, hashed by `iscc_core.gen_video_code_v0`.

Why a separate FFmpeg: PyAV's wheels bundle an FFmpeg built without the `signature` filter
(verifier/video_fingerprint.py decodes the key frames with PyAV); the `imageio-ffmpeg` wheel ships
a static FFmpeg whose build has it. It runs as a child process, the way iscc-sdk extracts the
signatures (`fps=fps=5,signature=...`: five frames a second, the ISCC reference rate), with the
signatures written as XML to a file in a private temporary folder and parsed here.

Bounds, because the file may be an untrusted upload (any failure is "no Video-Code", never an error
of the caller: the key frames are the fingerprint that is searched):
- FFmpeg reads only the file given, by path: `-protocol_whitelist file` (no network, no other
  protocol a crafted playlist could name), `-format_whitelist mov,avi` (MP4, MOV and AVI only:
  never a playlist or concat script naming other files), `file:` before the path (never read as a
  URL or an option), `-nostdin`, only the first video track;
- at most `max_media_seconds` of the video are analysed (`-t` on the input): a longer video's code
  is of its start, and the assertion scopes it to that timespan rather than to the whole asset;
- the decoder's own `max_pixels` (as for the key frames) and two decoding threads (every frame is
  decoded, the cost of the code; the signatures are the same with one thread, measured);
- the child's address space (`memory_bytes`), CPU seconds, the size of any file it writes (the
  signature file) and no core file, set by a small trampoline (`python -I -S`: the same interpreter,
  resource limits, then exec) rather than `preexec_fn`, which is unsafe in a process with threads
  (the engine's);
- an empty environment: no credential or proxy setting of the service reaches it;
- wall-clock time (`time_limit_seconds`): the child is killed and there is no code;
- at most `max_frames` signatures are parsed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import iscc_core

VIDEO_CODE_BITS = 64  # the ISCC Video-Code's default length (iscc_core.core_opts.video_bits)
SIGNATURE_FPS = 5  # frames a second analysed: iscc-sdk's default (video_fps)
_FRAME_SIGNATURE_VALUES = 380  # an MPEG-7 frame signature: 380 ternary values
_FRAME_SIGNATURE = re.compile(rb"<FrameSignature>([0-9 ]+)</FrameSignature>")
# The containers fingerprinted (signer.formats.FINGERPRINTED_VIDEO_FORMATS: MP4, MOV, AVI): the mov
# demuxer (MP4 and MOV) and avi. Never a playlist or concat script, which would name other files.
_DEMUXERS = "mov,avi"

# Runs in the child before FFmpeg: the limits, then FFmpeg in its place (same process id, so the
# parent's kill on time-out reaches FFmpeg itself). argv: memory, cpu seconds, file bytes, ffmpeg args...
# A limit is never raised above the one this process has (a verifier worker's own address space).
_TRAMPOLINE = (
    "import os, resource as r, sys\n"
    "def cap(kind, value):\n"
    "    hard = r.getrlimit(kind)[1]\n"
    "    value = value if hard == r.RLIM_INFINITY else min(value, hard)\n"
    "    r.setrlimit(kind, (value, value))\n"
    "for kind, value in zip((r.RLIMIT_AS, r.RLIMIT_CPU, r.RLIMIT_FSIZE, r.RLIMIT_CORE), (*map(int, sys.argv[1:4]), 0)):\n"
    "    cap(kind, value)\n"
    "os.execv(sys.argv[4], sys.argv[4:])\n"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoCodeBounds:
    """How much of a video FFmpeg may decode, and with what, to compute its Video-Code."""

    max_media_seconds: float = 60.0
    # At ~0.1-0.2 s per second of 1080p (measured, loaded: docs/performance.md) the 60 s analysed fit
    # with room; a signing worker's own limit is far above (sign_timeout_seconds, 120 s by default).
    time_limit_seconds: float = 20.0
    memory_bytes: int = 1024 * 1024 * 1024  # the FFmpeg child's address space
    max_frame_pixels: int = 7680 * 4320  # as verifier.video_fingerprint.VideoBounds
    max_signature_bytes: int = 16 * 1024 * 1024  # the XML file FFmpeg writes (~1.6 kB a frame)
    max_frames: int = 5_000

    def __post_init__(self) -> None:
        if (
            min(self.max_media_seconds, self.time_limit_seconds) <= 0
            or min(self.memory_bytes, self.max_frame_pixels, self.max_signature_bytes, self.max_frames) < 1
        ):
            raise ValueError("the Video-Code's bounds are positive")


DEFAULT_CODE_BOUNDS = VideoCodeBounds()


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoCode:
    """The ISCC Video-Code of a video's first `end_ms` milliseconds (None: of the whole video)."""

    iscc: str  # canonical, "ISCC:EM..."
    frames: int  # frame signatures it was computed from
    end_ms: int | None  # set when the video is longer than the analysed span

    @property
    def iscc_digest(self) -> bytes:
        """The ISCC unit in binary (header and body): what the soft-binding assertion carries, base64-encoded."""
        return bytes(iscc_core.decode_base32(self.iscc.removeprefix("ISCC:")))

    @property
    def code64(self) -> int:
        return int.from_bytes(self.iscc_digest[2:10], "big")


def ffmpeg_executable() -> str | None:
    """The FFmpeg binary the imageio-ffmpeg wheel ships (with the signature filter); None without it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        executable = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the wheel's binary is missing (a platform without one)
        return None
    return executable if os.access(executable, os.X_OK) else None


def video_code(
    path: Path, *, duration_ms: int | None, bounds: VideoCodeBounds = DEFAULT_CODE_BOUNDS
) -> VideoCode | None:
    """The Video-Code of the video file at `path`, or None when it cannot be computed within the bounds.

    `duration_ms`: as the container declares it (verifier.video_fingerprint), to say whether the
    code covers the whole video; None: unknown, taken as longer than the analysed span.
    """
    executable = ffmpeg_executable()
    if executable is None:
        return None
    try:
        folder = Path(tempfile.mkdtemp(prefix="originmark-mp7-"))
    except OSError:  # no room for the signature file: no code, as for any other bound
        return None
    try:
        signatures = _frame_signatures(executable, path, folder / "signature.xml", bounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not signatures:
        return None
    span_ms = round(bounds.max_media_seconds * 1000)
    whole = duration_ms is not None and duration_ms <= span_ms
    iscc = iscc_core.gen_video_code_v0(signatures, bits=VIDEO_CODE_BITS)["iscc"]
    return VideoCode(iscc=iscc, frames=len(signatures), end_ms=None if whole else span_ms)


def _frame_signatures(executable: str, path: Path, output: Path, bounds: VideoCodeBounds) -> list[tuple[int, ...]]:
    # The filter's option syntax would read ':' ',' '\' or quotes in the file name; the folder is our own.
    if any(character in str(output) for character in ":,'\\;[]="):
        return []
    command = [
        executable,
        "-nostdin",
        "-hide_banner",
        "-loglevel", "error",
        "-protocol_whitelist", "file",
        "-format_whitelist", _DEMUXERS,
        "-threads", "2",
        "-max_pixels", str(bounds.max_frame_pixels),
        "-t", f"{bounds.max_media_seconds:g}",
        "-i", "file:" + os.path.abspath(path),
        "-map", "0:v:0",
        "-an", "-sn", "-dn",
        "-vf", f"fps=fps={SIGNATURE_FPS},signature=format=xml:filename={output}",
        "-f", "null",
        "-",
    ]  # fmt: skip
    cpu_seconds = 2 * int(bounds.time_limit_seconds) + 1  # two decoding threads: up to twice the wall time
    limits = [str(bounds.memory_bytes), str(cpu_seconds), str(bounds.max_signature_bytes)]
    try:
        finished = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, *limits, *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=bounds.time_limit_seconds,
            check=False,
            close_fds=True,
            env={},  # nothing of this process's environment (credentials, proxies) reaches a decoder of uploads
        )
    except (subprocess.TimeoutExpired, OSError):  # run() kills the child on a time-out
        return []
    if finished.returncode != 0:
        return []
    try:
        with output.open("rb") as file:
            data = file.read(bounds.max_signature_bytes + 1)
    except OSError:
        return []
    if len(data) > bounds.max_signature_bytes:
        return []
    return _parse(data, bounds.max_frames)


def _parse(data: bytes, max_frames: int) -> list[tuple[int, ...]]:
    """The frame signatures of FFmpeg's XML, in order; none when one is malformed."""
    signatures = []
    for match in _FRAME_SIGNATURE.finditer(data):
        values = tuple(int(value) for value in match.group(1).split())
        if len(values) != _FRAME_SIGNATURE_VALUES or any(value > 2 for value in values):
            return []
        signatures.append(values)
        if len(signatures) >= max_frames:
            break
    return signatures
