"""The PKCS#11 backend: an EC key pair inside a token (an HSM, or SoftHSM2 for development).

The private key never leaves the token: it must be CKA_SENSITIVE and not CKA_EXTRACTABLE
(a key that could be exported is refused), and only a digest goes in (CKM_ECDSA over a
SHA-256/384/512 digest computed here: SoftHSM2 2.6 has no CKM_ECDSA_SHA256, and every
token has CKM_ECDSA). The token answers raw r||s, converted to DER for the engine.

One logged-in session per token per process: each signing worker process opens its own
(signer/isolation.py). PKCS#11 logs in per application, not per session (a second C_Login
in the same process fails with CKR_USER_ALREADY_LOGGED_IN, and C_Logout on any session logs
them all out), so the keys opened in one process share that process's session, counted:
the last one closed (or garbage-collected) logs out. Operations on the session are
serialised by a lock (a session runs one operation at a time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from keys.algorithms import SigningAlgorithm, SupportedPublicKey
from keys.backends.signatures import ECDSA_ALGORITHMS, digest, raw_ecdsa_to_der
from keys.backends.spec import Pkcs11KeySpec
from keys.errors import ExtractableKey, KeyBackendUnavailable, UnreadableCredentials, UnsupportedKeyType

if TYPE_CHECKING:
    from types import ModuleType

    import pkcs11

MAX_PIN_FILE_BYTES = 4096


@dataclasses.dataclass(eq=False)
class _SharedSession:
    """This process's logged-in session on one token, and how many open keys use it."""

    key: tuple[str, str]
    session: pkcs11.Session
    pin_digest: bytes
    users: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


_sessions: dict[tuple[str, str], _SharedSession] = {}
_sessions_lock = threading.RLock()  # re-entrant: a handle collected by GC while it is held releases here


def _release(shared: _SharedSession) -> None:
    with _sessions_lock:
        shared.users -= 1
        if shared.users > 0:
            return
        _sessions.pop(shared.key, None)
    try:
        shared.session.close()  # C_Logout, then C_CloseSession
    except Exception:  # noqa: BLE001 - a token gone away has nothing left to close
        pass


class Pkcs11KeyHandle:
    """A key pair in a token, signing through this process's session on that token."""

    def __init__(
        self, *, shared: _SharedSession, private_key: pkcs11.SignMixin, public_key: SupportedPublicKey, description: str
    ) -> None:
        self._shared = shared
        self._private_key = private_key
        self._public_key = public_key
        self._description = description
        # Released when closed, or when the handle is garbage-collected without being closed.
        self._release = weakref.finalize(self, _release, shared)

    @property
    def description(self) -> str:
        return self._description

    def public_key(self) -> SupportedPublicKey:
        return self._public_key

    def sign(self, data: bytes, algorithm: SigningAlgorithm) -> bytes:
        import pkcs11

        if algorithm not in ECDSA_ALGORITHMS:
            raise UnsupportedKeyType(f"{self._description} cannot sign {algorithm}", "use an EC key in the token")
        if not self._release.alive:
            raise KeyBackendUnavailable(f"the session to {self._description} was closed", "load the key again")
        with self._shared.lock:
            raw = self._private_key.sign(digest(data, algorithm), mechanism=pkcs11.Mechanism.ECDSA)
        return raw_ecdsa_to_der(raw)

    def close(self) -> None:
        self._release()

    def __reduce__(self) -> NoReturn:
        raise TypeError("a PKCS#11 key handle cannot be pickled: it holds a logged-in session")

    def __repr__(self) -> str:
        return f"Pkcs11KeyHandle({self._description})"


def read_pin_file(path: Path) -> str:
    """The PIN in `path` (one line; a trailing newline is ignored). Never put in a message."""
    try:
        with Path(path).open("rb") as stream:
            data = stream.read(MAX_PIN_FILE_BYTES + 1)
    except OSError as error:
        raise UnreadableCredentials(
            f"the PKCS#11 PIN file {path} cannot be read ({error.strerror or type(error).__name__})",
            "set ORIGINMARK_PKCS11_PIN_FILE to a file readable by the originmark user (mode 0600) holding the "
            "token's user PIN",
        ) from None
    pin = data.decode("utf-8", "replace").rstrip("\r\n")
    if len(data) > MAX_PIN_FILE_BYTES or not pin or "\n" in pin:
        raise UnreadableCredentials(
            f"the PKCS#11 PIN file {path} does not hold one PIN on one line",
            "write only the token's user PIN into it, e.g. `(umask 077; printf %s 'PIN' > FILE)`",
        )
    return pin


def open_pkcs11_key(spec: Pkcs11KeySpec, *, pin: str | None) -> Pkcs11KeyHandle:
    """Open a session on the token, log in and find the key pair by its label."""
    try:
        import pkcs11
        from pkcs11 import exceptions as pkcs11_errors
    except ImportError:
        raise KeyBackendUnavailable(
            "the PKCS#11 key backend needs the python-pkcs11 package, which is not installed",
            "install originmark with its dependencies (`pip install -e .`), or `pip install python-pkcs11`",
        ) from None

    if pin is None:
        if spec.pin_file is None:
            raise UnreadableCredentials(
                f"no PIN is configured for {spec.describe()}",
                "set ORIGINMARK_PKCS11_PIN_FILE (a file holding the user PIN, mode 0600) or ORIGINMARK_PKCS11_PIN",
            )
        pin = read_pin_file(spec.pin_file)
    where = spec.describe()
    try:
        # One path per library file: python-pkcs11 caches by path, and a second C_Initialize of the
        # same library under another name (a symlink) would fail.
        library = pkcs11.lib(os.path.realpath(spec.module))
    except (pkcs11_errors.PKCS11Error, OSError) as error:
        raise KeyBackendUnavailable(
            f"the PKCS#11 module {spec.module} cannot be loaded ({error})",
            "set ORIGINMARK_PKCS11_MODULE to the token vendor's PKCS#11 library (SoftHSM2: "
            "/usr/lib/softhsm/libsofthsm2.so from Debian's softhsm2 package)",
        ) from None
    try:
        token = library.get_token(token_label=spec.token_label)
    except pkcs11_errors.NoSuchToken:
        raise KeyBackendUnavailable(
            f"no token labelled {spec.token_label!r} is present in {spec.module}",
            "check ORIGINMARK_PKCS11_TOKEN_LABEL against the labels `softhsm2-util --show-slots` (or "
            "`pkcs11-tool --module MODULE --list-slots`) prints; for SoftHSM2 also check SOFTHSM2_CONF",
        ) from None
    except pkcs11_errors.MultipleTokensReturned:
        raise KeyBackendUnavailable(
            f"more than one token is labelled {spec.token_label!r} in {spec.module}",
            "give each token a distinct label",
        ) from None
    shared = _shared_session(spec, token, pin, pkcs11_errors=pkcs11_errors)
    del pin
    try:
        private_key, public_key = _find_key_pair(spec, shared.session, where=where)
    except BaseException:
        _release(shared)
        raise
    return Pkcs11KeyHandle(shared=shared, private_key=private_key, public_key=public_key, description=where)


def _shared_session(spec: Pkcs11KeySpec, token: pkcs11.Token, pin: str, *, pkcs11_errors: ModuleType) -> _SharedSession:
    """This process's logged-in session on the token (opened and logged in by the first key)."""
    key = (os.path.realpath(spec.module), spec.token_label)
    pin_digest = hashlib.sha256(pin.encode("utf-8")).digest()
    with _sessions_lock:
        shared = _sessions.get(key)
        if shared is not None:
            if not hmac.compare_digest(shared.pin_digest, pin_digest):
                raise KeyBackendUnavailable(
                    f"this process is already logged in to token {spec.token_label!r} with another PIN",
                    "configure one user PIN per token",
                )
            shared.users += 1
            return shared
        session = _open_logged_in(spec, token, pin, pkcs11_errors=pkcs11_errors)
        shared = _SharedSession(key=key, session=session, pin_digest=pin_digest, users=1)
        _sessions[key] = shared
        return shared


def _open_logged_in(spec: Pkcs11KeySpec, token: pkcs11.Token, pin: str, *, pkcs11_errors: ModuleType) -> pkcs11.Session:
    try:
        return token.open(user_pin=pin)
    except (pkcs11_errors.PinIncorrect, pkcs11_errors.PinLenRange, pkcs11_errors.PinInvalid):
        raise KeyBackendUnavailable(
            f"the token {spec.token_label!r} refused the configured user PIN",
            "check the PIN in ORIGINMARK_PKCS11_PIN_FILE / ORIGINMARK_PKCS11_PIN (repeated wrong PINs lock the token)",
        ) from None
    except pkcs11_errors.PinLocked:
        raise KeyBackendUnavailable(
            f"the user PIN of token {spec.token_label!r} is locked", "have the security officer unlock or reset it"
        ) from None
    except pkcs11_errors.UserAlreadyLoggedIn:
        raise KeyBackendUnavailable(
            f"token {spec.token_label!r} is already logged in by other code in this process",
            "let originmark own the token's login in its process",
        ) from None
    except pkcs11_errors.PKCS11Error as error:
        raise KeyBackendUnavailable(
            f"cannot open a session on token {spec.token_label!r} ({type(error).__name__})",
            "check that the token is present and not used up (session count) by other processes",
        ) from None


def _find_key_pair(
    spec: Pkcs11KeySpec, session: pkcs11.Session, *, where: str
) -> tuple[pkcs11.SignMixin, ec.EllipticCurvePublicKey]:
    from pkcs11 import Attribute, KeyType, ObjectClass, PublicKey, SignMixin
    from pkcs11 import exceptions as pkcs11_errors
    from pkcs11.util.ec import encode_ec_public_key

    try:
        private_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=spec.key_label)
    except pkcs11_errors.NoSuchKey:
        raise KeyBackendUnavailable(
            f"{where}: the token has no private key labelled {spec.key_label!r}",
            "check ORIGINMARK_PKCS11_KEY_LABEL (`pkcs11-tool --module MODULE --login --list-objects` lists them), "
            "or generate an EC P-256 key pair with that label in the token",
        ) from None
    except pkcs11_errors.MultipleObjectsReturned:
        raise KeyBackendUnavailable(
            f"{where}: more than one private key is labelled {spec.key_label!r}", "give each key a distinct label"
        ) from None
    if private_key.key_type != KeyType.EC:
        raise UnsupportedKeyType(
            f"{where} is a {getattr(private_key.key_type, 'name', private_key.key_type)} key; the PKCS#11 backend "
            "signs with EC keys (P-256, P-384, P-521) only",
            "generate an EC key pair in the token, e.g. `pkcs11-tool --keypairgen --key-type EC:prime256v1`",
        )
    if not private_key[Attribute.SENSITIVE] or private_key[Attribute.EXTRACTABLE]:
        raise ExtractableKey(
            f"{where} can be exported from the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true), so the key "
            "is not protected by it",
            "generate a new key pair inside the token with CKA_SENSITIVE=true and CKA_EXTRACTABLE=false, and have "
            "a certificate issued for it",
        )
    if not isinstance(private_key, SignMixin):  # python-pkcs11 mixes in sign() only for a CKA_SIGN key
        raise UnsupportedKeyType(
            f"{where} is not allowed to sign (CKA_SIGN false)",
            "generate a signing key pair in the token (pkcs11-tool --keypairgen sets CKA_SIGN on the private key)",
        )
    try:
        public_object = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=spec.key_label)
        # get_key(object_class=PUBLIC_KEY) answers a PublicKey; anything else is refused below.
        public_key = (
            load_der_public_key(encode_ec_public_key(public_object)) if isinstance(public_object, PublicKey) else None
        )
    except pkcs11_errors.NoSuchKey:
        raise KeyBackendUnavailable(
            f"{where}: the token has the private key but no public key object labelled {spec.key_label!r}",
            "import the public key into the token with the same label (`pkcs11-tool --write-object PUB.der "
            "--type pubkey --label LABEL`), so that originmark can check it against the certificate",
        ) from None
    except pkcs11_errors.MultipleObjectsReturned:
        raise KeyBackendUnavailable(
            f"{where}: more than one public key is labelled {spec.key_label!r}", "give each key a distinct label"
        ) from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):  # encode_ec_public_key wrote an EC SubjectPublicKeyInfo
        raise UnsupportedKeyType(
            f"{where}: the public key object is not an EC key", "give the key pair's public half the same label"
        )
    return private_key, public_key
