"""The PKCS#11 backend against a real SoftHSM2 token: non-extractable keys, PINs, one session per worker."""

from __future__ import annotations

import os
import pickle
import secrets
from pathlib import Path

import pytest

from keys.algorithms import SigningAlgorithm
from keys.backends.spec import Pkcs11KeySpec
from keys.certificates import chain_pem
from keys.credential import load_credential
from keys.devca import create_development_ca, issue_development_certificate
from keys.errors import ExtractableKey, KeyBackendUnavailable, UnreadableCredentials
from signer.engine import SignerOptions
from signer.isolation import IsolatedSigner, SignLimits
from signer.manifest import GenerationRequest

from .c2pa_roundtrip import sign_and_read

PIN_VARIABLE = "ORIGINMARK_PKCS11_PIN"


def _jpeg(path: Path, shade: int) -> Path:
    from PIL import Image

    Image.new("RGB", (32, 24), (40 * shade % 256, 90, 160)).save(path, "JPEG")
    return path


@pytest.fixture(scope="module")
def ca():
    return create_development_ca(organisation="originmark pkcs11 tests")


def _spec(token, tmp_path: Path, ca, *, extractable: bool = False, **changes) -> Pkcs11KeySpec:
    label = f"k-{secrets.token_hex(4)}"
    public_key = token.generate_key_pair(label, extractable=extractable)
    chain_path = tmp_path / f"{label}.pem"
    chain_path.write_text(chain_pem([issue_development_certificate(ca, public_key), ca.certificate]))
    arguments = dict(
        chain_path=chain_path, module=token.module, token_label=token.label, key_label=label, pin_file=token.pin_file
    )
    arguments.update(changes)
    return Pkcs11KeySpec(**arguments)


def test_the_key_is_generated_in_the_token_and_cannot_be_read_out(softhsm, tmp_path, ca):
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    spec = _spec(softhsm, tmp_path, ca)
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label)
    with token.open(user_pin=softhsm.pin) as session:
        private_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=spec.key_label)
        assert private_key[Attribute.SENSITIVE] is True
        assert private_key[Attribute.EXTRACTABLE] is False
        assert private_key[Attribute.NEVER_EXTRACTABLE] is True
        assert private_key[Attribute.LOCAL] is True  # generated inside the token, never imported
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            private_key[Attribute.VALUE]
    # ... and still signs, through the token, an asset the engine reads back as Trusted.
    signing_key = load_credential(spec)
    try:
        read = sign_and_read(signing_key, anchors_pem=ca.pem, workdir=tmp_path)
    finally:
        signing_key.close()
    assert read.state == "Trusted", read.failure_codes


def test_an_extractable_key_is_refused(softhsm, tmp_path, ca):
    spec = _spec(softhsm, tmp_path, ca, extractable=True)
    with pytest.raises(ExtractableKey, match="can be exported from the token") as raised:
        load_credential(spec)
    assert "CKA_EXTRACTABLE=false" in raised.value.fix


def test_a_wrong_pin_is_refused_without_showing_it(softhsm, tmp_path, ca):
    wrong = "wrong-" + secrets.token_hex(4)
    spec = _spec(softhsm, tmp_path, ca, pin_file=None)
    with pytest.raises(KeyBackendUnavailable, match="refused the configured user PIN") as raised:
        load_credential(spec, pin=wrong)
    assert wrong not in str(raised.value) and softhsm.pin not in str(raised.value)


def test_no_pin_at_all_says_which_settings_give_one(softhsm, tmp_path, ca):
    spec = _spec(softhsm, tmp_path, ca, pin_file=None)
    with pytest.raises(UnreadableCredentials, match="No PIN is configured") as raised:
        load_credential(spec)
    assert "ORIGINMARK_PKCS11_PIN_FILE" in raised.value.fix


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"token_label": "no-such-token"}, "no token labelled 'no-such-token'"),
        ({"key_label": "no-such-key"}, "no private key labelled 'no-such-key'"),
        ({"module": Path("/nonexistent/libpkcs11.so")}, "cannot be loaded"),
    ],
)
def test_a_wrong_token_key_or_module_names_the_setting_to_fix(softhsm, tmp_path, ca, change, message):
    spec = _spec(softhsm, tmp_path, ca, **change)
    with pytest.raises(KeyBackendUnavailable) as raised:
        load_credential(spec)
    assert message in raised.value.problem
    assert "ORIGINMARK_PKCS11_" in raised.value.fix


def test_workers_read_the_pin_from_their_environment_and_open_their_own_sessions(softhsm, tmp_path, ca):
    # The PIN given as a setting (not a file): each worker gets it in its environment at exec,
    # never over its pipe, and opens its own logged-in session with it.
    spec = _spec(softhsm, tmp_path, ca, pin_file=None, pin_variable=PIN_VARIABLE)
    assert PIN_VARIABLE not in os.environ
    limits = SignLimits(timeout_seconds=60, memory_bytes=2048 * 1024 * 1024)
    with IsolatedSigner(
        credential=spec,
        options=SignerOptions(),
        limits=limits,
        workers=2,
        secret_environment={PIN_VARIABLE: softhsm.pin},
    ) as pool:
        assert softhsm.pin.encode() not in pickle.dumps(pool._setup)
        assert len(set(pool.worker_pids)) == 2
        # Both workers sign at once: each through its own session (one session cannot run two operations).
        from concurrent.futures import ThreadPoolExecutor

        sources = [_jpeg(tmp_path / f"in{n}.jpg", n) for n in range(4)]
        with ThreadPoolExecutor(2) as threads:
            results = list(
                threads.map(
                    lambda source: pool.sign_file(
                        source=source,
                        destination=source.with_name(f"out-{source.name}"),
                        request=GenerationRequest(generator_name="pkcs11"),
                    ),
                    sources,
                )
            )
    assert all(result.manifest_label for result in results)
    assert PIN_VARIABLE not in os.environ  # the owner's environment was never changed


def test_one_handle_serialises_concurrent_signatures_on_its_session(softhsm, tmp_path, ca):
    from concurrent.futures import ThreadPoolExecutor

    from keys.backends.signatures import signature_verifies

    spec = _spec(softhsm, tmp_path, ca)
    signing_key = load_credential(spec)
    try:
        messages = [secrets.token_bytes(64) for _ in range(64)]
        with ThreadPoolExecutor(8) as threads:
            signatures = list(threads.map(signing_key.sign, messages))
    finally:
        signing_key.close()
    public_key = signing_key.leaf.public_key()
    assert all(
        signature_verifies(public_key, s, m, SigningAlgorithm.ES256) for s, m in zip(signatures, messages, strict=True)
    )


def test_keys_opened_in_one_process_share_its_login(softhsm, tmp_path, ca):
    # PKCS#11 logs in per process, not per session: a second key shares the first one's login,
    # and closing one key does not log the other out.
    first = load_credential(_spec(softhsm, tmp_path, ca))
    second = load_credential(_spec(softhsm, tmp_path, ca))
    try:
        first.close()
        assert second.sign(b"still logged in")[0] == 0x30
        with pytest.raises(
            KeyBackendUnavailable, match="already logged in to token 'originmark-tests' with another PIN"
        ):
            load_credential(_spec(softhsm, tmp_path, ca, pin_file=None), pin="another-pin")
    finally:
        second.close()
    with pytest.raises(KeyBackendUnavailable, match="session to .* was closed"):
        second.sign(b"after close")
