"""How certificates are named in messages people read."""

from __future__ import annotations

from cryptography import x509


def describe_name(name: x509.Name) -> str:
    """A distinguished name as people read it, most specific first, e.g. `CN=Acme signer, O=Acme`."""
    parts = [f"{attribute.rfc4514_attribute_name}={str(attribute.value)}" for attribute in reversed(list(name))]
    return ", ".join(parts) or "(empty name)"


def describe_certificate(certificate: x509.Certificate) -> str:
    """A certificate's subject as people read it."""
    return describe_name(certificate.subject)
