"""ObjectAllowList: locations are resolved, then matched against a tenant's prefixes."""

from __future__ import annotations

import os

import pytest

from app.objects.access import LocationResolver, ObjectAllowList, check_prefix_syntax
from app.objects.errors import InvalidObjectUri, ObjectNotAllowed
from app.objects.local import LocalFolderStore
from app.objects.location import parse_object_uri


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "objects"
    (folder / "team-a").mkdir(parents=True)
    (folder / "team-b").mkdir()
    (folder / "job-uploads").mkdir()
    return folder


def _allow(root, *prefixes: str) -> ObjectAllowList:
    resolver = LocationResolver(local=LocalFolderStore(root=root))
    staging = parse_object_uri(root.as_uri() + "/job-uploads/")
    return ObjectAllowList(tenant="t", prefixes=prefixes, staging=staging, resolver=resolver)


def _allowed(allow: ObjectAllowList, uri: str) -> bool:
    try:
        allow.check(parse_object_uri(uri))
    except ObjectNotAllowed:
        return False
    return True


def test_a_local_object_is_the_same_however_it_is_named(root):
    allow = _allow(root, "team-a/")
    for uri in ("team-a/x.jpg", (root / "team-a" / "x.jpg").as_uri(), "team-a/sub/y.jpg"):
        assert _allowed(allow, uri), uri
    for uri in ("team-b/x.jpg", (root / "team-b" / "x.jpg").as_uri(), "team-a-other/x.jpg", "x.jpg"):
        assert not _allowed(allow, uri), uri
    assert _allowed(_allow(root, (root / "team-a").as_uri()), "team-a/x.jpg")  # a prefix given as a URI


def test_a_link_inside_the_folder_counts_where_it_leads(root):
    os.symlink(root / "team-b", root / "team-a" / "door")
    allow = _allow(root, "team-a/")
    assert not _allowed(allow, "team-a/door/secret.jpg")  # under team-a by name, in team-b in fact
    assert _allowed(_allow(root, "team-b/"), "team-a/door/secret.jpg")


def test_the_staging_area_is_never_reachable(root):
    everything = _allow(root, root.as_uri() + "/")
    assert _allowed(everything, "team-a/x.jpg")
    assert not _allowed(everything, "job-uploads/" + "a" * 64)
    assert not _allowed(everything, (root / "job-uploads" / ("a" * 64)).as_uri())


def test_s3_prefixes_are_folders_of_literal_keys(root):
    allow = _allow(root, "s3://bucket/team-a", "s3://whole-bucket/")
    assert _allowed(allow, "s3://bucket/team-a/x.jpg")
    assert _allowed(allow, "s3://whole-bucket/any/key.jpg")
    assert not _allowed(allow, "s3://bucket/team-a-other/x.jpg")
    assert not _allowed(allow, "s3://bucket/x.jpg")
    assert not _allowed(allow, "s3://other-bucket/team-a/x.jpg")
    # Literal on AWS, but a normalising S3-compatible server would read these as other objects:
    for dotted in ("s3://bucket/team-a/../b/x.jpg", "s3://bucket/team-a/./x.jpg", "s3://bucket/team-a//x.jpg"):
        assert not _allowed(allow, dotted), dotted


def test_no_prefixes_allows_no_uri_and_the_refusal_says_how_to_grant(root):
    allow = _allow(root)
    with pytest.raises(ObjectNotAllowed, match="no object prefixes") as refused:
        allow.check(parse_object_uri((root / "team-a" / "x.jpg").as_uri()))
    assert str(root) not in refused.value.message and str(root) not in (refused.value.uri or "")


def test_a_prefix_the_server_cannot_serve_is_refused_when_granted(root):
    resolver = LocationResolver(local=LocalFolderStore(root=root))
    assert check_prefix_syntax("team-a/", resolver) == "team-a/"
    for bad in ("../elsewhere/", "file:///etc/", "ftp://x/"):
        with pytest.raises(InvalidObjectUri):
            check_prefix_syntax(bad, resolver)
