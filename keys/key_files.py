"""Writing credential files: a private folder, each file with its final mode from its first byte.

Shared by keys/devca.py (`keys init`: CA, chain, key) and keys/audit_key.py (the audit key).
Unlike keys/atomic_file.py, several files go in together and, without `overwrite`, an existing
name is never replaced (link(2) refuses it), so two concurrent `keys init` cannot clobber each other.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from keys.errors import CredentialsAlreadyExist, UnreadableCredentials

KEY_FILE_MODE = 0o600
CERTIFICATE_FILE_MODE = 0o644
DIRECTORY_MODE = 0o700


def make_private_directory(directory: Path) -> None:
    try:
        # A new directory holding a private key is private too; an existing one is left as it is.
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    except OSError as error:
        raise UnreadableCredentials(
            f"cannot create the credentials directory {directory} ({error.strerror})",
            "choose a --dir this user can write to",
        ) from None
    if not directory.is_dir():
        raise UnreadableCredentials(f"{directory} exists and is not a directory", "choose another --dir")


def write_files(directory: Path, contents: dict[str, tuple[bytes, int]], *, overwrite: bool) -> None:
    """Write each file to a temporary name with its final mode, then move them into place.

    The key file is created with mode 0600 from the first byte (never chmod-ed afterwards),
    and a half-written set never appears under the final names.
    """
    temporary: dict[str, Path] = {}
    try:
        for name, (data, mode) in contents.items():
            path = directory / f".{name}.{secrets.token_hex(8)}.tmp"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            temporary[name] = path
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        for name, path in temporary.items():
            final = directory / name
            if overwrite:
                os.replace(path, final)
            else:
                # link() fails if the name appeared since we checked: never clobber without --force.
                os.link(path, final)
                path.unlink()
    except FileExistsError as error:
        raise CredentialsAlreadyExist(
            f"{error.filename2 or error.filename} appeared while writing credentials",
            "make sure only one `keys init` runs at a time, then retry (with --force to replace)",
        ) from None
    except OSError as error:
        raise UnreadableCredentials(
            f"cannot write credentials into {directory} ({error.strerror})", "choose a --dir this user can write to"
        ) from None
    finally:
        for path in temporary.values():
            path.unlink(missing_ok=True)
