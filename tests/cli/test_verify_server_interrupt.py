"""`verify --server` stopped (Ctrl-C, or the reader went away) while the server asks it to wait:
the batch ends at once, not after the waits and sends still planned (up to 4 x 50 s)."""

from __future__ import annotations

import threading
import time

from app.cli.paths import InputFile, InputItem, InputProblem
from app.cli.remote import VerifyClient
from app.cli.verify_batch import WINDOW_PER_JOB, threaded_outcomes

from .canned_server import answering


def test_closing_the_batch_during_a_long_retry_after_returns_at_once(tmp_path):
    busy = b'{"error": {"code": "busy", "message": "busy"}}'
    seen = threading.Event()
    media = tmp_path / "a.jpg"
    media.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    # First an input whose outcome is known without the server, so the batch yields it (its
    # window full) while the files behind it wait out the server's Retry-After.
    items: list[InputItem] = [InputProblem(path=tmp_path / "gone.jpg", reason="missing")]
    items += [InputFile(path=media)] * (WINDOW_PER_JOB - 1)
    headers = {"Content-Type": "application/json", "Retry-After": "50"}
    with (
        answering(429, headers, busy, seen=seen) as url,
        VerifyClient(server_url=url, api_key="k", concurrency=1) as client,
    ):
        outcomes = threaded_outcomes(items, client=client, jobs=1)
        first = next(outcomes)
        assert first.unreadable and first.record["reason"] == "missing"
        assert seen.wait(10)  # a file was sent and answered 429: its thread now waits 50 s
        time.sleep(0.2)

        closer = threading.Thread(target=outcomes.close)  # what an interrupt does (verify_cmd's closing())
        started = time.monotonic()
        closer.start()
        closer.join(timeout=10)
        assert not closer.is_alive(), "the batch still waits for the server's Retry-After"
        assert time.monotonic() - started < 5
