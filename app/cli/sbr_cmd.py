"""`originmark sbr`: query a C2PA Soft Binding Resolution API endpoint, ours or another's.

    originmark sbr query FILE --endpoint URL [--api-key KEY] [--alg io.iscc.v0] [--by content|binding] [--json]
    originmark sbr manifest MANIFEST_ID --endpoint URL --out FILE [--api-key KEY] [--active-only]

`--by content` (the default) sends the file itself (POST /matches/byContent); `--by binding`
fingerprints it here and sends only its io.iscc.v0 value (GET /matches/byBinding), so the file
never leaves the machine: an image's ISCC Image-Code, an MP4, MOV or AVI video's ISCC Video-Code
(FFmpeg in a bounded child process, verifier/video_code.py), base64 of the unit as an assertion
carries it. The API key is never taken from the environment: the endpoint may be
anyone's. Exit status: 0 the query was answered (with or without matches), 2 it was not (usage,
unreadable file, endpoint unreachable, refused or not an SBR API).
"""

from __future__ import annotations

import base64
import enum
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.render import make_console, safe_text
from app.cli.store_access import fail
from app.cli.tables import print_table
from app.exit_codes import user_message

sbr_app = typer.Typer(
    help="Query a C2PA Soft Binding Resolution API (ours at /sbr/v1, or another's): matches for a file, manifests by id.",
    no_args_is_help=True,
)

ISCC_ALG = "io.iscc.v0"


class QueryBy(enum.StrEnum):
    CONTENT = "content"
    BINDING = "binding"


_EndpointOption = Annotated[
    str,
    typer.Option(
        "--endpoint", metavar="URL", show_default=False, help="The API's base URL, e.g. http://127.0.0.1:8000/sbr/v1."
    ),
]
_ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        metavar="KEY",
        show_default=False,
        help="API key for the endpoint (originmark: scope sbr). Not read from the environment.",
    ),
]
_TenantOption = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        metavar="NAME",
        show_default=False,
        help="Without a key: the tenant whose published manifests an originmark endpoint resolves.",
    ),
]


def _client(endpoint: str, api_key: str | None, tenant: str | None):
    # Imported here: httpx costs start-up time other commands do not pay.
    from app.cli.remote import clean_api_key, parse_server_url, sends_key_in_clear
    from app.cli.sbr_client import SbrClient

    try:
        url = parse_server_url(endpoint)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint="'--endpoint'") from None
    key = None
    if api_key is not None:
        try:
            key = clean_api_key(api_key)
        except ValueError as problem:
            raise typer.BadParameter(str(problem), param_hint="'--api-key'") from None
        if sends_key_in_clear(url):
            make_console(stderr=True).print(
                f"warning: the API key is sent to {url.host} over plain HTTP; use https:// beyond this machine",
                style="yellow",
                soft_wrap=True,
                markup=False,
            )
    return SbrClient(endpoint=url, api_key=key, tenant=tenant)


def _media_type(path: Path) -> str:
    from verifier.media_type import sniff_file_media_type

    with open(path, "rb") as stream:
        return sniff_file_media_type(stream) or "application/octet-stream"


def _binding_value(path: Path) -> str:
    """The io.iscc.v0 value byBinding takes for the file: a video's Video-Code, else an image's Image-Code."""
    from signer.formats import FINGERPRINTED_VIDEO_FORMATS
    from verifier.errors import UndecodableImage
    from verifier.fingerprint import fingerprint_image

    if _media_type(path) in {video.mime for video in FINGERPRINTED_VIDEO_FORMATS}:
        return _video_code_value(path)
    try:
        return base64.b64encode(fingerprint_image(path).iscc_digest).decode("ascii")
    except UndecodableImage as problem:
        fail(f"{path}: {problem}")


def _video_code_value(path: Path) -> str:
    from verifier.video_code import video_code

    # The duration only decides the code's declared scope, never its bits: not read here.
    code = video_code(path, duration_ms=None)
    if code is None:
        fail(f"{path}: no ISCC Video-Code: FFmpeg cannot decode this video within the Video-Code's bounds")
    return base64.b64encode(code.iscc_digest).decode("ascii")


@sbr_app.command("query")
def query(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The image (or video) to look up.", show_default=False)],
    endpoint: _EndpointOption,
    api_key: _ApiKeyOption = None,
    alg: Annotated[str, typer.Option("--alg", help="The soft binding algorithm.")] = ISCC_ALG,
    by: Annotated[
        QueryBy, typer.Option("--by", help="Send the file (content) or only its fingerprint (binding).")
    ] = QueryBy.CONTENT,
    max_results: Annotated[int, typer.Option("--max-results", min=1, max=100, help="At most this many matches.")] = 10,
    tenant: _TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Find the manifests an SBR endpoint matches to a file, by its content or by its fingerprint."""
    from app.cli.sbr_client import SbrQueryFailed

    if by is QueryBy.BINDING and alg != ISCC_ALG:
        raise typer.BadParameter(f"a binding is computed here for {ISCC_ALG} only", param_hint="'--alg'")
    try:
        with _client(endpoint, api_key, tenant) as client:
            if by is QueryBy.BINDING:
                matches = client.by_binding(alg=alg, value=_binding_value(file), max_results=max_results)
            else:
                matches = client.by_content(file, media_type=_media_type(file), alg=alg, max_results=max_results)
    except SbrQueryFailed as failure:
        fail(failure.message)
    except OSError as error:
        fail(user_message(error))
    if as_json:
        rows = [
            {
                "manifestId": m.manifest_id,
                "similarityScore": m.similarity_score,
                **({"endpoint": m.endpoint} if m.endpoint else {}),
            }
            for m in matches
        ]
        typer.echo(json.dumps({"matches": rows}, indent=2))
        return
    console = make_console()
    if not matches:
        console.print(safe_text(f"no match for {file.name}"))
        return
    table = Table(box=None, padding=(0, 2), header_style="bold")
    table.add_column("manifest id", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("endpoint", overflow="fold")
    for match in matches:
        score = "" if match.similarity_score is None else str(match.similarity_score)
        table.add_row(safe_text(match.manifest_id), score, safe_text(match.endpoint or "(this one)"))
    print_table(console, table)


@sbr_app.command("manifest")
def manifest(
    manifest_id: Annotated[
        str, typer.Argument(metavar="MANIFEST_ID", help="The manifest's id (urn:c2pa:...).", show_default=False)
    ],
    endpoint: _EndpointOption,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Where to write the manifest store (.c2pa).", show_default=False),
    ],
    api_key: _ApiKeyOption = None,
    active_only: Annotated[bool, typer.Option("--active-only", help="Only the active manifest.")] = False,
    tenant: _TenantOption = None,
) -> None:
    """Fetch a manifest store (application/c2pa) by its manifest id and write it to a file."""
    from app.cli.sbr_client import SbrQueryFailed

    try:
        with _client(endpoint, api_key, tenant) as client:
            store = client.manifest(manifest_id, active_only=active_only)
        out.write_bytes(store)
    except SbrQueryFailed as failure:
        fail(failure.message)
    except OSError as error:
        fail(user_message(error))
    make_console(stderr=True).print(safe_text(f"wrote {len(store)} bytes to {out}"))
