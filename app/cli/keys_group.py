"""`originmark keys`: the group as the CLI runs it, with every subcommand registered.

keys_cmd.py defines the group and its credential commands; keys_identity_cmd.py adds the identity
commands (add-identity, list, rotate) to it and uses keys_cmd's helpers. Assembled here, so that
neither module imports the other in a circle.
"""

from __future__ import annotations

from app.cli import keys_identity_cmd  # registers add-identity, list and rotate on keys_app
from app.cli.keys_cmd import keys_app

__all__ = ["keys_app", "keys_identity_cmd"]
