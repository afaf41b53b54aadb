"""`RotatingSigner`: sign with whichever signing identity is active, switching without downtime.

Each signing identity gets its own `IsolatedSigner` pool. Every `sign_file` first asks the
identity source for its marker (one stat of KEYS_DIR/active); when it changed, a background
thread builds the new identity's pool (its workers load the key and pass the start-up probe)
while calls keep going to the old pool. Then new calls go to the new pool, and the old pool
is closed once the calls it was given have finished: no call fails because of a switch. A
new identity that cannot be loaded is logged and the old one keeps signing (`keys rotate`
checks an identity before it activates it, so this is a backstop for hand edits).

Each result carries the fingerprint of the certificate the worker actually signed with.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Hashable
from pathlib import Path

from keys.identities import IdentitySource, SigningIdentity
from signer.engine import SignerOptions, SignResult
from signer.isolation import IsolatedSigner, SignerWorkersUnavailable
from signer.manifest import GenerationRequest
from signer.probe import ProbeResult

log = logging.getLogger("originmark.signer")


@dataclasses.dataclass(eq=False)
class _Generation:
    identity: SigningIdentity
    pool: IsolatedSigner
    users: int = 0
    retired: bool = False
    closed: bool = False


class RotatingSigner:
    """The same `sign_file` as IsolatedSigner, on the active identity's pool; thread-safe."""

    def __init__(self, *, source: IdentitySource, open_pool: Callable[[SigningIdentity], IsolatedSigner]) -> None:
        self._source = source
        self._open_pool = open_pool
        self._lock = threading.Lock()
        self._marker: Hashable = source.marker()
        identity = source.active()
        self._current = _Generation(identity=identity, pool=open_pool(identity))
        self._retired: list[_Generation] = []
        self._switching: threading.Thread | None = None
        self._refused_marker: Hashable = object()  # a marker whose identity could not be loaded
        self._closed = False

    # --- what the service reads ---

    @property
    def identity(self) -> SigningIdentity:
        return self._current.identity

    @property
    def certificate_fingerprint(self) -> str:
        return self._current.pool.certificate_fingerprint

    @property
    def probe(self) -> ProbeResult:
        return self._current.pool.probe

    @property
    def options(self) -> SignerOptions:
        return self._current.pool.options

    @property
    def worker_pids(self) -> tuple[int, ...]:
        return self._current.pool.worker_pids

    def sign_file(self, *, source: Path, destination: Path, request: GenerationRequest) -> SignResult:
        self.notice_rotation()
        generation = self._acquire()
        try:
            return generation.pool.sign_file(source=source, destination=destination, request=request)
        finally:
            self._release(generation)

    def notice_rotation(self) -> threading.Thread | None:
        """Start switching when the active identity may have changed; the switching thread, if any."""
        marker = self._source.marker()
        if marker == self._marker or marker == self._refused_marker:
            return None
        with self._lock:
            if self._closed or self._switching is not None or marker == self._marker:
                return self._switching
            self._switching = threading.Thread(
                target=self._switch, args=(marker,), name="originmark-identity-switch", daemon=True
            )
            self._switching.start()
            return self._switching

    def close(self) -> None:
        """Close every pool (waits for calls in flight, as IsolatedSigner.close does). Idempotent."""
        with self._lock:
            self._closed = True
            switching = self._switching
        if switching is not None:
            switching.join()
        with self._lock:
            generations = [self._current, *self._retired]
            self._retired = []
        for generation in generations:
            generation.pool.close()

    # --- internals ---

    def _switch(self, marker: Hashable) -> None:
        try:
            to_close = self._swap_to_active(marker)
        finally:
            with self._lock:
                self._switching = None
        if to_close is not None:
            self._close_retired(to_close)

    def _swap_to_active(self, marker: Hashable) -> _Generation | None:
        """Open the active identity's pool and make it current; the old generation if it can close now."""
        old_name = self._current.identity.name
        try:
            identity = self._source.active()
            if identity == self._current.identity:
                with self._lock:
                    self._marker = marker  # the file was rewritten with the same name
                return None
            pool = self._open_pool(identity)
        except Exception as error:  # noqa: BLE001 - keep signing with the identity that works
            log.error(
                "cannot switch the signing identity (%s); still signing as %r",
                error,
                old_name,
                extra={"fields": {"identity": old_name}},
            )
            with self._lock:
                self._refused_marker = marker
            return None
        with self._lock:
            if self._closed:
                closing = _Generation(identity=identity, pool=pool)
                self._retired.append(closing)
                return closing
            old = self._current
            self._current = _Generation(identity=identity, pool=pool)
            self._marker = marker
            old.retired = True
            self._retired.append(old)
        log.info(
            "signing identity switched: %s -> %s",
            old_name,
            identity.name,
            extra={"fields": {"identity": identity.name, "previous_identity": old_name}},
        )
        with self._lock:
            return old if old.users == 0 and not old.closed else None

    def _acquire(self) -> _Generation:
        with self._lock:
            if self._closed:
                raise SignerWorkersUnavailable("this signer was closed")
            generation = self._current
            generation.users += 1
            return generation

    def _release(self, generation: _Generation) -> None:
        with self._lock:
            generation.users -= 1
            close = generation.retired and generation.users == 0 and not generation.closed
        if close:
            # Off the request's thread: stopping workers takes up to a second each.
            threading.Thread(target=self._close_retired, args=(generation,), daemon=True).start()

    def _close_retired(self, generation: _Generation) -> None:
        with self._lock:
            if generation.closed:
                return
            generation.closed = True
            if generation in self._retired:
                self._retired.remove(generation)
        generation.pool.close()
