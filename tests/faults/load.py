"""A mixed load (sign, verify, label reads) from client threads, and what it was promised.

Every 200 the service gives is a promise: a signed output's verdict is stored under its
X-Content-SHA256 and X-Media-Id, a verify answer's verdict under its media id. `MixedLoad`
keeps those promises as `Ack`s (and every status it saw, with its time), so a test can check
afterwards — after a crash, a database restart, a full disk — that none was broken.

Label reads during the load check read-your-writes too: an id acknowledged before the read
was sent must come back with a label.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select

from app.codec import label_to_json, verdict_to_json
from app.store.audit import SqlAuditLog
from app.store.schema import audit_log, media, verdicts
from app.store.sql import SqlStore
from keys.audit_key import AuditKeyring
from tests.faults.media import Sample, unsigned_jpeg

CLIENT_TIMEOUT_SECONDS = 30.0  # a request that takes longer counts as a hang (a transport error)
SIGNED_LABEL_KIND = "ai_generated"  # what the service labels its own outputs (dev CA trusted as "local")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """A 200 the service gave: this verdict is stored under this media id."""

    operation: str  # "sign" | "verify"
    media_id: str
    sha256: str
    verdict: dict | None = None  # verify answers only: the verdict and label as answered
    label: dict | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One request: when it ended, what it was, what came back."""

    operation: str  # "sign" | "verify" | "labels"
    ended: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    error_code: str | None = None  # the JSON error's code for an error status
    detail: str = ""  # the transport error, or an excerpt of an unexpected body


@dataclass(slots=True)
class LoadReport:
    outcomes: list[Outcome] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # broken promises seen during the load
    started: float = 0.0
    ended: float = 0.0

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def count(self, *, status: int | None | str = "any", operation: str | None = None) -> int:
        return sum(
            1
            for o in self.outcomes
            if (status == "any" or o.status == status) and (operation is None or o.operation == operation)
        )

    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not None and o.status >= 500]

    def transport_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is None]

    def summary(self, title: str) -> str:
        by_operation = ", ".join(
            f"{op} {self.count(operation=op)} ({self.count(operation=op, status=200)} ok)"
            for op in ("sign", "verify", "labels")
        )
        total = len(self.outcomes)
        rate = total / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{title}: {total} requests in {self.seconds:.1f} s = {rate:.1f} req/s [{by_operation}]; "
            f"5xx {len(self.server_errors())}, transport errors {len(self.transport_errors())}, "
            f"acknowledged verdicts {len(self.acks)}, violations {len(self.violations)}"
        )


class MixedLoad:
    """`clients` threads, each a closed loop of sign / verify / label reads, until stopped.

    Weights: 40 % sign (one in five a medium image), 35 % verify (half fresh unsigned JPEGs,
    half outputs signed earlier, which the store answers), 25 % label reads of 10 ids.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        small: list[Sample],
        medium: list[Sample],
        clients: int = 6,
        seed: int = 4,
    ) -> None:
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._small = small
        self._medium = medium
        self._clients = clients
        self._seed = seed
        self._run = uuid.uuid4().hex[:8]  # media ids stay unique across runs on one database
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._recent_outputs: collections.deque[tuple[str, str, bytes]] = collections.deque(maxlen=32)
        self._acked_ids: list[tuple[str, str]] = []  # (media_id, label kind) in acknowledgement order
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.report = LoadReport()

    # --- running ---

    def start(self) -> MixedLoad:
        self.report.started = time.monotonic()
        for index in range(self._clients):
            thread = threading.Thread(target=self._client, args=(index,), name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadReport:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS + 10)
            assert not thread.is_alive(), "a load client did not stop: a request hung past its timeout"
        self.report.ended = time.monotonic()
        return self.report

    def run_for(self, seconds: float) -> LoadReport:
        self.start()
        self._stop.wait(seconds)
        return self.stop()

    def wait_for_acks(self, *, signs: int, verifies: int, seconds: float) -> None:
        """Block until that many of each were acknowledged (a kill lands in a busy service), bounded."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                counts = collections.Counter(ack.operation for ack in self.report.acks)
            if counts["sign"] >= signs and counts["verify"] >= verifies:
                return
            time.sleep(0.05)
        raise AssertionError(f"the load did not get {signs} signs and {verifies} verifies in {seconds} s: {counts}")

    def _client(self, index: int) -> None:
        rng = random.Random(self._seed * 1000 + index)
        with httpx.Client(base_url=self._base_url, headers=self._headers, timeout=CLIENT_TIMEOUT_SECONDS) as http:
            while not self._stop.is_set():
                roll = rng.random()
                if roll < 0.40:
                    self._sign(http, rng)
                elif roll < 0.75:
                    self._verify(http, rng)
                else:
                    self._labels(http, rng)

    # --- the three operations ---

    def _sign(self, http: httpx.Client, rng: random.Random) -> None:
        sample = rng.choice(self._medium) if rng.random() < 0.2 else rng.choice(self._small)
        media_id = f"s-{self._run}-{next(self._numbers)}"
        response = self._send(
            "sign",
            http,
            "POST",
            "/v1/sign",
            files={"file": (sample.name, sample.data, sample.mime)},
            data={"generator": "Load Diffusion", "generator_version": "1.0", "media_id": media_id},
        )
        if response is None or response.status_code != 200:
            return
        sha256 = response.headers.get("x-content-sha256", "")
        problems = []
        if hashlib.sha256(response.content).hexdigest() != sha256:
            problems.append("X-Content-SHA256 is not the SHA-256 of the body")
        if response.headers.get("x-media-id") != media_id:
            problems.append(f"X-Media-Id {response.headers.get('x-media-id')!r} is not {media_id!r}")
        with self._lock:
            self.report.violations.extend(f"sign {media_id}: {p}" for p in problems)
            self.report.acks.append(Ack(operation="sign", media_id=media_id, sha256=sha256))
            self._acked_ids.append((media_id, SIGNED_LABEL_KIND))
            if len(response.content) < 64 * 1024:  # keep small outputs for verify requests
                self._recent_outputs.append((sample.name, sample.mime, response.content))

    def _verify(self, http: httpx.Client, rng: random.Random) -> None:
        number = next(self._numbers)
        media_id = f"v-{self._run}-{number}"
        with self._lock:
            signed = rng.choice(self._recent_outputs) if self._recent_outputs and rng.random() < 0.5 else None
        if signed is None:
            name, mime, data = "upload.jpg", "image/jpeg", unsigned_jpeg(self._seed * 1_000_003 + number)
        else:
            name, mime, data = signed
        response = self._send(
            "verify", http, "POST", "/v1/verify", files={"file": (name, data, mime)}, data={"media_id": media_id}
        )
        if response is None or response.status_code != 200:
            return
        body = response.json()
        problems = []
        if body.get("sha256") != hashlib.sha256(data).hexdigest():
            problems.append("the answered sha256 is not that of the upload")
        if body.get("media_id") != media_id:
            problems.append(f"the answered media_id {body.get('media_id')!r} is not {media_id!r}")
        with self._lock:
            self.report.violations.extend(f"verify {media_id}: {p}" for p in problems)
            self.report.acks.append(
                Ack(
                    operation="verify",
                    media_id=media_id,
                    sha256=body["sha256"],
                    verdict=body["verdict"],
                    label=body["label"],
                )
            )
            self._acked_ids.append((media_id, body["label"]["kind"]))

    def _labels(self, http: httpx.Client, rng: random.Random) -> None:
        with self._lock:
            known = rng.sample(self._acked_ids, min(9, len(self._acked_ids)))
        unknown = f"never-{self._run}-{next(self._numbers)}"
        ids = [media_id for media_id, _kind in known] + [unknown]
        response = self._send("labels", http, "GET", "/v1/labels", params=[("media_id", i) for i in ids])
        if response is None or response.status_code != 200:
            return
        labels = response.json()["labels"]
        problems = [
            f"label read of acknowledged {media_id} gave {labels.get(media_id)!r}, expected kind {kind}"
            for media_id, kind in known
            if (labels.get(media_id) or {}).get("kind") != kind
        ]
        if labels.get(unknown) is not None:
            problems.append(f"an id never stored ({unknown}) has a label")
        if problems:
            with self._lock:
                self.report.violations.extend(problems)

    def _send(self, operation: str, http: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = http.request(method, path, **kwargs)
        except httpx.HTTPError as error:  # refused, reset, a body cut short, a timeout
            self._record(
                Outcome(
                    operation=operation,
                    ended=time.monotonic(),
                    seconds=time.monotonic() - started,
                    status=None,
                    detail=f"{type(error).__name__}: {error}"[:300],
                )
            )
            self._stop.wait(0.05)  # a server that is gone is not hammered in a tight loop
            return None
        error_code, detail = None, ""
        if response.status_code >= 400:
            error_code, detail = _error_code(response)
        self._record(
            Outcome(
                operation=operation,
                ended=time.monotonic(),
                seconds=time.monotonic() - started,
                status=response.status_code,
                error_code=error_code,
                detail=detail,
            )
        )
        return response

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.report.outcomes.append(outcome)


def _error_code(response: httpx.Response) -> tuple[str | None, str]:
    """The JSON error's code, or None with an excerpt when the body is not the JSON error shape."""
    try:
        return str(response.json()["error"]["code"]), ""
    except (ValueError, KeyError, TypeError):
        return None, response.text[:300]


# --- after the load: were the promises kept? ---


def broken_promises(store: SqlStore, acks: list[Ack]) -> list[str]:
    """Every acknowledged verdict, read back through the store API: present, under the right id, same content."""
    problems: list[str] = []
    with store.db_engine.connect() as connection:
        audited = {
            (row.output_sha256, row.media_id)
            for row in connection.execute(select(audit_log.c.output_sha256, audit_log.c.media_id))
        }
    for ack in acks:
        stored = store.verdict_by_media_id("default", ack.media_id)
        if stored is None:
            problems.append(f"{ack.operation} {ack.media_id}: acknowledged, but no verdict is stored under it")
            continue
        if stored.sha256 != ack.sha256:
            problems.append(
                f"{ack.operation} {ack.media_id}: stored sha256 {stored.sha256} != acknowledged {ack.sha256}"
            )
        if store.verdict_by_sha256("default", ack.sha256) is None:
            problems.append(f"{ack.operation} {ack.media_id}: nothing stored under sha256 {ack.sha256}")
        if ack.operation == "sign":
            if stored.verdict.state.value not in ("trusted", "valid"):
                problems.append(
                    f"sign {ack.media_id}: the stored verdict of the output is {stored.verdict.state.value}"
                )
            if stored.label.kind.value != SIGNED_LABEL_KIND:
                problems.append(f"sign {ack.media_id}: stored label {stored.label.kind.value}")
            if (ack.sha256, ack.media_id) not in audited:
                problems.append(f"sign {ack.media_id}: no audit log entry for output {ack.sha256}")
        else:
            if json.loads(verdict_to_json(stored.verdict)) != ack.verdict:
                problems.append(f"verify {ack.media_id}: the stored verdict differs from the one answered")
            if json.loads(label_to_json(stored.label)) != ack.label:
                problems.append(f"verify {ack.media_id}: the stored label differs from the one answered")
    return problems


def inconsistencies(store: SqlStore, audit_keys: AuditKeyring) -> list[str]:
    """Rows that point at nothing: audit entries without their output's verdict, media without a verdict,
    label copies that differ from their verdict's label; and a broken audit hash chain or MAC
    (`audit_keys`: the server's, see tests.faults.service.audit_keys_of)."""
    problems: list[str] = []
    chain = SqlAuditLog(db_engine=store.db_engine, keys=audit_keys).verify_chain()
    if not chain.intact:
        problems.append(f"the audit log's hash chain is broken: {chain.broken}")
    with store.db_engine.connect() as connection:
        known = set(connection.execute(select(verdicts.c.sha256)).scalars())
        labels = dict(connection.execute(select(verdicts.c.sha256, verdicts.c.label_json)).all())
        for row in connection.execute(select(audit_log.c.id, audit_log.c.output_sha256)):
            if row.output_sha256 not in known:
                problems.append(f"audit entry {row.id}: no verdict for its output {row.output_sha256}")
        for media_row in connection.execute(select(media.c.media_id, media.c.sha256, media.c.label_json)):
            if media_row.sha256 not in known:
                problems.append(f"media {media_row.media_id}: points at a missing verdict {media_row.sha256}")
            elif media_row.label_json != labels[media_row.sha256]:
                problems.append(f"media {media_row.media_id}: its label copy differs from its verdict's label")
    return problems
