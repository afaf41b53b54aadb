"""The batch behind `originmark verify`: every input's outcome, in input order, a bounded window in flight.

Two ways through a batch, one output:
- `streamed_outcomes` (local): one thread streams the files to the verifier's workers
  (`IsolatedVerifier.stream`, two jobs in flight per worker). With a `ContentRecovery`
  (--recover), a file whose verdict the recovery rule takes up goes on through the same
  stream: the rule (`ContentRecovery.steps`, app/usecases/recovery.py) asks for a
  fingerprint, then for kept stores to validate, and each ask is one more job for the
  workers; the repository lookups in between run here, in the loop's thread.
- `threaded_outcomes` (--server): `jobs` threads, each sending one file at a time to the service.

Either way at most `jobs * WINDOW_PER_JOB` inputs are between read and printed: the outcomes are
re-ordered within that window, so output is deterministic and memory does not grow with the batch.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.paths import InputFile, InputItem, InputProblem
from app.cli.remote_errors import FileNotVerified, FileRejected
from app.cli.verify_output import Record, unverified_record, verdict_record
from app.exit_codes import user_message
from verifier.errors import VerifierError
from verifier.label import label_for
from verifier.verdict import Verdict

if TYPE_CHECKING:
    from app.cli.remote import VerifyClient
    from app.usecases.recovery import ContentRecovery, Recovery, RecoveryStep, RecoverySteps
    from verifier.isolation import IsolatedVerifier, StreamReply, VerifyStream

WINDOW_PER_JOB = 8  # inputs in flight per job: enough to hide one slow file, small enough to stream


@dataclass(frozen=True, slots=True, kw_only=True)
class FileOutcome:
    record: Record
    # Not (fully) checked, exit 2: the path never reached the verifier (an I/O problem), the
    # service failed on it, or its recovery lookup failed.
    unreadable: bool


# A whole batch: every input's outcome, in input order.
Batch = Callable[[Iterable[InputItem]], Generator[FileOutcome, None, None]]


# --- local: the verifier's streaming pool ------------------------------------------------------


class _Slot:
    """An input's place in the output order, and its outcome once known; with recovery, its own
    verdict and the recovery steps under way meanwhile."""

    __slots__ = ("outcome", "path", "steps", "verdict")

    def __init__(self, path: Path, outcome: FileOutcome | None = None) -> None:
        self.path = path
        self.outcome = outcome
        self.verdict: Verdict | None = None
        self.steps: RecoverySteps | None = None


def streamed_outcomes(
    items: Iterable[InputItem],
    *,
    verifier: IsolatedVerifier,
    jobs: int,
    recovery: ContentRecovery | None = None,
    tenant: str | None = None,
) -> Generator[FileOutcome, None, None]:
    """Stream `items` to the verifier's workers; yield outcomes in input order, at most a window pending.

    One thread: this loop submits jobs while the workers have room and collects answers as they
    come; the workers never wait for it, each having its next job queued already. A recovery
    step (a job asked for by a file already verified) goes before the next new file, so the
    oldest files finish first. `recovery`: look up files as `tenant` sees the repository.
    """
    window_size = jobs * WINDOW_PER_JOB
    slots: deque[_Slot] = deque()
    steps_to_send: deque[tuple[_Slot, RecoveryStep]] = deque()

    def finish(slot: _Slot, verdict: Verdict, found: Recovery | None) -> None:
        label = label_for(verdict)
        if found is not None:
            verdict, label = dataclasses.replace(verdict, recovered=found.recovered), found.label
        slot.outcome = FileOutcome(record=verdict_record(slot.path, verdict, label), unreadable=False)
        slot.steps = None

    def advance(slot: _Slot, answer: object) -> None:
        """Send the answer to the slot's recovery; queue the step it asks for next, or finish it."""
        assert slot.steps is not None and slot.verdict is not None  # set when its verdict came
        try:
            steps_to_send.append((slot, slot.steps.send(answer)))
        except StopIteration as done:
            finish(slot, slot.verdict, done.value)
        except VerifierError:
            raise  # the verifier itself cannot run: stop the batch, exit 2
        except Exception as error:  # noqa: BLE001 - the repository failing on one file must not stop the batch
            # The file's own verdict stands (an `invalid` file must still count as invalid); only
            # the lookup is missing, so the file was not fully checked: exit 2, as for a file
            # the service failed on.
            slot.outcome = FileOutcome(record=_recovery_not_checked(slot.path, slot.verdict, error), unreadable=True)
            slot.steps = None

    def settle(answers: list[tuple[_Slot, StreamReply]]) -> None:
        for slot, answer in answers:
            if slot.verdict is not None:  # an answer to one of its recovery steps
                advance(slot, answer)
                continue
            assert isinstance(answer, Verdict)  # a file's first job is its verification
            slot.verdict = answer
            if recovery is None:
                finish(slot, answer, None)
            else:
                slot.steps = recovery.steps(tenant=tenant, path=slot.path, verdict=answer)
                advance(slot, None)

    def send_steps(stream: VerifyStream[_Slot]) -> None:
        while steps_to_send and stream.has_room():
            slot, step = steps_to_send.popleft()
            step.submit(stream, slot)

    def wait_some(stream: VerifyStream[_Slot]) -> None:
        send_steps(stream)
        settle(stream.wait())
        send_steps(stream)

    def next_outcome(stream: VerifyStream[_Slot]) -> FileOutcome:
        while slots[0].outcome is None:
            wait_some(stream)
        outcome = slots.popleft().outcome
        assert outcome is not None  # settled above
        return outcome

    with verifier.stream() as stream:
        try:
            for item in items:
                slot = _Slot(item.path)
                slots.append(slot)
                if isinstance(item, InputProblem):
                    slot.outcome = _unreadable(item.path, item.reason)
                elif (problem := _open_problem(item.path)) is not None:
                    slot.outcome = problem
                else:
                    send_steps(stream)
                    while not stream.has_room():
                        wait_some(stream)
                    stream.submit(slot, item.path)
                while slots and (slots[0].outcome is not None or len(slots) >= window_size):
                    yield next_outcome(stream)
            while slots:
                yield next_outcome(stream)
        finally:
            for pending in slots:  # interrupted: recovery steps under way remove their spool files now
                if pending.steps is not None:
                    pending.steps.close()


# --- remote: a thread per request in flight ----------------------------------------------------


def threaded_outcomes(
    items: Iterable[InputItem], *, client: VerifyClient, jobs: int
) -> Generator[FileOutcome, None, None]:
    """Send `items` to the service, `jobs` requests at a time; yield outcomes in input order, at most a window in flight."""
    window_size = jobs * WINDOW_PER_JOB
    in_flight: deque[Future[FileOutcome]] = deque()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="originmark-verify")
    try:
        for item in items:
            if isinstance(item, InputProblem):
                in_flight.append(_done(_unreadable(item.path, item.reason)))
            else:
                in_flight.append(pool.submit(_verify_remotely, item, client))
            while len(in_flight) >= window_size:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
    finally:
        # Finished, interrupted or the reader went away: a thread waiting out a Retry-After (up to
        # 60 s, a few times per file) stops now, and what has not started is dropped; the batch
        # does not wait for the threads (one in a request ends with it).
        client.stop()
        pool.shutdown(wait=False, cancel_futures=True)


def _verify_remotely(item: InputFile, client: VerifyClient) -> FileOutcome:
    """One file's outcome from the server; raises only ServiceUnusable (which stops the batch)."""
    try:
        answer = client.verify_file(item.path)
    except OSError as error:  # the file could not be read (before or while it was sent): exit 2
        return _unreadable(item.path, error.strerror or str(error) or error.__class__.__name__)
    except FileRejected as rejected:  # what the file is (size, media type): like an engine `error`
        return FileOutcome(record=unverified_record(item.path, reason=rejected.message), unreadable=False)
    except FileNotVerified as failure:  # the service failed on it or stayed busy: not checked, exit 2
        return FileOutcome(record=unverified_record(item.path, reason=failure.message), unreadable=True)
    return FileOutcome(record=verdict_record(item.path, answer.verdict, answer.label), unreadable=False)


# --- both -------------------------------------------------------------------------------------


def _open_problem(path: Path) -> FileOutcome | None:
    """The outcome of a file that cannot be opened (an I/O problem, exit 2, apart from media the
    engine cannot read), else None."""
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        return _unreadable(path, error.strerror or error.__class__.__name__)
    return None


def _recovery_not_checked(path: Path, verdict: Verdict, error: Exception) -> Record:
    """The file's own verdict record, its reason saying that recovery could not be looked up and why."""
    # Imported here: the store (SQLAlchemy) is loaded only by --recover, never by a plain verify or --help.
    from app.store.errors import StoreError

    why = str(error) if isinstance(error, StoreError) else user_message(error)  # StoreError: a user-facing sentence
    note = f"recovery could not be checked: {why}"
    reason = f"{verdict.reason}; {note}" if verdict.reason else note
    return verdict_record(path, dataclasses.replace(verdict, reason=reason), label_for(verdict))


def _done(outcome: FileOutcome) -> Future[FileOutcome]:
    future: Future[FileOutcome] = Future()
    future.set_result(outcome)
    return future


def _unreadable(path: Path, reason: str) -> FileOutcome:
    return FileOutcome(record=unverified_record(path, reason=reason), unreadable=True)
