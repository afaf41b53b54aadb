"""`originmark rendition`: have a running originmark service sign a platform's renditions of an
original with the original's credentials as their history (the rules are the service's renditions
use case, app/usecases/renditions.py).

Only against a service (`--server URL`, or ORIGINMARK_SERVER_URL): the original's manifest store is
in the service's manifest repository, under the tenant of the API key (which needs the sign scope).

- Files and `--out FOLDER` (POST /v1/renditions, up to 8 at once): one line per rendition (its
  media id, label and where it was written: the output folder, under the file's own name; two files
  of the same name, or an output folder holding one of the files, are refused before anything is
  sent).
- `--output-uri URI` (POST /v1/jobs/rendition, one rendition, for video and large files): the
  rendition named by `--uri` in the tenant's object storage, or one FILE sent with the request; the
  signed rendition is written to the output URI by the service's workers, and the command waits for
  the job (`--wait-seconds`; the key needs the read scope too): app/cli/rendition_job.py.

Exit codes: 0 every rendition signed, 1 the service refused the request or the job failed (its
message names any renditions recorded before a late failure), 2 usage, configuration or connection
problem, a job still running when the wait ran out, or a 200 answer that is not the signed
renditions (nothing written).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.text import Text

from app.cli.render import clean_text, make_console
from app.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO

if TYPE_CHECKING:
    import httpx  # imported when a request is made (the CLI's start stays light)
    from rich.console import Console

    from app.cli.rendition_job import RenditionJob

# The form's file fields: file, file_2, ... (app/api/routes/renditions.py); at most this many per request.
MAX_RENDITIONS = 8


def rendition(
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
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="The renditions (resized, converted or repackaged copies); with --output-uri, at most one.",
            metavar="[FILE]...",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", file_okay=False, help="Folder for the signed renditions (created).", show_default=False
        ),
    ] = None,
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
    uri: Annotated[
        str | None,
        typer.Option(
            "--uri", help="The rendition in object storage (s3://bucket/key), signed by a job.", show_default=False
        ),
    ] = None,
    output_uri: Annotated[
        str | None,
        typer.Option(
            "--output-uri",
            help="Sign by a job (POST /v1/jobs/rendition) into this object (s3://bucket/key) and wait for it.",
            show_default=False,
        ),
    ] = None,
    wait_seconds: Annotated[
        float,
        typer.Option("--wait-seconds", min=1, help="With --output-uri: how long to wait for the job."),
    ] = 900.0,
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
    files = files or []
    if (source_media_id is None) == (source_sha256 is None):
        raise typer.BadParameter("name the original by --source-media-id or --source-sha256 (one of them)")
    if output_uri is None:
        out = _checked_files_request(files, media_ids, out, uri)
    else:
        _checked_job_request(files, media_ids, out, uri)

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

    if output_uri is not None:
        from app.cli.rendition_job import RenditionJob

        job = RenditionJob(
            media_id=media_ids[0],
            output_uri=output_uri,
            actions=tuple(actions),
            source_uri=uri,
            file=files[0] if files else None,
            source_media_id=source_media_id,
            source_sha256=source_sha256,
            allow_no_upstream=allow_no_upstream,
        )
        _by_job(url, key, job, wait_seconds=wait_seconds, console=console, err_console=err_console)
    assert out is not None
    import httpx

    from app.cli.remote import DEFAULT_TIMEOUT

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
            timeout=DEFAULT_TIMEOUT,
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
        raise typer.Exit(_refusal_exit(response.status_code))
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


def _checked_files_request(files: list[Path], media_ids: list[str], out: Path | None, uri: str | None) -> Path:
    """The files' request (POST /v1/renditions): its output folder, or a usage error (exit 2)."""
    if uri is not None:
        raise typer.BadParameter("a rendition in object storage is signed by a job: give --output-uri too")
    if not files:
        raise typer.BadParameter("give the renditions' files (or --uri and --output-uri)", param_hint="'FILE'")
    if out is None:
        raise typer.BadParameter("give the folder for the signed renditions", param_hint="'--out'")
    if len(media_ids) != len(files):
        raise typer.BadParameter(
            f"give one per file ({len(files)} files, {len(media_ids)} ids)", param_hint="'--media-id'"
        )
    if len(files) > MAX_RENDITIONS:
        raise typer.BadParameter(f"at most {MAX_RENDITIONS} renditions per request", param_hint="'FILE'")
    _refuse_overwrites(files, out)
    return out


def _checked_job_request(files: list[Path], media_ids: list[str], out: Path | None, uri: str | None) -> None:
    """A job's request (POST /v1/jobs/rendition): one rendition, by --uri or one FILE; a usage error otherwise."""
    if out is not None:
        raise typer.BadParameter(
            "a job writes the signed rendition to --output-uri: give no --out", param_hint="'--out'"
        )
    if (uri is None) == (not files) or len(files) > 1:
        raise typer.BadParameter("a job signs one rendition: give --uri or one FILE", param_hint="'--uri'")
    if len(media_ids) != 1:
        raise typer.BadParameter("give the rendition's media id once", param_hint="'--media-id'")
    if files and not files[0].is_file():
        raise typer.BadParameter(f"{clean_text(str(files[0]))} is not a file", param_hint="'FILE'")


def _by_job(
    url: httpx.URL, key: str, job: RenditionJob, *, wait_seconds: float, console: Console, err_console: Console
) -> NoReturn:
    """Submit the job, wait for it, say how it ended; exits with the command's code."""
    import httpx

    from app.cli.remote import server_reason, status_line
    from app.cli.rendition_job import JobNotFollowed, SubmitRefused, run_job

    try:
        outcome = run_job(url, key, job, wait_seconds=wait_seconds)
    except SubmitRefused as refused:
        response = refused.response
        err_console.print(
            Text(f"refused ({status_line(response)}): {server_reason(response)}", style="red"), soft_wrap=True
        )
        raise typer.Exit(_refusal_exit(response.status_code)) from None
    except JobNotFollowed as problem:
        err_console.print(Text(clean_text(str(problem)), style="red"), soft_wrap=True)
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    except httpx.TransportError as error:
        err_console.print(
            Text(f"the service at {url} could not be reached: {error or type(error).__name__}", style="red")
        )
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    except OSError as error:
        err_console.print(Text(f"cannot read {clean_text(str(error.filename))}: {error.strerror}", style="red"))
        raise typer.Exit(EXIT_USAGE_OR_IO) from None
    if outcome.status == "succeeded":
        console.print(
            Text(f"{clean_text(job.media_id)}: {clean_text(outcome.label_text or '')} -> {clean_text(job.output_uri)}"),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_OK)
    if outcome.status == "failed":
        err_console.print(
            Text(
                f"job {outcome.job_id} failed ({clean_text(outcome.error_code or 'unknown')}): "
                f"{clean_text(outcome.error_message or '')}",
                style="red",
            ),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INVALID)
    err_console.print(
        Text(
            f"job {outcome.job_id} is still {outcome.status} after {wait_seconds:g} s: run the command again to "
            f"follow it, or GET /v1/jobs/{outcome.job_id}",
            style="yellow",
        ),
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_USAGE_OR_IO)


def _refusal_exit(status: int) -> int:
    """1 for a request the service refused (fix the request), 2 for auth, server and other problems."""
    return EXIT_INVALID if 400 <= status < 500 and status not in (401, 403) else EXIT_USAGE_OR_IO


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
