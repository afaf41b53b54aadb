"""verifier/video_fingerprint.py: key frames of a video, coded as stills are, within bounds."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from tests.videos import frame_at, portrait_copy, reencode, write_scenes_video
from verifier.errors import UndecodableVideo
from verifier.fingerprint import (
    DESCRIPTOR_THRESHOLD,
    SEARCH_RADIUS,
    descriptor_similarity,
    fingerprint_decoded,
    hamming64,
)
from verifier.video_fingerprint import VideoBounds, fingerprint_video

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "media"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    return write_scenes_video(tmp_path_factory.mktemp("video") / "scenes.mp4")


def test_the_key_frames_and_their_timespans(scenes):
    video = fingerprint_video(scenes)
    assert (video.width, video.height, video.duration_ms, video.complete) == (192, 144, 4000, True)
    assert [(frame.start_ms, frame.end_ms) for frame in video.key_frames] == [
        (0, 999),
        (1000, 1999),
        (2000, 2999),
        (3000, 4000),
    ]
    codes = [frame.fingerprint.code64 for frame in video.key_frames]
    assert min(hamming64(a, b) for i, a in enumerate(codes) for b in codes[i + 1 :]) > 2 * SEARCH_RADIUS


def test_a_key_frame_is_coded_as_the_same_picture_as_a_still(scenes):
    """One rule for stills and frames: the key frame's code is the code of that frame taken as an image."""
    video = fingerprint_video(scenes)
    assert video.key_frames[2].fingerprint == fingerprint_decoded(frame_at(scenes, 2.0))


def test_a_rotated_video_is_coded_as_it_is_shown(scenes, tmp_path):
    """A phone's portrait video: the pixels are stored sideways and the track header's matrix says
    "turn 90 degrees clockwise to show" (FFmpeg writes that matrix for rotate=90). A still taken from
    the player is upright, so the key frame is coded upright."""
    rotated = portrait_copy(scenes, tmp_path / "portrait.mp4")
    upright = frame_at(scenes, 0.0).transpose(Image.Transpose.ROTATE_270)  # 90 degrees clockwise
    assert fingerprint_video(rotated).key_frames[0].fingerprint == fingerprint_decoded(upright)
    assert fingerprint_video(scenes).key_frames[0].fingerprint != fingerprint_decoded(upright)


def test_at_most_max_key_frames_evenly_spaced(scenes):
    video = fingerprint_video(scenes, bounds=VideoBounds(max_key_frames=2))
    assert [(frame.start_ms, frame.end_ms) for frame in video.key_frames] == [(0, 1999), (2000, 4000)]


def test_a_long_group_of_pictures_gives_fewer_distinct_key_frames(tmp_path):
    """Points that fall in one group of pictures do not fingerprint the same key frame twice."""
    source = write_scenes_video(tmp_path / "long-gop.mp4", gop=20)  # key frames at 0 s and 2 s
    video = fingerprint_video(source)
    assert [frame.start_ms for frame in video.key_frames] == [0, 2000]


@pytest.mark.parametrize("name", ["tiny.mp4", "tiny.mov", "tiny.avi"])
def test_the_committed_fixtures(name):
    video = fingerprint_video(FIXTURES / name)
    assert [frame.start_ms for frame in video.key_frames] == [0, 100, 200, 300, 400]
    assert video.key_frames[-1].end_ms == 500


def test_a_reencoded_copy_finds_each_scene(scenes, tmp_path):
    """Another codec, bitrate, size and key-frame interval: each of the copy's key frames passes both
    checks against the original's key frame of its scene, and no other."""
    copy = reencode(scenes, tmp_path / "copy.mp4", size=(128, 96))
    original = fingerprint_video(scenes).key_frames
    for frame in fingerprint_video(copy).key_frames:
        scene = frame.start_ms // 1000
        matches = [
            index
            for index, candidate in enumerate(original)
            if hamming64(frame.fingerprint.code64, candidate.fingerprint.code64) <= SEARCH_RADIUS
            and descriptor_similarity(frame.fingerprint.descriptor, candidate.fingerprint.descriptor)
            >= DESCRIPTOR_THRESHOLD
        ]
        assert matches == [scene], frame.start_ms


def test_absurd_dimensions_are_refused_from_the_header(scenes):
    with pytest.raises(UndecodableVideo, match="header declares 192x144 pixels; at most 20,000"):
        fingerprint_video(scenes, bounds=VideoBounds(max_frame_pixels=20_000))


def test_the_decoder_itself_is_bounded_too(scenes):
    """FFmpeg's max_pixels goes to the decoder: a frame over the bound is never allocated."""
    with av.open(str(scenes)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"max_pixels": "20000"}
        with pytest.raises(av.error.FFmpegError):
            next(container.decode(stream))


def test_a_spent_time_budget_yields_no_fingerprint(scenes):
    with pytest.raises(UndecodableVideo, match="no key frame"):
        fingerprint_video(scenes, bounds=VideoBounds(time_budget_seconds=1e-9))


@pytest.mark.parametrize(
    ("name", "message"),
    [("tiny.m4a", "no video track"), ("tiny.mp3", "no video track")],
)
def test_no_video_track(name, message):
    with pytest.raises(UndecodableVideo, match=message):
        fingerprint_video(FIXTURES / name)


def test_a_codec_ffmpeg_does_not_know(tmp_path):
    source = tmp_path / "unknown.avi"
    source.write_bytes((FIXTURES / "tiny.avi").read_bytes().replace(b"MJPG", b"ZZZZ"))  # the stream's FourCC
    with pytest.raises(UndecodableVideo, match="no decoder for the video track's codec"):
        fingerprint_video(source)


def test_not_a_container(tmp_path):
    source = tmp_path / "noise.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 4)
    with pytest.raises(UndecodableVideo):
        fingerprint_video(source)


def test_bounds_are_checked():
    with pytest.raises(ValueError, match="max_key_frames"):
        VideoBounds(max_key_frames=17)
    with pytest.raises(ValueError, match="positive"):
        VideoBounds(time_budget_seconds=0)
