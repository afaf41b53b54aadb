"""The one place that maps originmark's domain errors to CLI exit codes and user messages.

Exit codes (all commands): 0 success / nothing invalid, 1 something invalid (or, for `sign`, a
file that could not be signed), 2 usage, configuration or I/O error, 70 an internal error (a bug:
an exception no domain type covers; the message names it, no traceback is shown).

Messages are plain text and may quote file content (engine messages, paths): a caller that prints
them on a terminal passes them through `app.cli.render` first.
"""

from __future__ import annotations

from pydantic import ValidationError

from keys.errors import KeyProblem
from signer.errors import SignerProbeFailed, SigningError
from verifier.errors import VerifierError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE_OR_IO = 2
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE: distinct from 1, which a CI gate reads as "invalid found"


def exit_code_for(exc: BaseException) -> int:
    # A signer that cannot start is a configuration problem; one file that cannot be signed is not.
    if isinstance(exc, SignerProbeFailed):
        return EXIT_USAGE_OR_IO
    if isinstance(exc, SigningError):
        return EXIT_INVALID
    if isinstance(exc, (KeyProblem, VerifierError, ValidationError, OSError)):
        return EXIT_USAGE_OR_IO
    return EXIT_INTERNAL


def user_message(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        details = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'settings'}: {item['msg']}" for item in exc.errors())
        return f"configuration: {details}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"{where}{exc.strerror or exc.__class__.__name__}"
    if isinstance(exc, VerifierError):
        return f"the verifier cannot run: {exc}"
    if isinstance(exc, (KeyProblem, SigningError)):
        return str(exc)  # both are written as user-facing sentences (KeyProblem carries its fix)
    return f"internal error ({exc.__class__.__name__}): {exc}"
