"""The one place that maps originmark's domain errors to CLI exit codes and user messages.

Exit codes (all commands): 0 success / nothing invalid, 1 something invalid (or, for `sign`, a
file that could not be signed), 2 usage, configuration or I/O error, 70 an internal error (a bug:
an exception no domain type covers; the message names it, no traceback is shown).

Every command takes its exit codes and messages from here; how a message is laid out on the
terminal stays with the command (`verify` and `inspect` print `error: <message>`, `sign`
`Error: <message>`, `keys` a KeyProblem as its two sentences, problem then fix).

Messages are plain text and may quote file content (engine messages, paths): a caller that prints
them on a terminal passes them through `app.cli.render` first.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.objects.errors import ObjectStoreError
from keys.errors import KeyProblem
from signer.errors import SignerProbeFailed, SigningError
from verifier.errors import VerifierError
from verifier.verdict import VerdictState

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE_OR_IO = 2
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE: distinct from 1, which a CI gate reads as "invalid found"


def exit_code_for(exc: BaseException, *, starting: bool = False) -> int:
    """The exit code for a command stopped by `exc`.

    `starting`: `exc` was raised while the command built its signer, before any file was handled.
    """
    if isinstance(exc, SigningError):
        # A signer that cannot start is a configuration problem; one file that cannot be signed is not.
        return EXIT_USAGE_OR_IO if starting or isinstance(exc, SignerProbeFailed) else EXIT_INVALID
    if isinstance(exc, (KeyProblem, VerifierError, ValidationError, OSError, ObjectStoreError)):
        return EXIT_USAGE_OR_IO
    return EXIT_INTERNAL


def exit_code_for_state(state: VerdictState) -> int:
    """The exit code for one verified file: only broken credentials count as invalid."""
    return EXIT_INVALID if state is VerdictState.INVALID else EXIT_OK


def user_message(exc: BaseException, *, starting: bool = False, setting_names: bool = True) -> str:
    """One line saying what went wrong, for a user (no traceback).

    `starting`: as in `exit_code_for`; a SigningError then says the signer cannot start.
    `setting_names`: a configuration error names the setting each finding is about.
    """
    if isinstance(exc, ValidationError):
        return f"configuration: {configuration_details(exc, setting_names=setting_names)}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"{where}{exc.strerror or exc.__class__.__name__}"
    if isinstance(exc, VerifierError):
        return f"the verifier cannot run: {exc}"
    if isinstance(exc, ObjectStoreError):
        return exc.message  # a user-facing sentence naming the object, never a credential
    if isinstance(exc, SigningError) and starting:
        return f"the signer cannot start: {exc}"
    if isinstance(exc, (KeyProblem, SigningError)):
        return str(exc)  # both are written as user-facing sentences (KeyProblem carries its fix)
    return f"internal error ({exc.__class__.__name__}): {exc}"


def configuration_details(error: ValidationError, *, setting_names: bool = True) -> str:
    """What is wrong with the settings, every finding on one line, separated by "; "."""
    if not setting_names:
        return "; ".join(_finding(item) for item in error.errors())
    # A model-level check (two settings that go together) has no location: it is about the settings.
    return "; ".join(f"{'.'.join(map(str, item['loc'])) or 'settings'}: {_finding(item)}" for item in error.errors())


def _finding(item: ErrorDetails) -> str:
    # Our own checks raise ValueError with a whole sentence; pydantic's "Value error, " adds nothing to it.
    return str(item["msg"]).removeprefix("Value error, ")
