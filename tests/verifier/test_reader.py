"""Verifier (in process): real corpus files by class, bad input, every Verdict field.

The whole-corpus pinning lives in test_corpus.py; here each class of input is checked
for the specific verdict and reason originmark reports.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import io
import json
import os
import pickle
import random
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import ActionsForm, Verdict, VerdictState

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
NO_MANIFEST = "c2pa-rs/sdk/tests/fixtures/no_manifest.jpg"
TAMPERED = "public-testfiles/image/jpeg/adobe-20220124-XCA.jpg"
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(policy=default_trust_policy())


@pytest.fixture(scope="module")
def index(corpus) -> dict[str, dict]:
    return {entry["path"]: entry for entry in json.loads((corpus / "index.json").read_text())["files"]}


# --- corpus files by class ---


def test_no_manifest_is_none_with_content_hash(verifier, corpus, index):
    verdict = verifier.verify_file(corpus / NO_MANIFEST)
    assert verdict.state is VerdictState.NONE
    assert verdict.reason == "no Content Credentials found in the file"
    assert verdict.sha256 == index[NO_MANIFEST]["sha256"]
    assert verdict.size == index[NO_MANIFEST]["bytes"]
    assert verdict.format == "image/jpeg"
    assert verdict.engine_version.startswith("c2pa-rs 0.91.3 (c2pa-python 0.38.1)")
    assert verdict.manifests == () and verdict.signer is None and verdict.trust_list is None


def test_adobe_firefly_2023_is_trusted_on_the_itl_with_every_field(verifier, corpus, index):
    verdict = verifier.verify_file(corpus / FIREFLY)
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.trust_list == "itl"  # Adobe's 2023 CA is on the Interim Trust List only
    assert verdict.reason is None
    assert verdict.sha256 == index[FIREFLY]["sha256"]
    assert verdict.size == index[FIREFLY]["bytes"]
    assert verdict.format == "image/jpeg"
    assert verdict.signer.organisation == "Adobe Inc."
    assert verdict.signer.common_name == "cai-prod"
    assert verdict.signer.algorithm == "Ps256"
    assert verdict.signer.certificate_serial == "36361882748968207910486691233431411410"
    assert verdict.signed_at == datetime(2023, 3, 21, 0, 26, 57, tzinfo=timezone.utc)
    assert verdict.time_stamped is True
    assert verdict.claim_generator == "Adobe_Firefly/1.0 c2pa-rs/0.17.0"
    assert verdict.title == "Generated image"
    # json() shows this legacy assertion as c2pa.actions.v2; the verdict keeps the real form.
    assert [(a.action, a.form) for a in verdict.actions] == [("c2pa.created", ActionsForm.V1)]
    assert verdict.digital_source_types == ()
    assert verdict.failure_codes == () and verdict.ingredient_failure_codes == ()
    (manifest,) = verdict.manifests
    assert manifest.label == "adobe:5468a4d3-0dc5-4550-8248-590eb7c520ec"
    assert manifest.assertion_labels == (
        "c2pa.thumbnail.claim.jpeg",
        "c2pa.actions",
        "com.adobe.generative-ai",
        "c2pa.hash.data",
    )


@pytest.mark.parametrize(
    "path",
    [
        "c2pa-js-legacy/tools/testing/fixtures/images/gen-fill.jpg",
        "c2pa-js-legacy/tools/testing/fixtures/images/genai-actions-v2.jpg",
        "c2pa-node/tests/fixtures/ingredient-with-data-types.jpg",
        "c2pa-python/tests/fixtures/files-for-reading-tests/pdf-file.pdf",
        "c2pa-rs/sdk/tests/fixtures/ocsp.jpg",
    ],
)
def test_every_trusted_corpus_file_is_attributed_to_the_itl(verifier, corpus, path):
    verdict = verifier.verify_file(corpus / path)
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.trust_list == "itl"
    assert verdict.signer.organisation == "Adobe Inc."


def test_actions_v2_with_source_type_and_an_invalid_ingredient(verifier, corpus):
    verdict = verifier.verify_file(corpus / "c2pa-js-legacy/tools/testing/fixtures/images/genai-actions-v2.jpg")
    composite = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
    assert [(a.action, a.form, a.digital_source_type, a.software_agent) for a in verdict.actions] == [
        ("c2pa.edited", ActionsForm.V2, composite, "Adobe Firefly")
    ]
    assert verdict.digital_source_types == (composite,)
    (parent,) = verdict.ingredients
    assert parent.relationship == "parentOf"
    assert parent.manifest_label == "urn:uuid:153e08ec-2003-4947-a197-2488892cb199"
    # The parent recorded a data-hash mismatch when it was ingested: its own credentials are broken.
    assert parent.state is VerdictState.INVALID
    assert parent.failure_codes == ("assertion.dataHash.mismatch",)
    # The whole store, active first; the parent's manifest keeps its legacy form.
    assert [m.label for m in verdict.manifests] == [
        "urn:uuid:cb605314-c212-46de-b0d8-d8cf3d27f429",
        "urn:uuid:153e08ec-2003-4947-a197-2488892cb199",
    ]
    assert "c2pa.actions" in verdict.manifests[1].assertion_labels
    assert {a.form for a in verdict.manifests[1].actions} == {ActionsForm.V1}


def test_legacy_actions_keep_source_type_agent_and_description(verifier, corpus):
    verdict = verifier.verify_file(corpus / "c2pa-js-legacy/tools/testing/fixtures/images/gen-fill.jpg")
    generated = [a for a in verdict.actions if a.digital_source_type == TRAINED]
    assert len(generated) == 3
    assert {(a.action, a.form, a.software_agent) for a in generated} == {
        ("c2pa.placed", ActionsForm.V1, "Adobe Firefly")
    }
    assert generated[0].description == "Added pre-existing content to this file"
    assert verdict.digital_source_types == (TRAINED,)
    assert {i.title for i in verdict.ingredients} == {"behance 22.jpg", "Untitled Image"}
    assert all(i.state is None for i in verdict.ingredients)  # none carried credentials


def test_ingredient_states_follow_their_own_validation(verifier, corpus):
    verdict = verifier.verify_file(corpus / "public-testfiles/image/jpeg/adobe-20220124-CAICAI.jpg")
    assert verdict.state is VerdictState.VALID
    assert "no configured trust list" in verdict.reason
    plain, credentialed = verdict.ingredients
    assert (plain.title, plain.state, plain.manifest_label) == ("A.jpg", None, None)
    assert credentialed.title == "CAI.jpg"
    assert credentialed.state is VerdictState.VALID  # good signature, signer on no list
    assert credentialed.manifest_label == verdict.manifests[1].label
    assert verdict.ingredient_failure_codes == ("signingCredential.untrusted",)

    broken = verifier.verify_file(corpus / "public-testfiles/image/jpeg/adobe-20220124-E-uri-CIE-sig-CA.jpg")
    assert broken.state is VerdictState.INVALID
    (ingredient,) = broken.ingredients
    assert ingredient.state is VerdictState.INVALID
    assert "claimSignature.mismatch" in ingredient.failure_codes
    assert broken.reason == "credentials are present but broken: an ingredient: assertion.hashedURI.mismatch"


def test_tampered_file_is_invalid_with_codes_and_reason(verifier, corpus, index):
    verdict = verifier.verify_file(corpus / TAMPERED)
    assert verdict.state is VerdictState.INVALID
    assert set(verdict.failure_codes) == set(
        index[TAMPERED]["library_result"]["itl_and_c2pa_trust_list"]["failure_codes"]
    )
    assert "assertion.dataHash.mismatch" in verdict.failure_codes
    assert verdict.reason == (
        "credentials are present but broken: assertion.dataHash.mismatch (the content was changed after it was signed)"
    )
    assert verdict.trust_list is None


def test_sidecar_manifest_store_is_read(verifier, corpus):
    verdict = verifier.verify_file(corpus / "c2pa-rs/sdk/tests/fixtures/cloud_manifest.c2pa")
    assert verdict.format == "application/c2pa"
    assert verdict.state is VerdictState.INVALID  # no asset to check its data hash against
    assert "assertion.dataHash.mismatch" in verdict.failure_codes


def test_remote_manifest_is_an_error_and_is_not_fetched(verifier, corpus):
    # libpng-test_with_url.png points at http://localhost:5000/...: listen there and make
    # sure nothing connects (when the port is free on this machine).
    listener: socket.socket | None = None
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 5000))
        probe.listen(1)
        probe.setblocking(False)
        listener = probe
    except OSError:
        probe.close()
    try:
        verdict = verifier.verify_file(corpus / "c2pa-rs/sdk/tests/fixtures/libpng-test_with_url.png")
        if listener is not None:
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        if listener is not None:
            listener.close()
    assert verdict.state is VerdictState.ERROR
    assert "http://localhost:5000/libpng-test.c2pa" in verdict.reason
    assert "does not fetch remote manifests, on purpose" in verdict.reason


def test_cloud_only_firefly_is_an_error_naming_the_remote_address(verifier, corpus):
    started = time.monotonic()
    verdict = verifier.verify_file(corpus / "c2pa-node/tests/fixtures/cloud-only-firefly.jpg")
    assert time.monotonic() - started < 2  # no network round trip
    assert verdict.state is VerdictState.ERROR
    assert "https://cai-manifests.adobe.com/manifests/" in verdict.reason
    assert verdict.sha256 and verdict.size == 690069


@pytest.mark.parametrize(
    "path, state, reason_part",
    [
        ("c2pa-rs/sdk/tests/fixtures/riff_bomb_1000.wav", VerdictState.NONE, "no Content Credentials"),
        ("c2pa-rs/sdk/tests/fixtures/id3v23_compression_underflow.mp3", VerdictState.NONE, "no Content Credentials"),
        ("c2pa-rs/sdk/tests/fixtures/nested_moov_1000.mp4", VerdictState.ERROR, "too deply nested"),
        ("c2pa-rs/sdk/tests/fixtures/tiff_poc.tiff", VerdictState.ERROR, "too many subfiles"),
        ("c2pa-rs/sdk/tests/fixtures/sample3.invalid.wav", VerdictState.ERROR, "Invalid RIFF format"),
        ("c2pa-rs/sdk/tests/fixtures/sample3.svg", VerdictState.ERROR, "invalid JUMBF header"),
        ("c2pa-rs/sdk/tests/fixtures/prerelease.jpg", VerdictState.ERROR, "pre-release C2PA format"),
        ("c2pa-rs/sdk/tests/fixtures/no_alg.jpg", VerdictState.ERROR, "unknown algorithm"),
        ("c2pa-rs/sdk/tests/fixtures/Purple Square.psd", VerdictState.ERROR, "unsupported file type"),
        ("c2pa-rs/sdk/tests/fixtures/bad_path_archive.zip", VerdictState.ERROR, "unsupported file type"),
    ],
)
def test_malformed_and_bomb_files_get_a_verdict_with_a_reason_quickly(verifier, corpus, path, state, reason_part):
    started = time.monotonic()
    verdict = verifier.verify_file(corpus / path)
    assert time.monotonic() - started < 5
    assert verdict.state is state
    assert reason_part in verdict.reason
    assert len(verdict.sha256) == 64


# --- bad input made here ---


def test_zero_byte_file(verifier, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.touch()
    verdict = verifier.verify_file(empty)
    assert verdict.state is VerdictState.ERROR
    assert verdict.reason == "empty file: there is nothing to verify"
    assert (verdict.size, verdict.sha256) == (0, "")


def test_random_bytes(verifier, tmp_path):
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(random.Random(7).randbytes(4096))
    verdict = verifier.verify_file(noise)
    assert verdict.state is VerdictState.ERROR
    assert verdict.reason == "unsupported file type: the C2PA engine cannot read credentials from it"
    assert verdict.sha256 == hashlib.sha256(noise.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "keep, state, reason_part",
    [
        (5_000, VerdictState.ERROR, "malformed and could not be parsed"),  # cut inside the manifest
        (400_000, VerdictState.INVALID, "assertion.dataHash.mismatch"),  # manifest whole, image cut
    ],
)
def test_truncated_jpeg(verifier, corpus, tmp_path, keep, state, reason_part):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((corpus / FIREFLY).read_bytes()[:keep])
    verdict = verifier.verify_file(truncated)
    assert verdict.state is state
    assert reason_part in verdict.reason
    assert verdict.size == keep


def test_directory(verifier, tmp_path):
    verdict = verifier.verify_file(tmp_path)
    assert verdict.state is VerdictState.ERROR
    assert verdict.reason.endswith("is a directory, not a file")


def test_missing_file(verifier, tmp_path):
    verdict = verifier.verify_file(tmp_path / "gone.jpg")
    assert verdict.state is VerdictState.ERROR
    assert verdict.reason == "the file could not be read: No such file or directory"


def test_fifo_is_refused_without_blocking(verifier, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    verdict = verifier.verify_file(fifo)
    assert verdict.state is VerdictState.ERROR
    assert "not a regular file" in verdict.reason


def _unreadable_file(tmp_path: Path) -> Path | None:
    """A regular file this process cannot read. chmod 000 does not stop root, so as root
    use a write-only kernel attribute (sysfs refuses reads even to root)."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked.jpg"
        locked.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
        locked.chmod(0)
        return locked
    for candidate in sorted(glob.glob("/sys/class/*/*")) + sorted(glob.glob("/sys/devices/*/*/rescan")):
        path = Path(candidate)
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o444 == 0:
                return path
        except OSError:
            continue
    return None


def test_unreadable_file_reports_the_os_reason(verifier, tmp_path):
    unreadable = _unreadable_file(tmp_path)
    if unreadable is None:
        pytest.skip("running as root and no write-only file exists to stand in for an unreadable one")
    with pytest.raises(OSError) as opened:
        open(unreadable, "rb")
    assert opened.value.errno == errno.EACCES
    verdict = verifier.verify_file(unreadable)
    assert verdict.state is VerdictState.ERROR
    assert verdict.reason == "the file could not be read: Permission denied"
    assert verdict.sha256 == ""


def test_wrong_extension_is_read_by_content(verifier, corpus, tmp_path):
    renamed = tmp_path / "firefly.png"
    shutil.copyfile(corpus / FIREFLY, renamed)
    verdict = verifier.verify_file(renamed)
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.format == "image/jpeg"

    png_named_jpg = tmp_path / "sample.jpg"
    shutil.copyfile(corpus / "c2pa-rs/sdk/tests/fixtures/sample1.png", png_named_jpg)
    verdict = verifier.verify_file(png_named_jpg)
    assert (verdict.state, verdict.format) == (VerdictState.NONE, "image/png")


# --- streams ---


def test_verify_stream_matches_verify_file_and_hashes_what_it_read(verifier, corpus):
    data = (corpus / FIREFLY).read_bytes()
    from_file = verifier.verify_file(corpus / FIREFLY)
    from_stream = verifier.verify_stream(io.BytesIO(data), size=len(data))
    assert from_stream == from_file
    assert from_stream.sha256 == hashlib.sha256(data).hexdigest()


def test_verify_stream_reads_from_the_start_whatever_the_position(verifier, corpus):
    data = (corpus / TAMPERED).read_bytes()
    stream = io.BytesIO()
    stream.write(data)  # just written: positioned at the end
    verdict = verifier.verify_stream(stream)
    assert verdict.state is VerdictState.INVALID
    assert verdict.sha256 == hashlib.sha256(data).hexdigest()
    assert verdict.size == len(data)


def test_verify_stream_of_an_empty_stream(verifier):
    verdict = verifier.verify_stream(io.BytesIO(b""), size=0)
    assert verdict.state is VerdictState.ERROR
    assert verdict.reason == "empty file: there is nothing to verify"


def test_verdicts_are_picklable(verifier, corpus):
    verdict = verifier.verify_file(corpus / "public-testfiles/image/jpeg/adobe-20220124-CAICAI.jpg")
    assert pickle.loads(pickle.dumps(verdict)) == verdict


# --- credentials made here: trust lists and hostile manifest text ---

HOSTILE_TITLE = "\x1b[31mRED\x1b[0m \u202egpj.exe\u202c Hello\r\nWorld\x08\x00 " + "A" * 10_000


def _sign(signing_key, *, manifest: dict, destination: Path) -> Path:
    """Embed `manifest` into a small JPEG with the engine directly: the product's signer
    (rightly) refuses hostile manifests, and this is what an attacker's tool would do."""
    import c2pa
    from PIL import Image

    source = destination.with_suffix(".source.jpg")
    Image.new("RGB", (32, 32), (200, 10, 10)).save(source, "JPEG")
    settings = {
        "trust": {"trust_config": "\n".join(default_trust_policy().extended_key_usages)},
        "verify": {"verify_after_sign": False, "remote_manifest_fetch": False},
        "builder": {"thumbnail": {"enabled": False}},
    }
    signer = c2pa.Signer.from_callback(signing_key.sign, c2pa.C2paSigningAlg.ES256, signing_key.chain_pem, None)
    builder = c2pa.Builder(manifest, context=c2pa.Context.from_dict(settings))
    with open(source, "rb") as src, open(destination, "w+b") as dst:
        builder.sign(signer, "image/jpeg", src, dst)
    return destination


@pytest.fixture(scope="module")
def hostile_asset(signing_key, tmp_path_factory) -> Path:
    manifest = {
        "claim_generator_info": [{"name": "evil\x07gen", "version": "6.6.6"}],
        "title": HOSTILE_TITLE,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED,
                            "softwareAgent": "Agent\x1b]0;pwned\x07 <script>alert(1)</script>",
                            "description": "x" * 5000,
                        }
                    ]
                },
            }
        ],
    }
    return _sign(signing_key, manifest=manifest, destination=tmp_path_factory.mktemp("hostile") / "hostile.jpg")


def test_hostile_manifest_text_is_stored_plain_and_bounded(verifier, hostile_asset):
    verdict = verifier.verify_file(hostile_asset)
    assert verdict.state is VerdictState.VALID  # the development CA is on no default list
    title = verdict.title
    assert title.startswith("[31mRED[0m gpj.exe Hello\nWorld ")  # ESC, bidi override, CR, BS, NUL gone
    assert len(title) == 4096 + 1 and title.endswith("…")
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in title)
    assert verdict.claim_generator == "evilgen 6.6.6"
    (action,) = verdict.actions
    assert action.software_agent == "Agent]0;pwned <script>alert(1)</script>"  # markup is the renderer's job
    assert len(action.description) == 4097


def test_local_anchor_makes_development_credentials_trusted_as_local(dev_credentials, hostile_asset):
    verdict = Verifier(policy=default_trust_policy(local_anchors_pem=dev_credentials.ca_pem)).verify_file(hostile_asset)
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.trust_list == "local"


def test_allowed_list_entry_is_trusted_and_attributed(signing_key, hostile_asset, shared_dir):
    # The Titan case: a signing certificate on an allowed list, its CA on no list. The engine
    # explains it as "found in [] trust anchors"; the policy names the list.
    from cryptography.hazmat.primitives import serialization

    from verifier.trust import TrustPolicy
    from verifier.trust_spec import TrustKind, TrustList, shipped_trust_lists

    unrelated_anchor = (shared_dir / "trust" / "test" / "sdk-test-roots.pem").read_text()
    partner = TrustList(
        name="partner",
        kind=TrustKind.MANIFEST,
        anchors_pem=unrelated_anchor,
        allowed_pem=signing_key.leaf.public_bytes(serialization.Encoding.PEM).decode(),
        source="test",
    )
    policy = TrustPolicy.build([*shipped_trust_lists(), partner])
    verdict = Verifier(policy=policy).verify_file(hostile_asset)
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.trust_list == "partner"


def test_sdk_test_roots_trust_the_sdk_fixtures(shared_dir, corpus):
    # A test-only policy with the c2pa-rs SDK test roots (not shipped with the product).
    from verifier.trust import TrustPolicy
    from verifier.trust_spec import TrustKind, TrustList

    test_roots = TrustList(
        name="sdk-test",
        kind=TrustKind.MANIFEST,
        anchors_pem=(shared_dir / "trust/test/sdk-test-roots.pem").read_text(),
        allowed_pem=(shared_dir / "trust/test/sdk-test-allowed.pem").read_text(),
        source="c2pa-rs sdk/tests/fixtures/certs/trust (test only)",
    )
    verdict = Verifier(policy=TrustPolicy.build([test_roots])).verify_file(corpus / "c2pa-rs/sdk/tests/fixtures/C.jpg")
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.trust_list == "sdk-test"


def test_one_verifier_serves_threads(verifier, corpus):
    from concurrent.futures import ThreadPoolExecutor

    paths = [corpus / FIREFLY, corpus / TAMPERED, corpus / NO_MANIFEST] * 4
    with ThreadPoolExecutor(4) as pool:
        states = [v.state for v in pool.map(verifier.verify_file, paths)]
    assert states == [VerdictState.TRUSTED, VerdictState.INVALID, VerdictState.NONE] * 4


def test_verdict_is_a_verdict_for_every_corpus_file(verifier, corpus, index):
    # Nothing raises, everything hashes what it read (state pinning: test_corpus.py).
    for path, entry in index.items():
        verdict = verifier.verify_file(corpus / path)
        assert isinstance(verdict, Verdict)
        assert verdict.sha256 == entry["sha256"], path
        assert verdict.reason or verdict.state is VerdictState.TRUSTED, path


def test_real_assertion_labels_when_the_validation_log_does_not_name_them(verifier, corpus):
    # The ingredient's manifest here was never validated assertion by assertion (its claim
    # is broken), so its real labels come from crJSON: legacy actions stay legacy.
    verdict = verifier.verify_file(corpus / "public-testfiles/image/jpeg/adobe-20220124-E-clm-CAICAI.jpg")
    ingredient_manifest = next(m for m in verdict.manifests if m.label.endswith("8bb8ad50-ef2f-4f75-b709-a0e302d58019"))
    assert "c2pa.actions" in ingredient_manifest.assertion_labels
    assert "c2pa.actions.v2" not in ingredient_manifest.assertion_labels
    assert ingredient_manifest.actions and {a.form for a in ingredient_manifest.actions} == {ActionsForm.V1}


def test_manifest_history_order_is_the_same_every_time(corpus):
    """The engine keeps manifests in a hash map whose order changes between reads; ours must not."""
    path = corpus / "c2pa-js-legacy/tools/testing/fixtures/images/CAICAI.jpg"
    orders = {
        tuple(m.label for m in Verifier(policy=default_trust_policy()).verify_file(path).manifests) for _ in range(8)
    }
    assert orders == {
        (
            "adobetest:urn:uuid:825cf3cf-0127-4af3-b65c-c11d0f961e67",  # active
            "adobetest:urn:uuid:879beec2-74bb-4150-8245-9176dd6a8972",  # its ingredients, depth first
            "adobetest:urn:uuid:120c2204-929d-4e97-a3b7-f5ecc9408b79",
        )
    }
