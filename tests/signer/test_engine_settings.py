"""Each engine setting the signer depends on takes effect (the engine ignores unknown keys silently).

Thumbnails off and allActionsIncluded are checked on real output in test_conformance.py and
by the start-up probe; the backing-store threshold by the large-file tests in
test_engine_io.py. Here: remote manifest fetching off, verify-after-sign off, the EKU list.
"""

from __future__ import annotations

import http.server
import io
import threading

import c2pa
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signer.engine_settings import claim_signing_eku_config, probe_verification_settings, signing_settings
from signer.manifest import GenerationRequest, build_manifest_definition

DEFINITION = build_manifest_definition(
    GenerationRequest(generator_name="settings test"), default_title="t.jpg", originmark_version="0"
)


@pytest.fixture
def manifest_server():
    """A local HTTP server that records every request (and serves nothing)."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/manifest.c2pa", requests
    server.shutdown()
    server.server_close()


def _engine_signer(signing_key, private_key=None) -> c2pa.Signer:
    """A raw engine signer for the key's chain; `private_key` (if given) signs instead of the chain's key."""
    sign = signing_key.sign if private_key is None else (lambda data: private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    return c2pa.Signer.from_callback(sign, c2pa.C2paSigningAlg.ES256, signing_key.chain_pem, None)


def test_a_parent_pointing_to_a_remote_manifest_makes_no_request(
    content_signer, signing_key, make_jpeg, manifest_server, read_back, tmp_path
):
    url, requests = manifest_server
    # A parent whose credentials live at `url` (the asset carries only the reference).
    with c2pa.Context.from_dict(signing_settings(thumbnails=False, local_anchors_pem=None)) as context:
        builder = c2pa.Builder(DEFINITION, context=context)
        builder.set_no_embed()
        builder.set_remote_url(url)
        parent = tmp_path / "remote-parent.jpg"
        with make_jpeg(tmp_path / "p.jpg").open("rb") as source, parent.open("w+b") as output:
            builder.sign(_engine_signer(signing_key), "image/jpeg", source, output)

    result = content_signer.sign_file(
        source=make_jpeg(tmp_path / "e.jpg"),
        destination=tmp_path / "out.jpg",
        request=GenerationRequest(generator_name="g", parent=parent),
    )
    assert requests == []
    ingredient = read_back(result.destination, mime="image/jpeg").manifest["assertions"]["c2pa.ingredient.v3"]
    assert "activeManifest" not in ingredient  # recorded as a parent whose credentials were not fetched

    # Control: with fetching left on, the same ingredient makes the engine call the URL.
    fetching = signing_settings(thumbnails=False, local_anchors_pem=None)
    fetching["verify"]["remote_manifest_fetch"] = True
    with c2pa.Context.from_dict(fetching) as context, parent.open("rb") as stream:
        builder = c2pa.Builder(DEFINITION, context=context)
        builder.add_ingredient({"title": "p", "relationship": "parentOf"}, "image/jpeg", stream)
        builder.close()
    assert requests == ["/manifest.c2pa"]


def test_verify_after_sign_is_off(signing_key, make_jpeg, tmp_path):
    """With a key that does not match the certificate, verify-after-sign would fail the call;
    with it off the engine signs (the start-up probe is what catches such a key)."""
    stranger = ec.generate_private_key(ec.SECP256R1())
    source = make_jpeg(tmp_path / "a.jpg").read_bytes()
    settings = signing_settings(thumbnails=False, local_anchors_pem=None)
    with c2pa.Context.from_dict(settings) as context:
        builder = c2pa.Builder(DEFINITION, context=context)
        assert builder.sign(_engine_signer(signing_key, stranger), "image/jpeg", io.BytesIO(source), io.BytesIO())

    settings["verify"]["verify_after_sign"] = True
    with c2pa.Context.from_dict(settings) as context:
        builder = c2pa.Builder(DEFINITION, context=context)
        with pytest.raises(c2pa.C2paError):
            builder.sign(_engine_signer(signing_key, stranger), "image/jpeg", io.BytesIO(source), io.BytesIO())


def test_the_eku_list_makes_a_c2pa_only_certificate_verify(make_signing_key, make_jpeg, tmp_path):
    """A certificate with only the C2PA claim-signing EKU signs either way, but verifies only
    where `trust_config` lists that EKU: the engine's default list has emailProtection alone."""
    from cryptography.x509.oid import ObjectIdentifier

    signing_key = make_signing_key(ekus=[ObjectIdentifier("1.3.6.1.4.1.62558.2.1")])
    root_pem = signing_key.chain_pem[signing_key.chain_pem.rindex("-----BEGIN CERTIFICATE-----") :]

    signed = io.BytesIO()
    with c2pa.Context.from_dict(signing_settings(thumbnails=False, local_anchors_pem=None)) as context:
        builder = c2pa.Builder(DEFINITION, context=context)
        builder.sign(
            _engine_signer(signing_key), "image/jpeg", io.BytesIO(make_jpeg(tmp_path / "a.jpg").read_bytes()), signed
        )

    def state(settings) -> str:
        with c2pa.Context.from_dict(settings) as context:
            signed.seek(0)
            with c2pa.Reader("image/jpeg", signed, context=context) as reader:
                return reader.get_validation_state()

    ours = probe_verification_settings(anchors_pem=root_pem)
    assert "1.3.6.1.4.1.62558.2.1" in claim_signing_eku_config().split()
    assert state(ours) == "Trusted"
    del ours["trust"]["trust_config"]
    assert state(ours) == "Invalid"
