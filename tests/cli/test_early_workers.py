"""The verifier worker `main()` launches before Typer parses the command line (app/cli/early_workers.py)."""

from __future__ import annotations

import pytest

from app.cli import early_workers
from app.cli.early_workers import verifier_workers, workers_launched_ahead


@pytest.mark.parametrize("args", [["verify", "a.jpg"], ["verify", "-j", "2", "dir"], ["inspect", "a.jpg"]])
def test_a_command_that_verifies_here_adopts_the_worker_launched_ahead(args):
    with workers_launched_ahead(args):
        (ahead,) = early_workers._launched_ahead
        adopted = verifier_workers(2)
        try:
            assert adopted[0] is ahead and len(adopted) == 2  # the one launched ahead, then a new one
            assert not early_workers._launched_ahead
        finally:
            for launched in adopted:
                launched.discard()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["sign", "a.jpg"],
        ["verify", "--help"],
        ["verify", "--server", "http://x", "a.jpg"],
        ["inspect", "--server=http://x", "a.jpg"],
        ["keys", "verify"],
    ],
)
def test_nothing_is_launched_for_other_command_lines(args):
    with workers_launched_ahead(args):
        assert early_workers._launched_ahead == []


def test_a_worker_never_adopted_is_stopped_at_the_end():
    with workers_launched_ahead(["verify", "--no-such-option"]):  # Typer would refuse this line
        (ahead,) = early_workers._launched_ahead
    assert ahead.process.poll() is not None
    assert early_workers._launched_ahead == []
