"""Per-tenant webhook secrets, derived from the server's master key (ORIGINMARK_WEBHOOK_MASTER_KEY).

    tenant secret = "whsec_" + hex HMAC-SHA256(master key, "originmark webhook v1\\n<tenant>\\n<generation>")

Each tenant's receivers check deliveries with their own tenant's secret, so a receiver of one
tenant cannot forge events for another (it would need the master key, which no receiver ever
holds: the one shared ORIGINMARK_WEBHOOK_SECRET of earlier versions is refused at start-up for
that reason, since old receivers know it). Nothing secret is stored in the database: a tenant
row keeps only its generation number.
`originmark tenants webhook-secret NAME` prints the tenant's secret; `--rotate` moves to the next
generation. Deliveries are signed with the current and the previous generation's secret (two
`v1=` values), so a receiver can switch to the new secret at its own pace; signing with an old
secret gives nobody a forgery, the receiver decides which secrets it accepts.
"""

from __future__ import annotations

import hashlib
import hmac

_DOMAIN = "originmark webhook v1"


def tenant_webhook_secret(operator_secret: str, *, tenant: str, generation: int) -> str:
    message = f"{_DOMAIN}\n{tenant}\n{generation}".encode()
    return "whsec_" + hmac.new(operator_secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signing_secrets(operator_secret: str, *, tenant: str, generation: int) -> list[str]:
    """The secrets a delivery is signed with: the current generation's, then the previous one's."""
    secrets = [tenant_webhook_secret(operator_secret, tenant=tenant, generation=generation)]
    if generation > 1:
        secrets.append(tenant_webhook_secret(operator_secret, tenant=tenant, generation=generation - 1))
    return secrets
