"""Signing identities: several credentials configured at once, one of them active.

Layout (under ORIGINMARK_KEYS_DIR):

    identities/<name>/chain.pem      signing certificate, then its issuers
    identities/<name>/key.pem        a PEM key (mode 0600) ...
    identities/<name>/backend.json   ... or where the key lives: {"backend": "pkcs11", "module": ...,
                                     "token_label": ..., "key_label": ..., "pin_file": ...} or
                                     {"backend": "aws-kms", "key_id": ..., "region": ..., "endpoint_url": ...}
    identities/<name>/ca.pem         optional: a development root (trusted as a local anchor)
    active                           the active identity's name, one line

`active` is only ever replaced whole (write a temporary file, fsync, rename), so a reader
sees the old name or the new one, never a mix; a running service notices the new name with
one stat per signing request (`marker()`). A PIN is never written here: backend.json may
name a `pin_file`, else the service's ORIGINMARK_PKCS11_PIN[_FILE] applies.

The single chain.pem + key.pem layout is one identity, always active (`FixedIdentity`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Protocol

from keys import atomic_file
from keys.backends.spec import BackendKind, KeySpec, KmsKeySpec, PemKeySpec, Pkcs11KeySpec
from keys.errors import IdentityProblem

IDENTITIES_DIRNAME = "identities"
ACTIVE_FILENAME = "active"
BACKEND_FILENAME = "backend.json"
CHAIN_FILENAME = "chain.pem"
KEY_FILENAME = "key.pem"
CA_FILENAME = "ca.pem"

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_MAX_SMALL_FILE_BYTES = 64 * 1024
_BACKEND_FIELDS = {
    BackendKind.PKCS11: {"module", "token_label", "key_label", "pin_file"},
    BackendKind.AWS_KMS: {"key_id", "region", "endpoint_url"},
    BackendKind.PEM: set(),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SigningIdentity:
    """A named credential: where its chain and key are (no secret)."""

    name: str
    spec: KeySpec
    directory: Path | None = None  # None: the single-identity layout from the settings

    @property
    def ca_path(self) -> Path | None:
        """A development root stored with the identity, if any."""
        if self.directory is None:
            return None
        path = self.directory / CA_FILENAME
        return path if path.is_file() else None


class IdentitySource(Protocol):
    """Which identity signs now; `marker()` changes whenever that may have changed (cheap to call)."""

    def marker(self) -> Hashable: ...

    def active(self) -> SigningIdentity: ...


@dataclasses.dataclass(frozen=True)
class FixedIdentity:
    """One identity, always active (ORIGINMARK_SIGNING_CHAIN/KEY or KEYS_DIR/chain.pem, any backend)."""

    identity: SigningIdentity

    def marker(self) -> Hashable:
        return None

    def active(self) -> SigningIdentity:
        return self.identity


@dataclasses.dataclass(frozen=True, kw_only=True)
class PinDefaults:
    """How a PKCS#11 identity without its own `pin_file` gets its PIN (from the service's settings)."""

    pin_file: Path | None = None
    pin_variable: str | None = None


def check_identity_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise IdentityProblem(
            f"{name!r} is not a valid identity name",
            "use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(e.g. `signer-2025`)",
        )
    return name


class IdentityDirectory:
    """The identities under one keys directory, and which one is active."""

    def __init__(self, keys_dir: Path, *, pin_defaults: PinDefaults = PinDefaults()) -> None:
        self.keys_dir = Path(keys_dir)
        self.root = self.keys_dir / IDENTITIES_DIRNAME
        self.active_file = self.keys_dir / ACTIVE_FILENAME
        self._pin_defaults = pin_defaults

    @staticmethod
    def in_use(keys_dir: Path) -> bool:
        """True when KEYS_DIR holds the identities layout (else the single chain.pem/key.pem one)."""
        return (Path(keys_dir) / IDENTITIES_DIRNAME).is_dir()

    def names(self) -> tuple[str, ...]:
        try:
            entries = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        except FileNotFoundError:
            return ()
        except OSError as error:
            raise IdentityProblem(f"cannot list {self.root} ({error.strerror})", "check its permissions") from None
        return tuple(name for name in entries if _NAME.fullmatch(name))

    def directory(self, name: str) -> Path:
        return self.root / check_identity_name(name)

    def get(self, name: str) -> SigningIdentity:
        directory = self.directory(name)
        if not directory.is_dir():
            known = ", ".join(self.names()) or "none"
            raise IdentityProblem(
                f"there is no signing identity {name!r} in {self.root} (identities: {known})",
                "create it with `originmark keys add-identity NAME ...` or `originmark keys init --identity NAME`",
            )
        return SigningIdentity(name=name, spec=self._spec(directory), directory=directory)

    def identities(self) -> tuple[SigningIdentity, ...]:
        return tuple(self.get(name) for name in self.names())

    # --- the active identity ---

    def marker(self) -> Hashable:
        """Changes whenever `active` is replaced (one stat: cheap enough for every request)."""
        try:
            status = os.stat(self.active_file)
        except OSError:
            return None
        return (status.st_ino, status.st_mtime_ns, status.st_size)

    def active_name(self) -> str | None:
        try:
            with self.active_file.open("rb") as stream:
                data = stream.read(_MAX_SMALL_FILE_BYTES)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise IdentityProblem(
                f"cannot read {self.active_file} ({error.strerror})", "check its permissions"
            ) from None
        return data.decode("utf-8", "replace").strip() or None

    def active(self) -> SigningIdentity:
        name = self.active_name()
        if name is None:
            raise IdentityProblem(
                f"no signing identity is active: {self.active_file} is missing or empty",
                "choose one with `originmark keys rotate --to NAME` (`originmark keys list` shows them)",
            )
        return self.get(name)

    def activate(self, name: str) -> None:
        """Make `name` the active identity: `active` is replaced atomically (never half-written)."""
        self.get(name)  # exists and is well-formed
        write_atomically(self.active_file, f"{name}\n".encode(), mode=0o644)

    # --- creating ---

    def create_directory(self, name: str) -> Path:
        """A new, empty identity directory (mode 0700); refuses an existing one."""
        directory = self.directory(name)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            raise IdentityProblem(
                f"the signing identity {name!r} already exists ({directory})",
                "choose another name; identities are never overwritten (remove the folder by hand if it is unused)",
            ) from None
        return directory

    def write_backend(self, directory: Path, spec: KeySpec) -> None:
        """backend.json for a key kept in a token or KMS (a PEM identity has key.pem instead)."""
        if isinstance(spec, Pkcs11KeySpec):
            data = {
                "backend": spec.kind.value,
                "module": str(spec.module),
                "token_label": spec.token_label,
                "key_label": spec.key_label,
            }
            if spec.pin_file is not None:
                data["pin_file"] = str(spec.pin_file)
        elif isinstance(spec, KmsKeySpec):
            data = {"backend": spec.kind.value, "key_id": spec.key_id}
            data.update({k: v for k, v in (("region", spec.region), ("endpoint_url", spec.endpoint_url)) if v})
        else:
            raise ValueError("a PEM identity has key.pem, not backend.json")
        write_atomically(directory / BACKEND_FILENAME, (json.dumps(data, indent=2) + "\n").encode(), mode=0o644)

    # --- reading one identity ---

    def _spec(self, directory: Path) -> KeySpec:
        chain_path = directory / CHAIN_FILENAME
        backend_path = directory / BACKEND_FILENAME
        if not backend_path.exists():
            return PemKeySpec(chain_path=chain_path, key_path=directory / KEY_FILENAME)
        data = _read_backend_file(backend_path)
        try:
            kind = BackendKind(data.get("backend"))
        except ValueError:
            raise IdentityProblem(
                f"{backend_path} names an unknown backend {data.get('backend')!r}",
                f"use one of: {', '.join(kind.value for kind in BackendKind)}",
            ) from None
        unknown = set(data) - _BACKEND_FIELDS[kind] - {"backend"}
        if unknown:
            hint = " (a PIN is never stored here: use pin_file)" if {"pin", "user_pin"} & unknown else ""
            raise IdentityProblem(
                f"{backend_path} has fields {', '.join(sorted(unknown))} that a {kind.value} backend does not take{hint}",
                f"keep only: backend, {', '.join(sorted(_BACKEND_FIELDS[kind])) or '(nothing else)'}",
            )
        if kind is BackendKind.PEM:
            return PemKeySpec(chain_path=chain_path, key_path=directory / KEY_FILENAME)
        if kind is BackendKind.PKCS11:
            missing = sorted({"module", "token_label", "key_label"} - set(data))
            _refuse_missing(backend_path, missing)
            pin_file = data.get("pin_file")
            return Pkcs11KeySpec(
                chain_path=chain_path,
                module=Path(_text(data, "module", backend_path)),
                token_label=_text(data, "token_label", backend_path),
                key_label=_text(data, "key_label", backend_path),
                pin_file=Path(_text(data, "pin_file", backend_path))
                if pin_file is not None
                else self._pin_defaults.pin_file,
                pin_variable=None if pin_file is not None else self._pin_defaults.pin_variable,
            )
        _refuse_missing(backend_path, sorted({"key_id"} - set(data)))
        return KmsKeySpec(
            chain_path=chain_path,
            key_id=_text(data, "key_id", backend_path),
            region=_text(data, "region", backend_path) if data.get("region") is not None else None,
            endpoint_url=_text(data, "endpoint_url", backend_path) if data.get("endpoint_url") is not None else None,
        )


def _read_backend_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as stream:
            raw = stream.read(_MAX_SMALL_FILE_BYTES + 1)
        data = json.loads(raw)
    except OSError as error:
        raise IdentityProblem(f"cannot read {path} ({error.strerror})", "check its permissions") from None
    except ValueError:
        raise IdentityProblem(
            f"{path} is not valid JSON", "fix the file (`python -m json.tool FILE` shows where)"
        ) from None
    if len(raw) > _MAX_SMALL_FILE_BYTES or not isinstance(data, dict):
        raise IdentityProblem(
            f"{path} is not a JSON object of backend settings", 'write e.g. {"backend": "pkcs11", ...}'
        )
    return data


def _refuse_missing(path: Path, missing: list[str]) -> None:
    if missing:
        raise IdentityProblem(f"{path} lacks {', '.join(missing)}", f"add {', '.join(missing)} to it")


def _text(data: dict[str, object], field: str, path: Path) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise IdentityProblem(f"{path}: {field} must be a non-empty string", f"fix {field} in {path}")
    return value


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace `path` with `data` in one rename: readers see the old file or the new one, never a mix."""
    try:
        atomic_file.write_atomically(path, data, mode=mode)
    except atomic_file.AtomicWriteFailed as failed:
        raise IdentityProblem(
            f"cannot write {path} ({failed.cause.strerror or failed.cause})",
            "check the folder's permissions and free space",
        ) from None
