"""A job as its tenant is shown it (GET /v1/jobs/{id} and webhook events): the URIs it named, an
uploaded source by its content hash, never a path of the server's own disk.

Job rows keep the locations the workers use (a staged upload's full URI under originmark's own
objects, a local object's absolute file URI in error messages); the absolute paths go to the log
only.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from app.jobs import staging
from app.jobs.records import JobRecord
from app.objects.access import LocationResolver
from app.objects.errors import ObjectStoreError
from app.objects.location import ObjectLocation, parse_object_uri
from app.objects.router import ObjectStores

# A staged upload's location, in any spelling (absolute, relative, s3://own/...): "the uploaded file".
_STAGED = re.compile(r"[^\s'\"]*" + re.escape(staging.UPLOAD_FOLDER) + r"[0-9a-f]{64}")


class JobPresenter:
    def __init__(
        self, *, objects: ObjectStores, own_objects: ObjectLocation, private_folders: Iterable[Path | None] = ()
    ) -> None:
        self.resolver = LocationResolver(local=objects.local)
        self._own_objects = own_objects
        # The spool and temp folders appear in disk-full and I/O messages: shown as [server].
        folders = {str(Path(folder).absolute()) for folder in (*private_folders, tempfile.gettempdir()) if folder}
        # As a whole path only (its file:// URI, or the path not inside a longer name or key).
        self._private = [
            re.compile(rf"(?:file://|(?<![\w./-])){re.escape(folder)}(?=/|\b|$)")
            for folder in sorted(folders, key=len, reverse=True)
        ]

    def text(self, text: str) -> str:
        text = _STAGED.sub("the uploaded file", self.resolver.public_text(text))
        for folder in self._private:
            text = folder.sub("[server]", text)
        return text

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
