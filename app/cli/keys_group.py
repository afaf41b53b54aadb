"""`originmark keys`: the group as the CLI runs it, with every subcommand registered.

keys_shared.py defines the group and what its commands share; keys_cmd.py (init, check, show) and
keys_identity_cmd.py (add-identity, list, rotate) register on it. Importing both here is what
registers them.
"""

from __future__ import annotations

from app.cli import keys_cmd, keys_identity_cmd  # register their commands on keys_app
from app.cli.keys_shared import keys_app

__all__ = ["keys_app", "keys_cmd", "keys_identity_cmd"]
