"""Untrusted text, end to end: the c2pa-attacks strings (../shared/attacks) through sign -> verify -> labels.

Whoever signs a file chooses its manifest text; whoever makes a certificate chooses its
organisation. Here a real server (`originmark serve`, subprocess) signs with a certificate
whose organisation is Rich markup plus an escape sequence and a bidi override, and each
attack string goes in as `generator`, `generator_version` and `title` (over HTTP and
through `originmark sign`). Everything that comes back out is checked:

- every string in the JSON answers (verify, verdicts, labels) and in `originmark verify
  --format json` and `inspect --json` is at most `verifier.hostile_text.MAX_TEXT_CHARS`
  characters (+ the truncation mark) and holds no control character but tab and newline,
  no bidi override;
- printable strings (the SQL fragments among them) come back verbatim, and the store keeps
  working afterwards;
- the CLI table and `inspect` tree show markup literally (`[b]`, `[link=...]`) and print no
  escape sequence; CSV cells never start a spreadsheet formula;
- the server's log lines are JSON, ASCII, bounded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from app.store.interface import Scope
from app.store.sql import open_store
from signer.manifest import MAX_GENERATOR_TEXT
from tests.api.helpers import ApiKeys, free_port
from tests.security.checks import FORMULA_STARTS, MAX_STRING, UNSAFE, text_problems
from tests.support import postgres_schema, running_server
from verifier.hostile_text import clean_text

ORIGINMARK = Path(sys.executable).with_name("originmark")
# The certificate's organisation (<= 35 characters: it is also part of the certificates' common
# names, which X.509 caps at 64): Rich markup that would vanish if interpreted, then an escape
# sequence and a right-to-left override that must not reach any output.
HOSTILE_ORGANISATION = "[b]O[/][link=https://x.y]L[/]\x1b[0m\u202e"
SHOWN_ORGANISATION = "[b]O[/][link=https://x.y]L[/][0m"
# Beyond ../shared/attacks: markup, terminal sequences, spreadsheet formulas, odd Unicode.
EXTRA_ATTACKS = (
    "[bold red]BOLD[/bold red] [link=https://evil.example]click me[/link]",
    "[/] [/bold] [blink]",
    ":warning: :skull: emoji codes",
    "\x1b[31mRED\x1b[0m \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 \x1b[2J\x1b[H",
    "\x9b31m C1 CSI \x85 NEL",
    '=HYPERLINK("https://evil.example","click")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\u202egpj.exe\u202c \u2066isolate\u2069",
    "zero\u200bwidth\ufeffBOM \u2028line\u2029para",
    "\U0001f469\u200d\U0001f4bb \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334",
    "\ud7ff\ue000\uffff\U0010ffff",
    "1'; DROP TABLE verdicts; --",
    "media'); DELETE FROM api_keys; --",
)


def attack_strings(shared_dir: Path) -> list[str]:
    strings = []
    for path in sorted((shared_dir / "attacks").glob("*.attack")):
        strings += [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    return strings + list(EXTRA_ATTACKS)


@dataclass(frozen=True, slots=True)
class Signed:
    number: int
    attack: str
    media_id: str
    data: bytes


@dataclass
class Service:
    base_url: str
    token: str
    log_path: Path
    keys_dir: Path
    environment: dict[str, str]

    @property
    def headers(self) -> dict[str, str]:
        return ApiKeys.header(self.token)


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), (90, 20, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def attacks(shared_dir) -> list[str]:
    strings = attack_strings(shared_dir)
    assert len(strings) >= 40 and any(len(s) == 10_000 for s in strings)
    return strings


@pytest.fixture(scope="module")
def hostile_keys(tmp_path_factory) -> Path:
    from keys.devca import create_development_credentials

    return create_development_credentials(
        tmp_path_factory.mktemp("hostile-keys"), organisation=HOSTILE_ORGANISATION
    ).directory


@pytest.fixture(scope="module")
def service(hostile_keys, tmp_path_factory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("attack-server")
    port = free_port()
    database_url = f"sqlite:///{folder}/originmark.db"
    environment = {
        **os.environ,
        "ORIGINMARK_KEYS_DIR": str(hostile_keys),
        "ORIGINMARK_DATABASE_URL": database_url,
        "ORIGINMARK_SPOOL_DIR": str(folder),
        "ORIGINMARK_VERIFY_WORKERS": "1",
        "ORIGINMARK_SIGN_CONCURRENCY": "1",
    }
    base_url = f"http://127.0.0.1:{port}"
    command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log_path = folder / "server.log"
    with running_server(command, env=environment, log_path=log_path, base_url=base_url):
        with open_store(database_url) as store:
            token = store.create_key(name="attacks", scopes=frozenset({Scope.SIGN, Scope.VERIFY, Scope.READ}))[1]
        yield Service(base_url, token, log_path, hostile_keys, environment)


@pytest.fixture(scope="module")
def http(service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, headers=service.headers, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def signed(attacks, http) -> list[Signed]:
    """Each attack string signed over HTTP as generator, generator version and title."""
    source = _jpeg()
    made = []
    for number, attack in enumerate(attacks):
        media_id = f"attack-{number}"
        response = http.post(
            "/v1/sign",
            files={"file": ("gen.jpg", source, "image/jpeg")},
            data={"generator": attack, "generator_version": attack, "title": attack, "media_id": media_id},
        )
        if len(attack) > MAX_GENERATOR_TEXT:
            # Over-long text is refused with a short answer that does not echo it back.
            assert response.status_code == 422, response.text
            assert len(response.text) < 1000 and attack[:300] not in response.text
            continue
        assert response.status_code == 200, (attack, response.text)
        made.append(Signed(number, attack, media_id, response.content))
    assert len(made) == len(attacks) - 1  # all but the 10,000-character one
    return made


@pytest.fixture(scope="module")
def hostile_asset(hostile_keys, attacks, tmp_path_factory) -> Path:
    """A file whose manifest an attacker wrote with their own tool: every string over any limit."""
    import c2pa

    from keys.loader import load_signing_key
    from verifier.trust import default_trust_policy

    (long,) = [s for s in attacks if len(s) == 10_000]
    key = load_signing_key(chain_path=hostile_keys / "chain.pem", key_path=hostile_keys / "key.pem")
    folder = tmp_path_factory.mktemp("hostile-asset")
    source = folder / "source.jpg"
    source.write_bytes(_jpeg())
    manifest = {
        "claim_generator_info": [{"name": "\x1b[31mevil\x07" + long, "version": "[b]6[/b]\x00"}],
        "title": "\x1b]0;pwned\x07\u202e" + long,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                            "softwareAgent": "[link=https://evil.example]agent[/link]\r\n" + long,
                            "description": "=cmd|' /C calc'!A0 " + "\x08" * 50 + long,
                        }
                    ]
                },
            }
        ],
    }
    settings = {
        "trust": {"trust_config": "\n".join(default_trust_policy().extended_key_usages)},
        "verify": {"verify_after_sign": False, "remote_manifest_fetch": False},
        "builder": {"thumbnail": {"enabled": False}},
    }
    signer = c2pa.Signer.from_callback(key.sign, c2pa.C2paSigningAlg.ES256, key.chain_pem, None)
    builder = c2pa.Builder(manifest, context=c2pa.Context.from_dict(settings))
    destination = folder / "hostile.jpg"
    with open(source, "rb") as src, open(destination, "w+b") as dst:
        builder.sign(signer, "image/jpeg", src, dst)
    return destination


def _no_problems(value, what: str) -> None:
    problems = text_problems(value)
    assert not problems, f"{what}: {problems[:5]}"


def _action(verdict: dict) -> dict:
    (action,) = verdict["actions"]
    return action


# --- over HTTP -------------------------------------------------------------------------------


def test_signed_text_comes_back_bounded_clean_and_verbatim_over_http(signed, http):
    for item in signed:
        verified = http.post(
            "/v1/verify",
            params={"refresh": "true"},
            files={"file": ("signed.jpg", item.data, "image/jpeg")},
            data={"media_id": f"verify-{item.number}"},
        )
        assert verified.status_code == 200, verified.text
        stored = http.get(f"/v1/verdicts/{item.media_id}")
        assert stored.status_code == 200, stored.text
        by_hash = http.get(f"/v1/verdicts/sha256/{verified.json()['sha256']}")
        for answer in (verified, stored, by_hash):
            body = answer.json()
            _no_problems(body, f"{answer.request.url} for {item.attack!r}")
            verdict = body["verdict"]
            assert verdict["state"] == "trusted" and verdict["trust_list"] == "local"
            expected = clean_text(item.attack)
            if item.attack.isprintable():
                assert expected == item.attack  # nothing to clean: must come back exactly (SQL too)
            assert verdict["title"] == expected
            assert _action(verdict)["software_agent"] == clean_text(f"{item.attack} {item.attack}")
            assert body["label"]["issuer"] == SHOWN_ORGANISATION


def test_labels_of_every_attack_are_served_and_sql_changed_nothing(signed, http):
    ids = [item.media_id for item in signed]
    listed = http.get("/v1/labels", params={"media_id": ids})
    batched = http.post("/v1/labels:batch", json=ids)
    for answer in (listed, batched):
        assert answer.status_code == 200, answer.text
        labels = answer.json()["labels"]
        assert sorted(labels) == sorted(ids) and all(label["kind"] == "ai_generated" for label in labels.values())
        _no_problems(answer.json(), str(answer.request.url))
    # SQL in an identifier is refused by its pattern, before any query; nothing was dropped or deleted.
    for hostile_id in ("1' OR '1'='1", "x'; DROP TABLE verdicts; --"):
        refused = http.get("/v1/labels", params={"media_id": hostile_id})
        assert refused.status_code == 422, refused.text
    assert http.get("/v1/labels", params={"media_id": ids[:3]}).json()["labels"][ids[0]] is not None
    again = http.post(
        "/v1/sign",
        files={"file": ("after.jpg", _jpeg(), "image/jpeg")},
        data={"generator": "After the attacks", "media_id": "after-attacks"},
    )
    assert again.status_code == 200 and http.get("/v1/verdicts/after-attacks").status_code == 200


def test_sql_fragments_are_stored_verbatim_on_postgresql(attacks, hostile_keys, tmp_path):
    """The same round trip on PostgreSQL, for the strings that are SQL (and one that is all quotes)."""
    sql = [a for a in attacks if any(w in a for w in ("'", '"', "--", "OR", "DROP", "DELETE"))]
    assert len(sql) >= 12
    server_url = os.environ.get("ORIGINMARK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with postgres_schema(server_url, prefix="originmark_attacks") as database_url:
        environment = {
            **os.environ,
            "ORIGINMARK_KEYS_DIR": str(hostile_keys),
            "ORIGINMARK_DATABASE_URL": database_url,
            "ORIGINMARK_SPOOL_DIR": str(tmp_path),
            "ORIGINMARK_VERIFY_WORKERS": "1",
            "ORIGINMARK_SIGN_CONCURRENCY": "1",
        }
        command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        with running_server(command, env=environment, log_path=tmp_path / "server.log", base_url=base_url):
            with open_store(database_url) as store:
                token = store.create_key(name="sql", scopes=frozenset({Scope.SIGN, Scope.READ}))[1]
            with httpx.Client(base_url=base_url, headers=ApiKeys.header(token), timeout=60) as http:
                for number, attack in enumerate(sql):
                    response = http.post(
                        "/v1/sign",
                        files={"file": ("gen.jpg", _jpeg(), "image/jpeg")},
                        data={
                            "generator": attack,
                            "generator_version": attack,
                            "title": attack,
                            "media_id": f"sql-{number}",
                        },
                    )
                    assert response.status_code == 200, (attack, response.text)
                for number, attack in enumerate(sql):
                    verdict = http.get(f"/v1/verdicts/sql-{number}").json()["verdict"]
                    assert verdict["title"] == attack and _action(verdict)["software_agent"] == f"{attack} {attack}"
                labels = http.get("/v1/labels", params={"media_id": [f"sql-{n}" for n in range(len(sql))]}).json()
                assert all(label["kind"] == "ai_generated" for label in labels["labels"].values())
            with open_store(database_url) as store:  # the audit log kept each generator as sent
                assert sorted(e.generator for e in store.entries(limit=1000)) == sorted(sql)


def test_a_manifest_written_by_an_attacker_is_bounded_and_clean_over_http(hostile_asset, http, attacks):
    verified = http.post("/v1/verify", files={"file": ("hostile.jpg", hostile_asset.read_bytes(), "image/jpeg")})
    assert verified.status_code == 200, verified.text
    body = verified.json()
    _no_problems(body, "verify of the hostile asset")
    verdict = body["verdict"]
    assert len(verdict["title"]) == MAX_STRING and verdict["title"].endswith("…")  # cut, and marked
    assert verdict["title"].startswith("]0;pwnedAAAA")  # OSC and BEL and the override removed
    assert _action(verdict)["software_agent"].startswith("[link=https://evil.example]agent[/link]\nAAA")
    assert len(_action(verdict)["description"]) == MAX_STRING
    # The same file as the parent of an AI edit: its text travels into the new manifest's ingredient.
    edited = http.post(
        "/v1/sign",
        files={
            "file": ("edit.jpg", _jpeg(), "image/jpeg"),
            "parent": ("parent.jpg", hostile_asset.read_bytes(), "image/jpeg"),
        },
        data={"generator": "Editor", "media_id": "edit-of-hostile"},
    )
    assert edited.status_code == 200, edited.text
    stored = http.get("/v1/verdicts/edit-of-hostile").json()
    _no_problems(stored, "verdict of an edit of the hostile asset")
    assert any(len(m["title"] or "") == MAX_STRING for m in stored["verdict"]["manifests"])  # the parent's, cut


def test_a_hostile_upload_file_name_becomes_a_safe_title_and_header(http):
    """Without a title the file name is used: the client's file name is untrusted text as well."""
    name = '[b]x[/b] \x1b[2J\u202e"; evil=1 <script>.jpg'
    signed = http.post(
        "/v1/sign", files={"file": (name, _jpeg(), "image/jpeg")}, data={"generator": "G", "media_id": "named"}
    )
    assert signed.status_code == 200, signed.text
    disposition = signed.headers["content-disposition"]
    assert disposition.isascii() and disposition.count('"') == 2 and UNSAFE.search(disposition) is None
    stored = http.get("/v1/verdicts/named").json()
    _no_problems(stored, "verdict of a file with a hostile name")
    assert "<script>" not in stored["verdict"]["title"]


# --- the CLI ---------------------------------------------------------------------------------


def _cli(arguments: list[str], service: Service, **extra: str) -> subprocess.CompletedProcess:
    """The installed `originmark` command, as an operator runs it (no terminal: output as text)."""
    environment = {**service.environment, "COLUMNS": "300", **extra}
    return subprocess.run([str(ORIGINMARK), *arguments], env=environment, capture_output=True, text=True, timeout=120)


def _terminal_safe(output: str, what: str) -> None:
    """No control character but newline: an escape sequence in hostile text would reach the terminal."""
    unsafe = UNSAFE.search(output.replace("\t", " "))
    assert unsafe is None, (
        f"{what}: U+{ord(unsafe.group()):04X} at {output[max(unsafe.start() - 40, 0) : unsafe.start() + 10]!r}"
    )


def _json_records(stdout: str) -> list[dict]:
    """`verify --format json` records, less `path`: the operator's own file name, kept exact so a
    tool can find the file (JSON escapes its control characters; the raw output has none)."""
    assert stdout.isascii() and UNSAFE.search(stdout) is None
    records = json.loads(stdout)
    return [{key: value for key, value in record.items() if key != "path"} for record in records]


@pytest.fixture(scope="module")
def signed_folder(signed, hostile_asset, tmp_path_factory) -> Path:
    """The API-signed files and the hostile asset, some under file names that are markup."""
    folder = tmp_path_factory.mktemp("signed-by-api")
    for item in signed:
        (folder / f"{item.number:02d}.jpg").write_bytes(item.data)
    (folder / "[bold]markup-name.jpg").write_bytes(signed[0].data)
    (folder / "esc\x1b[2Jname.jpg").write_bytes(signed[0].data)
    (folder / "zz-hostile.jpg").write_bytes(hostile_asset.read_bytes())
    return folder


def test_cli_sign_takes_the_attack_strings(attacks, service, tmp_path):
    """`originmark sign --generator/--generator-version/--title` with each string (argv cannot hold NUL)."""
    from app.cli import cli

    source = tmp_path / "gen.jpg"
    source.write_bytes(_jpeg())
    runner = CliRunner()
    environment = {"ORIGINMARK_KEYS_DIR": str(service.keys_dir), "COLUMNS": "300"}
    for number, attack in enumerate(a for a in attacks if len(a) <= MAX_GENERATOR_TEXT):
        out = tmp_path / f"out-{number}"
        result = runner.invoke(
            cli,
            [
                "sign",
                str(source),
                "--generator",
                attack,
                "--generator-version",
                attack,
                "--title",
                attack,
                "--out",
                str(out),
            ],
            env=environment,
        )
        assert result.exit_code == 0, (attack, result.output)
        _terminal_safe(result.output, f"sign output for {attack!r}")
        assert (out / "gen.jpg").stat().st_size > source.stat().st_size


def test_cli_verify_table_shows_hostile_text_inert(signed_folder, service):
    result = _cli(["verify", str(signed_folder)], service)
    assert result.returncode == 0, result.stderr
    _terminal_safe(result.stdout, "verify table")
    assert SHOWN_ORGANISATION in result.stdout  # the issuer column, markup shown as written
    assert "[bold]markup-name.jpg" in result.stdout  # a file name is text too
    assert "escname.jpg" in result.stdout  # the whole escape sequence removed
    assert max(len(line) for line in result.stdout.splitlines()) <= 300
    assert "A" * 301 not in result.stdout


def test_cli_verify_json_and_csv_are_bounded_clean_and_formula_free(signed_folder, service, signed):
    result = _cli(["verify", str(signed_folder), "--format", "json", "--quiet"], service)
    assert result.returncode == 0, result.stderr
    records = _json_records(result.stdout)
    assert len(records) == len(signed) + 3
    _no_problems(records, "verify --format json")
    assert len(records[-1]["title"]) == MAX_STRING  # zz-hostile.jpg, last in name order

    result = _cli(["verify", str(signed_folder), "--format", "csv", "--quiet"], service)
    assert result.returncode == 0, result.stderr
    _terminal_safe(result.stdout.replace("\n", " "), "verify --format csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) == len(signed) + 4
    formula_cells = [cell for row in rows[1:] for cell in row if cell.startswith(FORMULA_STARTS + ("\t", "\r"))]
    assert formula_cells == []
    # The formulas among the attacks are in the file, neutralised by a leading apostrophe.
    assert any(cell.startswith("'=HYPERLINK(") for row in rows[1:] for cell in row)
    assert any(cell.startswith("'@SUM(") for row in rows[1:] for cell in row)


def test_cli_verify_through_the_server_is_as_clean(signed_folder, service, signed):
    result = _cli(
        ["verify", str(signed_folder), "--format", "json", "--quiet", "--server", service.base_url],
        service,
        ORIGINMARK_API_KEY=service.token,
    )
    assert result.returncode == 0, result.stderr
    records = _json_records(result.stdout)
    assert len(records) == len(signed) + 3
    _no_problems(records, "verify --server --format json")


def test_cli_inspect_shows_hostile_text_inert_and_bounded(signed_folder, service):
    tree = _cli(["inspect", str(signed_folder / "zz-hostile.jpg")], service)
    assert tree.returncode == 0, tree.stderr
    _terminal_safe(tree.stdout, "inspect tree")
    assert "[link=https://evil.example]agent[/link]" in tree.stdout
    assert SHOWN_ORGANISATION in tree.stdout
    assert "A" * 301 not in tree.stdout and max(len(line) for line in tree.stdout.splitlines()) <= 300

    as_json = _cli(["inspect", "--json", str(signed_folder / "zz-hostile.jpg")], service)
    assert as_json.returncode == 0, as_json.stderr
    _no_problems(json.loads(as_json.stdout), "inspect --json")

    markup = _cli(["inspect", str(signed_folder / "[bold]markup-name.jpg")], service)
    assert markup.returncode == 0, markup.stderr
    _terminal_safe(markup.stdout, "inspect tree of a markup-signed file")


# --- the server's logs -----------------------------------------------------------------------


def test_server_log_lines_are_json_ascii_and_bounded(signed, hostile_asset, http, service):
    """Last in this module: everything above went through the server and into its log."""
    # The request path is the client's text too, and is logged: a long one, and one with controls.
    assert http.get("/v1/verdicts/" + "P" * 20_000).status_code == 422
    assert http.get("/v1/verdicts/%1b%5b2J%e2%80%ae%07evil").status_code == 422
    assert http.get("/" + "Q" * 30_000).status_code == 404
    raw = service.log_path.read_bytes()
    lines = [line for line in raw.split(b"\n") if line]
    assert len(lines) > len(signed)  # one access line per request at least
    for line in lines:
        assert all(32 <= byte < 127 for byte in line), line[:200]  # ensure_ascii: controls arrive escaped
        entry = json.loads(line)
        assert not text_problems(entry), (entry.get("message"), text_problems(entry)[:3])
    assert b"A" * (MAX_STRING + 1) not in raw and b"P" * (MAX_STRING + 1) not in raw
    assert b"\\u001b" not in raw and b"\\u202e" not in raw  # removed, not merely escaped
    assert service.token.encode() not in raw
    assert re.search(rb'"level": "(error|critical)"', raw) is None, "the attacks made the server log an error"
