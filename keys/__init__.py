"""Who signs: load and check a certificate chain + private key, make development credentials.

The only package that touches private keys; it never imports c2pa. Entry points:
`keys.loader.load_signing_key` (-> `keys.signing_key.SigningKey`),
`keys.devca.create_development_credentials`, and the errors in `keys.errors`.
"""
