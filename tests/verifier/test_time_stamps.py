"""Time-stamps in verdicts: when a signature was stamped, by whom, and on which trust list.

What c2pa-rs 0.91.3 does, measured here (the tests below pin it):
- a validated token gives `timeStamp.validated`; its genTime is json()'s `signature_info.time`
  (absent without a token); an authority on a configured list gives `timeStamp.trusted`,
  else `timeStamp.untrusted` (informational: the credential is not invalid for it);
- the engine ignores `trust_kind`: TSA anchors also make signers trusted and signer anchors
  also make TSAs trusted, and it names the first list that matched (or none for a legacy
  `sigTst`), so originmark attributes the list itself;
- after the signing certificate expires, only a *trusted* time-stamp keeps the credential
  valid; an untrusted one does not count.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from keys.algorithms import SigningAlgorithm
from keys.certificates import (
    Issuer,
    certificate_pem,
    create_root_ca,
    create_signing_certificate,
    generate_private_key,
    make_name,
)
from keys.signing_key import SigningKey
from signer.engine import ContentSigner, SignerOptions
from signer.errors import TimeStampUnavailable
from signer.manifest import GenerationRequest
from verifier.reader import Verifier
from verifier.story import story_of, story_record
from verifier.trust import default_trust_policy
from verifier.verdict import TimeStamp, VerdictState

# Starts the signature against a silent TSA (tests/tsa/fixtures.py) now, so the engine's 30 s
# wait overlaps these tests instead of adding to the run.
pytestmark = pytest.mark.usefixtures("silent_tsa_signature")

FIREFLY_2023 = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
CACA = "public-testfiles/image/jpeg/adobe-20220124-CACA.jpg"
UTC = datetime.UTC
REQUEST = GenerationRequest(generator_name="time-stamp verdict tests")


def _jpeg(path: Path) -> Path:
    Image.new("RGB", (24, 24), (30, 120, 60)).save(path, "JPEG")
    return path


@pytest.fixture(scope="module")
def corpus_verifier() -> Verifier:
    return Verifier(policy=default_trust_policy())


@pytest.fixture(scope="module")
def stamped(signing_key, local_tsa_server, tmp_path_factory) -> tuple[Path, datetime.datetime, datetime.datetime]:
    """A JPEG signed with the session's development key and time-stamped by the local TSA."""
    folder = tmp_path_factory.mktemp("stamped")
    local_tsa_server.reset()
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions(time_stamp_url=local_tsa_server.url))
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    result = signer.sign_file(source=_jpeg(folder / "a.jpg"), destination=folder / "signed.jpg", request=REQUEST)
    after = datetime.datetime.now(UTC)
    signer.close()
    return result.destination, before, after


def test_a_2023_firefly_image_was_stamped_by_digicert_trusted_through_the_itl(corpus_verifier, shared_dir):
    verdict = corpus_verifier.verify_file(shared_dir / "corpus" / FIREFLY_2023)
    assert verdict.state is VerdictState.TRUSTED and verdict.trust_list == "itl"
    # The engine names no list for this legacy (sigTst) token: the ITL holds DigiCert's
    # time-stamping CA among its anchors, which is where originmark finds the authority.
    assert verdict.time_stamp == TimeStamp(
        time=datetime.datetime(2023, 3, 21, 0, 26, 57, tzinfo=UTC),
        authority="DigiCert Timestamp 2022 - 2",
        trusted=True,
        trust_list="itl",
    )
    assert verdict.signed_at == verdict.time_stamp.time and verdict.time_stamped is True


def test_ingredient_manifests_report_their_own_time_stamps(corpus_verifier, shared_dir):
    verdict = corpus_verifier.verify_file(shared_dir / "corpus" / CACA)
    stamps = [(m.time_stamp.time, m.time_stamp.trust_list) for m in verdict.manifests]
    assert stamps == [
        (datetime.datetime(2023, 1, 24, 14, 48, 57, tzinfo=UTC), "itl"),  # active
        (datetime.datetime(2023, 1, 24, 14, 48, 56, tzinfo=UTC), "itl"),  # its ingredient, stamped a second earlier
    ]


def test_every_corpus_time_stamp_the_engine_matched_is_on_the_itl_none_on_the_c2pa_tsa_list(
    corpus_verifier, shared_dir
):
    """The corpus predates the C2PA TSA list (2025): its tokens come from DigiCert's older TSAs."""
    index = json.loads((shared_dir / "corpus" / "index.json").read_text())["files"]
    lists: dict[str | None, int] = {}
    for entry in index:
        verdict = corpus_verifier.verify_file(shared_dir / "corpus" / entry["path"])
        for manifest in verdict.manifests:
            if manifest.time_stamp is not None:
                assert manifest.time_stamp.trusted, (entry["path"], manifest.time_stamp)
                lists[manifest.time_stamp.trust_list] = lists.get(manifest.time_stamp.trust_list, 0) + 1
        if verdict.state in (VerdictState.NONE, VerdictState.ERROR):
            assert verdict.time_stamp is None
    assert lists == {"itl": 126}  # manifests (active and ingredients) with a matched token, measured


def test_a_local_tsa_trusted_through_the_operators_anchors_is_reported_as_local_tsa(
    stamped, dev_credentials, local_tsa_server
):
    path, before, after = stamped
    policy = default_trust_policy(local_anchors_pem=dev_credentials.ca_pem, tsa_anchors_pem=local_tsa_server.ca_pem)
    verdict = Verifier(policy=policy).verify_file(path)
    assert verdict.state is VerdictState.TRUSTED and verdict.trust_list == "local"
    stamp = verdict.time_stamp
    assert stamp is not None and stamp.trusted and stamp.trust_list == "local-tsa"
    assert stamp.authority == "originmark test TSA"
    assert before <= stamp.time <= after
    assert verdict.manifests[0].time_stamp == stamp


def test_without_the_operators_anchors_the_time_stamp_is_shown_untrusted_and_the_signer_still_trusted(
    stamped, dev_credentials
):
    path, _before, _after = stamped
    verdict = Verifier(policy=default_trust_policy(local_anchors_pem=dev_credentials.ca_pem)).verify_file(path)
    assert verdict.state is VerdictState.TRUSTED  # timeStamp.untrusted is informational
    assert verdict.time_stamp is not None
    assert (verdict.time_stamp.trusted, verdict.time_stamp.trust_list) == (False, None)


def test_a_tsa_root_also_on_a_signer_list_is_attributed_to_the_tsa_list(stamped, dev_credentials, local_tsa_server):
    path, _before, _after = stamped
    policy = default_trust_policy(
        local_anchors_pem=dev_credentials.ca_pem + local_tsa_server.ca_pem, tsa_anchors_pem=local_tsa_server.ca_pem
    )
    verdict = Verifier(policy=policy).verify_file(path)
    assert verdict.time_stamp is not None and verdict.time_stamp.trust_list == "local-tsa"


def test_tsa_anchors_do_not_make_a_signer_trusted(stamped, dev_credentials, local_tsa_server):
    """The engine trusts a signer under a `tsa` list's root; originmark does not (unrecognized)."""
    path, _before, _after = stamped
    policy = default_trust_policy(tsa_anchors_pem=dev_credentials.ca_pem + local_tsa_server.ca_pem)
    verdict = Verifier(policy=policy).verify_file(path)
    assert verdict.state is VerdictState.VALID and verdict.trust_list is None
    assert verdict.reason is not None and "time-stamping authority anchors of list 'local-tsa'" in verdict.reason
    assert verdict.time_stamp is not None and verdict.time_stamp.trust_list == "local-tsa"


def test_the_story_carries_the_time_stamp(stamped, dev_credentials, local_tsa_server):
    path, _before, _after = stamped
    policy = default_trust_policy(local_anchors_pem=dev_credentials.ca_pem, tsa_anchors_pem=local_tsa_server.ca_pem)
    story = story_of(Verifier(policy=policy).verify_file(path))
    assert story.time_stamp is not None and story.chapters[0].time_stamp == story.time_stamp
    record = story_record(story)
    assert record["time_stamp"]["trust_list"] == "local-tsa"
    assert record["chapters"][0]["time_stamp"]["time"] == story.time_stamp.time.isoformat()


def _short_lived_key(lifetime: datetime.timedelta) -> tuple[SigningKey, str]:
    now = datetime.datetime.now(UTC)
    root_key = generate_private_key(SigningAlgorithm.ES256)
    root = create_root_ca(
        private_key=root_key,
        subject=make_name(common_name="short-lived test root", organisation="originmark tests"),
        not_before=now - datetime.timedelta(hours=1),
        not_after=now + datetime.timedelta(days=1),
    )
    key = generate_private_key(SigningAlgorithm.ES256)
    certificate = create_signing_certificate(
        public_key=key.public_key(),
        subject=make_name(common_name="short-lived test signer", organisation="originmark tests"),
        issuer=Issuer(certificate=root, private_key=root_key),
        not_before=now - datetime.timedelta(minutes=1),
        not_after=now + lifetime,
    )
    return SigningKey(algorithm=SigningAlgorithm.ES256, certificates=(certificate, root), private_key=key), (
        certificate_pem(root)
    )


def test_a_trusted_time_stamp_keeps_a_credential_trusted_after_its_certificate_expires(local_tsa, tmp_path):
    signing_key, root_pem = _short_lived_key(datetime.timedelta(seconds=4))
    expires = signing_key.certificates[0].not_valid_after_utc
    source = _jpeg(tmp_path / "a.jpg")
    signed = {}
    for name, url in (("stamped", local_tsa.url), ("unstamped", None)):
        signer = ContentSigner(signing_key=signing_key, options=SignerOptions(time_stamp_url=url))
        result = signer.sign_file(source=source, destination=tmp_path / f"{name}.jpg", request=REQUEST)
        signed[name] = result.destination
        signer.close()
    with_tsa = Verifier(policy=default_trust_policy(local_anchors_pem=root_pem, tsa_anchors_pem=local_tsa.ca_pem))
    without_tsa = Verifier(policy=default_trust_policy(local_anchors_pem=root_pem))
    assert with_tsa.verify_file(signed["unstamped"]).state is VerdictState.TRUSTED  # before expiry: both fine

    while datetime.datetime.now(UTC) <= expires + datetime.timedelta(seconds=1):
        time.sleep(0.2)

    kept = with_tsa.verify_file(signed["stamped"])
    assert kept.state is VerdictState.TRUSTED and kept.trust_list == "local"
    assert kept.time_stamp is not None
    assert kept.time_stamp.trusted and kept.time_stamp.trust_list == "local-tsa"
    assert kept.time_stamp.time < expires

    lost = with_tsa.verify_file(signed["unstamped"])
    assert lost.state is VerdictState.INVALID and lost.time_stamp is None
    assert "signingCredential.expired" in lost.failure_codes
    assert lost.reason is not None and "no trusted time-stamp shows it signed while it was valid" in lost.reason

    # An authority on no list proves nothing: its time does not keep the credential valid.
    untrusted = without_tsa.verify_file(signed["stamped"])
    assert untrusted.state is VerdictState.INVALID and "signingCredential.expired" in untrusted.failure_codes
    assert untrusted.time_stamp is not None
    assert (untrusted.time_stamp.trusted, untrusted.time_stamp.trust_list) == (False, None)


def _cli(env: dict[str, str], *args: str):
    from typer.testing import CliRunner

    from app.cli import cli

    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "300", **env}, catch_exceptions=False)


def test_inspect_and_verify_show_the_time_stamp(stamped, dev_credentials, local_tsa_anchors):
    path, _before, _after = stamped
    env = {
        "ORIGINMARK_KEYS_DIR": str(dev_credentials.directory),
        "ORIGINMARK_TSA_TRUST_ANCHORS": str(local_tsa_anchors),
    }
    shown = _cli(env, "inspect", str(path))
    assert shown.exit_code == 0, shown.output
    header = next(line for line in shown.stdout.splitlines() if line.startswith("time-stamped: "))
    assert header.endswith("by originmark test TSA  trusted (trust list local-tsa)")
    assert "time-stamp: " in shown.stdout  # the active manifest's own line in the tree
    listed = _cli(env, "verify", str(path), "--format", "json")
    assert listed.exit_code == 0, listed.output
    (record,) = json.loads(listed.stdout)
    assert record["time_stamp"]["trust_list"] == "local-tsa" and record["time_stamp"]["trusted"] is True
    table = _cli(env, "verify", str(path), "--format", "csv")
    header_row, row = table.stdout.splitlines()[:2]
    columns = dict(zip(header_row.split(","), row.split(","), strict=False))
    assert columns["time_stamp_trust_list"] == "local-tsa" and columns["time_stamp_authority"] == "originmark test TSA"


def test_untrusted_time_stamps_are_shown_as_unconfirmed(stamped, dev_credentials):
    path, _before, _after = stamped
    shown = _cli({"ORIGINMARK_KEYS_DIR": str(dev_credentials.directory)}, "inspect", str(path))
    assert shown.exit_code == 0, shown.output
    assert "authority on no trust list: the time is not confirmed" in shown.stdout


# Collected here, in the last of the time-stamp test modules: the signature started with the first
# of them (tests/tsa/fixtures.py), so the engine's 30 s wait for a silent TSA overlaps the others.
def test_a_tsa_that_never_answers_fails_the_signature_when_the_engine_gives_up(silent_tsa_signature):
    outcome = silent_tsa_signature.outcome(timeout=90)
    error = outcome.get("error")
    assert isinstance(error, TimeStampUnavailable), outcome
    assert "http resolver" in str(error)
    assert outcome["seconds"] < 60  # the engine's own limit (30 s), not forever
    assert sorted(p.name for p in silent_tsa_signature.folder.iterdir()) == ["source.jpg"]
    assert silent_tsa_signature.tsa.requests == 2  # the probe, then the one that got no answer
