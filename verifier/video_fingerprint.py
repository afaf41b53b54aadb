"""The content fingerprint of a video: ISCC Image-Codes of a few key frames, each with its time.

What finds a signed video again once its credentials are gone is one of its pictures: a re-encoded
copy's key frames, or a still someone took from it, looked up among the fingerprinted key frames of
every signed video in the manifest repository. So a video is fingerprinted as up to
`VideoBounds.max_key_frames` stills, each normalised and coded exactly as an image is
(`verifier.fingerprint.fingerprint_decoded`: one home for the rule), and each key frame becomes one
block of the `c2pa.soft-binding` assertion, scoped to its `timespan` (milliseconds from the start
of the media, C2PA 2.x soft-binding scope).

The first key frame is also a video's poster frame, its feed thumbnail's picture (`poster_frame`,
decoded the same way within the same bounds).

Which frames: `max_key_frames` points evenly spaced over the duration the container declares,
the first at the start; at each, a seek to the key frame at or before it, or the next key frame
when that one was taken already. Only key-frame packets are decoded (the packets between them are
demuxed, not decoded). Without a declared duration, the first key frames in order.

Beside the key frames, the ISCC Video-Code of the whole video (verifier/video_code.py: MPEG-7
frame signatures from the FFmpeg the imageio-ffmpeg wheel ships, PyAV's FFmpeg lacking the
`signature` filter), when it can be computed within its own bounds; the key frames are the
fingerprint all the same without it. Each key frame's fingerprint keeps its descriptor (the 16x16
thumbnail a lookup's second check compares, as for an image).

Bounds, because uploads are untrusted (each is a refusal as UndecodableVideo, or a shorter result):
- the first video track's dimensions from the container header, before any frame is decoded, and
  every decoded frame's again (a stream may change size): at most `max_frame_pixels`, which is also
  FFmpeg's own `max_pixels` for the probe that opens the file (it may decode a frame to find the
  stream's parameters; it reads at most FFmpeg's default 5 MB) and for the decoder;
- the packets read after a seek while looking for a key frame (`max_packets_per_point`), and in all;
- wall-clock time: once `time_budget_seconds` is spent, the key frames decoded so far are the
  fingerprint (none yet: refused). A single frame's decode is bounded by its size;
- one decoding thread (frame threading would hold several decoded frames at once).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PIL import Image

from verifier.errors import UndecodableVideo
from verifier.fingerprint import ImageFingerprint, fingerprint_decoded
from verifier.video_code import DEFAULT_CODE_BOUNDS, VideoCode, VideoCodeBounds, video_code

if TYPE_CHECKING:
    import av

T = TypeVar("T")

# The container's display matrix turns the decoded picture by `frame.rotation` degrees counter-clockwise
# (-90: a phone's portrait video, "rotate=90"); a player shows it turned, and so is a still taken
# from it: the same turn in Pillow (whose ROTATE_* turn counter-clockwise).
_ROTATIONS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoBounds:
    """How much of a video is decoded to fingerprint it."""

    # The repository keeps at most 16 soft bindings per entry (app/store/repository.py).
    max_key_frames: int = 12
    max_frame_pixels: int = 7680 * 4320  # 8K UHD: ~100 MB as RGB, the largest picture decoded
    max_packets_per_point: int = 2_000  # a 60 s group of pictures at 30 fps is 1,800 packets
    time_budget_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_key_frames <= 16:
            raise ValueError(f"max_key_frames is 1 to 16, got {self.max_key_frames}")
        if self.max_frame_pixels < 1 or self.max_packets_per_point < 1 or self.time_budget_seconds <= 0:
            raise ValueError("the frame size, packet and time bounds are positive")


DEFAULT_BOUNDS = VideoBounds()


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyFrame:
    """One fingerprinted key frame and the span of the video it stands for, in milliseconds from the
    start: from the frame to the next fingerprinted one (the last: to the declared end)."""

    start_ms: int
    end_ms: int
    fingerprint: ImageFingerprint


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoFingerprint:
    width: int  # of the video track, from the container header
    height: int
    duration_ms: int | None  # as the container declares it
    key_frames: tuple[KeyFrame, ...]  # in time order, at least one
    complete: bool  # False: the time budget ran out before every point was reached
    video_code: VideoCode | None = None  # None: not asked for, or not computable within its bounds


def fingerprint_video(
    path: Path, *, bounds: VideoBounds = DEFAULT_BOUNDS, code_bounds: VideoCodeBounds | None = DEFAULT_CODE_BOUNDS
) -> VideoFingerprint:
    """The key-frame fingerprints of a video file and its Video-Code (`code_bounds` None: without it);
    UndecodableVideo when no key frame can be fingerprinted within the bounds."""
    keyed = _key_frames(path, bounds=bounds)
    if code_bounds is None:
        return keyed
    return dataclasses.replace(keyed, video_code=video_code(path, duration_ms=keyed.duration_ms, bounds=code_bounds))


def poster_frame(path: Path, *, bounds: VideoBounds = DEFAULT_BOUNDS) -> Image.Image:
    """The video's first key frame as a player shows it (turned upright), for a feed thumbnail
    (verifier/thumbnail.py): the fingerprint's first frame, decoded the same way within the same
    bounds (the frame size from the header and as decoded, the packets read, one decoding thread);
    UndecodableVideo when there is none within them."""

    def first(container: av.container.InputContainer) -> Image.Image:
        stream = _video_stream(container, bounds)
        taken: list[tuple[int, Image.Image]] = []
        _take_next(container, stream, taken, bounds=bounds, make=lambda frame: _frame_picture(frame, bounds))
        if not taken:
            raise UndecodableVideo("no key frame could be decoded within the bounds")
        return taken[0][1]

    return _decoded(path, bounds, first)


def _key_frames(path: Path, *, bounds: VideoBounds) -> VideoFingerprint:
    deadline = time.monotonic() + bounds.time_budget_seconds
    return _decoded(path, bounds, lambda container: _fingerprint(container, bounds=bounds, deadline=deadline))


def _decoded(path: Path, bounds: VideoBounds, work: Callable[[av.container.InputContainer], T]) -> T:
    """`work` on the opened container; every FFmpeg failure as UndecodableVideo."""
    # Imported here: FFmpeg's libraries cost ~50 ms to load, which processes that never fingerprint a
    # video (the CLI's verify, a verifier worker) need not pay for importing the signer's modules.
    import av
    import av.error

    try:
        # max_pixels also bounds the frames FFmpeg's probe may decode to find the stream's parameters.
        container = av.open(
            str(path), mode="r", metadata_errors="ignore", options={"max_pixels": str(bounds.max_frame_pixels)}
        )
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise UndecodableVideo(f"not a container FFmpeg can read: {error}") from error
    try:
        with container:
            return work(container)
    except UndecodableVideo:
        raise
    except (av.error.FFmpegError, OSError, ValueError, MemoryError) as error:
        raise UndecodableVideo(f"the video cannot be decoded: {error}") from error


def _video_stream(container: av.container.InputContainer, bounds: VideoBounds) -> av.VideoStream:
    """The first video track, its decoder set to decode key frames only, one thread, bounded in size."""
    if not container.streams.video:
        raise UndecodableVideo("the file has no video track")
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec is None:  # PyAV's answer when this FFmpeg has no decoder for the track's codec
        raise UndecodableVideo("no decoder for the video track's codec")
    _check_size(codec.width, codec.height, bounds, what="the video track's header declares")
    codec.thread_count = 1
    codec.skip_frame = "NONKEY"
    # The decoder's own bound (checked when it allocates a picture), should the stream change size.
    codec.options = {"max_pixels": str(bounds.max_frame_pixels)}
    return stream


def _fingerprint(container: av.container.InputContainer, *, bounds: VideoBounds, deadline: float) -> VideoFingerprint:
    stream = _video_stream(container, bounds)
    width, height = stream.codec_context.width, stream.codec_context.height
    time_base = stream.time_base
    if time_base is None or time_base <= 0:
        raise UndecodableVideo("the video track declares no time base")
    origin = stream.start_time or 0
    duration = _duration_pts(container, stream, time_base)

    taken: list[tuple[int, ImageFingerprint]] = []  # (pts, fingerprint)

    def coded(frame: av.VideoFrame) -> ImageFingerprint:
        return fingerprint_decoded(_frame_picture(frame, bounds))

    complete = True
    if duration is None:
        complete = _take_in_order(container, stream, taken, bounds=bounds, deadline=deadline, make=coded)
    else:
        for index in range(bounds.max_key_frames):
            if time.monotonic() > deadline:
                complete = False
                break
            point = origin + duration * index // bounds.max_key_frames
            container.seek(point, stream=stream, backward=True, any_frame=False)
            if _take_next(container, stream, taken, bounds=bounds, make=coded) is _Scan.END_OF_FILE:
                break  # no key frame after the last one taken: later points would land on it again
    if not taken:
        raise UndecodableVideo("no key frame could be decoded within the bounds")

    def ms(pts: int) -> int:
        return max(0, round((pts - origin) * time_base * 1000))

    end_ms = ms(origin + duration) if duration is not None else None
    key_frames = []
    for position, (pts, fingerprint) in enumerate(taken):
        start = ms(pts)
        if position + 1 < len(taken):
            end = max(start, ms(taken[position + 1][0]) - 1)
        else:
            end = max(start, end_ms if end_ms is not None else start)
        key_frames.append(KeyFrame(start_ms=start, end_ms=end, fingerprint=fingerprint))
    return VideoFingerprint(
        width=width, height=height, duration_ms=end_ms, key_frames=tuple(key_frames), complete=complete
    )


def _duration_pts(container: av.container.InputContainer, stream: av.VideoStream, time_base: Fraction) -> int | None:
    """The track's duration in its time base: its own, else the container's (microseconds)."""
    if stream.duration is not None and stream.duration > 0:
        return int(stream.duration)
    if container.duration is not None and container.duration > 0:
        return int(Fraction(container.duration, av.time_base) / time_base)
    return None


class _Scan(enum.Enum):
    TAKEN = "taken"
    PACKET_LIMIT = "packet limit"
    END_OF_FILE = "end of file"


def _take_next(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    taken: list[tuple[int, T]],
    *,
    bounds: VideoBounds,
    make: Callable[[av.VideoFrame], T],
) -> _Scan:
    """From where the demuxer is, the first key frame after the last one taken.

    Only key-frame packets reach the decoder, one at a time, drained at once: a decoder that
    reorders frames would otherwise hold the key frame back until more frames arrive (with every
    other frame skipped, up to the next key frame). Demuxing the packets in between is cheap.
    """
    last = taken[-1][0] if taken else None
    codec = stream.codec_context
    for count, packet in enumerate(container.demux(stream)):
        if packet.size == 0:  # the demuxer's empty packet at the end of the stream
            return _Scan.END_OF_FILE
        if count >= bounds.max_packets_per_point:
            return _Scan.PACKET_LIMIT
        if not packet.is_keyframe or (last is not None and packet.pts is not None and packet.pts <= last):
            continue
        frames = [*codec.decode(packet), *codec.decode(None)]
        codec.flush_buffers()  # ready for the next packet after the drain
        for frame in frames:
            pts = frame.pts if frame.pts is not None else packet.pts
            if pts is not None and (last is None or pts > last):
                taken.append((pts, make(frame)))
                return _Scan.TAKEN
    return _Scan.END_OF_FILE


def _take_in_order(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    taken: list[tuple[int, ImageFingerprint]],
    *,
    bounds: VideoBounds,
    deadline: float,
    make: Callable[[av.VideoFrame], ImageFingerprint],
) -> bool:
    """The first key frames in order (no duration to space them over); False: the time budget ran out."""
    while len(taken) < bounds.max_key_frames:
        if time.monotonic() > deadline:
            return False
        if _take_next(container, stream, taken, bounds=bounds, make=make) is not _Scan.TAKEN:
            return True
    return True


def _frame_picture(frame: av.VideoFrame, bounds: VideoBounds) -> Image.Image:
    """The decoded frame as a player shows it: RGB, turned upright."""
    _check_size(frame.width, frame.height, bounds, what="a decoded frame is")
    # RGB, as a player shows it (the colour matrix the stream declares); PyAV's stubs leave it untyped.
    image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
    rotation = _ROTATIONS.get(frame.rotation % 360)
    if rotation is not None:
        image = image.transpose(rotation)
    return image


def _check_size(width: int, height: int, bounds: VideoBounds, *, what: str) -> None:
    if width <= 0 or height <= 0:
        raise UndecodableVideo(f"{what} no picture size")
    if width * height > bounds.max_frame_pixels:
        raise UndecodableVideo(
            f"{what} {width}x{height} pixels; at most {bounds.max_frame_pixels:,} per frame are fingerprinted"
        )
