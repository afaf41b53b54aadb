"""`originmark sbr query|manifest` against the live test server's /sbr/v1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import c2pa
from click.testing import Result
from typer.testing import CliRunner

from app.cli import cli
from app.exit_codes import EXIT_OK, EXIT_USAGE_OR_IO

from .sbr_support import SBR, encoded, platform_copy, sign, textured_image, two_tenants


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "80", **(env or {})})


def test_query_by_content_and_by_binding_finds_the_manifest_and_fetches_it(client, store, tmp_path):
    tenants = two_tenants(store)
    signed, manifest_id = sign(client, tenants.a, encoded(textured_image(31)))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(platform_copy(signed))
    endpoint = f"{client.base_url}{SBR}"
    key = tenants.a_token

    table = _run("sbr", "query", str(copy), "--endpoint", endpoint, "--api-key", key)
    assert table.exit_code == EXIT_OK, table.output
    assert manifest_id in table.output and "score" in table.output
    assert max(len(line) for line in table.output.splitlines()) <= 80

    as_json = _run("sbr", "query", str(copy), "--endpoint", endpoint, "--api-key", key, "--json")
    (match,) = json.loads(as_json.output)["matches"]
    assert match["manifestId"] == manifest_id and match["similarityScore"] >= 92

    original = tmp_path / "signed.jpg"
    original.write_bytes(signed)
    by_binding = _run(
        "sbr", "query", str(original), "--by", "binding", "--endpoint", endpoint, "--api-key", key, "--json"
    )
    assert json.loads(by_binding.output) == {"matches": [{"manifestId": manifest_id, "similarityScore": 100}]}

    out = tmp_path / "store.c2pa"
    fetched = _run("sbr", "manifest", manifest_id, "--endpoint", endpoint, "--api-key", key, "--out", str(out))
    assert fetched.exit_code == EXIT_OK, fetched.output
    with c2pa.Reader("application/c2pa", io.BytesIO(out.read_bytes())) as reader:
        assert json.loads(reader.json())["active_manifest"] == manifest_id


def test_no_match_unknown_manifest_and_refusals(client, store, tmp_path):
    tenants = two_tenants(store)
    other = tmp_path / "other.jpg"
    other.write_bytes(encoded(textured_image(32)))
    endpoint = f"{client.base_url}{SBR}"

    nothing = _run("sbr", "query", str(other), "--endpoint", endpoint, "--api-key", tenants.a_token)
    assert nothing.exit_code == EXIT_OK and "no match for other.jpg" in nothing.output

    unknown = _run(
        "sbr",
        "manifest",
        "urn:c2pa:unknown",
        "--endpoint",
        endpoint,
        "--api-key",
        tenants.a_token,
        "--out",
        str(tmp_path / "x.c2pa"),
    )
    assert unknown.exit_code == EXIT_USAGE_OR_IO and "404 not_found" in unknown.output
    assert not (tmp_path / "x.c2pa").exists()

    no_key = _run("sbr", "query", str(other), "--endpoint", endpoint)
    assert no_key.exit_code == EXIT_USAGE_OR_IO and "--api-key" in no_key.output

    not_sbr = _run("sbr", "query", str(other), "--endpoint", f"{client.base_url}/v1", "--api-key", tenants.a_token)
    assert not_sbr.exit_code == EXIT_USAGE_OR_IO and "/sbr/v1" in not_sbr.output


def test_query_by_binding_sends_a_videos_video_code(client, store, tmp_path):
    """A video's binding is its ISCC Video-Code, computed here: a re-encoded copy (another size and
    bitrate, no metadata) finds the signed video through the service's byBinding at the distance's
    score; an unrelated video finds nothing; a file that only looks like a video is refused."""
    from tests.videos import reencode, write_scenes_video

    from .helpers import sign_form

    tenants = two_tenants(store)
    source = write_scenes_video(tmp_path / "scenes.mp4")
    signed = client.post(
        "/v1/sign", headers=tenants.a, files={"file": ("gen.mp4", source.read_bytes(), "video/mp4")}, data=sign_form()
    )
    assert signed.status_code == 200, signed.text
    manifest_id = signed.headers["x-manifest-label"]
    (tmp_path / "signed.mp4").write_bytes(signed.content)
    copy = reencode(tmp_path / "signed.mp4", tmp_path / "copy.mp4", size=(160, 120), bit_rate=120_000, gop=7)
    endpoint = f"{client.base_url}{SBR}"

    def query(path: Path) -> Result:
        return _run(
            "sbr", "query", str(path), "--by", "binding", "--endpoint", endpoint, "--api-key", tenants.b_token, "--json"
        )

    found = query(copy)
    assert found.exit_code == EXIT_OK, found.output
    (match,) = json.loads(found.output)["matches"]
    assert match["manifestId"] == manifest_id and 92 <= match["similarityScore"] < 100  # 4 bits away: 93

    unrelated = query(write_scenes_video(tmp_path / "other.mp4", seeds=(5, 6, 7, 8)))
    assert unrelated.exit_code == EXIT_OK and json.loads(unrelated.output) == {"matches": []}

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0\0\0\x18ftypmp42" + bytes(64))
    refused = query(broken)
    assert refused.exit_code == EXIT_USAGE_OR_IO and "no ISCC Video-Code" in refused.output
