"""`originmark keys add-identity | list | rotate`: several signing identities, one active.

The layout and its rules are in keys/identities.py; every identity is checked fully (chain
profile, key possession, the engine's probe) before it is added or made active.
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
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
    exit_with_check_problem,
    exit_with_problem,
    exit_with_usage_error,
    keys_app,
    load_settings,
    open_identities,
    resolve_spec,
    safe,
    spec_words,
    stderr_console,
    stdout_console,
)
from app.settings import Settings
from keys.backends.spec import BackendKind
from keys.errors import KeyProblem
from keys.identities import CHAIN_FILENAME, KEY_FILENAME, SigningIdentity
from keys.loader import read_certificate_chain
from keys.summary import summarize_certificate
from signer.errors import SigningError


@keys_app.command("add-identity")
def add_identity(
    name: Annotated[str, typer.Argument(help="The identity's name (lower case, e.g. signer-2026).")],
    chain: Annotated[Path, typer.Option("--chain", help="PEM chain: signing certificate first, then its issuers.")],
    key: Annotated[Path | None, typer.Option("--key", help="PEM private key (for --backend pem).")] = None,
    backend: BackendOption = None,
    module: ModuleOption = None,
    token_label: TokenOption = None,
    key_label: KeyLabelOption = None,
    pin_file: PinFileOption = None,
    kms_key_id: KmsKeyOption = None,
    kms_region: KmsRegionOption = None,
    kms_endpoint_url: KmsEndpointOption = None,
) -> None:
    """Add a signing identity (a chain + where its key is) to ORIGINMARK_KEYS_DIR/identities.

    The identity is checked fully (profile, key possession, the engine's probe) and refused, leaving
    nothing behind, if it cannot sign. It does not become active: `keys rotate --to NAME` does that.
    """
    settings = load_settings()
    kind = backend or (BackendKind.PEM if key is not None else BackendKind(settings.key_backend))
    if kind is BackendKind.PEM and key is None:
        exit_with_usage_error("a PEM identity needs --key FILE (or --backend pkcs11 / aws-kms).")
    if kind is not BackendKind.PEM and key is not None:
        exit_with_usage_error(f"--key is for PEM keys; a {kind.value} key stays in its backend.")
    identities = open_identities(settings)
    try:
        adopt_single_identity_and_report(settings)
        target = identities.create_directory(name)
    except KeyProblem as problem:
        exit_with_problem(problem)
    try:
        _copy_file(chain, target / CHAIN_FILENAME, mode=0o644)
        if key is not None:  # a PEM identity: the checks above pair --key with PEM and nothing else
            _copy_file(key, target / KEY_FILENAME, mode=0o600)
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
            identities.write_backend(target, spec)
        checked = _check_identity(settings, identities.get(name))
    except (KeyProblem, SigningError, typer.Exit) as problem:
        shutil.rmtree(target, ignore_errors=True)
        if isinstance(problem, typer.Exit):
            raise
        exit_with_check_problem(problem)
    stdout_console().print(
        Text.assemble(("Added", "bold green"), " identity ", safe(name), ": ", safe(checked.subject)),
        soft_wrap=True,
    )
    stdout_console().print(Text.assemble("Switch to it with ", ("originmark keys rotate --to ", "bold"), safe(name)))


def _copy_file(source: Path, destination: Path, *, mode: int) -> None:
    try:
        data = source.read_bytes()
    except OSError as error:
        raise KeyProblem(f"cannot read {source} ({error.strerror})", "check the path") from None
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # the mode from the first byte
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)


def _check_identity(settings: Settings, identity: SigningIdentity):
    from app.wiring import check_identity

    return check_identity(settings, identity)


@keys_app.command("list")
def list_identities() -> None:
    """The signing identities in ORIGINMARK_KEYS_DIR/identities: which is active, where each key is, expiry."""
    settings = load_settings()
    from app.wiring import identities_in_use

    if not identities_in_use(settings):
        stdout_console().print(
            Text.assemble(
                "One identity (no ",
                safe(settings.keys_dir / "identities"),
                "): ",
                *spec_words(
                    resolve_spec(
                        load_settings, directory=None, chain=None, key=None, identity=None, backend_options={}
                    )[0]
                ),
            ),
            soft_wrap=True,
        )
        return
    identities = open_identities(settings)
    now = datetime.datetime.now(datetime.UTC)
    try:
        active = identities.active_name()
        names = identities.names()
    except KeyProblem as problem:
        exit_with_problem(problem)
    table = Table(box=None, padding=(0, 2))
    for column in ("", "identity", "backend", "signer", "expires"):
        table.add_column(column, overflow="fold")
    for name in names:
        try:
            identity = identities.get(name)
            leaf = summarize_certificate(read_certificate_chain(identity.spec.chain_path)[0])
            signer = safe(leaf.subject)
            expires = f"{leaf.not_after:%Y-%m-%d} ({leaf.days_left(now=now)} days)"
            where = identity.spec.kind.value
        except KeyProblem as problem:
            signer, expires, where = Text(problem.problem, style="red"), "-", "?"
        table.add_row("*" if name == active else "", safe(name), where, signer, expires)
    stdout_console().print(table)
    if active is None:
        stdout_console().print(Text("No identity is active: `originmark keys rotate --to NAME`.", style="yellow"))


@keys_app.command("rotate")
def rotate(
    to: Annotated[str, typer.Option("--to", help="The identity to sign with from now on.")],
) -> None:
    """Switch the active signing identity. A running service follows on its next signing request.

    The new identity is checked fully first (profile, key possession, the engine's probe); a broken one
    is refused and the active identity stays as it was.
    """
    settings = load_settings()
    from app.wiring import identities_in_use

    if not identities_in_use(settings):
        exit_with_usage_error(
            f"there are no identities in {settings.keys_dir / 'identities'} (ORIGINMARK_SIGNING_CHAIN set, or the "
            "single chain.pem/key.pem layout): make them with `originmark keys add-identity` / `keys init --identity`."
        )
    identities = open_identities(settings)
    try:
        previous = identities.active_name()
        checked = _check_identity(settings, identities.get(to))
    except (KeyProblem, SigningError) as problem:
        stderr_console().print(
            Text.assemble(("Refused: ", "bold red"), "the active identity stays ", safe(previous or "(none)"))
        )
        exit_with_check_problem(problem)
    if previous == to:
        stdout_console().print(Text.assemble("Already active: ", safe(to)))
        return
    try:
        identities.activate(to)
    except KeyProblem as problem:
        exit_with_problem(problem)
    stdout_console().print(Text.assemble(("Rotated", "bold green"), ": ", safe(previous or "(none)"), " → ", safe(to)))
    table = details_table()
    table.add_row("signer", safe(checked.subject))
    table.add_row("expires", f"{checked.expires_at:%Y-%m-%d}")
    table.add_row("fingerprint (SHA-256)", checked.certificate_fingerprint)
    table.add_row("key", safe(checked.key_description))
    stdout_console().print(table)
