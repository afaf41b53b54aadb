"""The formats issue 2 says the signer must handle, as the issue lists them (the spec, written
out here rather than read from `signer.formats`, so that a format dropped there fails a test)."""

ISSUE_FORMATS: tuple[str, ...] = (
    "JPEG",
    "PNG",
    "WebP",
    "GIF",
    "TIFF",
    "AVIF",
    "HEIC",
    "HEIF",
    "SVG",
    "MP4",
    "MOV",
    "M4A",
    "WAV",
    "MP3",
    "FLAC",
    "AVI",
    "PDF",
)
