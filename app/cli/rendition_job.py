"""The HTTP client behind `originmark rendition --output-uri URI`: one rendition signed by a job.

POST /v1/jobs/rendition names the rendition by an object URI (`--uri`, JSON) or sends the file with
the request (multipart, streamed from the open file: a transcoded video need not fit in memory),
then GET /v1/jobs/{id} until the job is final or `wait_seconds` have passed, polling at a pace that
grows from half a second to five. Submitting is idempotent on the service (the same request is
the same job), so running the command again after a timeout follows the same job.

The key needs the `sign` scope to submit and the `read` scope to follow the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.cli.remote import DEFAULT_TIMEOUT

JOB_PATH = "/v1/jobs/rendition"
_FIRST_POLL_SECONDS = 0.5
_MAX_POLL_SECONDS = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RenditionJob:
    """What the command asks for: one rendition, either `source_uri` or `file`."""

    media_id: str
    output_uri: str
    actions: tuple[str, ...]
    source_uri: str | None = None
    file: Path | None = None
    source_media_id: str | None = None
    source_sha256: str | None = None
    allow_no_upstream: bool = False

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "destination": self.output_uri,
            "media_id": self.media_id,
            "action": list(self.actions),
        }
        if self.source_media_id is not None:
            fields["source_media_id"] = self.source_media_id
        if self.source_sha256 is not None:
            fields["source_sha256"] = self.source_sha256
        if self.allow_no_upstream:
            fields["allow_no_upstream"] = True
        return fields


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutcome:
    """The job's last answer: final (`succeeded` / `failed`) unless the wait ran out."""

    job_id: str
    status: str
    label_text: str | None = None
    destination: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def final(self) -> bool:
        return self.status in ("succeeded", "failed")


class SubmitRefused(Exception):
    """The service refused the job at submit (its 4xx/5xx answer): nothing was queued."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class JobNotFollowed(Exception):
    """The job was queued but cannot be followed (its GET refused, an answer that is not the service's)."""


def run_job(
    url: httpx.URL,
    key: str,
    job: RenditionJob,
    *,
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> JobOutcome:
    """Submit `job` and follow it; SubmitRefused, JobNotFollowed, httpx.TransportError, OSError (the file)."""
    base = str(url).rstrip("/")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False, headers=headers) as client:
        if job.file is None:
            response = client.post(base + JOB_PATH, json={**job.fields(), "source": job.source_uri})
        else:
            form = {name: "true" if value is True else value for name, value in job.fields().items()}
            with job.file.open("rb") as stream:
                response = client.post(base + JOB_PATH, data=form, files={"file": (job.file.name, stream)})
        if response.status_code != 202:
            raise SubmitRefused(response)
        job_id = _job_id(response)
        deadline = time.monotonic() + wait_seconds
        pause = _FIRST_POLL_SECONDS
        while True:
            outcome = _outcome(client.get(f"{base}/v1/jobs/{job_id}"), job_id)
            if outcome.final or time.monotonic() >= deadline:
                return outcome
            sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, _MAX_POLL_SECONDS)


def _job_id(response: httpx.Response) -> str:
    try:
        job_id = response.json().get("job_id")
    except (ValueError, AttributeError):
        job_id = None
    if not isinstance(job_id, str) or not job_id:
        raise JobNotFollowed("the service answered 202 without a job id")
    return job_id


def _outcome(response: httpx.Response, job_id: str) -> JobOutcome:
    if response.status_code == 403:
        raise JobNotFollowed(
            f"job {job_id} was queued, but this API key cannot follow it (GET /v1/jobs/{{id}} needs the read "
            "scope): give a key with the sign and read scopes"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise JobNotFollowed(f"job {job_id}: the service answered HTTP {response.status_code}, not the job")
    result, error = _member(body, "result"), _member(body, "error")
    label = _member(result, "label")
    return JobOutcome(
        job_id=job_id,
        status=body["status"],
        label_text=_text(label.get("text")),
        destination=_text(body.get("destination")),
        error_code=_text(error.get("code")),
        error_message=_text(error.get("message")),
    )


def _member(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
