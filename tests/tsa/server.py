"""A small RFC 3161 time-stamping authority on loopback, for tests.

Built with `cryptography` (keys, certificates, the signature) and `asn1crypto` (the
TimeStampReq / TimeStampResp / CMS SignedData structures), in this process, on a thread:
no subprocess per request (as `openssl ts -reply` would need), and every failure mode a
test needs — an HTTP 500, bytes that are not a response, a token for another nonce or
another digest, a rejection, a hang, a closed port — is one switch away, which a
config-driven `openssl ts` cannot do for the nonce and the digest.

The TSA's certificate is issued by a test root made here (never written to disk unless a
test asks) with the extended key usage id-kp-timeStamping marked critical and only that
usage, as RFC 3161 section 2.3 requires.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import http.server
import itertools
import socket
import threading
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_POLICY_OID = "1.3.6.1.4.1.55555.3161.1"  # an arbitrary OID under a private arc, for tests only
REQUEST_CONTENT_TYPE = "application/timestamp-query"
REPLY_CONTENT_TYPE = "application/timestamp-reply"
_MAX_REQUEST_BYTES = 64 * 1024
_HANG_LIMIT_SECONDS = 120.0  # a hanging handler gives up by itself at the latest after this


class TsaMode(str, enum.Enum):
    """How the TSA answers the next requests."""

    OK = "ok"  # a granted, well-formed time-stamp token for the request
    HTTP_500 = "http_500"  # an HTTP 500 with a text body
    GARBAGE = "garbage"  # HTTP 200, the right content type, bytes that are not a TimeStampResp
    WRONG_NONCE = "wrong_nonce"  # a valid token, but for another nonce than the request's
    WRONG_DIGEST = "wrong_digest"  # a valid token over another message imprint than the request's
    REJECTED = "rejected"  # a TimeStampResp with PKIStatus rejection and no token
    HANG = "hang"  # accept the request and never answer (until the server stops)
    DOWN = "down"  # refuse connections: the listening socket is closed


@dataclass(frozen=True, slots=True, kw_only=True)
class TsaCredentials:
    """The test TSA's root, its certificate (issued by the root) and its key."""

    root: x509.Certificate
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def ca_pem(self) -> str:
        """The root, PEM: what a verifier adds as its TSA trust anchor."""
        return self.root.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def chain_pem(self) -> str:
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in (self.certificate, self.root)
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "originmark tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_tsa_credentials(
    *,
    name: str = "originmark test TSA",
    not_before: datetime.datetime | None = None,
    lifetime: datetime.timedelta = datetime.timedelta(days=30),
) -> TsaCredentials:
    """A fresh root and a TSA certificate (EKU timeStamping, critical) under it."""
    now = datetime.datetime.now(datetime.UTC)
    not_before = not_before or now - datetime.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{name} root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(root_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # RFC 3161 2.3: the TSA's certificate has exactly one EKU, id-kp-timeStamping, critical.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return TsaCredentials(root=root, certificate=certificate, private_key=tsa_key)


class TimeStamper:
    """Makes TimeStampResp bytes for TimeStampReq bytes (no I/O): the TSA's core."""

    def __init__(self, credentials: TsaCredentials) -> None:
        self._credentials = credentials
        self._serials = itertools.count(1)
        self._lock = threading.Lock()
        self._certificate = asn1_x509.Certificate.load(credentials.certificate.public_bytes(serialization.Encoding.DER))

    def respond(
        self, request_der: bytes, *, mode: TsaMode = TsaMode.OK, gen_time: datetime.datetime | None = None
    ) -> bytes:
        request = tsp.TimeStampReq.load(request_der)
        _ = request.native  # parse all of it now: a malformed request fails here, not half-way
        if mode is TsaMode.REJECTED:
            # TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL } (asn1crypto
            # insists on the token, so the one-field SEQUENCE is written by hand).
            status = tsp.PKIStatusInfo({"status": "rejection", "status_string": ["rejected by the test TSA"]}).dump()
            return _der_sequence(status)
        imprint = request["message_imprint"]
        if mode is TsaMode.WRONG_DIGEST:
            hashed = imprint["hashed_message"].native
            imprint = tsp.MessageImprint(
                {"hash_algorithm": imprint["hash_algorithm"], "hashed_message": bytes(b ^ 0xFF for b in hashed)}
            )
        nonce = request["nonce"].native
        if mode is TsaMode.WRONG_NONCE:
            nonce = (nonce or 0) + 1
        with self._lock:
            serial = next(self._serials)
        info = {
            "version": "v1",
            "policy": request["req_policy"].native or TEST_POLICY_OID,
            "message_imprint": imprint,
            "serial_number": serial,
            "gen_time": (gen_time or datetime.datetime.now(datetime.UTC)).replace(microsecond=0),
            "accuracy": {"seconds": 1},
        }
        if nonce is not None:
            info["nonce"] = nonce
        token = self._token(tsp.TSTInfo(info), include_certificate=bool(request["cert_req"].native))
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()

    def _token(self, info: tsp.TSTInfo, *, include_certificate: bool) -> cms.ContentInfo:
        content = info.dump()
        certificate_der = self._certificate.dump()
        signed_attributes = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
                # RFC 5816: the ESS signing-certificate-v2 attribute binds the token to the TSA's certificate.
                cms.CMSAttribute(
                    {
                        "type": "signing_certificate_v2",
                        "values": [
                            {
                                "certs": [
                                    {
                                        "hash_algorithm": {"algorithm": "sha256"},
                                        "cert_hash": hashlib.sha256(certificate_der).digest(),
                                    }
                                ]
                            }
                        ],
                    }
                ),
            ]
        )
        signature = self._credentials.private_key.sign(signed_attributes.dump(), ec.ECDSA(hashes.SHA256()))
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self._certificate.issuer,
                            "serial_number": self._certificate.serial_number,
                        }
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attributes,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(content)},
            "signer_infos": [signer_info],
        }
        if include_certificate:
            signed_data["certificates"] = [self._certificate]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


class LocalTsa:
    """An RFC 3161 TSA over HTTP on 127.0.0.1 (a free port), served from a daemon thread.

    `url` is where to POST; `ca_pem` the root to trust as a TSA anchor; `requests` counts
    the requests received (whatever the answer); `set_mode` / `fail_next` choose failures.
    """

    def __init__(self, credentials: TsaCredentials | None = None) -> None:
        self.credentials = credentials or make_tsa_credentials()
        self._stamper = TimeStamper(self.credentials)
        self._lock = threading.Lock()
        self._mode = TsaMode.OK
        self._script: list[TsaMode] = []  # how the next requests are answered, before `_mode`
        self._gen_time: datetime.datetime | None = None
        self._requests = 0
        self._released = threading.Event()  # set on a mode change or stop: hanging handlers return
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._listen()

    # --- what tests read ---

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/tsa"

    @property
    def ca_pem(self) -> str:
        return self.credentials.ca_pem

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def mode(self) -> TsaMode:
        with self._lock:
            return self._mode

    # --- what tests switch ---

    def set_mode(self, mode: TsaMode) -> None:
        """Answer every request this way from now on (DOWN closes the port; anything else reopens it)."""
        mode = TsaMode(mode)
        with self._lock:
            self._mode = mode
            self._script.clear()
            self._release_hanging()
        if mode is TsaMode.DOWN:
            self._stop_listening()
        elif self._server is None:
            self._listen()

    def fail_next(self, count: int, mode: TsaMode) -> None:
        """Answer the next `count` requests with `mode` (not DOWN), then as before."""
        mode = _answerable(mode)
        with self._lock:
            self._script = [mode] * count

    def fail_after(self, count: int, mode: TsaMode) -> None:
        """Answer the next `count` requests well, then every later one with `mode` (not DOWN).

        For a client in another process: its start-up probe is stamped, its files are not.
        """
        mode = _answerable(mode)
        with self._lock:
            self._script = [TsaMode.OK] * count
            self._mode = mode

    def set_gen_time(self, gen_time: datetime.datetime | None) -> None:
        """Stamp this time instead of the clock's (None: the clock again)."""
        with self._lock:
            self._gen_time = gen_time

    def reset(self) -> None:
        """Back to a healthy TSA with no request counted."""
        self.set_mode(TsaMode.OK)
        with self._lock:
            self._requests = 0
            self._gen_time = None

    def close(self) -> None:
        with self._lock:
            self._release_hanging()
        self._stop_listening()

    def __enter__(self) -> LocalTsa:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- internals ---

    def _release_hanging(self) -> None:
        self._released.set()
        self._released = threading.Event()

    def _answer(self, body: bytes) -> tuple[int, str, bytes] | threading.Event:
        """(status, content type, body) for one request, or the event to hang on."""
        with self._lock:
            self._requests += 1
            mode = self._script.pop(0) if self._script else self._mode
            gen_time = self._gen_time
            if mode is TsaMode.HANG:
                return self._released
        if mode is TsaMode.HTTP_500:
            return 500, "text/plain", b"the test TSA is failing on purpose\n"
        if mode is TsaMode.GARBAGE:
            return 200, REPLY_CONTENT_TYPE, b"\x30\x03\x02\x01\x07this is not a TimeStampResp"
        try:
            reply = self._stamper.respond(body, mode=mode, gen_time=gen_time)
        except (ValueError, TypeError, KeyError) as error:
            return 400, "text/plain", f"not a TimeStampReq: {error}\n".encode()
        return 200, REPLY_CONTENT_TYPE, reply

    def _listen(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= _MAX_REQUEST_BYTES:
                    self._reply(400, "text/plain", b"a TimeStampReq body is required\n")
                    return
                answer = owner._answer(self.rfile.read(length))
                if isinstance(answer, threading.Event):
                    answer.wait(_HANG_LIMIT_SECONDS)
                    self.close_connection = True
                    return
                self._reply(*answer)

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, format: str, *args) -> None:  # quiet in tests
                return

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        server = Server(("127.0.0.1", self._port), Handler)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="local-tsa", daemon=True)
        self._thread.start()

    def _stop_listening(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def _answerable(mode: TsaMode) -> TsaMode:
    mode = TsaMode(mode)
    if mode is TsaMode.DOWN:
        raise ValueError("a scripted answer cannot close the port; use set_mode(TsaMode.DOWN)")
    return mode


def _der_sequence(content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return b"\x30" + bytes([length]) + content
    size = (length.bit_length() + 7) // 8
    return b"\x30" + bytes([0x80 | size]) + length.to_bytes(size, "big") + content


def port_is_closed(port: int) -> bool:
    """Whether nothing accepts connections on 127.0.0.1:`port` now."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0
