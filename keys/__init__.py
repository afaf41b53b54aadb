"""Who signs: load and check a certificate chain + key, make development credentials.

The only package that touches private keys; it never imports c2pa. Entry points:
`keys.credential.load_credential` (any key backend: keys/backends -> `keys.signing_key.SigningKey`),
`keys.loader.load_signing_key` (a PEM chain + key), `keys.identities` (several signing
identities, one active), `keys.devca.create_development_credentials`, and the errors in
`keys.errors`.
"""
