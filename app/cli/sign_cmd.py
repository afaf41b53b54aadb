"""`originmark sign`: attach Content Credentials for AI output to files.

One line per file (signed or why not), then a summary. The batch goes on past a bad
file. Exit codes (app.exit_codes): 0 every file signed, 1 some file failed, 2 usage,
configuration or signing-credential problem (nothing was signed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from app.cli.render import clean_text, make_console
from app.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO, exit_code_for, user_message
from keys.errors import KeyProblem
from signer.errors import SigningError
from signer.formats import SUPPORTED_FORMAT_NAMES, detect_format
from signer.manifest import DigitalSourceType, GenerationRequest
from verifier.verdict import VerdictState

if TYPE_CHECKING:
    from signer.engine import ContentSigner, SignResult
    from verifier.reader import Verifier

SIDECAR_SUFFIX = ".c2pa"
_PATH_CHARS = 400  # paths are shown whole up to this length (cleaned of control characters)
_STARTUP_MESSAGE_CHARS = 2000  # a KeyProblem names files and carries an openssl command: keep it whole

_SOURCE_TYPE_HELP = (
    "IPTC digital source type: a term such as algorithmicMedia, or its full URI "
    "(default: trainedAlgorithmicMedia; compositeWithTrainedAlgorithmicMedia with --parent)."
)


class _UsageProblem(Exception):
    """An option that cannot work (bad value, unusable parent, no output folder): nothing is signed; exit 2."""


def sign(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Media files to sign (" + ", ".join(SUPPORTED_FORMAT_NAMES) + ").", metavar="FILE", show_default=False
        ),
    ],
    generator: Annotated[
        str,
        typer.Option("--generator", help="Name of the AI model or product that made the files.", show_default=False),
    ],
    generator_version: Annotated[
        str | None, typer.Option("--generator-version", help="Version of the generator.", show_default=False)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            file_okay=False,
            help="Folder for the signed files (created; same file names). "
            "Required unless --sidecar, whose .c2pa files go next to each source by default.",
            show_default=False,
        ),
    ] = None,
    source_type: Annotated[
        str | None, typer.Option("--source-type", metavar="TERM", help=_SOURCE_TYPE_HELP, show_default=False)
    ] = None,
    parent: Annotated[
        Path | None,
        typer.Option(
            "--parent",
            help="The file the generator edited: recorded as the parent ingredient "
            "(with its own credentials, if it has any).",
            show_default=False,
        ),
    ] = None,
    sidecar: Annotated[
        bool,
        typer.Option("--sidecar", help="Write a .c2pa manifest store next to each file; leave the file untouched."),
    ] = False,
    thumbnails: Annotated[
        bool | None,
        typer.Option(
            "--thumbnails/--no-thumbnails",
            help="Embed a thumbnail in the manifest, 4-5x slower (default: ORIGINMARK_THUMBNAILS, else off).",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Title in the manifest (default: the file name).", show_default=False)
    ] = None,
    replace_credentials: Annotated[
        bool,
        typer.Option(
            "--replace-credentials",
            help="Drop the Content Credentials a file already carries. By default they are kept: the new manifest "
            "records the file as its parent ingredient, with its history and validation results.",
        ),
    ] = False,
) -> None:
    """Sign AI-generated media with Content Credentials (C2PA).

    A file that already carries credentials keeps them as the parent ingredient of the new manifest
    (shown as "kept credentials"), unless --replace-credentials.
    """
    out_console, err_console = make_console(), make_console(stderr=True)
    try:
        request = _request(generator, generator_version, source_type, title, parent, replace_credentials)
        output_folder = _prepare_output_folder(out, sidecar=sidecar)
    except _UsageProblem as problem:
        _print_error(err_console, str(problem))
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    try:
        content_signer, output_check = _build_signer(thumbnails)
    except (ValidationError, KeyProblem, SigningError) as error:  # what building a signer raises by design
        message = user_message(error, starting=True, setting_names=False)
        _print_error(err_console, clean_text(message, max_chars=_STARTUP_MESSAGE_CHARS))
        raise typer.Exit(exit_code_for(error, starting=True)) from None

    signed, failed = _sign_all(
        content_signer,
        files,
        request=request,
        output_folder=output_folder,
        sidecar=sidecar,
        console=out_console,
        output_check=output_check,
    )
    summary = f"{signed} signed, {failed} failed"
    err_console.print(Text(summary, style="bold" if failed == 0 else "bold red"))
    raise typer.Exit(EXIT_INVALID if failed else EXIT_OK)


def _print_error(console: Console, message: str) -> None:
    console.print(Text(f"Error: {message}", style="bold red"), soft_wrap=True)


def _request(
    generator: str,
    generator_version: str | None,
    source_type: str | None,
    title: str | None,
    parent: Path | None,
    replace_credentials: bool = False,
) -> GenerationRequest:
    if parent is not None:
        try:
            detect_format(parent)  # an unusable parent stops the batch before anything is signed
        except SigningError as error:
            raise _UsageProblem(
                f"--parent {clean_text(parent, max_chars=_PATH_CHARS)}: {clean_text(error, max_chars=1000)}"
            ) from None
    try:
        return GenerationRequest(
            generator_name=generator,
            generator_version=generator_version,
            digital_source_type=DigitalSourceType.from_text(source_type) if source_type else None,
            title=title,
            parent=parent,
            replace_credentials=replace_credentials,
        )
    except SigningError as error:
        raise _UsageProblem(clean_text(error, max_chars=1000)) from None


def _prepare_output_folder(out: Path | None, *, sidecar: bool) -> Path | None:
    if out is None:
        if not sidecar:
            raise _UsageProblem("--out FOLDER is required (originmark never overwrites the original files)")
        return None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _UsageProblem(
            f"cannot create the output folder {clean_text(out, max_chars=_PATH_CHARS)}: {error.strerror or error}"
        ) from None
    return out


def _build_signer(thumbnails: bool | None) -> tuple[ContentSigner, Verifier]:
    """The signer, and the verifier every embedded output is checked with before it counts as signed."""
    # Imported here: settings and wiring pull in pydantic-settings, the engine and the verifier,
    # which `--help` does not need.
    from app.settings import Settings
    from app.wiring import build_content_signer, build_trust_policy
    from verifier.reader import Verifier

    settings = Settings()
    if thumbnails is not None:
        settings = settings.model_copy(update={"thumbnails": thumbnails})
    return build_content_signer(settings), Verifier(policy=build_trust_policy(settings))


def _check_output(output_check: Verifier, result: SignResult) -> None:
    """Refuse (and remove) an output whose own credentials do not verify.

    Found by tests/fuzz: the engine signs some malformed files (a JPEG with a repeated SOI,
    a RIFF header twice, a BMFF file not starting with ftyp) into output that verifies as
    invalid. The service refuses those with 422 `unsignable_media`; the CLI does the same
    per file. Costs one in-process verification per file (the operator's own files).
    """
    verdict = output_check.verify_file(result.destination)
    if verdict.state in (VerdictState.TRUSTED, VerdictState.VALID):
        return
    result.destination.unlink(missing_ok=True)
    raise SigningError(
        f"the engine could not sign this file into one that verifies ({verdict.state.value}: {verdict.reason}); "
        "its structure is probably malformed: re-encode it and retry (nothing was written)"
    )


def _sign_all(
    content_signer: ContentSigner,
    files: list[Path],
    *,
    request: GenerationRequest,
    output_folder: Path | None,
    sidecar: bool,
    console: Console,
    output_check: Verifier,
) -> tuple[int, int]:
    signed = failed = 0
    claimed: dict[Path, Path] = {}  # destination -> the source that wrote it in this batch
    for source in files:
        destination = _destination(source, output_folder=output_folder, sidecar=sidecar)
        earlier = claimed.get(_identity(destination))
        try:
            if earlier is not None:
                raise SigningError(
                    f"{destination.name} was already written for {earlier} in this run; rename one of them"
                )
            claimed[_identity(destination)] = source
            if sidecar:
                result = content_signer.sign_sidecar(source=source, sidecar=destination, request=request)
            else:
                result = content_signer.sign_file(source=source, destination=destination, request=request)
                _check_output(output_check, result)
        except (SigningError, OSError) as error:  # OSError: the file changed under us (e.g. removed)
            failed += 1
            _print_failure(console, source, error)
            continue
        signed += 1
        _print_success(console, result)
    return signed, failed


def _destination(source: Path, *, output_folder: Path | None, sidecar: bool) -> Path:
    if sidecar:
        name = source.with_suffix(SIDECAR_SUFFIX).name if source.suffix else source.name + SIDECAR_SUFFIX
        return (output_folder or source.parent) / name
    return output_folder / source.name  # type: ignore[operator]  # checked: --out is required without --sidecar


def _identity(path: Path) -> Path:
    return path.resolve(strict=False)


def _print_success(console: Console, result: SignResult) -> None:
    console.print(
        Text.assemble(
            ("signed  ", "green"),
            clean_text(result.source, max_chars=_PATH_CHARS),
            " -> ",
            clean_text(result.destination, max_chars=_PATH_CHARS),
            (f"  ({result.format.name}, {result.digital_source_type.term}", "dim"),
            (
                f", {result.prior_credentials.value} credentials" if result.prior_credentials.value != "none" else "",
                "dim",
            ),
            (f", {result.manifest_label})" if result.manifest_label else ")", "dim"),
        ),
        soft_wrap=True,
    )


def _print_failure(console: Console, source: Path, error: Exception) -> None:
    console.print(
        Text.assemble(
            ("failed  ", "bold red"),
            clean_text(source, max_chars=_PATH_CHARS),
            ": ",
            clean_text(error, max_chars=1000),
        ),
        soft_wrap=True,
    )
