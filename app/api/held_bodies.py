"""Upload bodies held in memory instead of spooled to disk, within a byte budget per server process.

Why: POST /v1/verify of bytes verified before is answered from the store with nothing but the
upload's SHA-256, taken as the body arrives. Writing such a body to the spool and deleting it
again cost more server CPU than the hash itself (ext4 write, unlink and folder removal: a third
of a stored answer's CPU for a 3 MB JPEG). So verify holds a raw body in memory: a verifier worker
reads it there (IsolatedVerifier.verify_bytes, through memory shared with the worker), and it is
written to the spool only when something reads it as a file (recovery, keeping, a thumbnail).

Bounds, so that memory stays flat whatever the clients do:
- a body is held only when its declared Content-Length (which the HTTP parser enforces: no more
  bytes than declared reach the app) is at most `per_body`, never above ORIGINMARK_MAX_UPLOAD_BYTES;
- the bodies one process holds at once never add up to more than `total`: the whole declared
  length is reserved before the first byte is read, and a body that does not fit is spooled to
  disk exactly as before (so a burst of uploads costs disk, never memory);
- a reservation ends when the body is written out or the request ends, whatever happened
  (UploadSpool gives it back on exit).
Larger media (video, multi-part masters) always take the disk path.
"""

from __future__ import annotations

import threading

HELD_BODY_MAX_BYTES = 16 * 1024**2  # one body: a large photo; anything larger is spooled
HELD_BODIES_MAX_BYTES = 64 * 1024**2  # every body one server process holds at once


class Reservation:
    """Bytes of the budget taken for one body; `release` gives them back (once, from any thread)."""

    __slots__ = ("_memory", "size")

    def __init__(self, memory: BodyMemory, size: int) -> None:
        self._memory: BodyMemory | None = memory
        self.size = size

    def release(self) -> None:
        memory, self._memory = self._memory, None
        if memory is not None:
            memory._give_back(self.size)


class BodyMemory:
    """The byte budget for upload bodies held in memory by one server process; thread-safe (a held
    body is written out, and its reservation released, in a worker thread)."""

    def __init__(self, *, per_body: int = HELD_BODY_MAX_BYTES, total: int = HELD_BODIES_MAX_BYTES) -> None:
        if per_body <= 0 or total < per_body:
            raise ValueError("a body memory budget needs 0 < per_body <= total")
        self.per_body = per_body
        self.total = total
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Bytes reserved now."""
        return self._held

    def reserve(self, size: int) -> Reservation | None:
        """`size` bytes of the budget, or None when the body must go to disk (too large, or the
        budget is taken by other requests). Never waits."""
        if size <= 0 or size > self.per_body:
            return None
        with self._lock:
            if self._held + size > self.total:
                return None
            self._held += size
        return Reservation(self, size)

    def _give_back(self, size: int) -> None:
        with self._lock:
            self._held -= size
