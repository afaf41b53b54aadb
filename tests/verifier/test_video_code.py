"""The ISCC Video-Code (verifier/video_code.py): computed by the FFmpeg imageio-ffmpeg ships, in a child
process bounded in time, memory and what it may read."""

from __future__ import annotations

import socket
from pathlib import Path

import iscc_core
import pytest

from tests.videos import reencode, write_scenes_video
from verifier.video_code import SIGNATURE_FPS, VideoCodeBounds, _parse, ffmpeg_executable, video_code


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    return write_scenes_video(tmp_path_factory.mktemp("code") / "scenes.mp4", size=(320, 240))


def distance(a, b) -> int:
    return (a.code64 ^ b.code64).bit_count()


def test_the_bundled_ffmpeg_has_the_signature_filter():
    assert ffmpeg_executable() is not None


def test_a_video_code_is_an_iscc_video_code_of_the_whole_video(scenes):
    code = video_code(scenes, duration_ms=4000)
    assert code is not None
    assert code.frames == 4 * SIGNATURE_FPS and code.end_ms is None  # 4 s at five frames a second
    assert iscc_core.iscc_explain(code.iscc).startswith("CONTENT-VIDEO-V0-64-")
    assert code.iscc_digest[0] == 0x23 and len(code.iscc_digest) == 2 + 8


def test_a_re_encoded_copy_is_near_and_an_unrelated_video_far(scenes, tmp_path):
    original = video_code(scenes, duration_ms=4000)
    copy = video_code(
        reencode(scenes, tmp_path / "copy.mp4", size=(176, 132), bit_rate=120_000, gop=7), duration_ms=4000
    )
    other = video_code(
        write_scenes_video(tmp_path / "other.mp4", seeds=(5, 6, 7, 8), size=(320, 240)), duration_ms=4000
    )
    assert original is not None and copy is not None and other is not None
    assert distance(original, copy) <= 10 < 20 <= distance(original, other)


def test_a_longer_video_is_coded_over_its_start_and_says_so(scenes):
    code = video_code(scenes, duration_ms=4000, bounds=VideoCodeBounds(max_media_seconds=2))
    assert code is not None and code.end_ms == 2000 and code.frames == 2 * SIGNATURE_FPS
    unknown = video_code(scenes, duration_ms=None)  # no declared duration: not claimed to be the whole
    assert unknown is not None and unknown.end_ms == 60_000


def test_the_time_and_memory_bounds_leave_no_code(scenes):
    assert video_code(scenes, duration_ms=4000, bounds=VideoCodeBounds(time_limit_seconds=0.01)) is None
    assert video_code(scenes, duration_ms=4000, bounds=VideoCodeBounds(memory_bytes=16 * 1024 * 1024)) is None
    assert video_code(scenes, duration_ms=4000, bounds=VideoCodeBounds(max_frame_pixels=320 * 239)) is None


def test_only_the_file_itself_is_read(scenes, tmp_path):
    """No playlist fetching from the network, no concat script naming other files: no code at all."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        playlist = tmp_path / "playlist.mp4"
        port = listener.getsockname()[1]
        playlist.write_text(
            f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://127.0.0.1:{port}/x.ts\n#EXT-X-ENDLIST\n"
        )
        assert video_code(playlist, duration_ms=4000) is None
        with pytest.raises(TimeoutError):
            listener.accept()
    concat = tmp_path / "concat.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile {scenes}\n")
    assert video_code(concat, duration_ms=4000) is None
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0\0\0\x18ftypmp42" + bytes(range(256)) * 8)
    assert video_code(garbage, duration_ms=4000) is None


def test_a_malformed_signature_file_gives_nothing():
    good = " ".join(["1"] * 380).encode()
    assert len(_parse(b"<FrameSignature>" + good + b"</FrameSignature>", 10)) == 1
    assert _parse(b"<FrameSignature>1 2 3</FrameSignature>", 10) == []  # not 380 values
    assert _parse(b"<FrameSignature>" + good.replace(b"1", b"3", 1) + b"</FrameSignature>", 10) == []  # not ternary
    assert len(_parse((b"<FrameSignature>" + good + b"</FrameSignature>") * 5, 3)) == 3  # at most max_frames
