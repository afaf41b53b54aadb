"""Verifier workers started before their configuration is known, to be adopted by an IsolatedVerifier.

A command that verifies one file (the CLI's `verify`, `inspect`) spends most of its start-up in
two sequential steps: reading its own settings and wiring, and starting a worker process that
imports the engine. Launched first, the worker imports the engine while the command reads its
settings. Deliberately light: only the domain-free process machinery is imported here, so the
launch happens before the engine, the settings or the verifier are imported in this process.
"""

from __future__ import annotations

from verifier.process_pool import Launched, launch

# The worker's entry module (where `_worker_entry` lives); verifier/isolation.py checks it on adoption.
_VERIFIER_WORKER_MODULE = "verifier.isolation"


def launch_verifier_workers(count: int) -> list[Launched]:
    """Start `count` verifier worker processes now; pass them to IsolatedVerifier(launched=...),
    or `discard()` each one that is not adopted."""
    return [launch(_VERIFIER_WORKER_MODULE) for _ in range(count)]
