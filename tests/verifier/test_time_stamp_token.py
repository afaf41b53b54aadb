"""verifier/time_stamp_token.py: the time-stamping authority of each manifest, read from the store's
own bytes, is what the engine's crJSON says, for every corpus file it answers; anything it cannot
read in exactly one way is left to crJSON; hostile bytes never raise."""

from __future__ import annotations

import json
import random
from pathlib import Path

import c2pa
import pytest

from tests.verifier.crafted_tokens import (
    OCSP_ACTIVE,
    OCSP_JPEG,
    OCSP_PARENT,
    certificate_count,
    key_identifier_swapped_jpeg,
    store_with_tokens,
    token_of,
    with_more_certificates,
)
from verifier import engine_report, time_stamp_token
from verifier import reader as reader_module
from verifier.embedded_store import sole_manifest_store
from verifier.media_type import SNIFF_BYTES, sniff_media_type
from verifier.reader import Verifier
from verifier.time_stamp_token import TimeStampTokens
from verifier.token_signer import NotOneSigner, signer_certificate
from verifier.trust import CertificateFacts, default_trust_policy
from verifier.verdict import Verdict, VerdictState

LEGACY_STAMPED = OCSP_JPEG  # two manifests, each with a legacy sigTst token


@pytest.fixture(scope="module")
def policy():
    return default_trust_policy()


def time_stamp_authorities(store: bytes) -> dict[str, CertificateFacts]:
    """Every manifest's authority that the store's bytes answer."""
    tokens = TimeStampTokens(store)
    return {label: facts for label in tokens.labels if (facts := tokens.authority(label)) is not None}


def _sole_store(path: Path) -> bytes | None:
    with open(path, "rb") as file:
        media_type = sniff_media_type(file.read(SNIFF_BYTES))
        return sole_manifest_store(file, media_type, path.stat().st_size)


def test_every_authority_read_from_a_corpus_store_is_the_engines(shared_dir, policy):
    corpus = shared_dir / "corpus"
    context = c2pa.Context.from_dict(policy.engine_settings())
    answered, differing = 0, []
    for entry in json.loads((corpus / "index.json").read_text())["files"]:
        path = corpus / entry["path"]
        store = _sole_store(path)
        if store is None:
            continue
        ours = time_stamp_authorities(store)
        if not ours:
            continue
        with open(path, "rb") as file:  # as verifier/reader.py hands it over: sniffed type, stream
            try:
                reader = c2pa.Reader.try_create(sniff_media_type(file.read(SNIFF_BYTES)), file, context=context)
            except c2pa.C2paError:
                reader = None
            if reader is None:
                continue  # nothing the verifier would attribute
            with reader:
                crjson = json.loads(reader.crjson())
        for label, facts in ours.items():
            answered += 1
            if facts != engine_report.time_stamp_authority_from_crjson(crjson, label):
                differing.append(f"{entry['path']} {label}")
    assert not differing
    assert answered >= 120  # of the 132 tokens in the corpus's single-store files (2026-12-07: all answered)


def test_a_label_given_to_two_manifests_is_left_to_crjson(shared_dir):
    store = _sole_store(shared_dir / "corpus" / LEGACY_STAMPED)
    assert store is not None
    answered = time_stamp_authorities(store)
    assert len(answered) == 2
    # Append a copy of the last manifest box to the store superbox: its label now names two.
    outer = 8
    description = int.from_bytes(store[outer : outer + 4], "big")
    position, last = outer + description, None
    while position < len(store):
        last = (position, int.from_bytes(store[position : position + 4], "big"))
        position += last[1]
    assert last is not None
    copy = store[last[0] : last[0] + last[1]]
    doubled = (len(store) + len(copy)).to_bytes(4, "big") + store[4:] + copy
    after = time_stamp_authorities(doubled)
    assert len(after) == 1 and set(after) < set(answered)
    assert all(after[label] == answered[label] for label in after)


def test_hostile_bytes_answer_nothing_or_something_and_never_raise(shared_dir):
    store = _sole_store(shared_dir / "corpus" / LEGACY_STAMPED)
    assert store is not None
    chance = random.Random(16)
    for cut in range(0, len(store), max(1, len(store) // 300)):
        assert isinstance(time_stamp_authorities(store[:cut]), dict)
    for _ in range(300):
        mutated = bytearray(store)
        for _ in range(chance.randint(1, 8)):
            mutated[chance.randrange(len(mutated))] = chance.randrange(256)
        assert isinstance(time_stamp_authorities(bytes(mutated)), dict)
    assert time_stamp_authorities(b"") == {}
    assert time_stamp_authorities(b"\x00\x00\x00\x01jumb" + b"\xff" * 8) == {}  # a 64-bit length past the end


def test_the_verifier_attributes_a_legacy_time_stamp_without_crjson(shared_dir, policy, monkeypatch):
    asked = []
    real = c2pa.Reader.crjson

    def counted(reader: c2pa.Reader) -> str:
        asked.append(reader)
        return real(reader)

    monkeypatch.setattr(c2pa.Reader, "crjson", counted)
    verdict = Verifier(policy=policy).verify_file(shared_dir / "corpus" / LEGACY_STAMPED)
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.time_stamp is not None and verdict.time_stamp.trusted
    assert verdict.time_stamp.trust_list == "itl"
    assert asked == []


def _verdict_from_crjson_only(policy, path: Path, monkeypatch) -> Verdict:
    """The verdict as it was before the store's bytes were read: every authority from crJSON."""
    with monkeypatch.context() as patch:
        patch.setattr(reader_module._StoreBytes, "time_stamp_authority", lambda self, *args: None)
        return Verifier(policy=policy).verify_file(path)


def test_a_signer_named_by_key_identifier_is_left_to_crjson(shared_dir, policy, tmp_path, monkeypatch):
    # The token's certificates and signer identifier are unsigned: an edited Trusted file whose signer
    # is named by key identifier, with a certificate added that a different comparison would pick.
    # (The active manifest's: the parent's box is hashed into the active manifest's ingredient.)
    label = OCSP_ACTIVE
    path = key_identifier_swapped_jpeg(shared_dir, tmp_path / "swapped.jpg", label)
    context = c2pa.Context.from_dict(policy.engine_settings())
    with open(path, "rb") as file, c2pa.Reader("image/jpeg", file, context=context) as engine:
        assert engine.get_validation_state() == "Trusted"  # the engine still validates the real certificate
    store = _sole_store(path)
    assert store is not None and label not in time_stamp_authorities(store)
    verdict = Verifier(policy=policy).verify_file(path)
    assert verdict == _verdict_from_crjson_only(policy, path, monkeypatch)
    time_stamp = {manifest.label: manifest.time_stamp for manifest in verdict.manifests}[label]
    assert time_stamp is not None and time_stamp.trust_list == "itl"


def test_any_failure_of_the_store_reading_leaves_the_authority_to_crjson(shared_dir, policy, monkeypatch):
    path = shared_dir / "corpus" / LEGACY_STAMPED
    expected = _verdict_from_crjson_only(policy, path, monkeypatch)

    def failing(*args, **kwargs):
        raise RuntimeError("a bug in the store's reading")

    monkeypatch.setattr(TimeStampTokens, "authority", failing)
    assert Verifier(policy=policy).verify_file(path) == expected
    monkeypatch.setattr(reader_module, "TimeStampTokens", failing)
    assert Verifier(policy=policy).verify_file(path) == expected
    monkeypatch.setattr(reader_module, "sole_manifest_store", failing)
    assert Verifier(policy=policy).verify_file(path) == expected


def test_a_certificate_with_a_duplicated_extension_is_a_verdict_not_an_exception(
    shared_dir, policy, tmp_path, monkeypatch
):
    # cryptography raises DuplicateExtension (not ValueError) for such a certificate; nothing here may raise.
    for label in (OCSP_ACTIVE, OCSP_PARENT):
        path = key_identifier_swapped_jpeg(shared_dir, tmp_path / "duplicated.jpg", label, duplicate_extension=True)
        store = _sole_store(path)
        assert store is not None and label not in time_stamp_authorities(store)
        assert Verifier(policy=policy).verify_file(path) == _verdict_from_crjson_only(policy, path, monkeypatch)


def test_a_store_with_a_time_stamp_assertion_is_left_to_crjson(shared_dir):
    # A `c2pa.time-stamp` assertion holds tokens for other manifests: the engine may report one of
    # those for a manifest, not the one in its signature. (Renamed in place: same length, so the
    # boxes stay whole; the engine would find the store altered, which is no concern here.)
    store = _sole_store(shared_dir / "corpus" / LEGACY_STAMPED)
    assert store is not None and len(time_stamp_authorities(store)) == 2
    assert b"c2pa.ingredient\x00" in store
    renamed = store.replace(b"c2pa.ingredient\x00", b"c2pa.time-stamp\x00", 1)
    assert time_stamp_authorities(renamed) == {}


def test_only_the_manifest_asked_for_is_decoded_once(shared_dir, monkeypatch):
    store = _sole_store(shared_dir / "corpus" / LEGACY_STAMPED)
    assert store is not None
    decoded: list[bytes] = []

    def counted(token: bytes) -> CertificateFacts:
        decoded.append(token)
        return signer_certificate(token)

    monkeypatch.setattr(time_stamp_token, "signer_certificate", counted)
    tokens = TimeStampTokens(store)
    assert tokens.labels == {OCSP_ACTIVE, OCSP_PARENT} and decoded == []
    first = tokens.authority(OCSP_ACTIVE)
    assert first is not None and tokens.authority(OCSP_ACTIVE) == first
    assert len(decoded) == 1


def test_a_token_over_the_certificate_or_size_cap_is_left_to_crjson(shared_dir):
    # Decoding costs per certificate (a crafted 63 MB store of 690 tokens x 300 certificates took
    # about 3 s): a token with more than 16 certificates or over 64 KiB is the engine's crJSON's.
    store = _sole_store(shared_dir / "corpus" / LEGACY_STAMPED)
    assert store is not None
    token = token_of(store, OCSP_ACTIVE)
    expected = TimeStampTokens(store).authority(OCSP_ACTIVE)
    assert expected is not None
    have = certificate_count(token)
    tokens = TimeStampTokens(
        store_with_tokens(
            {
                "sixteen": with_more_certificates(token, 16 - have),
                "seventeen": with_more_certificates(token, 17 - have),
                "small": with_more_certificates(token, 0, crl_bytes=40 * 1024),
                "large": with_more_certificates(token, 0, crl_bytes=64 * 1024),
            }
        )
    )
    assert tokens.authority("sixteen") == expected and tokens.authority("small") == expected
    assert tokens.authority("seventeen") is None and tokens.authority("large") is None


def test_a_remembered_signer_answers_only_tokens_with_the_same_certificates_and_signer(shared_dir):
    # token_signer remembers an authority's answer by the token's certificates and signer
    # identifier (issue 16): once the genuine token's answer is remembered, a token whose signer
    # names a serial that none of those certificates has must still have no reading.
    store = _sole_store(shared_dir / "corpus" / LEGACY_STAMPED)
    assert store is not None
    token = token_of(store, OCSP_ACTIVE)
    expected = signer_certificate(token)
    serial = expected.serial_number
    assert serial is not None
    written = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # a DER INTEGER's content
    first, last = token.index(written), token.rindex(written)
    assert first < last  # the certificate's own serial, then the signer identifier's (SignerInfos come last)
    other = token[:last] + written[:-1] + bytes([written[-1] ^ 1]) + token[last + len(written) :]
    with pytest.raises(NotOneSigner):
        signer_certificate(other)
    assert signer_certificate(bytes(token)) == expected  # the remembered answer, for an equal token
