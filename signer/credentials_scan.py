"""A cheap, conservative answer to "does the file to sign carry Content Credentials?".

Signing keeps the credentials a file already carries (issue 15): the signer must know whether
there are any before it builds the manifest. Asking the engine (a `Reader` over the whole file
through Python read callbacks) cost 2-5 ms CPU per 3 MB JPEG inside a signing call, up to a tenth
of the whole call, for a file that in most uploads carries nothing (docs/performance.md).

`certainly_without_credentials` answers True only where the engine certainly finds nothing, from
the headers alone; every other answer ("maybe") sends the file to the engine as before, so
credentials are never dropped on the word of this module. Only JPEG is read here (the bulk of
uploads); every other format goes to the engine.

What c2pa-rs 0.91.3 reads in a JPEG (asset_handlers/jpeg_io.rs on img-parts 0.4.0), and so what
must be absent for the answer to be True:

- its segments from SOI up to the first SOS only: the parser stops there (the rest is entropy
  data to it). Measured: a store moved after the SOS header, before EOI or after EOI is not found
  (tests/signer/test_credentials_scan.py pins this against the engine);
- a manifest store is an APP11 segment whose contents hold "c2pa" at bytes 24-28 (the store's
  JUMBF description box type): any APP11 segment at all answers "maybe" here;
- without a store, a remote manifest named by the XMP `dcterms:provenance` (the engine then
  refuses to fetch it, which the signer counts as credentials): any APP1 segment holding the
  bytes "provenance" answers "maybe".

The walk accepts only the plain layout (SOI, then length-prefixed segments, each right after the
previous one, up to SOS): a fill byte, a byte that is not a marker where one must be, a marker
without a length, EOI before SOS, a truncated segment or more than MAX_SEGMENTS segments all
answer "maybe" (the engine's parser skips junk bytes to the next FF, so another layout could
hide a segment from a stricter walk), as does a file that cannot be read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from signer.formats import JPEG, MediaFormat

MAX_SEGMENTS = 4096  # header segments walked before giving the file to the engine
_APP1 = 0xE1
_APP11 = 0xEB
_SOS = 0xDA
_REMOTE_REFERENCE = b"provenance"  # in the XMP property dcterms:provenance


def certainly_without_credentials(path: Path, media_format: MediaFormat) -> bool:
    """True only when the engine would find no Content Credentials (no manifest store, no remote
    reference) in the file at `path`; False means "maybe": ask the engine."""
    if media_format != JPEG:
        return False
    try:
        with open(path, "rb") as stream:
            return _jpeg_headers_without_credentials(stream, os.fstat(stream.fileno()).st_size)
    except OSError:
        return False


def _jpeg_headers_without_credentials(stream: BinaryIO, size: int) -> bool:
    if stream.read(2) != b"\xff\xd8":
        return False
    position = 2
    for _ in range(MAX_SEGMENTS):
        head = stream.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            return False
        marker = head[1]
        if marker == _SOS:
            return True  # the engine reads no further
        if marker == _APP11 or marker in (0xFF, 0x00, 0x01, 0xD8, 0xD9) or 0xD0 <= marker <= 0xD7:
            return False  # a store, or a layout this walk does not follow
        length = int.from_bytes(head[2:4], "big")
        end = position + 2 + length
        if length < 2 or end > size:
            return False
        if marker == _APP1:
            contents = stream.read(length - 2)
            if len(contents) != length - 2 or _REMOTE_REFERENCE in contents:
                return False
        else:
            stream.seek(end)
        position = end
    return False
