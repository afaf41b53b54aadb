"""The optional config file `$ORIGINMARK_HOME/config.toml`: settings kept with the data they describe.

Format (TOML): one `name = value` per setting, the names of app/settings.py without the
ORIGINMARK_ prefix, in lower case; no tables:

    # ~/.local/share/originmark/config.toml
    database_url = "postgresql+psycopg://originmark@db.internal:5432/originmark"
    port = 8080
    remote_fetch_hosts = "cai-manifests.adobe.com"

A renamed setting is still accepted under its deprecated older name (`engine_threads` for
`sign_concurrency`, as the environment still accepts ORIGINMARK_ENGINE_THREADS); both names at
once is an error. The environment wins over the file (a one-off `ORIGINMARK_PORT=9000 originmark
serve` works); `home` cannot be set here (the file is found through it). Any mistake (TOML syntax, an unknown
name, a value of the wrong type) is an error naming the file and the line, never ignored: a
misspelt setting silently falling back to its default is how data ends up in the wrong place.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

CONFIG_FILENAME = "config.toml"
NOT_IN_FILE = frozenset({"home"})  # the file is found through the home
ENV_PREFIX = "ORIGINMARK_"


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
    older = older_names(fields)
    settings: dict[str, Any] = {}
    given_as: dict[str, str] = {}  # setting -> the name the file gave it under
    for name, value in values.items():
        where = f"config file {path}, line {_line_of(text, name)}"
        if name in NOT_IN_FILE:
            raise ConfigFileError(f"{where}: {name!r} cannot be set in the config file (set ORIGINMARK_HOME)")
        field_name = older.get(name, name)
        if field_name not in fields:
            raise ConfigFileError(f"{where}: unknown setting {name!r:.80} (names are lower case, without ORIGINMARK_)")
        if field_name in given_as:
            raise ConfigFileError(
                f"{where}: {given_as[field_name]} and {name} are one setting (the older name is deprecated): "
                f"keep only {field_name}"
            )
        try:
            _checker(fields[field_name]).validate_python(value)
        except ValidationError as error:
            problem = "; ".join(item["msg"] for item in error.errors())
            raise ConfigFileError(f"{where}: {name}: {problem}") from None
        given_as[field_name] = name
        settings[field_name] = value
    return settings


def _checker(field: FieldInfo) -> TypeAdapter[Any]:
    # The type and its constraints (ge, le...), not the field's aliases: those name environment variables.
    annotation: Any = field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]
    return TypeAdapter(annotation)


def older_names(fields: Mapping[str, FieldInfo]) -> dict[str, str]:
    """Deprecated setting name -> the setting's name, from the fields' environment aliases.

    A renamed field lists its environment variables, the current one first, as AliasChoices
    (ORIGINMARK_SIGN_CONCURRENCY, ORIGINMARK_ENGINE_THREADS): the file accepts the others,
    lower case and without the prefix, as it accepts the field's own name.
    """
    names = {}
    for field_name, field in fields.items():
        if isinstance(field.validation_alias, AliasChoices):
            for choice in field.validation_alias.choices[1:]:
                if isinstance(choice, str) and choice.upper().startswith(ENV_PREFIX):
                    names[choice[len(ENV_PREFIX) :].lower()] = field_name
    return names


def _line_of(text: str, name: str) -> int | str:
    # tomllib keeps no positions: the first line assigning the name is the one a person looks for.
    pattern = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=", re.MULTILINE)
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else "?"
