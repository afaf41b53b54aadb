"""Open a key where it lives: the one place that maps a spec to its backend.

The specs (keys/backends/spec.py) are plain data and know no backend; each backend module imports
the spec it opens. A backend's client library (python-pkcs11, boto3) is imported only when a key
of that kind is opened, so its module is imported here, in the branch that needs it.
"""

from __future__ import annotations

from keys.backends.handle import KeyHandle
from keys.backends.spec import KeySpec, KmsKeySpec, PemKeySpec, Pkcs11KeySpec


def open_key(spec: KeySpec, *, pin: str | None = None) -> KeyHandle:
    """Open the key; raise a KeyProblem (with the fix) when it cannot be used.

    `pin`: a PKCS#11 PIN the caller already holds (else the spec's PIN file is read).
    """
    if isinstance(spec, PemKeySpec):
        from keys.loader import open_pem_key

        return open_pem_key(spec.key_path)
    if isinstance(spec, Pkcs11KeySpec):
        from keys.backends.pkcs11 import open_pkcs11_key

        return open_pkcs11_key(spec, pin=pin)
    if isinstance(spec, KmsKeySpec):
        from keys.backends.aws_kms import open_kms_key

        return open_kms_key(spec)
    raise TypeError(f"no key backend opens a {type(spec).__name__}")
