"""`originmark rendition --server URL --output-uri URI` against a real server (SQLite: the server runs
its jobs itself, objects in its objects folder): the rendition named by `--uri` or sent as a FILE,
signed by a job into the output URI, the command waiting for it; refusals are the service's."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import c2pa
import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from app.api.main import create_app
from app.cli import cli
from app.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO
from app.store.interface import Scope
from app.store.migrate import upgrade_database
from app.store.sql import SqlStore, open_store
from signer.engine_settings import probe_verification_settings
from tests.api.helpers import jpeg_bytes, serve_in_thread, sign_form
from tests.jobs.conftest import auth, grant_object_prefixes
from tests.videos import reencode, write_scenes_video


def _run(*args: str):
    return CliRunner().invoke(cli, ["rendition", *args], env={"COLUMNS": "200", "ORIGINMARK_SERVER_URL": ""})


@pytest.fixture
def served(jobs_base_settings, jobs_worker_pools, tmp_path) -> Iterator[tuple[httpx.Client, SqlStore, Path]]:
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade_database(url)
    objects_dir = tmp_path / "objects"
    settings = jobs_base_settings.model_copy(update={"database_url": url, "objects_dir": objects_dir})
    with open_store(url) as store:
        grant_object_prefixes(store, objects_dir.as_uri() + "/")
        app = create_app(settings, store=store, worker_pools=jobs_worker_pools)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
            yield client, store, objects_dir


def _chain_of(data: bytes, mime: str, dev_credentials) -> dict:
    context = c2pa.Context.from_dict(probe_verification_settings(anchors_pem=dev_credentials.ca_path.read_text()))
    try:
        with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            return json.loads(reader.json())
    finally:
        context.close()


def test_a_rendition_by_uri_and_a_video_file_are_signed_by_jobs(served, tmp_path, dev_credentials):
    client, store, objects_dir = served
    token = store.create_key(name="platform", scopes=frozenset({Scope.SIGN, Scope.READ}))[1]
    server = ["--server", str(client.base_url), "--api-key", token]

    picture = client.post(
        "/v1/sign",
        headers=auth(token),
        files={"file": ("o.jpg", jpeg_bytes((120, 90), seed=1541), "image/jpeg")},
        data=sign_form(media_id="cli-pic"),
    )
    assert picture.status_code == 200, picture.text
    (objects_dir / "in").mkdir(parents=True)
    small = io.BytesIO()
    Image.open(io.BytesIO(picture.content)).resize((60, 45)).save(small, "JPEG")
    (objects_dir / "in" / "small.jpg").write_bytes(small.getvalue())
    by_uri = _run(
        "--uri", "in/small.jpg", "--output-uri", "out/small.jpg", "--media-id", "cli-pic-small",
        "--source-media-id", "cli-pic", "--action", "c2pa.resized.proportional", *server,
    )  # fmt: skip
    assert by_uri.exit_code == EXIT_OK, by_uri.output
    assert "cli-pic-small: AI-generated -> out/small.jpg" in by_uri.output
    report = _chain_of((objects_dir / "out" / "small.jpg").read_bytes(), "image/jpeg", dev_credentials)
    assert report["validation_state"] == "Trusted" and len(report["manifests"]) == 2

    video = write_scenes_video(tmp_path / "scenes.mp4", size=(160, 120))
    signed_video = client.post(
        "/v1/sign",
        headers=auth(token),
        files={"file": ("scenes.mp4", video.read_bytes(), "video/mp4")},
        data=sign_form(media_id="cli-video"),
    )
    assert signed_video.status_code == 200, signed_video.text
    (tmp_path / "signed.mp4").write_bytes(signed_video.content)
    transcoded = reencode(tmp_path / "signed.mp4", tmp_path / "small.mp4", size=(80, 60))
    by_file = _run(
        str(transcoded), "--output-uri", "out/small.mp4", "--media-id", "cli-video-small",
        "--source-sha256", signed_video.headers["x-content-sha256"], "--action", "c2pa.transcoded", *server,
    )  # fmt: skip
    assert by_file.exit_code == EXIT_OK, by_file.output
    report = _chain_of((objects_dir / "out" / "small.mp4").read_bytes(), "video/mp4", dev_credentials)
    assert report["validation_state"] == "Trusted" and len(report["manifests"]) == 2
    active = report["manifests"][report["active_manifest"]]
    assert active["ingredients"][0]["active_manifest"] == signed_video.headers["x-manifest-label"]
    assert store.verdict_by_media_id("default", "cli-video-small").label.kind.value == "ai_generated"


def test_refusals_and_a_job_the_key_cannot_follow(served):
    client, store, objects_dir = served
    token = store.create_key(name="platform", scopes=frozenset({Scope.SIGN, Scope.READ}))[1]
    sign_only = store.create_key(name="sign-only", scopes=frozenset({Scope.SIGN}))[1]
    original = client.post(
        "/v1/sign",
        headers=auth(token),
        files={"file": ("o.jpg", jpeg_bytes((96, 72), seed=1542), "image/jpeg")},
        data=sign_form(media_id="cli-o"),
    )
    assert original.status_code == 200, original.text
    (objects_dir / "in").mkdir(parents=True)
    (objects_dir / "in" / "r.jpg").write_bytes(jpeg_bytes((48, 36), seed=1543))
    job = ["--uri", "in/r.jpg", "--output-uri", "out/r.jpg", "--media-id", "cli-r", "--source-media-id"]

    def run(key: str, *args: str):
        return _run(*job, *args, "--server", str(client.base_url), "--api-key", key)

    edited = run(token, "cli-o", "--action", "c2pa.edited")
    assert edited.exit_code == EXIT_INVALID and "invalid_request" in edited.output, edited.output
    unknown = run(token, "cli-nothing", "--action", "c2pa.converted")
    assert unknown.exit_code == EXIT_INVALID and "original_not_found" in unknown.output, unknown.output
    unfollowed = run(sign_only, "cli-o", "--action", "c2pa.converted")
    assert unfollowed.exit_code == EXIT_USAGE_OR_IO and "read scope" in unfollowed.output, unfollowed.output
    both = _run("x.jpg", *job, "cli-o", "--action", "c2pa.converted", "--server", str(client.base_url))
    assert both.exit_code == EXIT_USAGE_OR_IO and "--uri or one FILE" in both.output, both.output
