"""Format detection: from the bytes, never the name; every supported format is one the engine embeds into."""

from __future__ import annotations

import shutil

import c2pa
import pytest

from signer.errors import SourceUnreadable, UnsupportedFormat
from signer.formats import SUPPORTED_FORMAT_NAMES, SUPPORTED_FORMATS, detect_format
from verifier.media_type import SNIFF_BYTES, sniff_media_type

from .issue_formats import ISSUE_FORMATS


def test_the_supported_formats_are_the_ones_the_issue_lists():
    assert set(SUPPORTED_FORMAT_NAMES) == set(ISSUE_FORMATS)


@pytest.mark.parametrize("media_format", SUPPORTED_FORMATS, ids=lambda f: f.name)
def test_every_supported_mime_type_is_one_the_engine_can_embed_into(media_format):
    assert media_format.mime in c2pa.Builder.get_supported_mime_types()
    assert media_format.extension in c2pa.Builder.get_supported_mime_types()


@pytest.mark.parametrize("name", sorted(ISSUE_FORMATS))
def test_each_sample_is_detected_as_its_format(media_samples, name):
    assert detect_format(media_samples[name]).name == name


@pytest.mark.parametrize("name", sorted(ISSUE_FORMATS))
def test_the_file_name_does_not_matter(media_samples, tmp_path, name):
    disguised = tmp_path / "looks-like.png.txt"
    shutil.copyfile(media_samples[name], disguised)
    assert detect_format(disguised).name == name


@pytest.mark.parametrize("name", sorted(ISSUE_FORMATS))
def test_the_verifier_names_each_format_as_the_signer_does(media_samples, name):
    # The two detectors are separate on purpose (signer/formats.py docstring); they must not drift apart.
    sample = media_samples[name]
    with sample.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
    assert sniff_media_type(head) == detect_format(sample).mime


def test_a_jpeg_named_png_is_a_jpeg(make_jpeg, tmp_path):
    assert detect_format(make_jpeg(tmp_path / "photo.png")).name == "JPEG"


def test_unsupported_bytes_give_an_error_listing_the_supported_formats(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("just some text, not an image\n")
    with pytest.raises(UnsupportedFormat) as caught:
        detect_format(text)
    message = str(caught.value)
    assert message.startswith("not a supported media format; supported formats: JPEG, PNG")
    for name in ISSUE_FORMATS:
        assert name in message
    assert caught.value.supported == SUPPORTED_FORMAT_NAMES


def test_an_unsupported_iso_media_brand_is_named(tmp_path):
    canon_raw = tmp_path / "x.mp4"
    canon_raw.write_bytes(b"\x00\x00\x00\x14ftypcrx \x00\x00\x00\x00crx " + b"\x00" * 32)
    with pytest.raises(UnsupportedFormat, match="ISO media file with brand 'crx '"):
        detect_format(canon_raw)


def test_a_riff_file_of_another_kind_is_unsupported(tmp_path):
    riff = tmp_path / "x.wav"
    riff.write_bytes(b"RIFF\x20\x00\x00\x00RMID" + b"\x00" * 32)
    with pytest.raises(UnsupportedFormat, match="RIFF file of type 'RMID'"):
        detect_format(riff)


def test_an_empty_file_is_unreadable_not_unsupported(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(SourceUnreadable, match="is empty"):
        detect_format(empty)


def test_a_folder_and_a_missing_file_are_unreadable(tmp_path):
    with pytest.raises(SourceUnreadable, match="is a folder"):
        detect_format(tmp_path)
    with pytest.raises(SourceUnreadable, match="No such file"):
        detect_format(tmp_path / "missing.jpg")


def test_flac_behind_an_id3_tag_is_flac(media_samples, tmp_path):
    tag_body = b"TIT2\x00\x00\x00\x05\x00\x00\x03abc"  # one text frame
    size = len(tag_body)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    tagged = tmp_path / "tagged.flac"
    tagged.write_bytes(b"ID3\x04\x00\x00" + syncsafe + tag_body + media_samples["FLAC"].read_bytes())
    assert detect_format(tagged).name == "FLAC"


def test_an_mp3_without_id3_tag_is_found_by_its_frame_header(tmp_path):
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz frame header.
    bare = tmp_path / "bare.bin"
    bare.write_bytes(b"\xff\xfb\x90\x64" + b"\x00" * 413)
    assert detect_format(bare).name == "MP3"


def test_an_svg_with_a_doctype_and_comments_is_svg(tmp_path):
    svg = tmp_path / "d.xml"
    svg.write_text(
        '\ufeff<?xml version="1.0"?>\n<!-- a > comment -->\n'
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" '
        '[ <!ENTITY e "x"> ]>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        encoding="utf-8",
    )
    assert detect_format(svg).name == "SVG"


def test_html_is_not_svg(tmp_path):
    html = tmp_path / "page.svg"
    html.write_text("<!DOCTYPE html><html><body><svg></svg></body></html>")
    with pytest.raises(UnsupportedFormat):
        detect_format(html)


def test_a_quicktime_movie_without_ftyp_is_mov(tmp_path):
    old_movie = tmp_path / "old"
    old_movie.write_bytes(b"\x00\x00\x00\x08wide" + b"\x00\x00\x00\x10mdat" + b"\x00" * 8)
    assert detect_format(old_movie).name == "MOV"
