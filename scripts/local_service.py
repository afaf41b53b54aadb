"""`originmark serve` as a child process on loopback: the command line and a free port for it.

One place for what the tests' live servers (tests/faults/service.py, tests/support.py), the HTTP
benchmarks (bench/http_harness.py) and scripts/screenshots.py all start the same way. Not under
tests/, so that bench/ and scripts/ may import it; it imports nothing of theirs (no circles).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

# The `originmark` script of the virtualenv running this Python (the checkout's editable install).
ORIGINMARK = Path(sys.executable).with_name("originmark")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a server started next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(port: int, *, workers: int = 1) -> list[str]:
    """`originmark serve` on 127.0.0.1:`port` with `workers` uvicorn processes (loopback only)."""
    return [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
