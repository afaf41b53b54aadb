"""Where a signing key lives: a PEM file, a PKCS#11 token (HSM, SoftHSM2) or AWS KMS.

One narrow interface for all of them (`keys.backends.spec`): a backend is described by a
small, picklable, secret-free spec (`PemKeySpec`, `Pkcs11KeySpec`, `KmsKeySpec`);
`keys.backends.opening.open_key(spec)` returns a `KeyHandle` that signs in place; `keys.credential.load_credential`
turns a spec into a checked `keys.signing_key.SigningKey`. Each backend module imports its
client library (python-pkcs11, boto3) only when a key of that kind is opened.
"""
