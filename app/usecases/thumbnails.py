"""Feed thumbnails (issue 15, "the feed shows the media"): one small signed thumbnail per media id
of a tenant that turned them on (`originmark tenants update NAME --feed-thumbnails`).

Rules:
- made when a file is signed (POST /v1/sign) or verified (POST /v1/verify) with a media id, after
  the answer is sent (app/api/feed_thumbnails.py): the caller never waits for it, and a thumbnail
  that cannot be made (a format Pillow does not read, a bomb, a failed signature) is logged and the
  item keeps its placeholder; the sign or verify answer is the same either way;
- the picture (verifier/thumbnail.py): the file's first frame, upright, at most THUMBNAIL_EDGE px on
  its longest side, a JPEG, decoded in a verifier worker under its limits and bounded before any
  pixel is read. Videos, audio, PDF, SVG, AVIF and HEIC get no thumbnail (their placeholder stays);
- signed as a rendition of the media id's original by the renditions use case
  (app/usecases/renditions.py, the path POST /v1/renditions takes): the original's kept manifest
  store is its parentOf ingredient, its actions c2pa.resized.proportional (+ c2pa.converted when
  the original was not a JPEG), its label the original's. An original without credentials gives a
  thumbnail labelled "no credentials upstream" (the tenant asked for pictures: nothing is
  invented); an invalid one, or one whose store is not kept (verified without keep_manifest), gives
  none. The thumbnail is recorded like any rendition (audit entry, verdict by content, repository
  entry; private when the original's is) but under no media id of its own: it is not a feed item;
- kept in the database (`feed_thumbnails`, a few tens of KB each: no object store needed, one
  backup), served by GET /v1/thumbnails/{media_id} to the tenant (with a read key) or, with public
  label reads, to anyone naming the tenant, but then only when not private; only while the media id
  still points at the content it was made from. Turning the setting off deletes them.
"""

from __future__ import annotations

# What verifier/thumbnail.py makes (a JPEG); stored with each thumbnail and served as its Content-Type.
THUMBNAIL_CONTENT_TYPE = "image/jpeg"


class ThumbnailNotMade(Exception):
    """This media id gets no thumbnail now (why, for the log); its placeholder stays."""
