"""The local folder store never reads or writes outside its folder, and writes atomically."""

from __future__ import annotations

import io
import os

import pytest

from app.objects.errors import InvalidObjectUri, ObjectNotFound
from app.objects.local import LocalFolderStore
from app.objects.location import ObjectLocation, Scheme, parse_object_uri


@pytest.fixture
def store(tmp_path):
    return LocalFolderStore(root=tmp_path / "objects")


def at(key: str) -> ObjectLocation:
    return ObjectLocation(Scheme.FILE, key)


@pytest.mark.parametrize("key", ["../outside.jpg", "a/../../outside.jpg", "a/./b.jpg", "a//b.jpg", "./a.jpg", "a/.."])
def test_traversal_and_odd_segments_are_refused(store, tmp_path, key):
    with pytest.raises(InvalidObjectUri):
        store.put(at(key), io.BytesIO(b"x"))
    with pytest.raises(InvalidObjectUri):
        store.stat(at(key))
    assert not (tmp_path / "outside.jpg").exists()


def test_absolute_paths_must_be_inside_the_folder(store, tmp_path):
    (tmp_path / "secret.txt").write_text("not an object")
    with pytest.raises(InvalidObjectUri, match="outside the local object folder"):
        store.stat(parse_object_uri((tmp_path / "secret.txt").as_uri()))
    with pytest.raises(InvalidObjectUri, match="outside"):
        store.open_read(parse_object_uri("/etc/passwd"))
    with pytest.raises(InvalidObjectUri, match="outside"):
        store.put(
            parse_object_uri(f"{tmp_path}/objects-sibling/x.jpg"), io.BytesIO(b"x")
        )  # a prefix of the name is not inside
    inside = store.put(parse_object_uri((store.root / "in" / "x.jpg").as_uri()), io.BytesIO(b"in"))
    assert inside.location.key == "in/x.jpg"
    assert store.stat(at("in/x.jpg")).etag == inside.etag


def test_symlinks_out_of_the_folder_are_not_followed(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"secret")
    os.symlink(outside, store.root / "link")
    os.symlink(outside / "secret.jpg", store.root / "file-link.jpg")
    with pytest.raises(ObjectNotFound):
        store.open_read(at("link/secret.jpg"))
    with pytest.raises(ObjectNotFound):
        store.stat(at("file-link.jpg"))
    with pytest.raises(InvalidObjectUri, match="link out of"):
        store.put(at("link/new.jpg"), io.BytesIO(b"x"))
    assert sorted(p.name for p in outside.iterdir()) == ["secret.jpg"]
    store.delete(at("link/secret.jpg"))
    assert (outside / "secret.jpg").exists()
    assert store.list_page(at("")).items == ()  # neither link is listed


def test_partial_folder_is_private(store):
    with pytest.raises(InvalidObjectUri, match="unfinished writes"):
        store.put(at(".originmark-partial/x"), io.BytesIO(b"x"))
    store.put(at("a.jpg"), io.BytesIO(b"x"))
    assert (store.root / ".originmark-partial").is_dir()
    assert [item.location.key for item in store.list_page(at("")).items] == ["a.jpg"]


def test_written_files_are_private_and_atomic(store):
    info = store.put(at("deep/er/x.jpg"), io.BytesIO(b"abc"))
    path = store.root / "deep" / "er" / "x.jpg"
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o600
    assert info.uri == path.as_uri()
    assert list((store.root / ".originmark-partial").iterdir()) == []


def test_an_object_and_a_folder_of_the_same_name_cannot_coexist(store):
    store.put(at("a"), io.BytesIO(b"object a"))
    with pytest.raises(InvalidObjectUri, match="cannot be stored in a folder"):
        store.put(at("a/b"), io.BytesIO(b"x"))
    store.put(at("c/d"), io.BytesIO(b"x"))
    with pytest.raises(InvalidObjectUri, match="cannot be stored in a folder"):
        store.put(at("c"), io.BytesIO(b"x"))
    with pytest.raises(ObjectNotFound, match="folder"):
        store.stat(at("c"))
    assert list((store.root / ".originmark-partial").iterdir()) == []


def test_overlong_segment_is_refused(store):
    with pytest.raises(InvalidObjectUri, match="longer than 255"):
        store.put(at("x" * 256), io.BytesIO(b"x"))
