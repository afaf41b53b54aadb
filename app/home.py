"""Where originmark keeps its data: one home, whatever the current folder.

Like git, docker or gh, originmark finds its data in one place: ORIGINMARK_HOME when it is set,
else the user's data directory (platformdirs: ~/.local/share/originmark on Linux). A folder
`./data` of the old layout (the database or keys/ in it) is still used when found, with a
warning: abandoning it silently would look like lost keys. `originmark home migrate` moves it.

Called from app/settings.py only (platformdirs reads XDG_DATA_HOME there): the environment is
read in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "originmark"
DATABASE_FILENAME = "originmark.db"
KEYS_FOLDER = "keys"
OBJECTS_FOLDER = "objects"
LEGACY_FOLDER = "data"  # the layout before ORIGINMARK_HOME: everything in ./data of the current folder


class HomeSource(enum.Enum):
    """How the home was chosen (shown by `originmark info`)."""

    ENVIRONMENT = "ORIGINMARK_HOME"
    LEGACY = "legacy ./data"  # of the current folder
    DEFAULT = "default"  # the user's data directory


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeChoice:
    path: Path  # absolute
    source: HomeSource


def default_home() -> Path:
    # appauthor=False: no vendor folder level on Windows (the name is ours alone).
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def holds_data(folder: Path) -> bool:
    """A folder with a database or a keys folder: what `home migrate` moves and refuses to overwrite."""
    return (folder / DATABASE_FILENAME).is_file() or (folder / KEYS_FOLDER).is_dir()


def legacy_data_dir(cwd: Path) -> Path | None:
    """`cwd/data` when it holds data of the old layout, else None."""
    candidate = cwd / LEGACY_FOLDER
    return candidate.absolute() if holds_data(candidate) else None


def choose_home(*, given: Path | None, cwd: Path) -> HomeChoice:
    """ORIGINMARK_HOME (`given`) if set; else a legacy ./data in `cwd`; else the user's data directory."""
    if given is not None:
        # Absolute once, here: every path derived from it then means the same in any folder.
        return HomeChoice(path=(cwd / given.expanduser()).absolute(), source=HomeSource.ENVIRONMENT)
    legacy = legacy_data_dir(cwd)
    if legacy is not None:
        return HomeChoice(path=legacy, source=HomeSource.LEGACY)
    return HomeChoice(path=default_home(), source=HomeSource.DEFAULT)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def legacy_warning(home: HomeChoice, *, default: Path) -> str | None:
    """The warning a command prints when it works on a legacy ./data, else None."""
    if home.source is not HomeSource.LEGACY:
        return None
    return (
        f"using {home.path} (the old ./data layout, found in the current folder); other folders use "
        f"{default}. Move it there with `originmark home migrate`, or set ORIGINMARK_HOME={home.path}."
    )
