"""Recording a signature keeps its manifest store (app/usecases/signing.py, app/usecases/manifest_repository.py):
in the signature's transaction, in the row or in the object store by size, with the bindings its
`c2pa.soft-binding` assertions declare. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib

import pytest

from app.objects.local import LocalFolderStore
from app.objects.location import parse_object_uri
from app.objects.router import ObjectStores
from app.store.iscc_units import iscc_image_code64
from app.store.repository import ISCC_ALG
from app.usecases.manifest_repository import KeptStoreMissing, ManifestKeeper, soft_bindings
from app.usecases.signing import SignAndRecord, SignedOutput, SignRequest
from signer.manifest import GenerationRequest
from verifier.manifest_store import SoftBindingValue, read_manifest_store, soft_binding_values

IMAGE_CODE = 0x8F3A_5C21_0D4E_B7A6
ISCC_BINARY = bytes([0x21, 0x01]) + IMAGE_CODE.to_bytes(8, "big")  # header: content, image, v0, 64 bits


@pytest.fixture
def objects_root(tmp_path):
    return tmp_path / "objects"


def _keeper(store, objects_root, **options) -> ManifestKeeper:
    objects = ObjectStores(local=LocalFolderStore(root=objects_root), s3=None)
    return ManifestKeeper(
        repository=store.repository,
        objects=objects,
        own_objects=parse_object_uri(objects_root.as_uri() + "/"),
        **options,
    )


def _signing(store, keeper) -> SignAndRecord:
    return SignAndRecord(store=store, keeper=keeper, trust_fingerprint="t", certificate_fingerprint=lambda: "c" * 64)


def _output(verdict, signed_store: bytes, manifest_id: str) -> SignedOutput:
    return SignedOutput(
        input_sha256="a" * 64,
        output_sha256=verdict.sha256,
        manifest_label=manifest_id,
        certificate_fingerprint=None,
        manifest_store=signed_store,
    )


def _request() -> SignRequest:
    return SignRequest(tenant="tenant-a", key_id=None, generation=GenerationRequest(generator_name="m"))


@pytest.fixture(scope="session")
def signed_result(real_verdicts, signing_key, tmp_path_factory):
    """A real signature of an image, as the signer returns it."""
    from PIL import Image

    from signer.engine import ContentSigner, SignerOptions
    from verifier.fingerprint import ImageFingerprint

    folder = tmp_path_factory.mktemp("kept")
    Image.new("RGB", (40, 30), (9, 99, 199)).save(folder / "in.jpg", "JPEG")
    result = ContentSigner(signing_key=signing_key, options=SignerOptions()).sign_file(
        source=folder / "in.jpg", destination=folder / "out.jpg", request=GenerationRequest(generator_name="m")
    )
    assert result.manifest_store and len(result.manifest_store) == result.manifest_bytes
    # An image: its c2pa.soft-binding assertion is in the store.
    assert isinstance(result.soft_binding, ImageFingerprint)
    return result


@pytest.fixture(scope="session")
def signed_store(signed_result):
    """A real manifest store, its manifest id and its image's 64-bit code, as the signer returns them."""
    return signed_result.manifest_store, signed_result.manifest_label, signed_result.soft_binding.code64


def test_a_small_store_is_kept_in_the_row_with_the_signature(store, real_verdicts, signed_store, objects_root):
    manifest_store, manifest_id, code64 = signed_store
    keeper = _keeper(store, objects_root)
    _signing(store, keeper).record(
        _request(), _output(real_verdicts.trusted, manifest_store, manifest_id), real_verdicts.trusted
    )
    entry = store.repository.entry_by_manifest_id("tenant-a", manifest_id)
    assert entry.store.inline == manifest_store and entry.asset_sha256 == real_verdicts.trusted.sha256
    # The signer's c2pa.soft-binding assertion, read back from the store, is the entry's one binding.
    assert [(binding.alg, binding.code64) for binding in entry.bindings] == [(ISCC_ALG, code64)]
    assert keeper.manifest_store(entry) == manifest_store
    assert store.entries(limit=1)[0].output_sha256 == real_verdicts.trusted.sha256  # and the audit entry with it


def test_the_bindings_made_from_the_signers_fingerprint_are_those_the_store_declares(
    store, signed_result, objects_root
):
    # Without reading the store: the assertion made again from the fingerprint it was signed with.
    made = _keeper(store, objects_root).signed_entry(
        tenant="tenant-a",
        manifest_id=signed_result.manifest_label,
        asset_sha256="b" * 64,
        manifest_store=signed_result.manifest_store,
        fingerprint=signed_result.soft_binding,
    )
    declared = read_manifest_store(signed_result.manifest_store)
    assert declared is not None and declared.soft_bindings
    assert [(b.alg, b.value) for b in made.bindings if not b.is_view] == [
        (value.alg, value.value) for value in declared.soft_bindings
    ]
    # The image's own binding carries its descriptor, and its views follow it.
    assert made.bindings[0].descriptor == signed_result.soft_binding.descriptor
    assert len([b for b in made.bindings if b.is_view]) == len(signed_result.soft_binding.views)


def test_a_large_store_goes_to_the_object_store_and_comes_back_checked(
    store, real_verdicts, signed_store, objects_root
):
    manifest_store, manifest_id, _code64 = signed_store
    keeper = _keeper(store, objects_root, inline_max_bytes=100)
    _signing(store, keeper).record(
        _request(), _output(real_verdicts.trusted, manifest_store, manifest_id), real_verdicts.trusted
    )
    entry = store.repository.entry_by_manifest_id("tenant-a", manifest_id)
    assert entry.store.inline is None and entry.store.size == len(manifest_store)
    sha256 = hashlib.sha256(manifest_store).hexdigest()
    path = objects_root / "manifest-repository" / "tenant-a" / f"{sha256}.c2pa"
    assert entry.store.object_uri == path.as_uri() and path.read_bytes() == manifest_store
    assert keeper.manifest_store(entry) == manifest_store
    path.write_bytes(manifest_store[:-1] + b"\x00")
    with pytest.raises(KeptStoreMissing, match="changed"):
        keeper.manifest_store(entry)
    keeper.forget_object(entry.store.object_uri)
    with pytest.raises(KeptStoreMissing, match="missing"):
        keeper.manifest_store(entry)


def test_a_failure_later_in_the_transaction_keeps_no_entry(store, real_verdicts, signed_store, objects_root):
    manifest_store, manifest_id, _code64 = signed_store

    def fail(_connection):
        raise RuntimeError("the job row could not be marked")

    with pytest.raises(RuntimeError):
        _signing(store, _keeper(store, objects_root)).record(
            _request(),
            _output(real_verdicts.trusted, manifest_store, manifest_id),
            real_verdicts.trusted,
            in_same_transaction=fail,
        )
    assert store.repository.entry_by_manifest_id("tenant-a", manifest_id) is None
    assert store.entries(limit=1) == []


def test_the_soft_binding_schema_gives_one_value_per_block():
    # C2PA 2.x `c2pa.soft-binding`: alg, blocks[] of {scope, value (base64 text)}, pad.
    data = {
        "alg": ISCC_ALG,
        "blocks": [
            {"scope": {}, "value": base64.b64encode(ISCC_BINARY).decode()},
            {"scope": {"region": {}}, "value": "not base64!"},  # undecodable: left out
            {"scope": {}},  # no value: left out
        ],
        "pad": b"\x00\x00",
    }
    assert soft_binding_values(data) == (SoftBindingValue(alg=ISCC_ALG, value=ISCC_BINARY),)
    assert soft_binding_values({"blocks": data["blocks"]}) == ()  # no alg
    (binding,) = soft_bindings(soft_binding_values(data))
    assert (binding.alg, binding.value, binding.code64) == (ISCC_ALG, ISCC_BINARY, IMAGE_CODE)
    watermark = soft_bindings((SoftBindingValue(alg="com.digimarc.validate.1", value=b"\x01\x02"),))
    assert watermark[0].code64 is None


def test_the_64_bit_code_is_read_from_an_iscc_image_code_only():
    assert iscc_image_code64(ISCC_BINARY) == IMAGE_CODE
    canonical = b"ISCC:" + base64.b32encode(ISCC_BINARY).rstrip(b"=")
    assert iscc_image_code64(canonical) == IMAGE_CODE
    code_256 = bytes([0x21, 0x07]) + IMAGE_CODE.to_bytes(8, "big") + bytes(24)
    assert iscc_image_code64(code_256) == IMAGE_CODE  # the first 64 bits of a 256-bit Image-Code
    assert iscc_image_code64(bytes([0x20, 0x01]) + bytes(8)) is None  # a Text-Code
    assert iscc_image_code64(ISCC_BINARY[:-1]) is None
    assert iscc_image_code64(b"ISCC:!!!") is None
