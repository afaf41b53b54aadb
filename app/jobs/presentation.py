"""A job as its tenant is shown it (GET /v1/jobs/{id} and webhook events): the URIs it named, an
uploaded source by its content hash, never a path of the server's own disk.

Job rows keep the locations the workers use (a staged upload's full URI under originmark's own
objects, a local object's absolute file URI in error messages); the absolute paths go to the log
only.
"""

from __future__ import annotations

from app.jobs import staging
from app.jobs.records import JobRecord
from app.objects.access import LocationResolver
from app.objects.errors import ObjectStoreError
from app.objects.location import ObjectLocation, parse_object_uri
from app.objects.router import ObjectStores


class JobPresenter:
    def __init__(self, *, objects: ObjectStores, own_objects: ObjectLocation) -> None:
        self.resolver = LocationResolver(local=objects.local)
        self._own_objects = own_objects

    def text(self, text: str) -> str:
        return self.resolver.public_text(text)

    def source(self, job: JobRecord) -> str:
        pin = job.source_pin or {}
        if pin.get("sha256") and self._is_staged(job.source):
            return f"upload:sha256:{pin['sha256']}"
        return self.text(job.source)

    def destination(self, job: JobRecord) -> str | None:
        return None if job.destination is None else self.text(job.destination)

    def error_message(self, job: JobRecord) -> str | None:
        return None if job.error_message is None else self.text(job.error_message)

    def _is_staged(self, uri: str) -> bool:
        try:
            return staging.is_staged(self._own_objects, parse_object_uri(uri))
        except ObjectStoreError:
            return False
