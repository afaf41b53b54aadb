"""`originmark tenants`: who owns API keys, media ids, jobs and object locations.

    originmark tenants create acme-ai --object-prefix s3://acme-out/generated/
    originmark tenants list
    originmark tenants show acme-ai
    originmark tenants update acme-ai --object-prefix s3://acme-out/generated/ --object-prefix shared/acme/
    originmark tenants update acme-ai --sbr-public
    originmark tenants webhook-secret acme-ai [--rotate]

A key belongs to exactly one tenant (`originmark apikey create --tenant NAME`); everything it
names is looked up in that tenant only. Object prefixes are what the tenant's jobs may read and
write (none: uploaded-file jobs only); each is checked now against what this server can serve.
`--sbr-public` opens the tenant's shared manifest repository entries to reading without an API key
through the Soft Binding Resolution API (`/sbr/v1/...?tenant=NAME`); `--no-sbr-public` closes them.
Works on the service's database, migrated first, like `originmark apikey`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from app.cli.apikey_cmd import fail, migrated_store
from app.cli.render import make_console, safe_text
from app.cli.tables import print_table
from app.exit_codes import user_message
from app.jobs.tenant_secrets import tenant_webhook_secret
from app.objects.access import LocationResolver, check_prefix_syntax
from app.objects.errors import ObjectStoreError
from app.objects.local import LocalFolderStore
from app.settings import Settings
from app.store.interface import Tenant

tenants_app = typer.Typer(
    help="Tenants: the owners of API keys, media ids, jobs and object locations.", no_args_is_help=True
)

_PrefixOption = Annotated[
    list[str] | None,
    typer.Option(
        "--object-prefix",
        metavar="URI",
        help="An object prefix the tenant's jobs may read and write (s3://bucket/prefix/, a folder in the "
        "local objects folder, or its file:// URI); repeat for several.",
        show_default=False,
    ),
]
_SbrPublicOption = Annotated[
    bool | None,
    typer.Option(
        "--sbr-public/--no-sbr-public",
        help="Open (or close) the tenant's shared manifest repository entries to reading without an API key "
        "through /sbr/v1 (?tenant=NAME). Unchanged when not given.",
        show_default=False,
    ),
]
_FeedThumbnailsOption = Annotated[
    bool | None,
    typer.Option(
        "--feed-thumbnails/--no-feed-thumbnails",
        help="Keep (or stop keeping) a small signed thumbnail of each media id the tenant signs or verifies, "
        "shown by the feed (GET /v1/thumbnails/{media_id}); --no-feed-thumbnails deletes those kept. "
        "Unchanged when not given.",
        show_default=False,
    ),
]
_NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The tenant's name.", show_default=False)]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        fail(user_message(error))


def _checked_prefixes(prefixes: list[str], settings: Settings) -> list[str]:
    """Each prefix, when this server can serve it (a bad one stops the command, exit 2)."""
    resolver = LocationResolver(local=LocalFolderStore(root=settings.objects_dir))
    for prefix in prefixes:
        try:
            check_prefix_syntax(prefix, resolver)
        except ObjectStoreError as error:
            fail(f"--object-prefix {prefix!r:.200}: {error.message}")
    return prefixes


def _print_tenant(tenant: Tenant, heading: str) -> None:
    out = make_console()
    out.print(Text.assemble((heading, "bold"), " ", (tenant.name, "bold")), soft_wrap=True)
    if tenant.object_prefixes:
        out.print("Object prefixes:")
        for prefix in tenant.object_prefixes:
            out.print(Text.assemble("  ", safe_text(prefix)), soft_wrap=True)
    else:
        out.print("Object prefixes: none (jobs take uploaded files only)")
    out.print(f"Public SBR reading: {_public_reading(tenant)}")
    thumbnails = "yes (a signed thumbnail per media id)" if tenant.feed_thumbnails else "no (placeholders)"
    out.print(f"Feed thumbnails: {thumbnails}")


def _public_reading(tenant: Tenant) -> str:
    if tenant.sbr_public:
        return "yes (/sbr/v1 without an API key, ?tenant=NAME)"
    return "no (/sbr/v1 needs an API key with the sbr scope)"


@tenants_app.command("create")
def create(name: _NameArgument, object_prefix: _PrefixOption = None) -> None:
    """Create a tenant, with the object prefixes its jobs may use (none by default)."""
    settings = _settings()
    prefixes = _checked_prefixes(object_prefix or [], settings)
    with migrated_store(create=True) as store:
        try:
            tenant = store.create_tenant(name, object_prefixes=prefixes)
        except ValueError as error:
            fail(str(error))
    _print_tenant(tenant, "Created tenant")
    make_console().print(f"Create its keys with `originmark apikey create --tenant {tenant.name} ...`.")


@tenants_app.command("list")
def list_tenants() -> None:
    """List the tenants with their object prefixes and how many API keys each has."""
    with migrated_store() as store:
        tenants = store.list_tenants()
        keys = store.list_keys()
    table = Table(box=None, padding=(0, 2), header_style="bold")
    table.add_column("tenant", no_wrap=True)
    table.add_column("active keys", justify="right", no_wrap=True)
    table.add_column("public sbr", no_wrap=True)
    table.add_column("object prefixes", overflow="fold")
    for tenant in tenants:
        active = sum(1 for key in keys if key.tenant == tenant.name and key.active)
        prefixes = Text("\n").join(safe_text(p) for p in tenant.object_prefixes) if tenant.object_prefixes else "-"
        table.add_row(tenant.name, str(active), "yes" if tenant.sbr_public else "no", prefixes)
    print_table(make_console(), table)


@tenants_app.command("show")
def show(name: _NameArgument) -> None:
    """Show one tenant: its object prefixes and its API keys (ids and names, never the keys)."""
    with migrated_store() as store:
        tenant = store.tenant(name)
        if tenant is None:
            fail(f"there is no tenant {name!r:.80}; `originmark tenants list` shows them")
        keys = [key for key in store.list_keys() if key.tenant == tenant.name]
    _print_tenant(tenant, "Tenant")
    out = make_console()
    out.print(f"Created: {tenant.created_at:%Y-%m-%d %H:%M:%S} UTC")
    out.print(f"API keys: {len(keys)} ({sum(1 for key in keys if key.active)} active)")
    for key in keys:
        state = "active" if key.active else "revoked"
        scopes = ",".join(sorted(scope.value for scope in key.scopes))
        out.print(Text.assemble("  ", key.key_id, "  ", safe_text(key.name), f"  {scopes}  {state}"), soft_wrap=True)


@tenants_app.command("update")
def update(
    name: _NameArgument,
    object_prefix: _PrefixOption = None,
    sbr_public: _SbrPublicOption = None,
    feed_thumbnails: _FeedThumbnailsOption = None,
) -> None:
    """Replace a tenant's object prefixes with the ones given, open or close its public SBR reading,
    and/or turn its feed thumbnails on or off.

    With --sbr-public / --no-sbr-public or --feed-thumbnails / --no-feed-thumbnails alone the
    prefixes stay as they are; otherwise the prefixes given replace them (none given: remove them all). Takes effect on the next request in every
    server process; queued jobs are checked when submitted.
    """
    settings = _settings()
    replace_prefixes = object_prefix is not None or (sbr_public is None and feed_thumbnails is None)
    prefixes = _checked_prefixes(object_prefix or [], settings)
    with migrated_store() as store:
        try:
            tenant = store.set_object_prefixes(name, prefixes) if replace_prefixes else store.tenant(name)
            if tenant is not None and sbr_public is not None:
                tenant = store.set_sbr_public(name, sbr_public)
            if tenant is not None and feed_thumbnails is not None:
                tenant = store.set_feed_thumbnails(name, feed_thumbnails)
        except ValueError as error:
            fail(str(error))
    if tenant is None:
        fail(f"there is no tenant {name!r:.80}; `originmark tenants list` shows them")
    _print_tenant(tenant, "Updated tenant")


@tenants_app.command("webhook-secret")
def webhook_secret(
    name: _NameArgument,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Move to a new secret first (the previous one keeps signing too).")
    ] = False,
) -> None:
    """Print the secret the tenant's webhook receivers check deliveries with.

    Each tenant has its own, derived from ORIGINMARK_WEBHOOK_MASTER_KEY, so no receiver can forge
    another tenant's events. After --rotate, deliveries carry signatures with the new and the
    previous secret until the next rotation: switch the receivers, then rotate again to retire it.
    """
    settings = _settings()
    if settings.webhook_master_key is None:
        fail("this server sends no webhooks: set ORIGINMARK_WEBHOOK_MASTER_KEY first")
    with migrated_store() as store:
        tenant = store.rotate_webhook_secret(name) if rotate else store.tenant(name)
    if tenant is None:
        fail(f"there is no tenant {name!r:.80}; `originmark tenants list` shows them")
    secret = tenant_webhook_secret(
        settings.webhook_master_key.get_secret_value(), tenant=tenant.name, generation=tenant.webhook_secret_generation
    )
    err = make_console(stderr=True)
    if rotate:
        err.print(
            f"Rotated: deliveries are now signed with generation {tenant.webhook_secret_generation} (and the one before)."
        )
    make_console().print(secret, soft_wrap=True, markup=False, highlight=False)
