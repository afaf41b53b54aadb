"""What the `originmark keys` commands share: the group, output, option definitions, the identity store.

keys_cmd.py (init, check, show) and keys_identity_cmd.py (add-identity, list, rotate) both
register on `keys_app` and use these; keys_group.py assembles the group as the CLI runs it.
Every function that ends in `exit_...` prints to stderr and ends the command with the exit
code app.exit_codes gives (2 for a KeyProblem, a wrong setting or a wrong command line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from app.cli.render import make_console, safe_text
from app.exit_codes import EXIT_USAGE_OR_IO, configuration_details, exit_code_for
from app.settings import Settings
from keys.backends.spec import BackendKind, KeySpec, KmsKeySpec, PemKeySpec, Pkcs11KeySpec
from keys.errors import KeyProblem
from keys.identities import IdentityDirectory
from signer.errors import SigningError

keys_app = typer.Typer(
    help="Signing credentials: make development ones (init), check real ones before use (check, show), "
    "several identities (add-identity, list, rotate).",
    no_args_is_help=True,
)


# Messages carry paths and openssl commands: long enough to keep whole, and printed with soft
# wrapping so that a copied command has no line breaks inserted into it.
MESSAGE_MAX_CHARS = 4000


def stdout_console() -> Console:
    return make_console()


def stderr_console() -> Console:
    return make_console(stderr=True)


def safe(value: object) -> Text:
    """Text read from files (certificate names, paths): never markup, no control characters."""
    return safe_text(value, max_chars=MESSAGE_MAX_CHARS)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        details = configuration_details(error, setting_names=False)
        stderr_console().print(Text.assemble(("Configuration error: ", "red"), safe(details)), soft_wrap=True)
        raise typer.Exit(exit_code_for(error)) from None


def details_table() -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(no_wrap=True, style="dim")
    table.add_column(overflow="fold")  # fingerprints and paths are folded, never cut off
    return table


def print_problem(problem: KeyProblem, console: Console, *, number: int | None = None) -> None:
    prefix = "Problem" if number is None else f"Problem {number}"
    console.print(Text.assemble((f"{prefix}: ", "bold red"), safe(problem.problem)), soft_wrap=True)
    console.print(Text.assemble(("Fix: ", "bold"), safe(problem.fix)), soft_wrap=True)


def exit_with_problem(problem: KeyProblem) -> NoReturn:
    print_problem(problem, stderr_console())
    raise typer.Exit(exit_code_for(problem)) from None


def exit_with_usage_error(message: str) -> NoReturn:
    stderr_console().print(Text(message, style="red"))
    raise typer.Exit(EXIT_USAGE_OR_IO)


# --- where the key is: options shared by init, check and add-identity ---

BackendOption = Annotated[
    BackendKind | None,
    typer.Option("--backend", case_sensitive=False, help="Where the key is [default: ORIGINMARK_KEY_BACKEND]."),
]
ModuleOption = Annotated[
    Path | None, typer.Option("--pkcs11-module", help="PKCS#11 library [default: ORIGINMARK_PKCS11_MODULE].")
]
TokenOption = Annotated[
    str | None, typer.Option("--token-label", help="PKCS#11 token label [default: ORIGINMARK_PKCS11_TOKEN_LABEL].")
]
KeyLabelOption = Annotated[
    str | None, typer.Option("--key-label", help="PKCS#11 key label [default: ORIGINMARK_PKCS11_KEY_LABEL].")
]
PinFileOption = Annotated[
    Path | None,
    typer.Option("--pin-file", help="File holding the PKCS#11 user PIN [default: ORIGINMARK_PKCS11_PIN_FILE/_PIN]."),
]
KmsKeyOption = Annotated[
    str | None, typer.Option("--kms-key-id", help="KMS key id, ARN or alias/NAME [default: ORIGINMARK_KMS_KEY_ID].")
]
KmsRegionOption = Annotated[str | None, typer.Option("--kms-region", help="[default: ORIGINMARK_KMS_REGION].")]
KmsEndpointOption = Annotated[
    str | None, typer.Option("--kms-endpoint-url", help="[default: ORIGINMARK_KMS_ENDPOINT_URL].")
]


def backend_spec(
    settings: Settings,
    *,
    chain_path: Path,
    backend: BackendKind | None,
    key_path: Path | None = None,
    module: Path | None = None,
    token_label: str | None = None,
    key_label: str | None = None,
    pin_file: Path | None = None,
    kms_key_id: str | None = None,
    kms_region: str | None = None,
    kms_endpoint_url: str | None = None,
) -> KeySpec:
    """A spec from the command line, each missing value taken from the settings."""
    from app.wiring import PKCS11_PIN_VARIABLE

    kind = backend or BackendKind(settings.key_backend)
    if kind is BackendKind.PKCS11:
        module = module or settings.pkcs11_module
        token_label = token_label or settings.pkcs11_token_label
        key_label = key_label or settings.pkcs11_key_label
        if not module or not token_label or not key_label:
            values = {"--pkcs11-module": module, "--token-label": token_label, "--key-label": key_label}
            missing = [name for name, value in values.items() if not value]
            exit_with_usage_error(
                f"--backend pkcs11 needs {', '.join(missing)} (or their ORIGINMARK_PKCS11_* settings)."
            )
        pin_file = pin_file or settings.pkcs11_pin_file
        return Pkcs11KeySpec(
            chain_path=chain_path,
            module=module,
            token_label=token_label,
            key_label=key_label,
            pin_file=pin_file,
            pin_variable=PKCS11_PIN_VARIABLE if pin_file is None and settings.pkcs11_pin is not None else None,
        )
    if kind is BackendKind.AWS_KMS:
        key_id = kms_key_id or settings.kms_key_id
        if not key_id:
            exit_with_usage_error("--backend aws-kms needs --kms-key-id (or ORIGINMARK_KMS_KEY_ID).")
        return KmsKeySpec(
            chain_path=chain_path,
            key_id=key_id,
            region=kms_region or settings.kms_region,
            endpoint_url=kms_endpoint_url or settings.kms_endpoint_url,
        )
    if key_path is None:
        exit_with_usage_error("a PEM key needs --key FILE.")
    return PemKeySpec(chain_path=chain_path, key_path=key_path)


def open_identities(settings: Settings) -> IdentityDirectory:
    from app.wiring import identity_directory

    return identity_directory(settings)


def adopt_single_identity_and_report(settings: Settings) -> None:
    from app.wiring import adopt_single_identity

    adopted = adopt_single_identity(settings)
    if adopted is not None:
        stdout_console().print(
            Text.assemble(
                "Moved the single identity (",
                safe(settings.chain_path),
                ") in as ",
                (adopted, "bold"),
                ", active: the service signs with it until `originmark keys rotate`.",
            ),
            soft_wrap=True,
        )


def exit_with_check_problem(problem: KeyProblem | SigningError) -> NoReturn:
    if isinstance(problem, KeyProblem):
        exit_with_problem(problem)
    stderr_console().print(Text.assemble(("Problem: ", "bold red"), safe(problem)), soft_wrap=True)
    raise typer.Exit(exit_code_for(problem, starting=True)) from None


def resolve_spec(
    settings_factory,
    *,
    directory: Path | None,
    chain: Path | None,
    key: Path | None,
    identity: str | None,
    backend_options: dict,
) -> tuple[KeySpec, str | None]:
    """The key to check (and the identity it belongs to, when one)."""
    backend = backend_options.get("backend")
    if sum(value is not None for value in (directory, chain, identity)) > 1:
        exit_with_usage_error("Use one of --dir, --chain (with --key) or --identity.")
    if key is not None and chain is None:
        exit_with_usage_error("--chain and --key go together: give both, or neither.")
    if directory is not None:
        return PemKeySpec(chain_path=directory / "chain.pem", key_path=directory / "key.pem"), None
    if chain is not None:
        if key is None and backend in (None, BackendKind.PEM):
            exit_with_usage_error("--chain and --key go together: give both, or neither.")
        spec = backend_spec(settings_factory(), chain_path=chain, key_path=key, **backend_options)
        return spec, None
    settings = settings_factory()
    if identity is not None:
        try:
            return open_identities(settings).get(identity).spec, identity
        except KeyProblem as problem:
            exit_with_problem(problem)
    from app.wiring import build_identity_source, identities_in_use

    try:
        active = build_identity_source(settings).active()
    except KeyProblem as problem:
        exit_with_problem(problem)
    return active.spec, active.name if identities_in_use(settings) else None


def spec_words(spec: KeySpec) -> tuple:
    if isinstance(spec, PemKeySpec):
        return (safe(spec.chain_path), " + ", safe(spec.key_path))
    return (safe(spec.chain_path), " + ", safe(spec.describe()))
