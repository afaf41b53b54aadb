"""What a tenant is shown of a job: its own URIs, never a path of the server's disks."""

from __future__ import annotations

import tempfile
from pathlib import Path

from app.jobs.presentation import JobPresenter
from app.objects.local import LocalFolderStore
from app.objects.location import parse_object_uri
from app.objects.router import ObjectStores


def test_server_paths_become_the_tenants_keys_or_disappear(tmp_path):
    root = tmp_path / "objects"
    presenter = JobPresenter(
        objects=ObjectStores(local=LocalFolderStore(root=root), s3=None),
        own_objects=parse_object_uri("s3://own-bucket/originmark/"),
        private_folders=(Path("/var/spool/originmark"),),
    )
    staged = "s3://own-bucket/originmark/job-uploads/" + "ab" * 32
    temp = tempfile.gettempdir()
    shown = presenter.text(
        f"{(root / 'team' / 'a.jpg').as_uri()} does not exist; {root}/team/b.jpg too; {staged} is gone; "
        f"the spool folder /var/spool/originmark/x1 is full; cannot write {temp}/originmark-object-9; "
        "s3://bucket/tmp/key.jpg and /tmpfile stay as they are"
    )
    assert shown == (
        "team/a.jpg does not exist; team/b.jpg too; the uploaded file is gone; "
        "the spool folder [server]/x1 is full; cannot write [server]/originmark-object-9; "
        "s3://bucket/tmp/key.jpg and /tmpfile stay as they are"
    )
    assert str(root) not in shown and "/var/spool" not in shown
