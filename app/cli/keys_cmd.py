"""`originmark keys`: make development credentials, check signing credentials, rotate identities.

Every command works with each key backend (a PEM file, a PKCS#11 token, AWS KMS): without
options they use what the service would (the active identity of ORIGINMARK_KEYS_DIR/identities,
else ORIGINMARK_KEY_BACKEND with ORIGINMARK_SIGNING_CHAIN / KEYS_DIR/chain.pem).

Exit codes (app.exit_codes): 0 success, 2 when credentials are unusable, the settings are wrong
or the command line is wrong (a KeyProblem is printed as problem + fix, never a traceback).
"""

from __future__ import annotations

import datetime
import shutil
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
from keys.algorithms import SigningAlgorithm
from keys.backends.spec import BackendKind, KeySpec, KmsKeySpec, PemKeySpec, Pkcs11KeySpec
from keys.devca import create_development_certificate_for, create_development_credentials
from keys.errors import KeyProblem
from keys.identities import CHAIN_FILENAME, IdentityDirectory, SigningIdentity
from keys.loader import key_file_is_private, read_certificate_chain, read_private_key
from keys.profile import find_chain_problems
from keys.summary import CertificateSummary, summarize_certificate
from signer.errors import SigningError

keys_app = typer.Typer(
    help="Signing credentials: make development ones (init), check real ones before use (check, show), "
    "several identities (add-identity, list, rotate).",
    no_args_is_help=True,
)

# A certificate that expires within this many days gets a warning from `check`.
EXPIRY_WARNING_DAYS = 30

_DEVELOPMENT_NOTICE = (
    "These are DEVELOPMENT credentials. The root CA (ca.pem) is on no trust list: originmark trusts it as "
    "the local anchor, but every other verifier (contentcredentials.org, Adobe, browsers) will show assets "
    'signed with them as "unrecognized". For production, get a signing certificate from a CA on the C2PA '
    "trust list and set ORIGINMARK_SIGNING_CHAIN and ORIGINMARK_SIGNING_KEY."
)


# Messages carry paths and openssl commands: long enough to keep whole, and printed with soft
# wrapping so that a copied command has no line breaks inserted into it.
_MESSAGE_MAX_CHARS = 4000


def _out() -> Console:
    return make_console()


def _err() -> Console:
    return make_console(stderr=True)


def _safe(value: object) -> Text:
    """Text read from files (certificate names, paths): never markup, no control characters."""
    return safe_text(value, max_chars=_MESSAGE_MAX_CHARS)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        details = configuration_details(error, setting_names=False)
        _err().print(Text.assemble(("Configuration error: ", "red"), _safe(details)), soft_wrap=True)
        raise typer.Exit(exit_code_for(error)) from None


def _details_table() -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(no_wrap=True, style="dim")
    table.add_column(overflow="fold")  # fingerprints and paths are folded, never cut off
    return table


def _print_problem(problem: KeyProblem, console: Console, *, number: int | None = None) -> None:
    prefix = "Problem" if number is None else f"Problem {number}"
    console.print(Text.assemble((f"{prefix}: ", "bold red"), _safe(problem.problem)), soft_wrap=True)
    console.print(Text.assemble(("Fix: ", "bold"), _safe(problem.fix)), soft_wrap=True)


def _exit_with_problem(problem: KeyProblem) -> NoReturn:
    _print_problem(problem, _err())
    raise typer.Exit(exit_code_for(problem)) from None


def _exit_with_usage_error(message: str) -> NoReturn:
    _err().print(Text(message, style="red"))
    raise typer.Exit(EXIT_USAGE_OR_IO)


# --- where the key is: options shared by init, check and add-identity ---

_BackendOption = Annotated[
    BackendKind | None,
    typer.Option("--backend", case_sensitive=False, help="Where the key is [default: ORIGINMARK_KEY_BACKEND]."),
]
_ModuleOption = Annotated[
    Path | None, typer.Option("--pkcs11-module", help="PKCS#11 library [default: ORIGINMARK_PKCS11_MODULE].")
]
_TokenOption = Annotated[
    str | None, typer.Option("--token-label", help="PKCS#11 token label [default: ORIGINMARK_PKCS11_TOKEN_LABEL].")
]
_KeyLabelOption = Annotated[
    str | None, typer.Option("--key-label", help="PKCS#11 key label [default: ORIGINMARK_PKCS11_KEY_LABEL].")
]
_PinFileOption = Annotated[
    Path | None,
    typer.Option("--pin-file", help="File holding the PKCS#11 user PIN [default: ORIGINMARK_PKCS11_PIN_FILE/_PIN]."),
]
_KmsKeyOption = Annotated[
    str | None, typer.Option("--kms-key-id", help="KMS key id, ARN or alias/NAME [default: ORIGINMARK_KMS_KEY_ID].")
]
_KmsRegionOption = Annotated[str | None, typer.Option("--kms-region", help="[default: ORIGINMARK_KMS_REGION].")]
_KmsEndpointOption = Annotated[
    str | None, typer.Option("--kms-endpoint-url", help="[default: ORIGINMARK_KMS_ENDPOINT_URL].")
]
_IdentityOption = Annotated[
    str | None, typer.Option("--identity", help="A signing identity in ORIGINMARK_KEYS_DIR/identities.")
]


def _backend_spec(
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
            _exit_with_usage_error(f"--backend pkcs11 needs {', '.join(missing)} (or their ORIGINMARK_PKCS11_* settings).")
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
            _exit_with_usage_error("--backend aws-kms needs --kms-key-id (or ORIGINMARK_KMS_KEY_ID).")
        return KmsKeySpec(
            chain_path=chain_path,
            key_id=key_id,
            region=kms_region or settings.kms_region,
            endpoint_url=kms_endpoint_url or settings.kms_endpoint_url,
        )
    if key_path is None:
        _exit_with_usage_error("a PEM key needs --key FILE.")
    return PemKeySpec(chain_path=chain_path, key_path=key_path)


def _identities(settings: Settings, directory: Path | None = None) -> IdentityDirectory:
    from app.wiring import identity_directory

    if directory is not None:
        settings = settings.model_copy(update={"keys_dir": directory})
    return identity_directory(settings)


def _adopt_single_identity(settings: Settings) -> None:
    from app.wiring import adopt_single_identity

    adopted = adopt_single_identity(settings)
    if adopted is not None:
        _out().print(
            Text.assemble(
                "Moved the single identity (", _safe(settings.chain_path), ") in as ", (adopted, "bold"),
                ", active: the service signs with it until `originmark keys rotate`.",
            ),
            soft_wrap=True,
        )


def _load(settings: Settings, spec: KeySpec):
    from app.wiring import load_identity

    return load_identity(settings, SigningIdentity(name="checked", spec=spec))


def _print_check(problem: KeyProblem | SigningError) -> NoReturn:
    if isinstance(problem, KeyProblem):
        _exit_with_problem(problem)
    _err().print(Text.assemble(("Problem: ", "bold red"), _safe(problem)), soft_wrap=True)
    raise typer.Exit(exit_code_for(problem, starting=True)) from None


# --- init ---


@keys_app.command("init")
def init(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where to write ca.pem, chain.pem, key.pem [default: ORIGINMARK_KEYS_DIR or HOME/keys]; with "
            "--identity, the keys directory that holds identities/",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing credentials in DIR.")] = False,
    algorithm: Annotated[
        SigningAlgorithm, typer.Option("--algorithm", case_sensitive=False, help="Signature algorithm (key type).")
    ] = SigningAlgorithm.ES256,
    organisation: Annotated[
        str, typer.Option("--organisation", help="O= in the certificates; shown as the signer by verifiers.")
    ] = "originmark development",
    identity: Annotated[
        str | None,
        typer.Option(
            "--identity",
            help="Make a new signing identity NAME in KEYS_DIR/identities (active if it is the first one).",
        ),
    ] = None,
    backend: _BackendOption = None,
    module: _ModuleOption = None,
    token_label: _TokenOption = None,
    key_label: _KeyLabelOption = None,
    pin_file: _PinFileOption = None,
    kms_key_id: _KmsKeyOption = None,
    kms_region: _KmsRegionOption = None,
    kms_endpoint_url: _KmsEndpointOption = None,
) -> None:
    """Make a development root CA and a signing certificate it issued (ES256 by default).

    With --backend pkcs11 or aws-kms (and --identity), the key is the one already in the token or KMS:
    only the certificate for its public key is made.
    """
    if identity is None:
        if backend not in (None, BackendKind.PEM):
            _exit_with_usage_error("--backend pkcs11/aws-kms goes with --identity NAME (the key stays in the backend).")
        directory = directory if directory is not None else _settings().keys_dir
        try:
            credentials = create_development_credentials(
                directory, overwrite=force, algorithm=algorithm, organisation=organisation
            )
        except KeyProblem as problem:
            _exit_with_problem(problem)
        _print_written(credentials)
        return

    settings = _settings()
    if directory is not None:
        settings = settings.model_copy(update={"keys_dir": directory})
    identities = _identities(settings)
    kind = backend or BackendKind.PEM
    try:
        _adopt_single_identity(settings)
        target = identities.create_directory(identity)
        try:
            if kind is BackendKind.PEM:
                credentials = create_development_credentials(target, algorithm=algorithm, organisation=organisation)
            else:
                spec = _backend_spec(
                    settings,
                    chain_path=target / CHAIN_FILENAME,
                    backend=kind,
                    module=module,
                    token_label=token_label,
                    key_label=key_label,
                    pin_file=pin_file,
                    kms_key_id=kms_key_id,
                    kms_region=kms_region,
                    kms_endpoint_url=kms_endpoint_url,
                )
                credentials = _certificate_for_backend_key(settings, spec, target, organisation=organisation)
                identities.write_backend(target, spec)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        activated = identities.active_name() is None
        if activated:
            identities.activate(identity)
    except KeyProblem as problem:
        _exit_with_problem(problem)
    _print_written(credentials)
    if activated:
        _out().print(Text.assemble("Active identity: ", _safe(identity), " (the first one)"))
    else:
        _out().print(Text.assemble("Switch to it with ", ("originmark keys rotate --to ", "bold"), _safe(identity)))


def _certificate_for_backend_key(settings: Settings, spec: KeySpec, target: Path, *, organisation: str):
    from app.wiring import signing_secrets

    pin_variable = spec.pin_variable if isinstance(spec, Pkcs11KeySpec) else None
    pin = signing_secrets(settings).get(pin_variable) if pin_variable is not None else None
    from keys.backends.opening import open_key

    handle = open_key(spec, pin=pin)
    try:
        public_key = handle.public_key()
    finally:
        handle.close()
    return create_development_certificate_for(target, public_key, organisation=organisation)


def _print_written(credentials) -> None:
    out = _out()
    lines = [
        Text("Wrote development credentials:", style="bold"),
        Text.assemble("  root CA (trust anchor)   ", _safe(credentials.ca_path)),
        Text.assemble("  certificate chain        ", _safe(credentials.chain_path)),
    ]
    if credentials.key_path is not None:
        lines.append(Text.assemble("  private key (mode 0600)  ", _safe(credentials.key_path)))
    lines.append(
        Text.assemble(
            "  signer                   ",
            _safe(credentials.signing_subject),
            f" ({credentials.algorithm.value}, valid until {credentials.not_after:%Y-%m-%d})",
        )
    )
    for line in lines:
        out.print(line, soft_wrap=True)
    out.print()
    out.print(Text(_DEVELOPMENT_NOTICE, style="yellow"), soft_wrap=True)


# --- check and show ---

_DirOption = Annotated[
    Path | None, typer.Option("--dir", help="A directory written by `keys init` (chain.pem + key.pem).")
]
_ChainOption = Annotated[
    Path | None, typer.Option("--chain", help="PEM chain: signing certificate first, then its issuers.")
]
_KeyOption = Annotated[Path | None, typer.Option("--key", help="PEM private key of the signing certificate.")]


def _resolve_spec(
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
        _exit_with_usage_error("Use one of --dir, --chain (with --key) or --identity.")
    if key is not None and chain is None:
        _exit_with_usage_error("--chain and --key go together: give both, or neither.")
    if directory is not None:
        return PemKeySpec(chain_path=directory / "chain.pem", key_path=directory / "key.pem"), None
    if chain is not None:
        if key is None and backend in (None, BackendKind.PEM):
            _exit_with_usage_error("--chain and --key go together: give both, or neither.")
        spec = _backend_spec(settings_factory(), chain_path=chain, key_path=key, **backend_options)
        return spec, None
    settings = settings_factory()
    if identity is not None:
        try:
            return _identities(settings).get(identity).spec, identity
        except KeyProblem as problem:
            _exit_with_problem(problem)
    from app.wiring import build_identity_source, identities_in_use

    try:
        active = build_identity_source(settings).active()
    except KeyProblem as problem:
        _exit_with_problem(problem)
    return active.spec, active.name if identities_in_use(settings) else None


@keys_app.command("check")
def check(
    directory: _DirOption = None,
    chain: _ChainOption = None,
    key: _KeyOption = None,
    identity: _IdentityOption = None,
    backend: _BackendOption = None,
    module: _ModuleOption = None,
    token_label: _TokenOption = None,
    key_label: _KeyLabelOption = None,
    pin_file: _PinFileOption = None,
    kms_key_id: _KmsKeyOption = None,
    kms_region: _KmsRegionOption = None,
    kms_endpoint_url: _KmsEndpointOption = None,
) -> None:
    """Load the signing credentials and check them against the C2PA signing profile.

    Checks the chain, and that the key (in a PEM file, a PKCS#11 token or KMS) is the certificate's, by
    signing a random challenge with it. Without options, checks what the service would use.
    """
    backend_options = dict(
        backend=backend,
        module=module,
        token_label=token_label,
        key_label=key_label,
        pin_file=pin_file,
        kms_key_id=kms_key_id,
        kms_region=kms_region,
        kms_endpoint_url=kms_endpoint_url,
    )
    settings_cache: list[Settings] = []

    def settings_factory() -> Settings:
        if not settings_cache:
            settings_cache.append(_settings())
        return settings_cache[0]

    spec, identity_name = _resolve_spec(
        settings_factory, directory=directory, chain=chain, key=key, identity=identity, backend_options=backend_options
    )
    settings = settings_cache[0] if settings_cache else Settings.model_construct()
    now = datetime.datetime.now(datetime.UTC)
    try:
        signing_key = _load(settings, spec)
    except KeyProblem as first_problem:
        problems = _all_problems(spec, now=now) or (first_problem,)
        err = _err()
        err.print(Text.assemble(("Cannot sign with ", "bold red"), *_spec_words(spec)), soft_wrap=True)
        for number, problem in enumerate(problems, start=1):
            _print_problem(problem, err, number=number if len(problems) > 1 else None)
        raise typer.Exit(exit_code_for(first_problem)) from None
    try:
        summaries = [summarize_certificate(certificate) for certificate in signing_key.certificates]
        algorithm = signing_key.algorithm.value
        key_description = signing_key.key_description
    finally:
        signing_key.close()

    out = _out()
    leaf = summaries[0]
    out.print(Text.assemble(("OK", "bold green"), ": these credentials meet the C2PA signing profile."))
    table = _details_table()
    if identity_name is not None:
        table.add_row("identity", _safe(identity_name))
    table.add_row("signer", _safe(leaf.subject))
    table.add_row("issuer", _safe(leaf.issuer))
    table.add_row("algorithm", algorithm)
    table.add_row(
        "valid", f"{leaf.not_before:%Y-%m-%d} to {leaf.not_after:%Y-%m-%d} ({leaf.days_left(now=now)} days left)"
    )
    table.add_row("key usage", ", ".join(leaf.key_usages))
    table.add_row("extended key usage", _safe(", ".join(leaf.extended_key_usages)))
    table.add_row("fingerprint (SHA-256)", leaf.sha256_fingerprint)
    table.add_row(
        "chain",
        Text("\n").join(_safe(f"{number}. {summary.subject}") for number, summary in enumerate(summaries, start=1)),
    )
    table.add_row("chain file", _safe(spec.chain_path))
    if isinstance(spec, PemKeySpec):
        table.add_row("key file", _safe(spec.key_path))
    else:
        table.add_row("key", _safe(key_description))
    table.add_row("key check", "signed a random challenge; it verifies with the certificate")
    out.print(table)
    for warning in _warnings(summaries, spec=spec, now=now):
        out.print(Text.assemble(("Warning: ", "bold yellow"), _safe(warning)), soft_wrap=True)


def _spec_words(spec: KeySpec) -> tuple:
    if isinstance(spec, PemKeySpec):
        return (_safe(spec.chain_path), " + ", _safe(spec.key_path))
    return (_safe(spec.chain_path), " + ", _safe(spec.describe()))


def _all_problems(spec: KeySpec, *, now: datetime.datetime) -> tuple[KeyProblem, ...]:
    """Every profile problem, when the chain and key can at least be read (else the loader's one problem)."""
    try:
        certificates = read_certificate_chain(spec.chain_path)
        if isinstance(spec, PemKeySpec):
            return find_chain_problems(
                certificates=certificates,
                private_key=read_private_key(spec.key_path),
                now=now,
                chain_path=spec.chain_path,
                key_path=spec.key_path,
            )
    except KeyProblem:
        return ()
    return ()  # a key in a backend: the loader's problem (opening it twice would cost a second login)


def _warnings(summaries: list[CertificateSummary], *, spec: KeySpec, now: datetime.datetime) -> list[str]:
    warnings = []
    secret_file = spec.key_path if isinstance(spec, PemKeySpec) else getattr(spec, "pin_file", None)
    if secret_file is not None and not key_file_is_private(secret_file):
        warnings.append(f"{secret_file} can be read by other users; run `chmod 600 {secret_file}`")
    for summary in summaries:
        days_left = summary.days_left(now=now)
        if days_left < EXPIRY_WARNING_DAYS:
            warnings.append(f"{summary.subject} expires in {days_left} days ({summary.not_after:%Y-%m-%d}); renew it")
    last = summaries[-1]
    if last.self_issued:
        warnings.append(
            f"verifiers trust these signatures only if they have the root {last.subject} as a trust anchor"
            if "(development only)" not in last.subject
            else "development credentials: other verifiers will show signed assets as unrecognized"
        )
    else:
        warnings.append(
            f"the chain ends at {last.subject}, issued by {last.issuer}, which is not included: verifiers need "
            "that CA as a trust anchor (or add it and any missing intermediates to the chain)"
        )
    return warnings


@keys_app.command("show")
def show(
    directory: _DirOption = None,
    chain: Annotated[Path | None, typer.Option("--chain", help="PEM chain file.")] = None,
    identity: _IdentityOption = None,
) -> None:
    """List the certificates in a chain file (no private key needed)."""
    if sum(value is not None for value in (directory, chain, identity)) > 1:
        _exit_with_usage_error("Use one of --dir, --chain or --identity.")
    if chain is not None:
        chain_path = chain
    elif directory is not None:
        chain_path = directory / "chain.pem"
    else:
        spec, _name = _resolve_spec(
            _settings, directory=None, chain=None, key=None, identity=identity, backend_options={}
        )
        chain_path = spec.chain_path
    try:
        certificates = read_certificate_chain(chain_path)
    except KeyProblem as problem:
        _exit_with_problem(problem)
    out = _out()
    for position, certificate in enumerate(certificates, start=1):
        summary = summarize_certificate(certificate)
        role = "signing certificate" if position == 1 else ("root CA" if summary.self_issued else "issuer CA")
        out.print(Text.assemble((f"#{position} {role}", "bold"), " ", _safe(summary.subject)))
        table = _details_table()
        table.add_row("issuer", _safe(summary.issuer))
        table.add_row("serial", summary.serial_number)
        table.add_row("valid", f"{summary.not_before:%Y-%m-%d %H:%M} to {summary.not_after:%Y-%m-%d %H:%M} UTC")
        table.add_row("key", summary.key_algorithm.value if summary.key_algorithm else "not usable for C2PA")
        table.add_row("CA", "yes" if summary.is_ca else "no")
        table.add_row("key usage", ", ".join(summary.key_usages) or "-")
        table.add_row("extended key usage", _safe(", ".join(summary.extended_key_usages) or "-"))
        table.add_row("fingerprint (SHA-256)", summary.sha256_fingerprint)
        out.print(table)

