"""`originmark sbr` talks to endpoints that may be anyone's: an answer's size is not trusted."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest

from app.cli.sbr_client import SbrClient, SbrQueryFailed

SENT_BYTES = 80 * 1024 * 1024  # more than any answer the client keeps (a manifest store: 64 MiB at most)


class _Flood(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a 200 of SENT_BYTES, as fast as the client reads."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(SENT_BYTES))
        self.end_headers()
        chunk = b" " * (1024 * 1024)
        try:
            for _ in range(SENT_BYTES // len(chunk)):
                self.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading: what this test wants

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def flood() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flood)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sbr/v1"
    server.shutdown()
    server.server_close()


def test_a_query_answer_over_the_bound_is_refused_unread(flood):
    with SbrClient(endpoint=httpx.URL(flood), api_key=None) as client, pytest.raises(SbrQueryFailed) as refused:
        client.by_binding(alg="io.iscc.v0", value="AAAA", max_results=10)
    assert "over 4194304 bytes" in refused.value.message


def test_a_manifest_over_the_bound_is_refused_unread(flood):
    with SbrClient(endpoint=httpx.URL(flood), api_key=None) as client, pytest.raises(SbrQueryFailed) as refused:
        client.manifest("urn:c2pa:anything", active_only=False)
    assert "over 67108864 bytes" in refused.value.message
