"""Sign an object from S3 to S3 and verify it from S3, through the real engine.

This is what a job worker will do (app/objects/media.py): copy the object to a spool file,
sign it with `signer.engine.ContentSigner`, upload the output (all or nothing), and verify
objects with `verifier.reader.Verifier` from a spooled copy.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from app.objects.errors import InvalidObjectUri, ObjectNotFound
from app.objects.local import LocalFolderStore
from app.objects.location import parse_object_uri
from app.objects.media import sign_object, verify_object
from app.objects.router import ObjectStores
from signer.engine import ContentSigner, SignerOptions
from signer.errors import UnsupportedFormat
from signer.manifest import GenerationRequest
from verifier.label import label_for
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

from .media_files import sha256_of

CAMERA_JPEG = "public-testfiles/image/jpeg/adobe-20220124-A.jpg"  # a real photo, no credentials


@pytest.fixture(scope="module")
def content_signer(signing_key):
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
    yield signer
    signer.close()


@pytest.fixture(scope="module")
def verifier(dev_credentials):
    return Verifier(policy=default_trust_policy(local_anchors_pem=dev_credentials.ca_pem))


@pytest.fixture
def camera_jpeg(shared_dir):
    path = shared_dir / "corpus" / CAMERA_JPEG
    entry = next(
        e for e in json.loads((shared_dir / "corpus" / "index.json").read_text())["files"] if e["path"] == CAMERA_JPEG
    )
    assert sha256_of(path) == entry["sha256"] and entry["expected"]["outcome"] == "no_manifest"
    return path


@pytest.fixture
def bucket(s3_server, s3_backend):
    return s3_backend.at("").bucket


def jpeg_bytes() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 90)).save(output, "JPEG")
    return output.getvalue()


def test_sign_s3_to_s3_then_verify_from_s3(s3_backend, bucket, content_signer, verifier, camera_jpeg, spool):
    store = s3_backend.store
    source = f"s3://{bucket}/incoming/camera photo ü.jpg"
    destination = f"s3://{bucket}/signed/camera photo ü.jpg"
    with camera_jpeg.open("rb") as stream:
        store.put(parse_object_uri(source), stream)

    signed = sign_object(
        store=store,
        signer=content_signer,
        source=source,
        destination=destination,
        request=GenerationRequest(generator_name="Acme Diffusion", generator_version="2.1"),
        spool_dir=spool,
    )
    assert signed.source_sha256 == sha256_of(camera_jpeg)
    assert signed.destination.uri == destination
    assert signed.destination.size == store.stat(parse_object_uri(destination)).size == signed.result.bytes_written
    assert signed.result.manifest_label.startswith("urn:c2pa:")
    assert list(spool.iterdir()) == []  # source copy, output and private folder all gone

    checked = verify_object(store=store, verifier=verifier, uri=destination, spool_dir=spool)
    verdict = checked.verdict
    assert verdict.state is VerdictState.TRUSTED and verdict.trust_list == "local"
    assert verdict.sha256 == checked.sha256 == signed.output_sha256
    assert verdict.title == "camera photo ü.jpg"  # the object's name, not the spool file's
    assert any("trainedAlgorithmicMedia" in source_type for source_type in verdict.digital_source_types)
    assert label_for(verdict).text == "AI-generated"
    assert list(spool.iterdir()) == []

    original = verify_object(store=store, verifier=verifier, uri=source, spool_dir=spool)
    assert original.verdict.state is VerdictState.NONE  # the source object was left untouched
    assert original.sha256 == signed.source_sha256


def test_ai_edit_with_a_parent_object(s3_backend, bucket, content_signer, verifier, camera_jpeg, spool):
    store = s3_backend.store
    with camera_jpeg.open("rb") as stream:
        store.put(parse_object_uri(f"s3://{bucket}/originals/../holiday.jpg"), stream)  # a literal S3 key
    store.put(parse_object_uri(f"s3://{bucket}/edits/inpainted.jpg"), io.BytesIO(jpeg_bytes()))
    sign_object(
        store=store,
        signer=content_signer,
        source=f"s3://{bucket}/edits/inpainted.jpg",
        parent=f"s3://{bucket}/originals/../holiday.jpg",
        destination=f"s3://{bucket}/signed/inpainted.jpg",
        request=GenerationRequest(generator_name="Acme Inpaint"),
        spool_dir=spool,
    )
    verdict = verify_object(
        store=store, verifier=verifier, uri=f"s3://{bucket}/signed/inpainted.jpg", spool_dir=spool
    ).verdict
    assert verdict.state is VerdictState.TRUSTED
    assert [(i.title, i.relationship) for i in verdict.ingredients] == [("holiday.jpg", "parentOf")]
    assert label_for(verdict).text == "AI-edited"
    assert list(spool.iterdir()) == []


def test_local_source_to_s3_destination_through_the_router(
    s3_backend, bucket, content_signer, verifier, tmp_path, spool
):
    stores = ObjectStores(local=LocalFolderStore(root=tmp_path / "objects"), s3=s3_backend.store)
    (tmp_path / "objects" / "gen").mkdir()
    (tmp_path / "objects" / "gen" / "out.jpg").write_bytes(jpeg_bytes())
    signed = sign_object(
        store=stores,
        signer=content_signer,
        source="gen/out.jpg",  # a plain path: the local folder
        destination=f"s3://{bucket}/published/out.jpg",
        request=GenerationRequest(generator_name="Acme Diffusion"),
        spool_dir=spool,
    )
    assert signed.source.uri == (tmp_path / "objects" / "gen" / "out.jpg").resolve().as_uri()
    verdict = verify_object(store=stores, verifier=verifier, uri=signed.destination.uri, spool_dir=spool).verdict
    assert verdict.state is VerdictState.TRUSTED


def test_destination_that_is_the_source_is_refused(s3_backend, bucket, content_signer, spool):
    uri = f"s3://{bucket}/same.jpg"
    s3_backend.store.put(parse_object_uri(uri), io.BytesIO(jpeg_bytes()))
    before = s3_backend.store.stat(parse_object_uri(uri))
    with pytest.raises(InvalidObjectUri, match="never overwrites an original"):
        sign_object(
            store=s3_backend.store,
            signer=content_signer,
            source=uri,
            destination=uri,
            request=GenerationRequest(generator_name="x"),
            spool_dir=spool,
        )
    assert s3_backend.store.stat(parse_object_uri(uri)).etag == before.etag


def test_unsignable_source_writes_nothing(s3_backend, bucket, content_signer, spool):
    s3_backend.store.put(parse_object_uri(f"s3://{bucket}/notes.txt"), io.BytesIO(b"plain text, not media"))
    with pytest.raises(UnsupportedFormat):
        sign_object(
            store=s3_backend.store,
            signer=content_signer,
            source=f"s3://{bucket}/notes.txt",
            destination=f"s3://{bucket}/signed/notes.txt",
            request=GenerationRequest(generator_name="x"),
            spool_dir=spool,
        )
    with pytest.raises(ObjectNotFound):
        s3_backend.store.stat(parse_object_uri(f"s3://{bucket}/signed/notes.txt"))
    assert list(spool.iterdir()) == []


def test_missing_source_is_not_found(s3_backend, bucket, content_signer, verifier, spool):
    with pytest.raises(ObjectNotFound):
        sign_object(
            store=s3_backend.store,
            signer=content_signer,
            source=f"s3://{bucket}/nothing.jpg",
            destination=f"s3://{bucket}/signed/nothing.jpg",
            request=GenerationRequest(generator_name="x"),
            spool_dir=spool,
        )
    with pytest.raises(ObjectNotFound):
        verify_object(store=s3_backend.store, verifier=verifier, uri=f"s3://{bucket}/nothing.jpg", spool_dir=spool)
    assert list(spool.iterdir()) == []
