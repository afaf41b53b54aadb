"""No request to a URL taken from an upload unless the operator allowlisted its host.

Each test points an asset's remote manifest reference (or its signing certificate's OCSP
address) at a TCP listener on 127.0.0.1 and counts the connections it receives: a connection
made and abandoned still counts (the listener's backlog is drained, nothing can slip by).
Controls show each asset really makes a client connect when fetching is on, so a zero is
the setting's doing, not the asset's.
"""

from __future__ import annotations

import datetime
import io

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from app.settings import Settings
from app.wiring import build_remote_manifest_policy
from keys.algorithms import SigningAlgorithm
from keys.signing_key import SigningKey
from signer.engine import SignerOptions
from signer.isolation import IsolatedSigner, SignLimits
from signer.manifest import GenerationRequest
from tests.verifier.hostile_assets import MB, bomb_credentials, listening, remote_manifest_asset, small_jpeg
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.reader import Verifier
from verifier.remote_manifest import RemoteManifestPolicy
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictError, VerdictState

LIMITS = VerifyLimits(timeout_seconds=30, memory_bytes=1024 * MB, max_asset_bytes=1024 * MB)


@pytest.fixture(scope="module")
def policy():
    # The remote manifests here are signed with bomb_credentials(): trusted as "local".
    return default_trust_policy(local_anchors_pem=bomb_credentials().ca_path.read_text())


@pytest.fixture
def listener():
    with listening() as server:
        yield server


def _remote_asset(listener, tmp_path):
    asset, manifest = remote_manifest_asset(listener.url())
    path = tmp_path / "remote.jpg"
    path.write_bytes(asset)
    return path, manifest


def test_a_remote_manifest_is_not_fetched_by_default(policy, listener, tmp_path):
    path, _manifest = _remote_asset(listener, tmp_path)
    with IsolatedVerifier(policy=policy, limits=LIMITS, workers=1) as pool:
        verdict = pool.verify_file(path)
    assert listener.connections() == 0
    assert verdict.state is VerdictState.ERROR
    assert verdict.error_code is VerdictError.REMOTE_MANIFEST
    assert verdict.reason is not None
    assert listener.url() in verdict.reason
    assert "were not fetched" in verdict.reason


def test_a_host_not_on_the_allowlist_is_not_contacted(policy, listener, tmp_path):
    path, _manifest = _remote_asset(listener, tmp_path)
    elsewhere = RemoteManifestPolicy.from_hosts(["manifests.example.com", f"127.0.0.1:{listener.port + 1}"])
    with IsolatedVerifier(policy=policy, limits=LIMITS, workers=1, remote_manifests=elsewhere) as pool:
        verdict = pool.verify_file(path)
    assert listener.connections() == 0
    assert verdict.error_code is VerdictError.REMOTE_MANIFEST


def test_an_allowlisted_host_is_fetched_once_and_the_credentials_verify(policy, listener, tmp_path):
    path, manifest = _remote_asset(listener, tmp_path)
    listener.serve_http(manifest)
    allowed = RemoteManifestPolicy.from_hosts([f"127.0.0.1:{listener.port}"])
    with IsolatedVerifier(policy=policy, limits=LIMITS, workers=1, remote_manifests=allowed) as pool:
        verdict = pool.verify_file(path)
    assert listener.connections() == 1
    assert listener.requests[0].startswith(b"GET /manifests/m.c2pa HTTP/1.1\r\n")
    assert verdict.state is VerdictState.TRUSTED
    assert verdict.trust_list == "local"
    assert verdict.error_code is None


def test_a_redirect_is_not_followed(policy, listener, tmp_path):
    path, manifest = _remote_asset(listener, tmp_path)
    with listening() as target:
        target.serve_http(manifest)
        listener.serve_http(b"", status="302 Found", headers=f"Location: {target.url()}\r\n")
        # Even with the redirect's target on the allowlist: it was not what the asset named.
        allowed = RemoteManifestPolicy.from_hosts(["127.0.0.1"])
        verdict = Verifier(policy=policy, remote_manifests=allowed).verify_file(path)
        assert target.connections() == 0
    assert listener.connections() == 1
    assert verdict.error_code is VerdictError.REMOTE_MANIFEST and verdict.reason is not None
    assert "could not be fetched: the server answered HTTP 302, not 200" in verdict.reason


def test_an_oversized_remote_manifest_is_refused(policy, listener, tmp_path):
    path, manifest = _remote_asset(listener, tmp_path)
    listener.serve_http(manifest)
    small = RemoteManifestPolicy.from_hosts(["127.0.0.1"], max_bytes=1000)
    verdict = Verifier(policy=policy, remote_manifests=small).verify_file(path)
    assert verdict.error_code is VerdictError.REMOTE_MANIFEST and verdict.reason is not None
    assert "larger than the limit of 1000 bytes" in verdict.reason


def test_a_manifest_for_other_content_does_not_verify(policy, listener, tmp_path):
    # The fetched bytes are checked against the asset like embedded credentials.
    path, _manifest = _remote_asset(listener, tmp_path)
    _other_asset, other_manifest = remote_manifest_asset(listener.url("/other.c2pa"))
    listener.serve_http(other_manifest)
    verdict = Verifier(policy=policy, remote_manifests=RemoteManifestPolicy.from_hosts(["127.0.0.1"])).verify_file(path)
    assert listener.connections() == 1
    assert verdict.state is not VerdictState.TRUSTED


def test_control_the_engine_itself_would_fetch_the_remote_manifest(listener, tmp_path):
    path, manifest = _remote_asset(listener, tmp_path)
    listener.serve_http(manifest)
    with c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": True, "ocsp_fetch": False}}) as context:
        reader = c2pa.Reader("image/jpeg", io.BytesIO(path.read_bytes()), context=context)
        reader.close()
    assert listener.connections() == 1


def test_signing_with_a_remote_manifest_parent_contacts_nothing(listener, tmp_path):
    path, _manifest = _remote_asset(listener, tmp_path)
    source = tmp_path / "edit.jpg"
    source.write_bytes(small_jpeg(color=(200, 10, 10)))
    credentials = bomb_credentials()
    limits = SignLimits(timeout_seconds=30, memory_bytes=1024 * MB)
    with IsolatedSigner(
        chain_path=credentials.chain_path,
        key_path=credentials.key_path,
        options=SignerOptions(),
        limits=limits,
        workers=1,
    ) as signer:
        result = signer.sign_file(
            source=source, destination=tmp_path / "out.jpg", request=GenerationRequest(generator_name="t", parent=path)
        )
    assert listener.connections() == 0
    assert result.parent == path  # recorded as the parent, its remote credentials not fetched


# --- OCSP ---


def _certificate_with_ocsp(url: str) -> tuple[SigningKey, str]:
    """A signing credential whose certificate names `url` as its OCSP responder; and its root, PEM."""
    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocsp test"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    root = (
        x509.CertificateBuilder(
            subject_name=name("root"),
            issuer_name=name("root"),
            public_key=root_key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=not_before,
            not_valid_after=not_after,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder(
            subject_name=name("signer"),
            issuer_name=root.subject,
            public_key=leaf_key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=not_before,
            not_valid_after=not_after,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))]
            ),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    key = SigningKey(algorithm=SigningAlgorithm.ES256, certificates=(leaf, root), private_key=leaf_key)
    return key, root.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _signed_with(key: SigningKey) -> bytes:
    settings = {
        "verify": {"verify_after_sign": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": False}},
    }
    with (
        c2pa.Context.from_dict(settings) as context,
        c2pa.Signer.from_callback(key.sign, c2pa.C2paSigningAlg.ES256, key.chain_pem, None) as signer,
        c2pa.Builder({"claim_generator_info": [{"name": "ocsp test"}], "title": "ocsp"}, context=context) as builder,
    ):
        output = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(small_jpeg()), output)
    return output.getvalue()


def test_ocsp_is_never_fetched(listener, tmp_path):
    key, root_pem = _certificate_with_ocsp(listener.url("/ocsp"))
    path = tmp_path / "ocsp.jpg"
    path.write_bytes(_signed_with(key))
    # Even with the OCSP responder's host allowlisted for remote manifests.
    allowed = RemoteManifestPolicy.from_hosts(["127.0.0.1"])
    with IsolatedVerifier(
        policy=default_trust_policy(local_anchors_pem=root_pem), limits=LIMITS, workers=1, remote_manifests=allowed
    ) as pool:
        verdict = pool.verify_file(path)
    assert verdict.state in (VerdictState.TRUSTED, VerdictState.VALID, VerdictState.INVALID)
    assert listener.connections() == 0
    # Control: the same file with the engine's OCSP fetching on does contact the responder.
    listener.serve_http(b"", status="404 Not Found")  # an answer, so the engine does not wait for one
    with c2pa.Context.from_dict({"verify": {"ocsp_fetch": True, "remote_manifest_fetch": False}}) as context:
        c2pa.Reader("image/jpeg", io.BytesIO(path.read_bytes()), context=context).close()
    assert listener.connections() >= 1


# --- the setting ---


def test_the_allowlist_setting_is_parsed_and_checked_at_start_up():
    policy = build_remote_manifest_policy(Settings(remote_fetch_hosts=" Manifests.Example.com, 10.0.0.5:8443,,"))
    assert policy.host_names == ("manifests.example.com", "10.0.0.5:8443")
    assert policy.allows("https://manifests.example.com/m/1") and policy.allows("http://10.0.0.5:8443/x")
    assert not policy.allows("http://10.0.0.5:8444/x") and not policy.allows("http://user@manifests.example.com/")
    assert not policy.allows("file:///etc/passwd") and not policy.allows("http://example.com/")
    assert not build_remote_manifest_policy(Settings()).enabled
    for bad in ("http://manifests.example.com", "manifests.example.com/path", "user@host", "a b", "host:99999"):
        with pytest.raises(ValueError, match="is not a host or host:port"):
            build_remote_manifest_policy(Settings(remote_fetch_hosts=bad))
