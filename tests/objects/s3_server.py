"""A real S3-compatible server on loopback for the object storage tests: moto in server mode.

moto runs in a child process (`ThreadedMotoServer` on port 0, its port printed on stdout), not
in the test process: it keeps whole objects in memory while serving them, and the memory tests
measure only originmark's side. The child exits when its stdin closes, so a test process that
dies never leaves it behind. boto3 in the test process reaches it over HTTP, as it would reach
AWS, with throw-away credentials set in the environment (never a developer's real ones).

Why moto and not SeaweedFS's `weed mini`: moto 5 is already a test dependency (the KMS tests),
starts in about a second, and does what these tests need as S3 does it: multipart uploads with
S3's 5 MiB minimum part size and CRC32 part checksums, aborts, ListObjectsV2 pagination with
continuation tokens, 404/403 error codes; with INITIAL_NO_AUTH_ACTION_COUNT=0 it checks
credentials, which gives a real 403.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

AWS_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
AWS_VARIABLES_TO_CLEAR = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
REGION = "us-east-1"

_SERVER = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3Server:
    endpoint_url: str
    process: subprocess.Popen

    def options(self, **changes):
        from app.objects.s3 import S3Options

        base = {"endpoint_url": self.endpoint_url, "region": REGION, "addressing_style": "path", "max_attempts": 2}
        return S3Options(**{**base, **changes})

    def store(self, **changes):
        from app.objects.s3 import S3ObjectStore

        return S3ObjectStore(options=self.options(**changes))

    def new_bucket(self, store) -> str:
        name = f"om-{uuid.uuid4().hex[:20]}"
        store.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def aws_test_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in AWS_VARIABLES_TO_CLEAR:
            patch.delenv(name, raising=False)
        yield


@contextlib.contextmanager
def moto_s3_server(log_path: Path, *, check_credentials: bool = False) -> Iterator[S3Server]:
    """moto's server in a child process on a free loopback port, until the block ends."""
    environment = {**os.environ, **AWS_TEST_ENVIRONMENT}
    if check_credentials:
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # moto then checks signatures against its IAM
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=environment
        )
        assert process.stdin is not None and process.stdout is not None  # both are PIPEs
        stdin, stdout = process.stdin, process.stdout
        try:
            line = stdout.readline()
            if not line.strip().isdigit():
                process.kill()
                process.wait()
                raise AssertionError(f"moto's server did not start:\n{log_path.read_text()[-3000:]}")
            yield S3Server(endpoint_url=f"http://127.0.0.1:{int(line)}", process=process)
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
