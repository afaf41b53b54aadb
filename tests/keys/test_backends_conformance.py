"""The one conformance test every key backend passes: PEM file, PKCS#11 (SoftHSM2), AWS KMS (moto server).

Each case: a key made in the backend (a PEM file; an EC P-256 pair generated non-extractable
inside a SoftHSM2 token; an ECC_NIST_P256 SIGN_VERIFY key in KMS), a certificate for its
public key from a development CA, then load -> sign a real JPEG with the real ContentSigner
(and through isolated worker processes) -> verify `trusted` with that CA as the local anchor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image

from keys.algorithms import SigningAlgorithm
from keys.backends.spec import BackendKind, KeySpec, KmsKeySpec, PemKeySpec, Pkcs11KeySpec
from keys.certificates import chain_pem, generate_private_key, private_key_pem
from keys.credential import load_credential
from keys.devca import DevelopmentCA, create_development_ca, issue_development_certificate
from keys.errors import KeyDoesNotMatchCertificate
from signer.engine import ContentSigner, SignerOptions
from signer.isolation import IsolatedSigner, SignLimits
from signer.manifest import GenerationRequest
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackendCase:
    kind: BackendKind
    spec: KeySpec
    certificate_cn: str
    certificate_serial: int
    fingerprint: str
    ca: DevelopmentCA
    secrets: tuple[bytes, ...]  # what must never appear in a spec, a pipe or a repr (PIN, key PEM)
    make_spec_for_chain: object  # chain_path -> the same key's spec with another chain


@pytest.fixture(scope="module")
def conformance_ca() -> DevelopmentCA:
    return create_development_ca(organisation="originmark conformance")


def _write_chain(directory: Path, certificate, ca: DevelopmentCA) -> Path:
    path = directory / "chain.pem"
    path.write_text(chain_pem([certificate, ca.certificate]))
    return path


@pytest.fixture(params=[kind.value for kind in BackendKind])
def backend(request, tmp_path, conformance_ca) -> BackendCase:
    kind = BackendKind(request.param)
    common_name = f"conformance {kind.value} {secrets.token_hex(3)}"
    if kind is BackendKind.PEM:
        private_key = generate_private_key(SigningAlgorithm.ES256)
        key_path = tmp_path / "key.pem"
        key_path.write_bytes(private_key_pem(private_key))
        key_path.chmod(0o600)
        public_key = private_key.public_key()
        hidden: tuple[bytes, ...] = (private_key_pem(private_key).splitlines()[1],)

        def spec_for(chain_path: Path) -> KeySpec:
            return PemKeySpec(chain_path=chain_path, key_path=key_path)

    elif kind is BackendKind.PKCS11:
        token = request.getfixturevalue("softhsm")
        key_label = f"conformance-{secrets.token_hex(4)}"
        public_key = token.generate_key_pair(key_label)
        hidden = (token.pin.encode(),)

        def spec_for(chain_path: Path) -> KeySpec:
            return Pkcs11KeySpec(
                chain_path=chain_path,
                module=token.module,
                token_label=token.label,
                key_label=key_label,
                pin_file=token.pin_file,
            )

    else:
        kms = request.getfixturevalue("kms")
        key_id, public_key = kms.create_signing_key()
        hidden = ()

        def spec_for(chain_path: Path) -> KeySpec:
            return KmsKeySpec(chain_path=chain_path, key_id=key_id, region=kms.region, endpoint_url=kms.endpoint_url)

    certificate = issue_development_certificate(conformance_ca, public_key, common_name=common_name)
    return BackendCase(
        kind=kind,
        spec=spec_for(_write_chain(tmp_path, certificate, conformance_ca)),
        certificate_cn=common_name,
        certificate_serial=certificate.serial_number,
        fingerprint=hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
        ca=conformance_ca,
        secrets=hidden,
        make_spec_for_chain=spec_for,
    )


def _jpeg(path: Path) -> Path:
    image = Image.new("RGB", (48, 32))
    image.putdata([(x * 5 % 256, y * 8 % 256, 90) for y in range(32) for x in range(48)])
    image.save(path, "JPEG", quality=90)
    return path


def _verify(path: Path, case: BackendCase):
    verifier = Verifier(policy=default_trust_policy(local_anchors_pem=case.ca.pem))
    return verifier.verify_file(path)


def _assert_signed_by(verdict, case: BackendCase) -> None:
    assert verdict.state is VerdictState.TRUSTED, (verdict.reason, verdict.failure_codes)
    assert verdict.trust_list == "local"
    assert verdict.signer is not None and verdict.signer.common_name == case.certificate_cn
    assert int(verdict.signer.certificate_serial) == case.certificate_serial


def test_loads_signs_a_real_jpeg_and_verifies_trusted(backend, tmp_path):
    signing_key = load_credential(backend.spec)
    try:
        assert signing_key.algorithm is SigningAlgorithm.ES256
        assert signing_key.certificate_fingerprint == backend.fingerprint
        signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
        try:
            assert signer.probe.state == "Trusted"
            result = signer.sign_file(
                source=_jpeg(tmp_path / "gen.jpg"),
                destination=tmp_path / "signed.jpg",
                request=GenerationRequest(generator_name="conformance"),
            )
        finally:
            signer.close()
    finally:
        signing_key.close()
    assert result.certificate_fingerprint == backend.fingerprint
    _assert_signed_by(_verify(tmp_path / "signed.jpg", backend), backend)


def test_every_backend_hands_the_engine_der_ecdsa(backend):
    # c2pa's callback signer takes DER or raw r||s; every backend gives it DER (a token's raw form is converted).
    signing_key = load_credential(backend.spec)
    try:
        signature = signing_key.sign(b"claim bytes")
    finally:
        signing_key.close()
    r, s = decode_dss_signature(signature)
    assert r > 0 and s > 0 and signature[0] == 0x30 and len(signature) <= 72


def test_a_certificate_for_another_key_is_refused_at_load(backend, tmp_path):
    stranger = generate_private_key(SigningAlgorithm.ES256).public_key()
    certificate = issue_development_certificate(backend.ca, stranger, common_name="someone else")
    other = tmp_path / "other"
    other.mkdir()
    spec = backend.make_spec_for_chain(_write_chain(other, certificate, backend.ca))
    with pytest.raises(KeyDoesNotMatchCertificate, match="does not belong to the signing certificate") as raised:
        load_credential(spec)
    assert "someone else" in str(raised.value)


def test_the_spec_carries_no_secret_and_the_key_cannot_leave(backend):
    sent = pickle.dumps(backend.spec)
    for secret in backend.secrets:
        assert secret not in sent
    assert b"PRIVATE KEY" not in sent
    signing_key = load_credential(backend.spec)
    try:
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(signing_key)
        for text in (repr(signing_key), str(signing_key), signing_key.key_description):
            assert "PRIVATE" not in text
            assert not any(secret.decode() in text for secret in backend.secrets)
    finally:
        signing_key.close()


def test_isolated_workers_build_the_backend_themselves(backend, tmp_path):
    limits = SignLimits(timeout_seconds=60, memory_bytes=2048 * 1024 * 1024)
    with IsolatedSigner(credential=backend.spec, options=SignerOptions(), limits=limits, workers=2) as pool:
        assert pool.certificate_fingerprint == backend.fingerprint
        setup = pickle.dumps(pool._setup)
        for secret in backend.secrets:
            assert secret not in setup
        for pid in pool.worker_pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert not any(secret in cmdline for secret in backend.secrets)
        result = pool.sign_file(
            source=_jpeg(tmp_path / "gen.jpg"),
            destination=tmp_path / "signed.jpg",
            request=GenerationRequest(generator_name="conformance"),
        )
    assert result.certificate_fingerprint == backend.fingerprint
    _assert_signed_by(_verify(tmp_path / "signed.jpg", backend), backend)
