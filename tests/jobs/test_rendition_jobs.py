"""Rendition jobs: POST /v1/jobs/rendition over real HTTP, real c2pa, a real worker. The rendition
named by an object URI (moto's S3) or sent with the request, its original signed or verified
before by the synchronous routes; the signed rendition at the destination read back by a plain c2pa
Reader (two manifests, the original as its parentOf ingredient), its verdict and label stored under
its own media id with the original's label kind. On PostgreSQL (procrastinate and `originmark
worker`'s code) and on SQLite (the server runs its jobs itself), as the renditions route is tested.

What the renditions use case refuses is refused at submit (404 original_not_found, 403
signing_policy, 422 for an action outside the closed list, 403 object_not_allowed for another
tenant's object), and what changes between submit and run fails the job with the route's codes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator

import c2pa
import httpx
import pytest
from PIL import Image

from app.api.main import create_app
from app.objects.errors import ObjectNotFound
from app.objects.location import ObjectLocation, Scheme
from app.store.interface import Scope
from app.store.migrate import upgrade_database
from app.store.sql import open_store
from signer.engine_settings import probe_verification_settings
from signer.manifest import DigitalSourceType
from signer.policy import SigningPolicy
from tests.api.helpers import forge_original_label, jpeg_bytes, serve_in_thread, sign_form
from tests.jobs.conftest import auth, grant_object_prefixes, put_object, wait_done
from tests.videos import reencode, write_scenes_video

SIGN_AND_READ = frozenset({Scope.SIGN, Scope.READ})
RESIZE = "c2pa.resized.proportional"


@pytest.fixture
def plain_reader(dev_credentials) -> Iterator:
    """An independent reader: the plain c2pa engine, the development CA as its only anchor."""
    context = c2pa.Context.from_dict(probe_verification_settings(anchors_pem=dev_credentials.ca_path.read_text()))

    def read(data: bytes, mime: str = "image/jpeg") -> dict:
        with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            return json.loads(reader.json())

    yield read
    context.close()


def _sign_original(http: httpx.Client, token: str, data: bytes, media_id: str, *, name: str, mime: str, **fields):
    response = http.post(
        "/v1/sign",
        headers=auth(token),
        files={"file": (name, data, mime)},
        data=sign_form(media_id=media_id, **fields),
    )
    assert response.status_code == 200, response.text
    return response


def _resized(data: bytes, size: tuple[int, int] = (48, 36)) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.convert("RGB").resize(size).save(out, "JPEG", quality=80)
    return out.getvalue()


def _read_object(s3, key: str) -> bytes:
    object_store, bucket = s3
    with object_store.open_read(ObjectLocation(Scheme.S3, key, bucket)) as reader:
        return reader.read()


def _assert_chain(report: dict, original_label: str, actions: list[str]) -> None:
    """Two manifests, the active one's only ingredient the original (parentOf), its actions the rendition's."""
    assert report["validation_state"] == "Trusted", report.get("validation_results")
    assert len(report["manifests"]) == 2
    active = report["manifests"][report["active_manifest"]]
    [ingredient] = active["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == original_label
    found = [a["action"] for a in active["assertions"][0]["data"]["actions"]]
    assert found == ["c2pa.opened", *actions]


def _captured_original(http: httpx.Client, store, *, seed: int, media_id: str):
    """A key that may claim a capture, and an original it signed as one (c.jpg): (key, token, answer)."""
    key, token = store.create_key(name="camera", scopes=SIGN_AND_READ, signing_policy=SigningPolicy.unrestricted())
    original = _sign_original(
        http,
        token,
        jpeg_bytes((96, 72), seed=seed),
        media_id,
        name="c.jpg",
        mime="image/jpeg",
        digital_source_type=DigitalSourceType.DIGITAL_CAPTURE.value,
    )
    return key, token, original


def _submit(http: httpx.Client, s3, token: str, *, original: str, name: str, data: bytes, action: str) -> str:
    """A rendition job of `data` (put as in/NAME) into out/NAME, media id ORIGINAL-NAME; its id (202 asserted)."""
    _object_store, bucket = s3
    body = {
        "source": put_object(s3, f"in/{name}", data),
        "destination": f"s3://{bucket}/out/{name}",
        "media_id": f"{original}-{name}",
        "source_media_id": original,
        "action": [action],
    }
    answer = http.post("/v1/jobs/rendition", json=body, headers=auth(token))
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def test_an_image_rendition_named_by_uri_is_signed_into_the_destination(http, s3, store, drain_queue, plain_reader):
    token = store.create_key(name="platform", scopes=SIGN_AND_READ)[1]
    original = _sign_original(http, token, jpeg_bytes((128, 96), seed=1501), "rj-orig", name="o.jpg", mime="image/jpeg")
    rendition = _resized(original.content)
    _object_store, bucket = s3
    body = {
        "source": put_object(s3, "renditions/small.jpg", rendition),
        "destination": f"s3://{bucket}/signed/small.jpg",
        "media_id": "rj-orig-small",
        "source_media_id": "rj-orig",
        "action": ["c2pa.resized.proportional"],
    }
    first = http.post("/v1/jobs/rendition", json=body, headers=auth(token))
    assert first.status_code == 202, first.text
    again = http.post("/v1/jobs/rendition", json=body, headers=auth(token)).json()
    assert again["job_id"] == first.json()["job_id"] and again["created"] is False  # idempotent

    drain_queue()
    done = wait_done(http, token, first.json()["job_id"])
    assert done["status"] == "succeeded", done
    assert done["kind"] == "rendition" and done["result"]["destination"] == body["destination"]
    assert done["result"]["label"]["kind"] == "ai_generated"  # the original's kind
    signed = _read_object(s3, "signed/small.jpg")
    assert hashlib.sha256(signed).hexdigest() == done["result"]["sha256"]
    _assert_chain(plain_reader(signed), original.headers["x-manifest-label"], ["c2pa.resized.proportional"])
    stored = store.verdict_by_media_id("default", "rj-orig-small")
    assert stored is not None and stored.sha256 == done["result"]["sha256"]
    assert stored.label.kind.value == "ai_generated"
    entries = [e for e in store.entries(limit=10) if e.media_id == "rj-orig-small"]
    assert len(entries) == 1 and entries[0].input_sha256 == hashlib.sha256(rendition).hexdigest()
    assert entries[0].digital_source_type is None  # a rendition declares no source type of its own


def test_a_video_rendition_of_a_signed_video_keeps_the_chain(http, s3, store, drain_queue, plain_reader, tmp_path):
    """The reason for rendition jobs: a transcoded MP4 of a signed video original."""
    token = store.create_key(name="platform", scopes=SIGN_AND_READ)[1]
    video = write_scenes_video(tmp_path / "scenes.mp4", size=(192, 144))
    original = _sign_original(http, token, video.read_bytes(), "rj-video", name="scenes.mp4", mime="video/mp4")
    signed_original = tmp_path / "signed.mp4"
    signed_original.write_bytes(original.content)
    transcoded = reencode(signed_original, tmp_path / "transcoded.mp4", size=(96, 72)).read_bytes()
    assert b"c2pa" not in transcoded  # the platform's copy carries nothing of its own
    _object_store, bucket = s3
    body = {
        "source": put_object(s3, "renditions/360p.mp4", transcoded),
        "destination": f"s3://{bucket}/signed/360p.mp4",
        "media_id": "rj-video-360p",
        "source_sha256": original.headers["x-content-sha256"],  # the original named by its bytes' hash
        "action": ["c2pa.transcoded", "c2pa.resized.proportional"],
    }
    job = http.post("/v1/jobs/rendition", json=body, headers=auth(token))
    assert job.status_code == 202, job.text

    drain_queue()
    done = wait_done(http, token, job.json()["job_id"], seconds=60)
    assert done["status"] == "succeeded", done
    signed = _read_object(s3, "signed/360p.mp4")
    _assert_chain(
        plain_reader(signed, "video/mp4"),
        original.headers["x-manifest-label"],
        ["c2pa.transcoded", "c2pa.resized.proportional"],
    )
    labels = http.get("/v1/labels?media_id=rj-video&media_id=rj-video-360p", headers=auth(token)).json()["labels"]
    assert {media_id: label["kind"] for media_id, label in labels.items()} == {
        "rj-video": "ai_generated",
        "rj-video-360p": "ai_generated",
    }


def test_what_the_renditions_use_case_refuses_is_refused_at_submit(http, s3, store):
    """Nothing is queued: another tenant's original (404, like an unknown one), another tenant's
    object (403, no storage request: tests/jobs/test_tenant_jobs.py), an action outside the closed
    list (422), a default key's rendition of a captured original (403 signing_policy)."""
    token = store.create_key(name="platform", scopes=SIGN_AND_READ)[1]
    _object_store, bucket = s3
    store.create_tenant("tenant-b", object_prefixes=[f"s3://{bucket}/b/"])
    b_token = store.create_key(name="b", scopes=SIGN_AND_READ, tenant="tenant-b")[1]
    a_original = _sign_original(http, token, jpeg_bytes((96, 72), seed=1511), "rj-a", name="a.jpg", mime="image/jpeg")
    b_original = _sign_original(http, b_token, jpeg_bytes((96, 72), seed=1512), "rj-b", name="b.jpg", mime="image/jpeg")
    a_source = put_object(s3, "a/small.jpg", _resized(a_original.content))
    b_source = put_object(s3, "b/small.jpg", _resized(b_original.content))

    def submit(key: str, **fields) -> httpx.Response:
        body = {
            "source": b_source,
            "destination": f"s3://{bucket}/b/out.jpg",
            "media_id": "rj-small",
            "source_media_id": "rj-b",
            "action": ["c2pa.resized.proportional"],
            **fields,
        }
        return http.post("/v1/jobs/rendition", json=body, headers=auth(key))

    # Tenant b names tenant a's original (a media id that exists, and its hash): as unknown.
    for named in (
        {"source_media_id": "rj-a"},
        {"source_media_id": None, "source_sha256": a_original.headers["x-content-sha256"]},
    ):
        refused = submit(b_token, **named)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "original_not_found"
    unknown = submit(b_token, source_media_id="rj-none")
    assert unknown.json()["error"]["code"] == "original_not_found"
    # Tenant b's own original, tenant a's object as the rendition or as the destination.
    for fields in ({"source": a_source}, {"destination": f"s3://{bucket}/a/out.jpg"}):
        refused = submit(b_token, **fields)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "object_not_allowed"
    # An action outside the closed list, however spelt.
    for actions in (["c2pa.edited"], ["c2pa.resized"], ["c2pa.transcoded", "c2pa.filtered"]):
        refused = submit(b_token, action=actions)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_request"
    assert submit(b_token, action=[]).status_code == 422
    # A default (AI-only) key may not show bytes as a captured original's rendition.
    camera = store.create_key(name="camera", scopes=SIGN_AND_READ, signing_policy=SigningPolicy.unrestricted())[1]
    _sign_original(
        http,
        camera,
        jpeg_bytes((96, 72), seed=1513),
        "rj-photo",
        name="p.jpg",
        mime="image/jpeg",
        digital_source_type=DigitalSourceType.DIGITAL_CAPTURE.value,
    )
    denied = submit(token, source=a_source, destination=f"s3://{bucket}/a/out.jpg", source_media_id="rj-photo")
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"]["code"] == "signing_policy"
    assert denied.json()["error"]["refused"]["rendition_label"] == "captured"
    allowed = submit(camera, source=a_source, destination=f"s3://{bucket}/a/out.jpg", source_media_id="rj-photo")
    assert allowed.status_code == 202, allowed.text
    with store.db_engine.connect() as connection:
        from app.jobs.schema import jobs

        kinds = [row.kind for row in connection.execute(jobs.select())]
    assert kinds == ["rendition"]  # only the allowed one was queued


def test_what_the_worker_refuses_fails_the_job_with_the_routes_codes(http, s3, store, drain_queue):
    """Checked before each attempt, failed for good at once (a retry would read the same), nothing
    recorded: a key's policy narrowed since submit (signing_policy), a rendition that carries
    credentials of its own (prior_credentials_conflict), a rendition that is not media (unreadable_media)."""
    key, token, original = _captured_original(http, store, seed=1521, media_id="rj-cap")
    object_store, bucket = s3

    def submit(name: str, data: bytes) -> str:
        return _submit(http, s3, token, original="rj-cap", name=name, data=data, action="c2pa.converted")

    narrowed = submit("small.jpg", _resized(original.content))
    store.set_signing_policy(key.key_id, SigningPolicy.default())  # AI claims only: no captured renditions
    drain_queue()
    failed = {"small.jpg": wait_done(http, token, narrowed)}
    assert failed["small.jpg"]["error"]["code"] == "signing_policy"

    store.set_signing_policy(key.key_id, SigningPolicy.unrestricted())
    carrying = submit("signed.jpg", original.content)  # the signed original itself
    junk = submit("junk.jpg", b"\xff\xd8\xff\xe0" + b"not a picture" * 50)
    drain_queue()
    failed |= {"signed.jpg": wait_done(http, token, carrying), "junk.jpg": wait_done(http, token, junk)}
    assert failed["signed.jpg"]["error"]["code"] == "prior_credentials_conflict"
    assert failed["junk.jpg"]["error"]["code"] == "unreadable_media"
    for name, done in failed.items():
        assert done["status"] == "failed" and done["attempts"] == 1, done
        assert store.verdict_by_media_id("default", f"rj-cap-{name}") is None
        assert [e for e in store.entries(limit=20) if e.media_id == f"rj-cap-{name}"] == []
        with pytest.raises(ObjectNotFound):
            object_store.stat(ObjectLocation(Scheme.S3, f"out/{name}", bucket))


def test_a_rendition_job_on_sqlite_is_run_by_the_server_itself(
    jobs_base_settings, jobs_worker_pools, tmp_path, dev_credentials
):
    """The embedded pool (no queue): the rendition sent with the request, written into the objects folder."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade_database(url)
    objects_dir = tmp_path / "objects"
    settings = jobs_base_settings.model_copy(update={"database_url": url, "objects_dir": objects_dir})
    context = c2pa.Context.from_dict(probe_verification_settings(anchors_pem=dev_credentials.ca_path.read_text()))
    with open_store(url) as sqlite_store:
        token = sqlite_store.create_key(name="all", scopes=SIGN_AND_READ)[1]
        grant_object_prefixes(sqlite_store, objects_dir.as_uri() + "/")
        app = create_app(settings, store=sqlite_store, worker_pools=jobs_worker_pools)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            original = _sign_original(
                client, token, jpeg_bytes((120, 90), seed=1531), "emb-orig", name="o.jpg", mime="image/jpeg"
            )
            form = {
                "destination": "signed/small.jpg",
                "media_id": "emb-small",
                "source_media_id": "emb-orig",
                "action": ["c2pa.resized.proportional", "c2pa.converted"],
            }
            files = {"file": ("small picture.jpg", _resized(original.content), "image/jpeg")}
            answer = client.post("/v1/jobs/rendition", data=form, files=files, headers=auth(token))
            assert answer.status_code == 202, answer.text
            done = wait_done(client, token, answer.json()["job_id"])
            assert done["status"] == "succeeded", done
            assert done["result"]["verdict"]["title"] == "small picture.jpg"  # the client's name, not the hash
            signed = (objects_dir / "signed" / "small.jpg").read_bytes()
            with c2pa.Reader("image/jpeg", io.BytesIO(signed), context=context) as reader:
                report = json.loads(reader.json())
            _assert_chain(report, original.headers["x-manifest-label"], ["c2pa.resized.proportional", "c2pa.converted"])
            stored = sqlite_store.verdict_by_media_id("default", "emb-small")
            assert stored is not None and stored.label.kind.value == "ai_generated"
    context.close()
    assert not list((objects_dir / "job-uploads").iterdir())


def test_the_workers_store_bound_and_label_guard_fail_the_job(
    http, s3, store, settings, jobs_worker_pools, monkeypatch
):
    """The worker applies the use case's bound on the original's store (its own configuration: a
    worker set to a smaller bound than the API's fails the job, upstream_store_too_large), and the
    label guard (a rendition whose label kind would differ: rendition_changes_label, nothing
    recorded, its output taken away from the destination). The guard is not reached with real
    data; a stored label forged to `captured` reaches it, as tests/api/test_renditions.py does."""
    import asyncio

    from app.jobs.worker import run_worker
    from app.wiring import build_job_runtime, build_object_stores
    from verifier.label_types import LabelKind

    token = store.create_key(name="camera", scopes=SIGN_AND_READ, signing_policy=SigningPolicy.unrestricted())[1]
    original = _sign_original(http, token, jpeg_bytes((96, 72), seed=1551), "rj-b", name="b.jpg", mime="image/jpeg")
    object_store, bucket = s3

    def submit(name: str) -> str:
        small = _resized(original.content, (40 + len(name), 30))
        return _submit(http, s3, token, original="rj-b", name=name, data=small, action="c2pa.resized.proportional")

    def drain(worker_settings) -> None:
        runtime = build_job_runtime(
            worker_settings, store=store, objects=build_object_stores(worker_settings), worker_pools=jobs_worker_pools
        )
        asyncio.run(run_worker(worker_settings, runtime, concurrency=1, wait=False, install_signal_handlers=False))

    bounded = submit("bound.jpg")
    drain(settings.model_copy(update={"renditions_max_upstream_store_bytes": 1024}))
    done = wait_done(http, token, bounded)
    assert done["status"] == "failed" and done["error"]["code"] == "upstream_store_too_large", done

    forged_job = submit("forged.jpg")  # submitted with the real label: accepted
    forge_original_label(monkeypatch, LabelKind.CAPTURED)
    drain(settings)
    done = wait_done(http, token, forged_job)
    assert done["status"] == "failed" and done["error"]["code"] == "rendition_changes_label", done
    for name in ("bound.jpg", "forged.jpg"):
        assert store.verdict_by_media_id("default", f"rj-b-{name}") is None
        with pytest.raises(ObjectNotFound):
            object_store.stat(ObjectLocation(Scheme.S3, f"out/{name}", bucket))


def _runtime(settings, store, worker_pools):
    from app.wiring import build_job_runtime, build_object_stores

    return build_job_runtime(settings, store=store, objects=build_object_stores(settings), worker_pools=worker_pools)


def _uploaded_then_database_gone(runtime, store, job_id: str, monkeypatch):
    """Attempt 1 of the job: its output signed and uploaded, then the record fails (the database
    went away; the attempt is retried). The output recorded on the job."""
    from app.jobs import records
    from app.jobs.tasks import run_rendition_job
    from app.usecases.renditions import Renditions

    def database_gone(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(Renditions, "record", database_gone)
        with pytest.raises(RuntimeError):
            run_rendition_job(runtime, job_id, previous_attempts=0)
    first = records.get(store.db_engine, job_id)
    assert first is not None and first.signed_output is not None
    return first.signed_output


def test_a_job_failed_for_good_after_its_upload_takes_its_output_back(
    http, s3, store, settings, jobs_worker_pools, monkeypatch
):
    """Attempt 1 signs and uploads, then the database goes away before the record. Before attempt 2
    the key's policy is narrowed: attempt 2 is refused (signing_policy) and the job fails for good.
    The rendition signed in the operator's name (a 'captured' history) must not stay at the
    destination unrecorded: the destination still holds exactly the job's recorded output, so it is
    deleted."""
    from app.jobs.tasks import run_rendition_job

    key, token, original = _captured_original(http, store, seed=9101, media_id="rw-cap")
    small = _resized(original.content)
    job_id = _submit(http, s3, token, original="rw-cap", name="r.jpg", data=small, action=RESIZE)
    runtime = _runtime(settings, store, jobs_worker_pools)
    first = _uploaded_then_database_gone(runtime, store, job_id, monkeypatch)
    uploaded = hashlib.sha256(_read_object(s3, "out/r.jpg")).hexdigest()
    assert uploaded == first.output_sha256  # uploaded, not recorded: the retry would deliver it

    store.set_signing_policy(key.key_id, SigningPolicy.default())  # no captured renditions any more
    run_rendition_job(runtime, job_id, previous_attempts=1)
    done = wait_done(http, token, job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "signing_policy", done
    assert store.verdict_by_media_id("default", "rw-cap-r.jpg") is None
    object_store, bucket = s3
    with pytest.raises(ObjectNotFound):
        object_store.stat(ObjectLocation(Scheme.S3, "out/r.jpg", bucket))


def test_an_output_that_does_not_verify_is_never_uploaded(http, s3, store, settings, jobs_worker_pools, monkeypatch):
    """The output is verified before it is uploaded: one that does not verify (unsignable_media)
    fails the job at its first attempt (signing the same again makes the same), nothing uploaded."""
    from app.jobs.tasks import run_rendition_job
    from app.usecases.errors import UnsignableMedia

    token = store.create_key(name="p", scopes=SIGN_AND_READ)[1]
    original = _sign_original(http, token, jpeg_bytes((96, 72), seed=9102), "rw-ai", name="a.jpg", mime="image/jpeg")
    small = _resized(original.content)
    job_id = _submit(http, s3, token, original="rw-ai", name="u.jpg", data=small, action=RESIZE)

    def refuse(_verdict):
        raise UnsignableMedia("the output does not verify")

    monkeypatch.setattr("app.jobs.tasks.accepted_output", refuse)
    run_rendition_job(_runtime(settings, store, jobs_worker_pools), job_id, previous_attempts=0)
    done = wait_done(http, token, job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "unsignable_media", done
    assert done["attempts"] == 1
    object_store, bucket = s3
    with pytest.raises(ObjectNotFound):
        object_store.stat(ObjectLocation(Scheme.S3, "out/u.jpg", bucket))


def test_a_destination_replaced_right_after_the_upload_fails_the_job_recording_nothing(
    http, s3, store, settings, jobs_worker_pools, monkeypatch
):
    """Another writer replaces the destination just after the job's upload: the job fails at once
    (destination_changed) and records nothing (no verdict under its media id, no audit entry with
    an output hash it did not make), and the other writer's object stays where it is."""
    import app.objects.media as media
    from app.jobs.tasks import run_rendition_job

    token = store.create_key(name="p", scopes=SIGN_AND_READ)[1]
    original = _sign_original(http, token, jpeg_bytes((96, 72), seed=9103), "rw-o", name="o.jpg", mime="image/jpeg")
    other = _sign_original(http, token, jpeg_bytes((80, 60), seed=9104), "rw-x", name="x.jpg", mime="image/jpeg")
    small = _resized(original.content)
    job_id = _submit(http, s3, token, original="rw-o", name="w.jpg", data=small, action=RESIZE)
    real_upload = media.upload_file

    def upload_then_overwritten(objects, path, location):
        stored = real_upload(objects, path, location)
        put_object(s3, location.key, other.content)  # the other writer, just after the job's upload
        return stored

    monkeypatch.setattr(media, "upload_file", upload_then_overwritten)
    run_rendition_job(_runtime(settings, store, jobs_worker_pools), job_id, previous_attempts=0)
    done = wait_done(http, token, job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "destination_changed", done
    assert done["attempts"] == 1
    assert store.verdict_by_media_id("default", "rw-o-w.jpg") is None
    assert [e for e in store.entries(limit=50) if e.media_id == "rw-o-w.jpg"] == []
    assert _read_object(s3, "out/w.jpg") == other.content  # someone else's: not deleted


def test_a_retry_whose_original_changed_signs_again_from_the_new_one(
    http, s3, store, settings, jobs_worker_pools, monkeypatch, plain_reader
):
    """Attempt 1 uploads a rendition made from the original then stored under its media id, and
    fails before the record. The tenant signs a new original under that media id before attempt 2:
    the retry, which checks the new original, does not record the earlier output (its history is the
    old original's) but signs again, the new original as its parent."""
    from app.jobs.tasks import run_rendition_job

    token = store.create_key(name="p", scopes=SIGN_AND_READ)[1]
    old = _sign_original(http, token, jpeg_bytes((96, 72), seed=9111), "rw-v", name="v.jpg", mime="image/jpeg")
    job_id = _submit(
        http, s3, token, original="rw-v", name="v.jpg", data=_resized(old.content), action="c2pa.resized.proportional"
    )
    runtime = _runtime(settings, store, jobs_worker_pools)
    first = _uploaded_then_database_gone(runtime, store, job_id, monkeypatch)
    assert first.original_sha256 == hashlib.sha256(old.content).hexdigest()
    _assert_chain(
        plain_reader(_read_object(s3, "out/v.jpg")), old.headers["x-manifest-label"], ["c2pa.resized.proportional"]
    )

    new = _sign_original(http, token, jpeg_bytes((96, 72), seed=9112), "rw-v", name="v2.jpg", mime="image/jpeg")
    run_rendition_job(runtime, job_id, previous_attempts=1)
    done = wait_done(http, token, job_id)
    assert done["status"] == "succeeded", done
    delivered = _read_object(s3, "out/v.jpg")
    assert hashlib.sha256(delivered).hexdigest() == done["result"]["sha256"] != first.output_sha256
    _assert_chain(plain_reader(delivered), new.headers["x-manifest-label"], ["c2pa.resized.proportional"])
    entries = [e for e in store.entries(limit=50) if e.media_id == "rw-v-v.jpg"]
    assert [e.output_sha256 for e in entries] == [done["result"]["sha256"]]


def test_a_verifier_stopped_at_its_limit_is_retried_and_a_file_over_its_size_is_refused(
    http, s3, store, settings, jobs_worker_pools, monkeypatch
):
    """The route's rule (tests/api/test_renditions.py): the verifier stopped at its time or memory
    limit gave no answer, so the attempt is retried (verification_stopped), be it on the original's
    kept store or on the rendition; a rendition over the verifier's size limit fails the job at once
    (unreadable_media)."""
    from app.jobs import records
    from app.jobs.records import JobStatus
    from app.jobs.tasks import run_rendition_job
    from app.usecases.errors import VerifierStopped
    from tests.api.helpers import limit_verdict

    token = store.create_key(name="p", scopes=SIGN_AND_READ)[1]
    original = _sign_original(http, token, jpeg_bytes((96, 72), seed=9121), "rw-l", name="l.jpg", mime="image/jpeg")
    runtime = _runtime(settings, store, jobs_worker_pools)
    verifier_type = type(jobs_worker_pools.verifier)
    real_verify_file = verifier_type.verify_file

    def rendition_verdict(verdict):
        def verify_file(self, path, *, known_sha256=None):
            # The rendition's check is the worker's first verification; the signed output's comes after.
            calls.append(path)
            return verdict if len(calls) == 1 else real_verify_file(self, path, known_sha256=known_sha256)

        return verify_file

    stopped_store = _submit(
        http, s3, token, original="rw-l", name="k.jpg", data=_resized(original.content), action=RESIZE
    )
    stopped_file = _submit(
        http, s3, token, original="rw-l", name="s.jpg", data=_resized(original.content, (40, 30)), action=RESIZE
    )
    too_large = _submit(
        http, s3, token, original="rw-l", name="t.jpg", data=_resized(original.content, (44, 33)), action=RESIZE
    )
    for job_id, patch in (
        (stopped_store, ("verify_manifest_store", lambda self, path: limit_verdict())),
        (stopped_file, ("verify_file", rendition_verdict(limit_verdict()))),
        (too_large, ("verify_file", rendition_verdict(limit_verdict("too_large")))),
    ):
        calls: list = []
        with monkeypatch.context() as patched:
            patched.setattr(verifier_type, *patch)
            if job_id == too_large:
                run_rendition_job(runtime, job_id, previous_attempts=0)  # refused: not raised, not retried
            else:
                with pytest.raises(VerifierStopped):  # raised again for procrastinate to retry
                    run_rendition_job(runtime, job_id, previous_attempts=0)
        job = records.get(store.db_engine, job_id)
        assert job is not None
        if job_id == too_large:
            assert (job.status, job.error_code, job.attempts) == (JobStatus.FAILED, "unreadable_media", 1), job
            continue
        assert (job.status, job.error_code) == (JobStatus.QUEUED, "verification_stopped"), job
        run_rendition_job(runtime, job_id, previous_attempts=1)
        done = wait_done(http, token, job_id)
        assert done["status"] == "succeeded", done
