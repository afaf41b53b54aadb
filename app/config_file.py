"""The optional config file `$ORIGINMARK_HOME/config.toml`: settings kept with the data they describe.

Format (TOML): one `name = value` per setting, the names of app/settings.py without the
ORIGINMARK_ prefix, in lower case; no tables:

    # ~/.local/share/originmark/config.toml
    database_url = "postgresql+psycopg://originmark@db.internal:5432/originmark"
    port = 8080
    remote_fetch_hosts = "cai-manifests.adobe.com"

The environment wins over the file (a one-off `ORIGINMARK_PORT=9000 originmark serve` works);
`home` cannot be set here (the file is found through it). Any mistake (TOML syntax, an unknown
name, a value of the wrong type) is an error naming the file and the line, never ignored: a
misspelt setting silently falling back to its default is how data ends up in the wrong place.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

CONFIG_FILENAME = "config.toml"
NOT_IN_FILE = frozenset({"home"})  # the file is found through the home


class ConfigFileError(ValueError):
    """A config file that cannot be used; the message names the file and, when known, the line."""


def read_config_file(path: Path, *, fields: Mapping[str, FieldInfo]) -> dict[str, Any]:
    """The settings in `path` (none if there is no such file), each checked against its field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigFileError(f"config file {path}: cannot be read: {reason}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message ends "(at line N, column M)"
        raise ConfigFileError(f"config file {path}: not valid TOML: {error}") from None
    for name, value in values.items():
        where = f"config file {path}, line {_line_of(text, name)}"
        if name in NOT_IN_FILE:
            raise ConfigFileError(f"{where}: {name!r} cannot be set in the config file (set ORIGINMARK_HOME)")
        if name not in fields:
            raise ConfigFileError(f"{where}: unknown setting {name!r:.80} (names are lower case, without ORIGINMARK_)")
        try:
            # The field's type with its constraints, put together at run time: no static type form
            # exists for it, so mypy cannot check this argument.
            adapter = TypeAdapter[Any](Annotated[fields[name].annotation, fields[name]])  # type: ignore[arg-type]
            adapter.validate_python(value)
        except ValidationError as error:
            problem = "; ".join(item["msg"] for item in error.errors())
            raise ConfigFileError(f"{where}: {name}: {problem}") from None
    return values


def _line_of(text: str, name: str) -> int | str:
    # tomllib keeps no positions: the first line assigning the name is the one a person looks for.
    pattern = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=", re.MULTILINE)
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else "?"
