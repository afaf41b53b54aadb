"""Short synthetic videos for the video fingerprint's tests, written with PyAV (a project dependency).

A video is a few scenes, each a distinct picture with structure at every scale (random shapes
over a gradient, from a seed) held for a while with a little movement, so that its key frames
have codes far apart from each other and a re-encoded copy's key frames land near the original's.
"""

from __future__ import annotations

import random
import subprocess
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

from verifier.video_code import ffmpeg_executable


def scene_picture(seed: int, size: tuple[int, int], *, grain: float = 0.0) -> Image.Image:
    """Shapes over a gradient; `grain` (0..1) blends in noise, for the bitrate of a filmed scene."""
    rng = random.Random(seed)
    width, height = size
    picture = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize(size).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for _ in range(14):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(width // 12, width // 3)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
        else:
            draw.rectangle((x - radius, y - radius // 2, x + radius, y + radius // 2), fill=colour)
    if grain > 0:
        picture = Image.blend(picture, Image.effect_noise(size, 30).convert("RGB"), grain)
    return picture


def write_scenes_video(
    path: Path,
    *,
    seeds: tuple[int, ...] = (11, 22, 33, 44),
    size: tuple[int, int] = (192, 144),
    fps: int = 10,
    frames_per_scene: int = 10,
    gop: int = 10,
    codec: str = "libx264",
    container_format: str | None = None,
    bit_rate: int | None = None,
    grain: float = 0.0,
    pan: int = 1,
) -> Path:
    """A video of one scene per seed; a key frame every `gop` frames (and only there: the
    encoder's own key frames at scene cuts are off). Each scene pans `pan` pixels a frame."""
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.codec_context.options = {"preset": "veryfast", "x264-params": "scenecut=0"}
        if bit_rate is not None:
            stream.codec_context.bit_rate = bit_rate
        index = 0
        for seed in seeds:
            picture = scene_picture(seed, size, grain=grain)
            for step in range(frames_per_scene):
                shift = step * pan if pan > 1 else step % 3
                moved = picture.transform(size, Image.Transform.AFFINE, (1, 0, shift, 0, 1, 0))
                frame = av.VideoFrame.from_image(moved)
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                index += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def reencode(
    source: Path,
    destination: Path,
    *,
    size: tuple[int, int],
    codec: str = "mpeg4",
    bit_rate: int = 150_000,
    gop: int = 7,
) -> Path:
    """What a platform does to an upload: decoded, scaled, encoded again with another codec, bitrate and
    key-frame interval (so its key frames fall elsewhere), without the original's metadata."""
    with av.open(str(source)) as original, av.open(str(destination), "w") as out:
        video = original.streams.video[0]
        stream = out.add_stream(codec, rate=video.average_rate or 10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.bit_rate = bit_rate
        for index, frame in enumerate(original.decode(video)):
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            scaled.pts = index
            scaled.time_base = Fraction(1, int(video.average_rate or 10))
            for packet in stream.encode(scaled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return destination


def frame_at(source: Path, seconds: float) -> Image.Image:
    """The picture a player shows at `seconds` (a still someone takes from the video)."""
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        for frame in container.decode(video):
            if frame.time is not None and frame.time >= seconds:
                return frame.to_image()
    raise ValueError(f"{source.name} has no frame at {seconds} s")


def ffmpeg_copy(signed: bytes, folder: Path, arguments: list[str]) -> bytes:
    """The signed video made into a copy by the bundled FFmpeg with `arguments`, metadata and sound dropped."""
    executable = ffmpeg_executable()
    assert executable is not None
    source, copy = folder / "signed.mp4", folder / "copy.mp4"
    source.write_bytes(signed)
    subprocess.run(
        [executable, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-map_metadata", "-1",
         *arguments, "-an", str(copy)],
        check=True, timeout=120,
    )  # fmt: skip
    data = copy.read_bytes()
    assert b"c2pa" not in data and data != signed
    return data


def cut_copy(signed: bytes, folder: Path, *, cut_seconds: float) -> bytes:
    """A copy with its first `cut_seconds` cut, re-encoded (MPEG-4 Part 2, 1 Mbit/s, a key frame every 45
    frames: none where the signed video's are), metadata dropped: its key frames show the scenes
    elsewhere than the original's do."""
    return ffmpeg_copy(signed, folder, ["-ss", str(cut_seconds), "-c:v", "mpeg4", "-b:v", "1M", "-g", "45"])


def portrait_copy(source: Path, destination: Path) -> Path:
    """`source` (an MP4 written by write_scenes_video) as a phone's portrait video: the pixels stored
    sideways and the track header's matrix saying "turn 90 degrees clockwise to show" (the matrix
    FFmpeg writes for rotate=90). A player, and a still taken from it, shows it upright."""
    import struct

    data = bytearray(source.read_bytes())
    matrix = data.index(b"tkhd") + 4 + 24 + 16  # version 0: flags, times, ids, duration; reserved, layer...
    assert struct.unpack(">9i", data[matrix : matrix + 36]) == (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    destination.write_bytes(bytes(data))
    return destination
