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
from typing import Annotated

import typer
from rich.text import Text

from app.cli.keys_shared import (
    BackendOption,
    KeyLabelOption,
    KmsEndpointOption,
    KmsKeyOption,
    KmsRegionOption,
    ModuleOption,
    PinFileOption,
    TokenOption,
    adopt_single_identity_and_report,
    backend_spec,
    details_table,
    exit_with_problem,
    exit_with_usage_error,
    keys_app,
    load_settings,
    open_identities,
    print_problem,
    resolve_spec,
    safe,
    spec_words,
    stderr_console,
    stdout_console,
)
from app.exit_codes import exit_code_for
from app.settings import Settings
from keys.algorithms import SigningAlgorithm
from keys.backends.spec import BackendKind, KeySpec, PemKeySpec, Pkcs11KeySpec
from keys.devca import create_development_certificate_for, create_development_credentials
from keys.errors import KeyProblem
from keys.identities import CHAIN_FILENAME, SigningIdentity
from keys.loader import key_file_is_private, read_certificate_chain, read_private_key
from keys.profile import find_chain_problems
from keys.summary import CertificateSummary, summarize_certificate

# A certificate that expires within this many days gets a warning from `check`.
EXPIRY_WARNING_DAYS = 30

_DEVELOPMENT_NOTICE = (
    "These are DEVELOPMENT credentials. The root CA (ca.pem) is on no trust list: originmark trusts it as "
    "the local anchor, but every other verifier (contentcredentials.org, Adobe, browsers) will show assets "
    'signed with them as "unrecognized". For production, get a signing certificate from a CA on the C2PA '
    "trust list and set ORIGINMARK_SIGNING_CHAIN and ORIGINMARK_SIGNING_KEY."
)

_IdentityOption = Annotated[
    str | None, typer.Option("--identity", help="A signing identity in ORIGINMARK_KEYS_DIR/identities.")
]


def _load(settings: Settings, spec: KeySpec):
    from app.wiring import load_identity

    return load_identity(settings, SigningIdentity(name="checked", spec=spec))


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
    backend: BackendOption = None,
    module: ModuleOption = None,
    token_label: TokenOption = None,
    key_label: KeyLabelOption = None,
    pin_file: PinFileOption = None,
    kms_key_id: KmsKeyOption = None,
    kms_region: KmsRegionOption = None,
    kms_endpoint_url: KmsEndpointOption = None,
) -> None:
    """Make a development root CA and a signing certificate it issued (ES256 by default).

    With --backend pkcs11 or aws-kms (and --identity), the key is the one already in the token or KMS:
    only the certificate for its public key is made.
    """
    if identity is None:
        if backend not in (None, BackendKind.PEM):
            exit_with_usage_error("--backend pkcs11/aws-kms goes with --identity NAME (the key stays in the backend).")
        directory = directory if directory is not None else load_settings().keys_dir
        try:
            credentials = create_development_credentials(
                directory, overwrite=force, algorithm=algorithm, organisation=organisation
            )
        except KeyProblem as problem:
            exit_with_problem(problem)
        _print_written(credentials)
        return

    settings = load_settings()
    if directory is not None:
        settings = settings.model_copy(update={"keys_dir": directory})
    identities = open_identities(settings)
    kind = backend or BackendKind.PEM
    try:
        adopt_single_identity_and_report(settings)
        target = identities.create_directory(identity)
        try:
            if kind is BackendKind.PEM:
                credentials = create_development_credentials(target, algorithm=algorithm, organisation=organisation)
            else:
                spec = backend_spec(
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
        exit_with_problem(problem)
    _print_written(credentials)
    if activated:
        stdout_console().print(Text.assemble("Active identity: ", safe(identity), " (the first one)"))
    else:
        stdout_console().print(
            Text.assemble("Switch to it with ", ("originmark keys rotate --to ", "bold"), safe(identity))
        )


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
    out = stdout_console()
    lines = [
        Text("Wrote development credentials:", style="bold"),
        Text.assemble("  root CA (trust anchor)   ", safe(credentials.ca_path)),
        Text.assemble("  certificate chain        ", safe(credentials.chain_path)),
    ]
    if credentials.key_path is not None:
        lines.append(Text.assemble("  private key (mode 0600)  ", safe(credentials.key_path)))
    lines.append(
        Text.assemble(
            "  signer                   ",
            safe(credentials.signing_subject),
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


@keys_app.command("check")
def check(
    directory: _DirOption = None,
    chain: _ChainOption = None,
    key: _KeyOption = None,
    identity: _IdentityOption = None,
    backend: BackendOption = None,
    module: ModuleOption = None,
    token_label: TokenOption = None,
    key_label: KeyLabelOption = None,
    pin_file: PinFileOption = None,
    kms_key_id: KmsKeyOption = None,
    kms_region: KmsRegionOption = None,
    kms_endpoint_url: KmsEndpointOption = None,
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
            settings_cache.append(load_settings())
        return settings_cache[0]

    spec, identity_name = resolve_spec(
        settings_factory, directory=directory, chain=chain, key=key, identity=identity, backend_options=backend_options
    )
    settings = settings_cache[0] if settings_cache else Settings.model_construct()
    now = datetime.datetime.now(datetime.UTC)
    try:
        signing_key = _load(settings, spec)
    except KeyProblem as first_problem:
        problems = _all_problems(spec, now=now) or (first_problem,)
        err = stderr_console()
        err.print(Text.assemble(("Cannot sign with ", "bold red"), *spec_words(spec)), soft_wrap=True)
        for number, problem in enumerate(problems, start=1):
            print_problem(problem, err, number=number if len(problems) > 1 else None)
        raise typer.Exit(exit_code_for(first_problem)) from None
    try:
        summaries = [summarize_certificate(certificate) for certificate in signing_key.certificates]
        algorithm = signing_key.algorithm.value
        key_description = signing_key.key_description
    finally:
        signing_key.close()

    out = stdout_console()
    leaf = summaries[0]
    out.print(Text.assemble(("OK", "bold green"), ": these credentials meet the C2PA signing profile."))
    table = details_table()
    if identity_name is not None:
        table.add_row("identity", safe(identity_name))
    table.add_row("signer", safe(leaf.subject))
    table.add_row("issuer", safe(leaf.issuer))
    table.add_row("algorithm", algorithm)
    table.add_row(
        "valid", f"{leaf.not_before:%Y-%m-%d} to {leaf.not_after:%Y-%m-%d} ({leaf.days_left(now=now)} days left)"
    )
    table.add_row("key usage", ", ".join(leaf.key_usages))
    table.add_row("extended key usage", safe(", ".join(leaf.extended_key_usages)))
    table.add_row("fingerprint (SHA-256)", leaf.sha256_fingerprint)
    table.add_row(
        "chain",
        Text("\n").join(safe(f"{number}. {summary.subject}") for number, summary in enumerate(summaries, start=1)),
    )
    table.add_row("chain file", safe(spec.chain_path))
    if isinstance(spec, PemKeySpec):
        table.add_row("key file", safe(spec.key_path))
    else:
        table.add_row("key", safe(key_description))
    table.add_row("key check", "signed a random challenge; it verifies with the certificate")
    out.print(table)
    for warning in _warnings(summaries, spec=spec, now=now):
        out.print(Text.assemble(("Warning: ", "bold yellow"), safe(warning)), soft_wrap=True)


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
        exit_with_usage_error("Use one of --dir, --chain or --identity.")
    if chain is not None:
        chain_path = chain
    elif directory is not None:
        chain_path = directory / "chain.pem"
    else:
        spec, _name = resolve_spec(
            load_settings, directory=None, chain=None, key=None, identity=identity, backend_options={}
        )
        chain_path = spec.chain_path
    try:
        certificates = read_certificate_chain(chain_path)
    except KeyProblem as problem:
        exit_with_problem(problem)
    out = stdout_console()
    for position, certificate in enumerate(certificates, start=1):
        summary = summarize_certificate(certificate)
        role = "signing certificate" if position == 1 else ("root CA" if summary.self_issued else "issuer CA")
        out.print(Text.assemble((f"#{position} {role}", "bold"), " ", safe(summary.subject)))
        table = details_table()
        table.add_row("issuer", safe(summary.issuer))
        table.add_row("serial", summary.serial_number)
        table.add_row("valid", f"{summary.not_before:%Y-%m-%d %H:%M} to {summary.not_after:%Y-%m-%d %H:%M} UTC")
        table.add_row("key", summary.key_algorithm.value if summary.key_algorithm else "not usable for C2PA")
        table.add_row("CA", "yes" if summary.is_ca else "no")
        table.add_row("key usage", ", ".join(summary.key_usages) or "-")
        table.add_row("extended key usage", safe(", ".join(summary.extended_key_usages) or "-"))
        table.add_row("fingerprint (SHA-256)", summary.sha256_fingerprint)
        out.print(table)
