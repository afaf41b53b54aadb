"""`originmark home migrate`: move a `./data` of the old layout into the home, in one command.

    originmark home migrate                 # ./data of the current folder -> the home
    originmark home migrate --from ~/originmark/data

The home is ORIGINMARK_HOME when set, else the user's data directory (`originmark info` shows
it). Refused, with nothing moved, when the home already holds a database or keys, or holds any
entry of the same name: merging two installations is a decision for a person. Stop the service
before moving its database. Exit codes: 0 moved, 2 refused or failed (and what moved is said).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from app import home as homes
from app.cli.store_access import cli_settings, fail, note
from app.settings import Settings

home_app = typer.Typer(help="The folder where originmark keeps its data (see `originmark info`).", no_args_is_help=True)


def legacy_home_warning() -> None:
    """Before every command: say so when the data used is a legacy ./data (bad settings: the command reports them)."""
    try:
        settings = Settings()
    except Exception:  # noqa: BLE001 - bad settings: the command itself reports them
        return
    choice = homes.HomeChoice(path=settings.home, source=settings.home_source)
    message = homes.legacy_warning(choice, default=settings.default_home)
    if message is not None:
        note(f"Warning: {message}")


def _target(settings: Settings) -> Path:
    # A legacy ./data is the home only for want of another: its destination is the default home.
    return settings.home if settings.home_source is homes.HomeSource.ENVIRONMENT else settings.default_home


@home_app.command("migrate")
def migrate(
    source: Annotated[
        Path,
        typer.Option("--from", metavar="FOLDER", help="The old data folder.", show_default="./data"),
    ] = Path(homes.LEGACY_FOLDER),
) -> None:
    """Move the old ./data layout (database, keys, objects) into the home; stop the service first."""
    source = source.expanduser().absolute()
    target = _target(cli_settings())
    if not homes.holds_data(source):
        fail(f"nothing to move: {source} holds no {homes.DATABASE_FILENAME} and no {homes.KEYS_FOLDER}/ folder")
    if source.resolve() == target.resolve():
        fail(f"{source} is already the home")
    entries = sorted(source.iterdir(), key=lambda entry: entry.name)
    if homes.holds_data(target):
        fail(
            f"the home {target} already holds a database or keys: nothing moved (merge them by hand, or "
            f"set ORIGINMARK_HOME={source} to keep using the old folder)"
        )
    clashes = [entry.name for entry in entries if (target / entry.name).exists()]
    if clashes:
        fail(f"the home {target} already has {', '.join(clashes)}: nothing moved")
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys live here: the owner's only
    except OSError as error:
        fail(f"cannot create the home {target}: {error.strerror}")
    moved: list[str] = []
    for entry in entries:
        try:
            shutil.move(entry, target / entry.name)  # a rename on one file system; else copy, then delete
        except OSError as error:
            done = ", ".join(moved) or "nothing"
            fail(f"moving {entry} failed ({error.strerror or error}); moved so far: {done}")
        moved.append(entry.name + ("/" if (target / entry.name).is_dir() else ""))
    try:
        source.rmdir()  # empty now; a folder left behind would only confuse
    except OSError:
        pass
    typer.echo(f"Moved {', '.join(moved)} from {source} to {target}.")
    typer.echo("Every folder now uses this home; `originmark info` shows where everything is.")
