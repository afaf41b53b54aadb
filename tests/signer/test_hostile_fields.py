"""The c2pa-attacks strings (../shared/attacks) as generator name and title: stored verbatim,
signing never breaks; over-long values are refused before the engine sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from signer.manifest import MAX_GENERATOR_TEXT, GenerationRequest, InvalidRequest


def _attack_strings(shared_dir: Path) -> list[str]:
    strings = []
    for path in sorted((shared_dir / "attacks").glob("*.attack")):
        strings += [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    return strings


def test_attack_strings_round_trip_exactly(content_signer, make_jpeg, read_back, shared_dir, tmp_path):
    source = make_jpeg(tmp_path / "a.jpg")
    short = [s for s in _attack_strings(shared_dir) if len(s) <= MAX_GENERATOR_TEXT]
    assert len(short) >= 25
    for number, attack in enumerate(short):
        request = GenerationRequest(generator_name=attack, generator_version=attack, title=attack)
        result = content_signer.sign_file(source=source, destination=tmp_path / f"{number}.jpg", request=request)
        report = read_back(result.destination, mime="image/jpeg")
        assert report.state == "Trusted", (attack, report.failures)
        assert report.manifest["claim.v2"]["dc:title"] == attack
        agent = report.manifest["assertions"]["c2pa.actions.v2"]["actions"][0]["softwareAgent"]
        assert agent == {"name": attack, "version": attack}


def test_a_ten_thousand_character_field_is_refused(shared_dir):
    (long,) = [s for s in _attack_strings(shared_dir) if len(s) > MAX_GENERATOR_TEXT]
    with pytest.raises(InvalidRequest, match="generator name is 10000 characters long; at most 256"):
        GenerationRequest(generator_name=long)
    with pytest.raises(InvalidRequest, match="title is 10000 characters long"):
        GenerationRequest(generator_name="g", title=long)
