"""`originmark apikey`: API keys for the service — create (the key is printed once), list,
revoke, and the signing policy of a sign key (which generators and digital source types it may
claim in POST /v1/sign, and whether it may replace the credentials a file carries; signer/policy.py).

Works on the service's database (ORIGINMARK_DATABASE_URL, default HOME/originmark.db) and
brings its schema up to date first; only `create` makes a database where there is none. Exit codes follow the CLI root: 0 success, 2 a wrong
command line (an unknown scope or source type, ...), an unknown key id, or a database that
cannot be used.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.cli.render import make_console, safe_text
from app.cli.store_access import fail, open_database
from app.cli.tables import print_table
from app.store.interface import DEFAULT_TENANT, ApiKey, Scope
from app.store.sql import SqlStore
from signer.manifest import DigitalSourceType
from signer.policy import ANY_GENERATOR, SigningPolicy

apikey_app = typer.Typer(
    help="API keys for the HTTP service: create (shown once), list, revoke, signing policy.",
    no_args_is_help=True,
)

_SCOPE_NAMES = ", ".join(scope.value for scope in Scope)
_SOURCE_TYPE_TERMS = ", ".join(member.term for member in DigitalSourceType)
_GENERATORS_HELP = (
    "Sign keys: the generator names this key may declare, comma-separated; `*` in a name stands for "
    "any characters (`Acme *`), `*` alone for any generator."
)
_SOURCE_TYPES_HELP = (
    "Sign keys: the IPTC digital source types this key may declare, comma-separated, or `*` for all. "
    f"Known: {_SOURCE_TYPE_TERMS}."
)
_REPLACE_HELP = (
    "Sign keys: whether this key may drop the Content Credentials a file to sign already carries "
    "(replace_credentials=true) instead of keeping them as its parent ingredient. Denied unless granted; "
    "every signature's audit entry says whether it kept or replaced them."
)
_SHOWN_ONCE_NOTICE = (
    "Store this key now: it is shown only this once. originmark keeps only a hash of it and "
    "cannot show it again; if it is lost, revoke it and create a new one. "
    "Clients send it as the header `Authorization: Bearer <key>`."
)


def parse_scopes(text: str) -> frozenset[Scope]:
    """`sign,verify` -> {Scope.SIGN, Scope.VERIFY}; typer.BadParameter (exit 2) for anything else."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter(f"name at least one scope ({_SCOPE_NAMES})")
    unknown = sorted({name for name in names if name not in {scope.value for scope in Scope}})
    if unknown:
        listed = ", ".join(repr(name[:40]) for name in unknown)
        raise typer.BadParameter(f"unknown scope {listed}; the scopes are {_SCOPE_NAMES}")
    return frozenset(Scope(name) for name in names)


def parse_generators(text: str) -> frozenset[str]:
    """`Acme Diffusion, Acme *` -> {"Acme Diffusion", "Acme *"}; typer.BadParameter (exit 2) if empty."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise typer.BadParameter(f"name at least one generator, or {ANY_GENERATOR!r} for any")
    return names


def parse_source_types(text: str) -> frozenset[DigitalSourceType]:
    """IPTC terms (any case) or full URIs, comma-separated, or `*`; typer.BadParameter (exit 2) otherwise."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["*"]:
        return frozenset(DigitalSourceType)
    if not names:
        raise typer.BadParameter(f"name at least one digital source type ({_SOURCE_TYPE_TERMS}), or '*' for all")
    chosen, unknown = set(), []
    for name in names:
        try:
            chosen.add(DigitalSourceType.from_text(name))
        except ValueError:
            unknown.append(repr(name[:60]))
    if unknown:
        raise typer.BadParameter(
            f"unknown digital source type {', '.join(unknown)}; the known ones are {_SOURCE_TYPE_TERMS}"
        )
    return frozenset(chosen)


def migrated_store(*, create: bool = False) -> AbstractContextManager[SqlStore]:
    """The store of the configured database, migrated; `create`: make it if there is none (app/cli/store_access.py)."""
    return open_database(create=create)


def _when(key_time) -> str:
    return f"{key_time:%Y-%m-%d %H:%M:%S} UTC"


def _scopes(key: ApiKey) -> str:
    return ",".join(sorted(scope.value for scope in key.scopes))


def _generators(policy: SigningPolicy) -> Text:
    """On one line, each quoted: a generator name may itself contain a comma."""
    return Text("any") if policy.any_generator else safe_text(", ".join(repr(g) for g in policy.generators))


def _generator_lines(policy: SigningPolicy) -> Text:
    """One per line (a table cell), each made safe for the terminal on its own."""
    return Text("any") if policy.any_generator else Text("\n").join(safe_text(g) for g in policy.generators)


def _source_types(policy: SigningPolicy, *, separator: str = ",") -> str:
    if policy.source_types == frozenset(DigitalSourceType):
        return "any (digitalCapture included)"
    return separator.join(policy.source_type_terms())


def _replacing(policy: SigningPolicy) -> str:
    return "allowed" if policy.may_replace_credentials else "denied"


def _policy_line(policy: SigningPolicy) -> Text:
    return Text.assemble(
        "may claim generators: ",
        _generators(policy),
        "; digital source types: ",
        _source_types(policy),
        "; replacing a file's credentials: ",
        (_replacing(policy), "bold yellow" if policy.may_replace_credentials else ""),
    )


def _policy_from_options(
    generators: frozenset[str] | None,
    source_types: frozenset[DigitalSourceType] | None,
    may_replace_credentials: bool | None,
    *,
    base: SigningPolicy,
) -> SigningPolicy:
    """`base` with the parts the options give (None: that part unchanged)."""
    try:
        return SigningPolicy.of(
            generators=base.generators if generators is None else generators,
            source_types=base.source_types if source_types is None else source_types,
            may_replace_credentials=(
                base.may_replace_credentials if may_replace_credentials is None else may_replace_credentials
            ),
        )
    except ValueError as error:
        fail(str(error))


_GeneratorsOption = Annotated[
    frozenset[str] | None,
    typer.Option("--generators", parser=parse_generators, metavar="NAMES", help=_GENERATORS_HELP, show_default=False),
]
_SourceTypesOption = Annotated[
    frozenset[DigitalSourceType] | None,
    typer.Option(
        "--source-types", parser=parse_source_types, metavar="TYPES", help=_SOURCE_TYPES_HELP, show_default=False
    ),
]
_ReplaceOption = Annotated[
    bool | None,
    typer.Option("--allow-replace-credentials/--no-allow-replace-credentials", help=_REPLACE_HELP, show_default=False),
]


@apikey_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key (shown in lists).", show_default=False)],
    scopes: Annotated[
        frozenset[Scope],
        typer.Option(
            "--scopes",
            parser=parse_scopes,
            metavar="SCOPES",
            help=f"Comma-separated: {_SCOPE_NAMES}. sign: POST /v1/sign; verify: POST /v1/verify; "
            "read: stored verdicts and labels.",
            show_default=False,
        ),
    ],
    generators: _GeneratorsOption = None,
    source_types: _SourceTypesOption = None,
    allow_replace_credentials: _ReplaceOption = None,
    tenant: Annotated[
        str,
        typer.Option(
            "--tenant",
            metavar="NAME",
            help="The tenant the key acts for (it sees and writes only that tenant's media ids, jobs and "
            "objects); see `originmark tenants`.",
        ),
    ] = DEFAULT_TENANT,
) -> None:
    """Create an API key and print it (once: only its hash is stored).

    A sign key may claim any generator and only the GenAI source types
    (trainedAlgorithmicMedia, compositeWithTrainedAlgorithmicMedia) unless --generators /
    --source-types say otherwise; algorithmicMedia, compositeSynthetic, digitalCapture and the
    other capture or human-made types must be granted explicitly, as must replacing the
    credentials a file carries (--allow-replace-credentials).
    """
    policy = None
    if generators is not None or source_types is not None or allow_replace_credentials is not None:
        if Scope.SIGN not in scopes:
            fail(
                "--generators, --source-types and --allow-replace-credentials are for keys with the sign scope "
                "(they limit POST /v1/sign)"
            )
        policy = _policy_from_options(generators, source_types, allow_replace_credentials, base=SigningPolicy.default())
    with migrated_store(create=True) as store:
        try:
            key, token = store.create_key(name=name, scopes=scopes, signing_policy=policy, tenant=tenant)
        except ValueError as error:
            fail(str(error))
    out = make_console()
    out.print(
        Text.assemble(
            ("Created API key ", "bold"),
            (key.key_id, "bold"),
            " (",
            safe_text(key.name),
            f") of tenant {key.tenant} with scopes {_scopes(key)}:",
        ),
        soft_wrap=True,
    )
    out.print(token, soft_wrap=True, markup=False, highlight=False)  # whole on one line, for copying
    if Scope.SIGN in key.scopes:
        out.print(Text.assemble("Signing policy: ", _policy_line(key.signing_policy)), soft_wrap=True)
    out.print(Text(_SHOWN_ONCE_NOTICE, style="yellow"), soft_wrap=True)


@apikey_app.command("list")
def list_keys(
    tenant: Annotated[
        str | None, typer.Option("--tenant", metavar="NAME", help="Only this tenant's keys.", show_default=False)
    ] = None,
) -> None:
    """List the keys: id, tenant, name, scopes, signing policy, when created and revoked (never the keys themselves)."""
    with migrated_store() as store:
        keys = [key for key in store.list_keys() if tenant is None or key.tenant == tenant]
    out = make_console()
    if not keys:
        out.print("No API keys yet: create one with `originmark apikey create --name NAME --scopes SCOPES`.")
        return
    table = Table(box=None, padding=(0, 2), header_style="bold")
    wrapping = {"name", "may claim generators", "source types"}
    headings = (
        "key id",
        "tenant",
        "name",
        "scopes",
        "may claim generators",
        "source types",
        "replace credentials",
        "created",
        "revoked",
    )
    for heading in headings:
        table.add_column(heading, overflow="fold", no_wrap=heading not in wrapping)
    for key in keys:
        signs = Scope.SIGN in key.scopes  # the policy means nothing for other keys
        table.add_row(
            key.key_id,
            key.tenant,
            safe_text(key.name),
            _scopes(key),
            _generator_lines(key.signing_policy) if signs else "-",
            _source_types(key.signing_policy, separator="\n") if signs else "-",
            _replacing(key.signing_policy) if signs else "-",
            _when(key.created_at),
            Text(_when(key.revoked_at), style="red") if key.revoked_at else Text("active", style="green"),
        )
    print_table(out, table)


@apikey_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id, as `apikey list` shows it.")]) -> None:
    """Revoke a key: every request with it is refused from now on (in every server process)."""
    with migrated_store() as store:
        existing = next((key for key in store.list_keys() if key.key_id == key_id), None)
        already_revoked = existing is not None and existing.revoked_at is not None
        key = existing if existing is None or already_revoked else store.revoke(key_id)
        if key is None:  # unknown to the list, or to `revoke` (which answers None for an unknown id)
            fail(f"no API key has the id {key_id!r:.40}; `originmark apikey list` shows them")
    out = make_console()
    if already_revoked:
        out.print(Text.assemble("API key ", (key.key_id, "bold"), f" was already revoked at {_when(key.revoked_at)}."))
        return
    out.print(
        Text.assemble(
            "Revoked API key ", (key.key_id, "bold"), " (", safe_text(key.name), f") at {_when(key.revoked_at)}."
        )
    )


@apikey_app.command("policy")
def policy(
    key_id: Annotated[str, typer.Argument(help="The key id of a sign key, as `apikey list` shows it.")],
    generators: _GeneratorsOption = None,
    source_types: _SourceTypesOption = None,
    allow_replace_credentials: _ReplaceOption = None,
) -> None:
    """Show a sign key's signing policy, or change it with --generators, --source-types and/or
    --allow-replace-credentials / --no-allow-replace-credentials.

    A change takes effect on the key's next request, in every server process; an option not
    given leaves that part as it is. The default source types are trainedAlgorithmicMedia and
    compositeWithTrainedAlgorithmicMedia (keys made before this default keep what they were given).
    """
    with migrated_store() as store:
        existing = next((key for key in store.list_keys() if key.key_id == key_id), None)
        if existing is None:
            fail(f"no API key has the id {key_id!r:.40}; `originmark apikey list` shows them")
        if generators is None and source_types is None and allow_replace_credentials is None:
            _show_policy(existing)
            return
        new_policy = _policy_from_options(
            generators, source_types, allow_replace_credentials, base=existing.signing_policy
        )
        try:
            key = store.set_signing_policy(key_id, new_policy)
        except ValueError as error:
            fail(str(error))
    if key is None:  # removed between the two statements (nothing removes keys today)
        fail(f"no API key has the id {key_id!r:.40}")
    out = make_console()
    out.print(Text.assemble("Signing policy of API key ", (key.key_id, "bold"), " changed."), soft_wrap=True)
    out.print(Text.assemble("  before: ", _policy_line(existing.signing_policy)), soft_wrap=True)
    out.print(Text.assemble("  now:    ", _policy_line(key.signing_policy)), soft_wrap=True)


def _show_policy(key: ApiKey) -> None:
    out = make_console()
    heading = Text.assemble("API key ", (key.key_id, "bold"), " (", safe_text(key.name), ")")
    if Scope.SIGN not in key.scopes:
        out.print(heading + Text(" has no sign scope: no signing policy applies."), soft_wrap=True)
        return
    out.print(heading + Text(" ") + _policy_line(key.signing_policy), soft_wrap=True)
