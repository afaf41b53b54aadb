"""Counters that bound the public verify page's uploads: in flight per process, and per client.

Both are used only on the event loop, with no await between a check and its count, so they need
no lock. `PendingGate` bounds the verifications queued behind the verifier pool; it is entered
only once an upload is complete, so slow senders cannot hold its places.
`ClientUploads` bounds what one client address holds at once, from the first byte to the answer:
with the size limit it bounds the spool a client can fill, and a client cannot open connections
without end to get round the receive deadline (app/api/receive_pace.py).
"""

from __future__ import annotations


class PendingGate:
    """Counts the page's verifications in flight, up to `limit`."""

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self.pending = 0

    def enter(self) -> bool:
        if self.pending >= self.limit:
            return False
        self.pending += 1
        return True

    def leave(self) -> None:
        self.pending -= 1


class ClientUploads:
    """Counts each client address's uploads in flight, up to `limit` each."""

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def enter(self, client: str) -> bool:
        count = self._in_flight.get(client, 0)
        if count >= self.limit:
            return False
        self._in_flight[client] = count + 1
        return True

    def leave(self, client: str) -> None:
        count = self._in_flight.pop(client) - 1
        if count:
            self._in_flight[client] = count  # an address with nothing in flight takes no memory
