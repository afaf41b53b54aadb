"""`originmark info`: where everything is — home, config file, database, keys, objects, spool,
trust lists — and which versions run. Plain text within 80 columns, or `--format json`.

Reads nothing but the settings and the file system: no database is opened or created, no
server contacted, no secret shown. Exit codes: 0, or 2 for settings that cannot be used.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.render import clean_text
from app.cli.store_access import cli_settings
from app.installation import Installation, gather

WIDTH = 80
_INDENT = 13  # the labels' column


class InfoFormat(str, enum.Enum):
    TEXT = "text"
    JSON = "json"


def info(
    output_format: Annotated[
        InfoFormat, typer.Option("--format", "-f", case_sensitive=False, help="text for people; json for tools.")
    ] = InfoFormat.TEXT,
) -> None:
    """Show where originmark keeps its data and what it uses (never creates anything)."""
    facts = gather(cli_settings())
    if output_format is InfoFormat.JSON:
        sys.stdout.write(json.dumps(_as_json(facts), indent=2) + "\n")
    else:
        _print_text(facts)


def _as_json(facts: Installation) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    return plain(dataclasses.asdict(facts))


def _yes(flag: bool, yes: str, no: str) -> str:
    return yes if flag else no


_HOME_NOTES = {
    "ORIGINMARK_HOME": "set by ORIGINMARK_HOME",
    "legacy ./data": "the old ./data layout in this folder: `originmark home migrate` moves it",
    "default": "the default: the user's data directory",
}
_DATABASE_NOTES = {True: "exists", False: "not created yet", None: "a server database, not contacted"}


def _print_text(facts: Installation) -> None:
    rows: list[tuple[str, str, str | None]] = [
        ("originmark", facts.originmark_version, None),
        ("engine", facts.engine_version, None),
        ("home", str(facts.home), _HOME_NOTES.get(facts.home_chosen_by, facts.home_chosen_by)),
        ("config file", str(facts.config_file), _yes(facts.config_file_used, "used", "not present; optional")),
        ("database", facts.database_url, _DATABASE_NOTES[facts.database_exists]),
        ("keys", str(facts.keys_dir), _credentials_note(facts)),
        ("objects", str(facts.objects_dir), f"own objects at {facts.objects_url}" if facts.objects_url else None),
        ("spool", str(facts.spool_dir), _yes(facts.spool_is_default, "the system temp dir", "ORIGINMARK_SPOOL_DIR")),
        ("trust lists", _trust_lines(facts), None),
    ]
    lines: list[str] = []
    for label, value, note in rows:
        # Plain text for any terminal or a bug report; clean_text: a path may hold control characters.
        body = [clean_text(line, max_chars=1000) for line in value.splitlines()] + ([f"({note})"] if note else [])
        parts = [part for text in body for part in textwrap.wrap(text, WIDTH - _INDENT, break_on_hyphens=False)]
        lines.extend(f"{label if index == 0 else '':<{_INDENT}}{part}" for index, part in enumerate(parts))
    typer.echo("\n".join(lines))


def _credentials_note(facts: Installation) -> str:
    backend = "" if facts.key_backend == "pem" else f", key in {facts.key_backend}"
    credentials = _yes(facts.signing_credentials, "signing credentials present", "no signing credentials yet")
    audit = _yes(facts.audit_key, "audit key present", "no audit key yet")
    return f"{credentials}{backend}; {audit}"


def _trust_lines(facts: Installation) -> str:
    if facts.trust_problem is not None:
        return f"cannot be built: {facts.trust_problem}"
    # The operator's own lists are named with their file; the shipped ones by name (`--format json`: sources).
    return "\n".join(
        f"{item.name} ({item.kind})" + (f" {item.source}" if item.name.startswith("local") else "")
        for item in facts.trust_lists
    )
