"""Object URIs: what is accepted, what each part means, and what is refused with which words."""

from __future__ import annotations

import pytest

from app.objects.errors import InvalidObjectUri
from app.objects.location import ObjectLocation, Scheme, parse_object_uri


@pytest.mark.parametrize(
    ("uri", "scheme", "bucket", "key"),
    [
        ("s3://media/ai/gen.jpg", Scheme.S3, "media", "ai/gen.jpg"),
        ("S3://media/a%20b.jpg", Scheme.S3, "media", "a%20b.jpg"),  # S3 keys are literal, as in the AWS CLI
        ("s3://media/a/../b.jpg", Scheme.S3, "media", "a/../b.jpg"),  # a name in S3, not a walk up
        ("s3://media", Scheme.S3, "media", ""),  # a whole bucket: a prefix, not an object
        ("s3://my.bucket-1/prefix/", Scheme.S3, "my.bucket-1", "prefix/"),
        ("file:///data/objects/a%20b.jpg", Scheme.FILE, "", "/data/objects/a b.jpg"),  # RFC 8089: decoded
        ("file://localhost/data/x.jpg", Scheme.FILE, "", "/data/x.jpg"),
        ("photos/gen 1.jpg", Scheme.FILE, "", "photos/gen 1.jpg"),  # a plain path, relative to the folder
        ("/data/objects/x.jpg", Scheme.FILE, "", "/data/objects/x.jpg"),
    ],
)
def test_parse(uri, scheme, bucket, key):
    location = parse_object_uri(uri)
    assert (location.scheme, location.bucket, location.key) == (scheme, bucket, key)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("", "empty"),
        ("s3://", "names no bucket"),
        ("s3:///key", "names no bucket"),
        ("s3://a/key", "not an S3 bucket name"),  # too short
        ("s3://bad_bucket!/key", "not an S3 bucket name"),
        ("s3://two..dots/key", "not an S3 bucket name"),
        ("http://example.com/x.jpg", "uses the scheme 'http'"),
        ("ftp://host/x", "uses the scheme 'ftp'"),
        ("file://evil.example/etc/passwd", "names another host"),
        ("file:///x.jpg?download=1", "query or fragment"),
        ("file:///bad%ff.jpg", "not UTF-8"),
        ("s3://media/line\nbreak.jpg", "control character"),
        ("s3://media/nul\x00.jpg", "control character"),
        ("s3://media/" + "k" * 1025, "at most 1024"),
        ("s3://media/\ud800.jpg", "not valid Unicode"),
    ],
)
def test_refused(uri, words):
    with pytest.raises(InvalidObjectUri, match=words.replace("(", r"\(")):
        parse_object_uri(uri)


def test_uri_round_trips():
    for uri in ("s3://media/a b/ü.jpg", "file:///data/a%20b/%C3%BC.jpg", "gen/x.jpg"):
        location = parse_object_uri(uri)
        assert parse_object_uri(location.uri) == location
    assert parse_object_uri("file:///data/a%20b.jpg").uri == "file:///data/a%20b.jpg"


def test_require_object_refuses_prefixes():
    for uri in ("s3://media", "s3://media/folder/"):
        with pytest.raises(InvalidObjectUri, match="not an object"):
            parse_object_uri(uri).require_object()
    assert parse_object_uri("s3://media/x").require_object().name == "x"


def test_a_local_location_has_no_bucket():
    with pytest.raises(InvalidObjectUri):
        ObjectLocation(Scheme.FILE, "x", "bucket")
