"""`originmark rendition`: have a running originmark service sign a platform's renditions of an
original with the original's credentials as their history (POST /v1/renditions; the rules are the
service's renditions use case, app/usecases/renditions.py).

Only against a service (`--server URL`, or ORIGINMARK_SERVER_URL): the original's manifest store is
in the service's manifest repository, under the tenant of the API key (which needs the sign scope).
One line per rendition (its media id, label and where it was written: the output folder, under the
file's own name; two files of the same name, or an output folder holding one of the files, are
refused before anything is sent). Exit codes: 0 every rendition signed, 1 the service refused the
request (its message names any renditions recorded before a late failure), 2 usage, configuration
or connection problem, or a 200 answer that is not the signed renditions (nothing written).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from app.cli.render import clean_text, make_console
from app.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO

if TYPE_CHECKING:
    import httpx  # imported when a request is made (the CLI's start stays light)

# The form's file fields: file, file_2, ... (app/api/routes/renditions.py); at most this many per request.
MAX_RENDITIONS = 8


def rendition(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="The renditions (resized, converted or repackaged copies).", metavar="FILE", show_default=False
        ),
    ],
    media_ids: Annotated[
        list[str],
        typer.Option("--media-id", help="Each rendition's media id, in the order of the files.", show_default=False),
    ],
    actions: Annotated[
        list[str],
        typer.Option(
            "--action",
            help="What the renditions did: c2pa.resized.proportional, c2pa.transcoded, c2pa.converted, "
            "c2pa.repackaged (repeat for several).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", file_okay=False, help="Folder for the signed renditions (created).", show_default=False
        ),
    ],
    source_media_id: Annotated[
        str | None, typer.Option("--source-media-id", help="The original's media id.", show_default=False)
    ] = None,
    source_sha256: Annotated[
        str | None, typer.Option("--source-sha256", help="The original's SHA-256 (hex).", show_default=False)
    ] = None,
    allow_no_upstream: Annotated[
        bool,
        typer.Option(
            "--allow-no-upstream",
            help="Sign renditions of an original without credentials ('no credentials upstream').",
        ),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server", help="The originmark service's base URL (default: ORIGINMARK_SERVER_URL).", show_default=False
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", help="API key with the sign scope (default: ORIGINMARK_API_KEY).", show_default=False
        ),
    ] = None,
) -> None:
    """Have a service sign renditions of an original with the original's credentials as history."""
    console, err_console = make_console(), make_console(stderr=True)
    if len(media_ids) != len(files):
        raise typer.BadParameter(
            f"give one per file ({len(files)} files, {len(media_ids)} ids)", param_hint="'--media-id'"
        )
    if len(files) > MAX_RENDITIONS:
        raise typer.BadParameter(f"at most {MAX_RENDITIONS} renditions per request", param_hint="'FILE'")
    if (source_media_id is None) == (source_sha256 is None):
        raise typer.BadParameter("name the original by --source-media-id or --source-sha256 (one of them)")
    _refuse_overwrites(files, out)

    from app.cli.remote import server_and_key, server_reason, status_line
    from app.settings import Settings

    settings = Settings()
    server_url = server if server is not None else settings.server_url
    if not server_url:
        raise typer.BadParameter("give the service's base URL (or set ORIGINMARK_SERVER_URL)", param_hint="'--server'")
    given = api_key if api_key is not None else (settings.api_key.get_secret_value() if settings.api_key else None)
    try:
        url, key = server_and_key(
            server_url, given, scope="sign", warn=lambda text: err_console.print(Text(text, style="yellow"))
        )
    except ValueError as problem:
        option, _, reason = str(problem).partition(": ")
        raise typer.BadParameter(reason, param_hint=f"'{option}'") from None

    import httpx

    data: dict[str, object] = {"action": list(actions)}
    if source_media_id is not None:
        data["source_media_id"] = source_media_id
    if source_sha256 is not None:
        data["source_sha256"] = source_sha256
    if allow_no_upstream:
        data["allow_no_upstream"] = "true"
    names = ["" if index == 0 else f"_{index + 1}" for index in range(len(files))]
    for suffix, media_id in zip(names, media_ids, strict=True):
        data[f"media_id{suffix}"] = media_id
    try:
        uploads = {f"file{suffix}": (path.name, path.read_bytes()) for suffix, path in zip(names, files, strict=True)}
    except OSError as error:
        err_console.print(Text(f"cannot read {clean_text(str(error.filename))}: {error.strerror}", style="red"))
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    try:
        response = httpx.post(
            str(url).rstrip("/") + "/v1/renditions",
            headers={"Authorization": f"Bearer {key}"},
            data=data,
            files=uploads,
            timeout=httpx.Timeout(connect=10.0, read=300.0, write=300.0, pool=None),
            follow_redirects=False,
        )
    except httpx.TransportError as error:
        err_console.print(
            Text(f"the service at {url} could not be reached: {error or type(error).__name__}", style="red")
        )
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    if response.status_code != 200:
        err_console.print(
            Text(f"refused ({status_line(response)}): {server_reason(response)}", style="red"), soft_wrap=True
        )
        raise typer.Exit(
            EXIT_INVALID
            if 400 <= response.status_code < 500 and response.status_code not in (401, 403)
            else EXIT_USAGE_OR_IO
        )
    try:
        signed = _signed_renditions(response, expected=len(files))
    except ValueError as problem:
        err_console.print(
            Text(f"the service at {url} answered 200 but not with the signed renditions: {problem}", style="red"),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    out.mkdir(parents=True, exist_ok=True)
    for path, (media_id, label_text, content) in zip(files, signed, strict=True):
        target = out / path.name
        target.write_bytes(content)
        console.print(
            Text(f"{clean_text(media_id)}: {clean_text(label_text)} -> {clean_text(str(target))}"), soft_wrap=True
        )
    raise typer.Exit(EXIT_OK)


def _refuse_overwrites(files: list[Path], out: Path) -> None:
    """Each signed rendition is written as `out`/its file's name: refused up front (usage, exit 2)
    when two files have the same name, or when `out` is the folder of one of them (the signed copy
    would replace the file it was made from)."""
    names = [path.name for path in files]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise typer.BadParameter(
            f"two renditions named {clean_text(twice[0])!r} would be written to the same file in the output "
            "folder: rename one",
            param_hint="'FILE'",
        )
    folder = out.resolve()
    for path in files:
        if path.resolve().parent == folder:
            raise typer.BadParameter(
                f"the output folder holds {clean_text(path.name)!r}: its signed copy would replace it; "
                "give another folder",
                param_hint="'--out'",
            )


def _signed_renditions(response: httpx.Response, *, expected: int) -> list[tuple[str, str, bytes]]:
    """(media id, label text, signed bytes) of each rendition of a 200 answer; ValueError saying
    what is wrong when it is not the service's JSON (a proxy's page, a truncated body...)."""
    try:
        body = response.json()
    except ValueError:
        raise ValueError("the body is not JSON") from None
    renditions = body.get("renditions") if isinstance(body, dict) else None
    if not isinstance(renditions, list) or len(renditions) != expected:
        raise ValueError(f"no list of {expected} renditions in it")
    signed = []
    for item in renditions:
        label = item.get("label") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(label, dict):
            raise ValueError("a rendition without its label")
        media_id, text, content = item.get("media_id"), label.get("text"), item.get("content_base64")
        if not isinstance(media_id, str) or not isinstance(text, str) or not isinstance(content, str):
            raise ValueError("a rendition without its media id, label text or signed bytes")
        try:
            signed.append((media_id, text, base64.b64decode(content, validate=True)))
        except ValueError:
            raise ValueError("a rendition's signed bytes are not base64") from None
    return signed
