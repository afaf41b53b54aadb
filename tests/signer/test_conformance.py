"""Signed output passes every statement of the C2PA conformance rubrics for generator products.

The rubrics (../shared/rubrics/asset-rubric-conformance0.2-spec2.2.yml and ...spec2.4.yml)
are json-formula expressions over the crJSON of the asset. Each statement is re-stated
here in Python over the engine's own crJSON, with the rubric's variable lists ($allowed_*,
$deprecated_*, ...) read from the YAML itself. A statement added to a rubric fails
`test_every_rubric_statement_is_checked` until it is checked here too.

`$expected_spec_version` is the version a product declares when it is submitted; originmark
declares C2PA_SPEC_VERSION (2.4) in claim_generator_info, so both rubrics are evaluated
with that value (the 2.2 rubric's version-gated statements then apply as well).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from signer.engine import ContentSigner, SignerOptions
from signer.manifest import C2PA_SPEC_VERSION, GenerationRequest, Upstream
from verifier.embedded_store import embedded_manifest_store

RUBRIC_FILES = ("asset-rubric-conformance0.2-spec2.2.yml", "asset-rubric-conformance0.2-spec2.4.yml")
EXPECTED_SPEC_VERSION = C2PA_SPEC_VERSION
REQUEST = GenerationRequest(generator_name="Acme Diffusion", generator_version="2.1")
RE_SIGNED = {
    "re-signed-firefly": "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg",
    "re-signed-tampered": "c2pa-rs/sdk/tests/fixtures/XCA.jpg",
}

Manifest = dict[str, Any]
Variables = dict[str, list[str]]


# --- reading the rubric files (a list-of-strings subset of YAML is all the variables use) ---


def rubric_variables(text: str) -> Variables:
    section = text.split("\nvariables:\n", 1)[1].split("\nexpressions:\n", 1)[0]
    variables: Variables = {}
    current: str | None = None
    for line in section.splitlines():
        if match := re.fullmatch(r"  (\$\w+):", line):
            current = match.group(1)
            variables[current] = []
        elif match := re.fullmatch(r"  - (.+)", line):
            assert current is not None, f"a list item before its variable: {line!r}"
            variables[current].append(match.group(1).strip().strip("'\""))
    return variables


def rubric_statement_ids(text: str) -> set[str]:
    return set(re.findall(r"^- id: (\S+)$", text, flags=re.MULTILINE))


# --- the rubric's helper expressions ---


def assertions(m: Manifest) -> dict[str, Any]:
    return m.get("assertions") or {}


def actions_v2(m: Manifest) -> list[dict[str, Any]]:
    """`_actionsV2`: every action of every assertion that has an `actions` list, in order."""
    return [
        a
        for value in assertions(m).values()
        if isinstance(value, dict) and value.get("actions") is not None
        for a in value["actions"]
    ]


def ingredient_assertions(m: Manifest) -> list[dict[str, Any]]:
    return [v for v in assertions(m).values() if isinstance(v, dict) and v.get("relationship") is not None]


def claim(m: Manifest) -> dict[str, Any]:
    return m.get("claim.v2") or {}


def spec_version(m: Manifest) -> Any:
    info = claim(m).get("claim_generator_info")
    if isinstance(info, list):
        info = info[0] if info else {}
    return (info or {}).get("specVersion")


def failure_codes(m: Manifest) -> list[str]:
    results = m.get("validationResults") or {"failure": [{"code": "MISSING_VALIDATION_RESULTS"}]}
    return [f.get("code") for f in results.get("failure") or []]


def spec_at_least_2_4(version: str) -> bool:
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) >= (2, 4)


# --- one function per rubric statement: the list of offending values (empty: passes) ---


def _perceptible_without_dst(m: Manifest, v: Variables) -> list:
    exempt = v["$inception_actions"] + v["$non_editorial_actions"] + v["$dst_exempt_perceptible_actions"]
    return [
        a["action"]
        for a in actions_v2(m)
        if a["action"].startswith("c2pa.") and a["action"] not in exempt and a.get("digitalSourceType") is None
    ]


def _spec_version(m: Manifest, v: Variables) -> list:
    found = spec_version(m)
    if found is None:
        return ["missing"] if spec_at_least_2_4(EXPECTED_SPEC_VERSION) else []
    if not isinstance(found, str):
        return [found]
    return [] if found.split(".")[:2] == EXPECTED_SPEC_VERSION.split(".")[:2] else [found]


def _all_actions_included(m: Manifest, v: Variables) -> list:
    return [
        label
        for label, value in assertions(m).items()
        if isinstance(value, dict) and value.get("actions") is not None and value.get("allActionsIncluded") is None
    ]


def _no_dst_for_opened(m: Manifest, v: Variables) -> list:
    if not spec_at_least_2_4(EXPECTED_SPEC_VERSION):
        return []
    return [
        a["digitalSourceType"]
        for a in actions_v2(m)
        if a["action"] == "c2pa.opened" and a.get("digitalSourceType") is not None
    ]


def _validation_results_present(m: Manifest, v: Variables) -> list:
    return [] if m.get("validationResults") is not None else ["validationResults"]


def _well_formed(m: Manifest, v: Variables) -> list:
    return [code for code in failure_codes(m) if code in v["$well_formed_error_codes"]]


def _valid(m: Manifest, v: Variables) -> list:
    return [code for code in failure_codes(m) if code in v["$valid_error_codes"]]


def _inception_first(m: Manifest, v: Variables) -> list:
    created_actions = [e["url"] for e in claim(m).get("created_assertions") or [] if "c2pa.actions" in e["url"]]
    first_url = created_actions[0] if created_actions else ""
    actions = actions_v2(m)
    ok = first_url.endswith("c2pa.actions.v2") and (
        not any(a["action"] == "c2pa.created" for a in actions)
        or actions[0]["action"] in ("c2pa.created", "c2pa.opened")
    )
    return [] if ok else [first_url or "no created actions assertion"]


def _no_deprecated_assertions(m: Manifest, v: Variables) -> list:
    return [k for k in assertions(m) if k.startswith("stds.") or k in v["$deprecated_assertion_labels"]]


def _no_unsupported_assertions(m: Manifest, v: Variables) -> list:
    return [
        k
        for k in assertions(m)
        if k.startswith("c2pa.")
        and k.split("__")[0] not in v["$allowed_assertions"]
        and k.split("__")[0] not in v["$deprecated_assertion_labels"]
    ]


def _no_deprecated_actions(m: Manifest, v: Variables) -> list:
    return [a["action"] for a in actions_v2(m) if a["action"] in v["$deprecated_action_labels"]]


def _no_unsupported_actions(m: Manifest, v: Variables) -> list:
    return [
        a["action"]
        for a in actions_v2(m)
        if a["action"].startswith("c2pa.") and a["action"] not in v["$allowed_actions"]
    ]


def _custom_assertions_namespaced(m: Manifest, v: Variables) -> list:
    return [k for k in assertions(m) if not k.startswith("c2pa.") and "." not in k]


def _custom_actions_namespaced(m: Manifest, v: Variables) -> list:
    return [a["action"] for a in actions_v2(m) if not a["action"].startswith("c2pa.") and "." not in a["action"]]


def _custom_parameters_namespaced(m: Manifest, v: Variables) -> list:
    return [
        key
        for a in actions_v2(m)
        for key in (a.get("parameters") or {})
        if key not in v["$standard_parameters"] and "." not in key
    ]


def _no_legacy_parameters(m: Manifest, v: Variables) -> list:
    return [
        a["action"]
        for a in actions_v2(m)
        if a.get("parameters") is not None
        and (a["parameters"].get("description") is not None or a["parameters"].get("ingredient") is not None)
    ]


def _urn_label(m: Manifest, v: Variables) -> list:
    return [] if str(m.get("label") or "").startswith("urn:c2pa:") else [m.get("label")]


def _review_ratings(m: Manifest, v: Variables) -> list:
    return [
        k
        for k, value in assertions(m).items()
        if isinstance(value, dict)
        and value.get("reviewRatings") is not None
        and (value.get("dataSource") or {}).get("type") in v["$human_entry_source_types"]
    ]


def _ingredient_without_manifest_has_no_results(m: Manifest, v: Variables) -> list:
    return [
        i.get("dc:title")
        for i in ingredient_assertions(m)
        if i.get("activeManifest") is None and i.get("validationResults") is not None
    ]


def _ingredient_with_manifest_has_results(m: Manifest, v: Variables) -> list:
    return [
        i.get("dc:title")
        for i in ingredient_assertions(m)
        if i.get("activeManifest") is not None and i.get("validationResults") is None
    ]


def _relationship_values(m: Manifest, v: Variables) -> list:
    return [
        i["relationship"] for i in ingredient_assertions(m) if i["relationship"] not in v["$valid_relationship_values"]
    ]


def _created_has_dst(m: Manifest, v: Variables) -> list:
    return [a for a in actions_v2(m) if a["action"] == "c2pa.created" and a.get("digitalSourceType") is None]


def _no_spec_version_in_claim(m: Manifest, v: Variables) -> list:
    return ["specVersion in claim"] if claim(m).get("specVersion") is not None else []


def _ingredient_choice(m: Manifest, v: Variables) -> list:
    return [
        i.get("dc:title")
        for i in ingredient_assertions(m)
        if i.get("activeManifest") is not None and i.get("digitalSourceType") is not None
    ]


def _alternative_content_choice(m: Manifest, v: Variables) -> list:
    bad = []
    for label, value in assertions(m).items():
        if not isinstance(value, dict):
            continue
        parameters = value.get("parameters") or {}
        if "exif.originalPreservationImage" in (value.get("type"), parameters.get("type")):
            has_index = parameters.get("multiAssetPartIndex") is not None
            has_embedded = parameters.get("embeddedOriginalPreservationImage") is not None
            if has_index == has_embedded:
                bad.append(label)
    return bad


def _external_reference_labels(m: Manifest, v: Variables) -> list:
    forbidden = ("c2pa.actions", "c2pa.actions.v2", "c2pa.cloud-data", "c2pa.external-reference")
    return [
        value["label"]
        for value in assertions(m).values()
        if isinstance(value, dict)
        and value.get("label") is not None
        and value.get("url") is not None
        and value.get("relationship") is None
        and (value["label"] in forbidden or value["label"].startswith(("c2pa.hash", "c2pa.ingredient")))
    ]


def _no_url_in_hashes(m: Manifest, v: Variables) -> list:
    return [
        label
        for label in ("c2pa.hash.data", "c2pa.hash.bmff.v3")
        if (assertions(m).get(label) or {}).get("url") is not None
    ]


def _all_actions_included_when_only_opened(m: Manifest, v: Variables) -> list:
    actions = actions_v2(m)
    assertion = assertions(m).get("c2pa.actions.v2") or {}
    only_opened = len(actions) == 1 and actions[0]["action"] == "c2pa.opened"
    return ["c2pa.opened"] if only_opened and assertion.get("allActionsIncluded") is not True else []


def _opened_references_one_ingredient(m: Manifest, v: Variables) -> list:
    return [
        a
        for a in actions_v2(m)
        if a["action"] == "c2pa.opened" and len((a.get("parameters") or {}).get("ingredients") or []) != 1
    ]


def _no_box_hash_for_tiff(m: Manifest, v: Variables) -> list:
    asset_type = (assertions(m).get("c2pa.asset-type.v2") or {}).get("dc:format")
    return (
        ["c2pa.hash.boxes"]
        if "c2pa.hash.boxes" in assertions(m) and asset_type in v.get("$tiff_media_types", [])
        else []
    )


RUBRIC_CHECKS: dict[str, Callable[[Manifest, Variables], list]] = {
    "validation:mandatory_dst_for_perceptible_transformations": _perceptible_without_dst,
    "validation:mandatory_spec_version": _spec_version,
    "validation:mandatory_all_actions_included": _all_actions_included,
    "validation:no_dst_for_opened_action": _no_dst_for_opened,
    "validation:well_formed_data_present": _validation_results_present,
    "validation:well_formed_success": _well_formed,
    "validation:valid_data_present": _validation_results_present,
    "validation:valid_success": _valid,
    "validation:inception_action_position": _inception_first,
    "validation:no_deprecated_assertions": _no_deprecated_assertions,
    "validation:no_unsupported_assertions": _no_unsupported_assertions,
    "validation:no_deprecated_actions": _no_deprecated_actions,
    "validation:no_unsupported_actions": _no_unsupported_actions,
    "validation:no_unrecognized_custom_assertions": _custom_assertions_namespaced,
    "validation:no_unrecognized_custom_actions": _custom_actions_namespaced,
    "validation:no_unrecognized_custom_action_parameters": _custom_parameters_namespaced,
    "validation:discouraged_legacy_action_parameters": _no_legacy_parameters,
    "validation:active_manifest_urn": _urn_label,
    "validation:review_ratings_datasource": _review_ratings,
    "validation:ingredient_v3_no_active_manifest": _ingredient_without_manifest_has_no_results,
    "validation:ingredient_v3_mandatory_validation_results": _ingredient_with_manifest_has_results,
    "validation:ingredient_relationship_values": _relationship_values,
    "validation:mandatory_dst_for_created_action": _created_has_dst,
    "validation:no_deprecated_claim_fields": _no_spec_version_in_claim,
    "validation:ingredient_v3_choice": _ingredient_choice,
    "validation:alternative_content_representation_choice": _alternative_content_choice,
    "validation:forbidden_labels_in_external_references": _external_reference_labels,
    "validation:no_url_in_hashes": _no_url_in_hashes,
    "validation:all_actions_included_opened": _all_actions_included_when_only_opened,
    "validation:opened_action_ingredient_reference": _opened_references_one_ingredient,
    "validation:no_box_hash_for_tiff": _no_box_hash_for_tiff,
}


def spec_2_4_failures(manifest: Manifest, shared_dir: Path) -> dict[str, list]:
    """The statements of the spec 2.4 conformance rubric that `manifest` (crJSON) fails, with what failed."""
    text = (shared_dir / "rubrics" / RUBRIC_FILES[1]).read_text()
    variables = rubric_variables(text)
    return {s: bad for s in sorted(rubric_statement_ids(text)) if (bad := RUBRIC_CHECKS[s](manifest, variables))}


# --- fixtures: the outputs to check ---


@pytest.fixture(scope="module", params=RUBRIC_FILES)
def rubric(request, shared_dir) -> tuple[str, Variables, set[str]]:
    text = (shared_dir / "rubrics" / request.param).read_text()
    return request.param, rubric_variables(text), rubric_statement_ids(text)


@pytest.fixture(scope="module")
def thumbnail_signer(signing_key) -> ContentSigner:
    return ContentSigner(signing_key=signing_key, options=SignerOptions(thumbnails=True))


@pytest.fixture(scope="module")
def signed_outputs(
    content_signer, thumbnail_signer, media_samples, read_back, shared_dir, tmp_path_factory
) -> dict[str, Manifest]:
    """Active manifests (crJSON) of the kinds of output originmark writes."""
    folder = tmp_path_factory.mktemp("conformance")
    outputs: dict[str, Manifest] = {}

    def sign(case: str, signer: ContentSigner, source: Path, request: GenerationRequest) -> Path:
        result = signer.sign_file(source=source, destination=folder / f"{case}-{source.name}", request=request)
        report = read_back(result.destination, mime=result.format.mime)
        assert report.state == "Trusted", (case, report.failures)
        outputs[case] = report.manifest
        return result.destination

    for name in ("JPEG", "PNG", "TIFF", "MP4", "WAV", "PDF", "SVG"):
        sign(f"created-{name}", content_signer, media_samples[name], REQUEST)
    signed_parent = sign("created-parent", content_signer, media_samples["JPEG"], REQUEST)
    unsigned_parent = folder / "unsigned-parent.png"
    shutil.copyfile(media_samples["PNG"], unsigned_parent)
    edit = GenerationRequest(generator_name="Acme Inpaint", generator_version="1.0", parent=signed_parent)
    sign("edit-of-signed-parent", content_signer, media_samples["JPEG"], edit)
    sign(
        "edit-of-unsigned-parent",
        content_signer,
        media_samples["PNG"],
        GenerationRequest(generator_name="Acme Inpaint", parent=unsigned_parent),
    )
    sign("thumbnails-created", thumbnail_signer, media_samples["JPEG"], REQUEST)
    sign("thumbnails-edit", thumbnail_signer, media_samples["JPEG"], edit)
    # Files that carry credentials of their own, kept as the parentOf ingredient (a trusted Firefly
    # image, and a tampered one whose ingredient records its failure).
    for case, relative in RE_SIGNED.items():
        copy = folder / f"{case}-source.jpg"
        shutil.copyfile(shared_dir / "corpus" / relative, copy)
        sign(case, content_signer, copy, REQUEST)
        sign(f"{case}-thumbnails", thumbnail_signer, copy, REQUEST)
    # Renditions (app/usecases/renditions.py): the original's kept store as the parentOf ingredient,
    # non-editorial actions only; and one of an original without credentials.
    kept_store = embedded_manifest_store(signed_parent, "image/jpeg")
    for case, store, actions in (
        ("rendition", kept_store, ("c2pa.resized.proportional", "c2pa.transcoded")),
        ("rendition-converted", kept_store, ("c2pa.converted",)),
        ("rendition-no-upstream", None, ("c2pa.transcoded", "c2pa.repackaged")),
    ):
        upstream = Upstream(title="original.jpg", format="image/jpeg", actions=actions, manifest_store=store)
        rendition = GenerationRequest(generator_name="Acme CDN", rendition_of=upstream)
        sign(case, content_signer, media_samples["JPEG"], rendition)
        sign(f"{case}-thumbnails", thumbnail_signer, media_samples["JPEG"], rendition)
    return outputs


# --- tests ---


def test_every_rubric_statement_is_checked(rubric):
    name, _, statement_ids = rubric
    assert statement_ids, f"no statements found in {name}"
    assert statement_ids <= RUBRIC_CHECKS.keys(), (
        f"unchecked statements in {name}: {statement_ids - RUBRIC_CHECKS.keys()}"
    )


# `c2pa.resized.proportional` is a spec 2.3+ action: the 2.2 rubric lists it as non-editorial but not
# among its supported actions. Our claims declare spec 2.4, whose rubric supports it; these outputs
# are checked against that rubric only.
SPEC_2_4_ONLY_CASES = frozenset({"rendition", "rendition-thumbnails"})


def test_signed_output_passes_every_rubric_statement(rubric, signed_outputs):
    name, variables, statement_ids = rubric
    failures = {
        (case, statement): offending
        for case, manifest in signed_outputs.items()
        if "spec2.4" in name or case not in SPEC_2_4_ONLY_CASES
        for statement in sorted(statement_ids)
        if (offending := RUBRIC_CHECKS[statement](manifest, variables))
    }
    assert failures == {}, f"{name}: {failures}"


def test_the_checks_catch_what_the_engine_writes_by_default(rubric):
    """The checks are not vacuous: the engine's default output (no created flag, no
    allActionsIncluded, no specVersion, c2pa.actions v1) fails them."""
    _, variables, _ = rubric
    engine_default = {
        "label": "urn:c2pa:00000000-0000-0000-0000-000000000000",
        "assertions": {
            "c2pa.actions": {"actions": [{"action": "c2pa.created"}]},
            "c2pa.hash.data": {"alg": "sha256"},
        },
        "claim.v2": {
            "claim_generator_info": {"name": "originmark"},
            "created_assertions": [{"url": "self#jumbf=c2pa.assertions/c2pa.hash.data"}],
            "gathered_assertions": [{"url": "self#jumbf=c2pa.assertions/c2pa.actions"}],
        },
        "validationResults": {"failure": []},
    }
    failing = {statement for statement, check in RUBRIC_CHECKS.items() if check(engine_default, variables)}
    assert {
        "validation:mandatory_spec_version",
        "validation:mandatory_all_actions_included",
        "validation:inception_action_position",
        "validation:no_deprecated_assertions",
        "validation:mandatory_dst_for_created_action",
    } <= failing


def test_the_created_output_is_shaped_as_the_rubric_expects(signed_outputs):
    manifest = signed_outputs["created-JPEG"]
    assert spec_version(manifest) == C2PA_SPEC_VERSION
    assert manifest["assertions"]["c2pa.actions.v2"]["allActionsIncluded"] is True
    created = [e["url"] for e in manifest["claim.v2"]["created_assertions"]]
    assert created[0].endswith("c2pa.actions.v2")
    assert "c2pa.thumbnail.claim" not in manifest["assertions"]  # thumbnails are off by default


def test_the_edit_keeps_the_parent_credentials_and_references_them(signed_outputs):
    manifest = signed_outputs["edit-of-signed-parent"]
    parent_manifest_label = signed_outputs["created-parent"]["label"]
    ingredient = manifest["assertions"]["c2pa.ingredient.v3"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["activeManifest"]["url"].endswith(parent_manifest_label)
    assert ingredient["validationResults"]["activeManifest"]["failure"] == []
    assert any(
        s["code"] == "signingCredential.trusted" for s in ingredient["validationResults"]["activeManifest"]["success"]
    )
    opened, edited = manifest["assertions"]["c2pa.actions.v2"]["actions"]
    assert opened["action"] == "c2pa.opened"
    assert [i["url"] for i in opened["parameters"]["ingredients"]] == ["self#jumbf=c2pa.assertions/c2pa.ingredient.v3"]
    assert "digitalSourceType" not in opened
    assert edited == {
        "action": "c2pa.edited",
        "softwareAgent": {"name": "Acme Inpaint", "version": "1.0"},
        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
    }
    created = {e["url"].rsplit("/", 1)[1] for e in manifest["claim.v2"]["created_assertions"]}
    assert {"c2pa.actions.v2", "c2pa.ingredient.v3"} <= created


def test_an_unsigned_parent_is_an_ingredient_without_a_manifest(signed_outputs):
    ingredient = signed_outputs["edit-of-unsigned-parent"]["assertions"]["c2pa.ingredient.v3"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["dc:title"] == "unsigned-parent.png"
    assert "activeManifest" not in ingredient and "validationResults" not in ingredient


def test_thumbnails_appear_only_when_enabled(signed_outputs):
    assert "c2pa.thumbnail.claim" in signed_outputs["thumbnails-created"]["assertions"]
    assert "c2pa.thumbnail.ingredient" in signed_outputs["thumbnails-edit"]["assertions"]
    assert not any(k.startswith("c2pa.thumbnail") for k in signed_outputs["edit-of-signed-parent"]["assertions"])


@pytest.mark.parametrize("case", sorted(RE_SIGNED))
def test_a_re_signed_file_opens_itself_as_the_parent(signed_outputs, case):
    manifest = signed_outputs[case]
    ingredient = manifest["assertions"]["c2pa.ingredient.v3"]
    assert ingredient["relationship"] == "parentOf"
    assert "activeManifest" in ingredient and "validationResults" in ingredient
    actions = manifest["assertions"]["c2pa.actions.v2"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    [reference] = actions[0]["parameters"]["ingredients"]
    assert reference["url"].endswith("c2pa.ingredient.v3")
