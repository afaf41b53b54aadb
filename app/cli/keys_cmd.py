"""`originmark keys`: make development credentials and check signing credentials.

Exit codes (app.errors): 0 success, 2 when credentials are unusable, the settings are wrong
or the command line is wrong (a KeyProblem is printed as problem + fix, never a traceback).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from app.cli.render import make_console, safe_text
from app.errors import EXIT_USAGE_OR_IO, configuration_details, exit_code_for
from app.settings import Settings
from keys.algorithms import SigningAlgorithm
from keys.devca import create_development_credentials
from keys.errors import KeyProblem
from keys.loader import key_file_is_private, load_signing_key, read_certificate_chain, read_private_key
from keys.profile import find_chain_problems
from keys.summary import CertificateSummary, summarize_certificate

keys_app = typer.Typer(
    help="Signing credentials: make development ones (init), check real ones before use (check, show).",
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


@keys_app.command("init")
def init(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Where to write ca.pem, chain.pem, key.pem [default: ORIGINMARK_KEYS_DIR or ./data/keys]"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing credentials in DIR.")] = False,
    algorithm: Annotated[
        SigningAlgorithm, typer.Option("--algorithm", case_sensitive=False, help="Signature algorithm (key type).")
    ] = SigningAlgorithm.ES256,
    organisation: Annotated[
        str, typer.Option("--organisation", help="O= in the certificates; shown as the signer by verifiers.")
    ] = "originmark development",
) -> None:
    """Make a development root CA and a signing certificate it issued (ES256 by default)."""
    directory = directory if directory is not None else _settings().keys_dir
    try:
        credentials = create_development_credentials(
            directory, overwrite=force, algorithm=algorithm, organisation=organisation
        )
    except KeyProblem as problem:
        _exit_with_problem(problem)
    out = _out()
    lines = [
        Text("Wrote development credentials:", style="bold"),
        Text.assemble("  root CA (trust anchor)   ", _safe(credentials.ca_path)),
        Text.assemble("  certificate chain        ", _safe(credentials.chain_path)),
        Text.assemble("  private key (mode 0600)  ", _safe(credentials.key_path)),
        Text.assemble(
            "  signer                   ",
            _safe(credentials.signing_subject),
            f" ({credentials.algorithm.value}, valid until {credentials.not_after:%Y-%m-%d})",
        ),
    ]
    for line in lines:
        out.print(line, soft_wrap=True)
    out.print()
    out.print(Text(_DEVELOPMENT_NOTICE, style="yellow"), soft_wrap=True)


def _resolve_pair(directory: Path | None, chain: Path | None, key: Path | None) -> tuple[Path, Path]:
    if directory is not None and (chain is not None or key is not None):
        _exit_with_usage_error("Use either --dir or --chain with --key, not both.")
    if (chain is None) != (key is None):
        _exit_with_usage_error("--chain and --key go together: give both, or neither.")
    if directory is not None:
        return directory / "chain.pem", directory / "key.pem"
    if chain is not None and key is not None:
        return chain, key
    settings = _settings()
    return settings.chain_path, settings.key_path


_DirOption = Annotated[
    Path | None, typer.Option("--dir", help="A directory written by `keys init` (chain.pem + key.pem).")
]
_ChainOption = Annotated[
    Path | None, typer.Option("--chain", help="PEM chain: signing certificate first, then its issuers.")
]
_KeyOption = Annotated[Path | None, typer.Option("--key", help="PEM private key of the signing certificate.")]


@keys_app.command("check")
def check(directory: _DirOption = None, chain: _ChainOption = None, key: _KeyOption = None) -> None:
    """Load the signing credentials and check them against the C2PA signing profile.

    Without options, checks what the service would use (ORIGINMARK_SIGNING_CHAIN/KEY or ORIGINMARK_KEYS_DIR).
    """
    chain_path, key_path = _resolve_pair(directory, chain, key)
    now = datetime.datetime.now(datetime.UTC)
    try:
        signing_key = load_signing_key(chain_path=chain_path, key_path=key_path, now=now)
    except KeyProblem as first_problem:
        problems = _all_problems(chain_path, key_path, now=now) or (first_problem,)
        err = _err()
        err.print(
            Text.assemble(("Cannot sign with ", "bold red"), _safe(chain_path), " + ", _safe(key_path)), soft_wrap=True
        )
        for number, problem in enumerate(problems, start=1):
            _print_problem(problem, err, number=number if len(problems) > 1 else None)
        raise typer.Exit(exit_code_for(first_problem)) from None

    out = _out()
    summaries = [summarize_certificate(certificate) for certificate in signing_key.certificates]
    leaf = summaries[0]
    out.print(Text.assemble(("OK", "bold green"), ": these credentials meet the C2PA signing profile."))
    table = _details_table()
    table.add_row("signer", _safe(leaf.subject))
    table.add_row("issuer", _safe(leaf.issuer))
    table.add_row("algorithm", signing_key.algorithm.value)
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
    table.add_row("chain file", _safe(chain_path))
    table.add_row("key file", _safe(key_path))
    out.print(table)
    for warning in _warnings(summaries, key_path=key_path, now=now):
        out.print(Text.assemble(("Warning: ", "bold yellow"), _safe(warning)), soft_wrap=True)


def _all_problems(chain_path: Path, key_path: Path, *, now: datetime.datetime) -> tuple[KeyProblem, ...]:
    """Every profile problem, when both files can at least be read (else the loader's one problem)."""
    try:
        certificates = read_certificate_chain(chain_path)
        private_key = read_private_key(key_path)
    except KeyProblem:
        return ()
    return find_chain_problems(
        certificates=certificates,
        private_key=private_key,
        now=now,
        chain_path=chain_path,
        key_path=key_path,
    )


def _warnings(summaries: list[CertificateSummary], *, key_path: Path, now: datetime.datetime) -> list[str]:
    warnings = []
    if not key_file_is_private(key_path):
        warnings.append(f"{key_path} can be read by other users; run `chmod 600 {key_path}`")
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
    directory: _DirOption = None, chain: Annotated[Path | None, typer.Option("--chain", help="PEM chain file.")] = None
) -> None:
    """List the certificates in a chain file (no private key needed)."""
    if directory is not None and chain is not None:
        _exit_with_usage_error("Use either --dir or --chain, not both.")
    chain_path = chain or (directory / "chain.pem" if directory is not None else _settings().chain_path)
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
