"""`originmark rendition --server URL` against a real server: the signed renditions are written, one
line each; refusals are the service's."""

from __future__ import annotations

import io
import json

import c2pa
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli
from app.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO
from signer.engine_settings import probe_verification_settings

from .helpers import ApiKeys, jpeg_bytes, sign_form


def _run(*args: str):
    return CliRunner().invoke(cli, ["rendition", *args], env={"COLUMNS": "200", "ORIGINMARK_SERVER_URL": ""})


def test_renditions_are_signed_through_the_server(client, api_keys, tmp_path, dev_credentials):
    signed = client.post(
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("original.jpg", jpeg_bytes((120, 90), seed=5), "image/jpeg")},
        data=sign_form(media_id="cli-orig"),
    )
    assert signed.status_code == 200, signed.text
    paths = []
    for size in ((60, 45), (30, 22)):
        path = tmp_path / f"r{size[0]}.jpg"
        Image.open(io.BytesIO(signed.content)).resize(size).save(path, "JPEG")
        paths.append(str(path))
    out = tmp_path / "out"
    server = ["--server", str(client.base_url), "--api-key", api_keys.sign]
    result = _run(
        *paths,
        "--media-id", "cli-60",
        "--media-id", "cli-30",
        "--source-media-id", "cli-orig",
        "--action", "c2pa.resized.proportional",
        "--out", str(out),
        *server,
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    assert "cli-60: AI-generated" in result.output and "cli-30: AI-generated" in result.output
    context = c2pa.Context.from_dict(probe_verification_settings(anchors_pem=dev_credentials.ca_path.read_text()))
    for name in ("r60.jpg", "r30.jpg"):
        with (out / name).open("rb") as stream, c2pa.Reader("image/jpeg", stream, context=context) as reader:
            report = json.loads(reader.json())
        assert report["validation_state"] == "Trusted"
        assert len(report["manifests"]) == 2

    refused = _run(
        paths[0], "--media-id", "x", "--source-media-id", "cli-orig", "--action", "c2pa.edited", "-o", str(out), *server
    )
    assert refused.exit_code == EXIT_INVALID
    assert "invalid_request" in refused.output
    unpaired = _run(
        *paths,
        "--media-id",
        "x",
        "--source-media-id",
        "cli-orig",
        "--action",
        "c2pa.converted",
        "-o",
        str(out),
        *server,
    )
    assert unpaired.exit_code == EXIT_USAGE_OR_IO
