"""Which objects a tenant's jobs may touch, read from the tenant's row each time it is asked.

Checked at submit (the job routes) and again by the worker before every attempt, so an operator
who narrows a tenant's prefixes (or hands a folder to another tenant) stops queued jobs and
retries from reading or writing there.
"""

from __future__ import annotations

from app.jobs import staging
from app.objects.access import LocationResolver, ObjectAllowList
from app.objects.location import ObjectLocation
from app.store.interface import TenantStore


def tenant_allow_list(
    tenants: TenantStore, *, tenant: str, resolver: LocationResolver, own_objects: ObjectLocation
) -> ObjectAllowList:
    """The tenant's prefixes as they are now (an unknown tenant has none); the staging area is never allowed."""
    stored = tenants.tenant(tenant)
    return ObjectAllowList(
        tenant=tenant,
        prefixes=stored.object_prefixes if stored is not None else (),
        staging=staging.staging_prefix(own_objects),
        resolver=resolver,
    )
