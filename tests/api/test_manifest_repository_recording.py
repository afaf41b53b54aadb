"""Every manifest store POST /v1/sign makes is kept in the manifest repository, in the signature's transaction."""

from __future__ import annotations

import hashlib

from app.store.repository import EntryOrigin
from signer.jumbf import active_manifest_label
from verifier.fingerprint import descriptor_similarity, fingerprint_image
from verifier.manifest_store import read_manifest_store

from .helpers import ApiKeys, jpeg_bytes, sign_form
from .sbr_support import encoded, textured_image


def _sign(client, token):
    files = {"file": ("gen.jpg", jpeg_bytes(), "image/jpeg")}
    return client.post("/v1/sign", headers=ApiKeys.header(token), files=files, data=sign_form())


def test_a_signed_manifest_store_is_kept_under_its_manifest_id_and_the_outputs_hash(client, api_keys, store):
    signed = _sign(client, api_keys.sign)
    assert signed.status_code == 200, signed.text
    manifest_id = signed.headers["x-manifest-label"]
    entry = store.repository.entry_by_manifest_id("default", manifest_id)
    assert entry is not None
    assert entry.asset_sha256 == signed.headers["x-content-sha256"] == hashlib.sha256(signed.content).hexdigest()
    assert entry.origin is EntryOrigin.SIGNED and entry.tenant == "default" and not entry.private
    # The kept bytes are the store embedded in the output: its active manifest is this one.
    assert entry.store.inline is not None and entry.store.size == len(entry.store.inline)
    assert active_manifest_label(entry.store.inline) == manifest_id
    contents = read_manifest_store(entry.store.inline)
    assert contents is not None and contents.active_manifest == manifest_id
    assert entry.store.inline in signed.content  # a JPEG carries the store in its APP11 segments, unsplit when small
    # Signed credentials are public statements: another tenant finds the entry too.
    assert store.repository.entry_by_manifest_id("another", manifest_id) is not None


def test_each_signature_keeps_its_own_entry(client, api_keys, store):
    first = _sign(client, api_keys.sign).headers["x-manifest-label"]
    second = _sign(client, api_keys.sign).headers["x-manifest-label"]
    assert first != second
    assert store.repository.stats().entries == 2


def test_the_io_iscc_binding_is_kept_with_the_fingerprints_second_stage_descriptor(client, api_keys, store):
    files = {"file": ("gen.jpg", encoded(textured_image(1)), "image/jpeg")}  # a flat image has no descriptor to compare
    signed = client.post("/v1/sign", headers=ApiKeys.header(api_keys.sign), files=files, data=sign_form())
    assert signed.status_code == 200, signed.text
    entry = store.repository.entry_by_manifest_id("default", signed.headers["x-manifest-label"])
    assert entry is not None
    (binding,) = entry.bindings
    expected = fingerprint_image(signed.content)
    assert binding.alg == "io.iscc.v0" and binding.code64 == expected.code64
    # The manifest carries only the code; the descriptor a content lookup checks comes from the signer.
    assert binding.descriptor is not None and descriptor_similarity(binding.descriptor, expected.descriptor) > 0.99
