"""Engine work and uploads run off the event loop: label reads stay fast while they are under way."""

from __future__ import annotations

import io
import statistics
import threading
import time

import httpx
from PIL import Image

from .helpers import ApiKeys, sign_form


def _large_photo_like_jpeg() -> bytes:
    """~3 MB of noisy 2048x2048 JPEG: a few tens of ms per sign + verify on this machine."""
    size = 2048
    image = Image.merge("RGB", [Image.effect_noise((size, size), 60)] * 3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_label_reads_are_not_stalled_by_signing_and_slow_uploads(make_client, api_keys):
    client = make_client(max_upload_bytes=64 * 1024 * 1024)
    photo = _large_photo_like_jpeg()
    base_url = str(client.base_url)
    signing_done = threading.Event()
    results: list[int] = []

    def sign_many() -> None:
        with httpx.Client(base_url=base_url, timeout=60) as signer:
            for _ in range(4):
                response = signer.post(
                    "/v1/sign",
                    headers=ApiKeys.header(api_keys.sign),
                    files={"file": ("photo.jpg", photo, "image/jpeg")},
                    data=sign_form(),
                )
                results.append(response.status_code)
        signing_done.set()

    def slow_upload() -> None:
        def trickle():
            yield b'--s\r\nContent-Disposition: form-data; name="file"; filename="slow.jpg"\r\n\r\n'
            for offset in range(0, len(photo), 256 * 1024):
                yield photo[offset : offset + 256 * 1024]
                time.sleep(0.02)
            yield b"\r\n--s--\r\n"

        with httpx.Client(base_url=base_url, timeout=60) as uploader:
            response = uploader.post(
                "/v1/verify",
                headers={**ApiKeys.header(api_keys.verify), "Content-Type": "multipart/form-data; boundary=s"},
                content=trickle(),
            )
            results.append(response.status_code)

    workers = [threading.Thread(target=sign_many), threading.Thread(target=slow_upload)]
    for worker in workers:
        worker.start()
    latencies = []
    while not signing_done.is_set():
        started = time.perf_counter()
        response = client.get("/v1/labels?media_id=a&media_id=b", headers=ApiKeys.header(api_keys.read))
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
    for worker in workers:
        worker.join()

    assert results and set(results) == {200}
    assert len(latencies) >= 10  # reads kept being answered while the engine was busy
    assert statistics.median(latencies) < 0.05, latencies
    assert max(latencies) < 0.5, latencies
