"""What this originmark uses and where it is (`originmark info`), gathered from the settings.

Only looks: never creates a folder or a database, never connects to a server, and holds no
secret (the database URL's password is masked; keys, PINs and API keys are only said to exist).
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings
from app.store.database_url import shown_database_url, sqlite_file


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustListInUse:
    name: str
    kind: str  # "manifest" or "tsa"
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Installation:
    originmark_version: str
    engine_version: str
    home: Path
    home_chosen_by: str  # how the home was chosen (app.home.HomeSource's value)
    legacy_home: bool
    config_file: Path
    config_file_used: bool
    database_url: str  # password masked
    database_exists: bool | None  # None: a server database, not contacted here
    keys_dir: Path
    key_backend: str
    signing_credentials: bool  # a chain (and, for PEM keys, a key file) is where the settings say
    audit_key: bool
    objects_dir: Path
    objects_url: str | None
    spool_dir: Path
    spool_is_default: bool  # the system temp dir (ORIGINMARK_SPOOL_DIR unset)
    trust_lists: tuple[TrustListInUse, ...]
    trust_problem: str | None  # why the trust lists could not be built (a missing anchors file...)


def gather(settings: Settings) -> Installation:
    from app import home as homes
    from app.config_file import CONFIG_FILENAME

    database_file = sqlite_file(settings.database_url)
    lists, problem = _trust_lists(settings)
    credentials = settings.chain_path.is_file() and (settings.key_backend != "pem" or settings.key_path.is_file())
    return Installation(
        originmark_version=_version("originmark"),
        engine_version=_engine_version(),
        home=settings.home,
        home_chosen_by=settings.home_source.value,
        legacy_home=settings.home_source is homes.HomeSource.LEGACY,
        config_file=settings.config_file or settings.home / CONFIG_FILENAME,
        config_file_used=settings.config_file is not None,
        database_url=shown_database_url(settings.database_url),
        database_exists=None if database_file is None else database_file.is_file(),
        keys_dir=settings.keys_dir,
        key_backend=settings.key_backend,
        signing_credentials=credentials or _identities(settings),
        audit_key=settings.audit_key is not None or settings.audit_key_path.is_file(),
        objects_dir=settings.objects_dir,
        objects_url=settings.objects_url,
        spool_dir=settings.spool_dir or Path(tempfile.gettempdir()),
        spool_is_default=settings.spool_dir is None,
        trust_lists=lists,
        trust_problem=problem,
    )


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _engine_version() -> str:
    from verifier.reader import engine_version  # imports the engine: only when info is asked

    return engine_version()


def _identities(settings: Settings) -> bool:
    from app.wiring import identities_in_use

    return identities_in_use(settings)


def _trust_lists(settings: Settings) -> tuple[tuple[TrustListInUse, ...], str | None]:
    from app.exit_codes import user_message
    from app.wiring import build_trust_policy

    try:
        policy = build_trust_policy(settings)
    except Exception as error:  # noqa: BLE001 - an unreadable anchors file, a bad PEM: info still shows the rest
        return (), user_message(error)
    # The operator's own lists are named by their file: where to look is what a person needs.
    files = {"local": settings.local_anchor_path, "local-tsa": settings.tsa_trust_anchors}
    return tuple(
        TrustListInUse(name=item.name, kind=item.kind.value, source=str(files.get(item.name) or item.source))
        for item in policy.lists
    ), None
