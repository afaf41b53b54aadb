"""Chain order: the signing certificate first, then each certificate's issuer in turn.

An out-of-order chain is the quietest failure there is: the engine signs with it and the
asset then reads only as "Valid" (signingCredential.untrusted). The messages here say which
certificate is where, and, when the same certificates can form a chain, the order to write.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from keys.errors import ChainMissingIssuer, ChainOutOfOrder, KeyProblem
from keys.names import describe_certificate, describe_name


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def order_problems(certificates: tuple[x509.Certificate, ...], *, chain_name: str) -> list[KeyProblem]:
    """The first ordering problem: a duplicate, a wrong order, or a missing issuer (empty when in order)."""
    first_seen: dict[x509.Certificate, int] = {}
    for position, certificate in enumerate(certificates, start=1):
        if certificate in first_seen:
            return [
                ChainOutOfOrder(
                    f"{chain_name} contains certificate #{first_seen[certificate]} "
                    f"({describe_certificate(certificate)}) twice (again as #{position})",
                    f"remove the second copy (#{position}) so that each certificate appears once, signing "
                    "certificate first",
                )
            ]
        first_seen[certificate] = position
    for position in range(len(certificates) - 1):
        child, parent = certificates[position], certificates[position + 1]
        if _issued_by(child, parent):
            continue
        child_name = f"#{position + 1} ({describe_certificate(child)})"
        parent_name = f"#{position + 2} ({describe_certificate(parent)})"
        proper_order = _proper_order(certificates)
        if proper_order is not None:
            listing = "; ".join(
                f"{index}. {describe_certificate(certificate)}" for index, certificate in enumerate(proper_order, 1)
            )
            fix = f"write the certificates in this order (each one followed by its issuer): {listing}"
            return [_out_of_order(chain_name, child_name, parent_name, fix)]
        issuer_elsewhere = [
            index
            for index, candidate in enumerate(certificates, start=1)
            if candidate is not child and _issued_by(child, candidate)
        ]
        if issuer_elsewhere:
            fix = (
                f"move certificate #{issuer_elsewhere[0]} directly after certificate {child_name}, and remove "
                "certificates that belong to other chains"
            )
            return [_out_of_order(chain_name, child_name, parent_name, fix)]
        if child.issuer == parent.subject:
            return [
                ChainMissingIssuer(
                    f"in {chain_name}, certificate {parent_name} has the name of the CA that issued certificate "
                    f"{child_name} but not its key (an old or re-keyed CA certificate?)",
                    "replace it with the issuing CA's current certificate from your CA (the one whose Subject Key "
                    "Identifier equals the Authority Key Identifier of the certificate before it)",
                )
            ]
        return [
            ChainMissingIssuer(
                f"{chain_name} is missing the certificate that issued certificate {child_name}: the next one, "
                f"{parent_name}, is not its issuer and no certificate in the file is",
                f"after certificate {child_name} put the CA certificate that issued it (subject "
                f"`{describe_name(child.issuer)}`, from your CA), then its issuer, and so on; remove "
                "certificates that belong to other chains",
            )
        ]
    return []


def _out_of_order(chain_name: str, child_name: str, parent_name: str, fix: str) -> ChainOutOfOrder:
    return ChainOutOfOrder(
        f"{chain_name} is not in order: certificate {parent_name} did not issue certificate {child_name}; "
        "C2PA needs the signing certificate first, then each issuer in turn",
        fix,
    )


def _proper_order(certificates: tuple[x509.Certificate, ...]) -> tuple[x509.Certificate, ...] | None:
    """The same certificates as one issuer chain starting at the signing certificate, if they form one."""
    ordered = [certificates[0]]
    remaining = list(certificates[1:])
    while remaining:
        issuers = [candidate for candidate in remaining if _issued_by(ordered[-1], candidate)]
        if not issuers:
            return None
        ordered.append(issuers[0])
        remaining.remove(issuers[0])
    return tuple(ordered)
