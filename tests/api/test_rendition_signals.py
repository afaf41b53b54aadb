"""Issue 15's evidence: "the signals rubric gives the rendition the same inception signal as the
original", for a rendition (POST /v1/renditions) and a feed thumbnail of each of three real
third-party originals (Firefly, generative fill, a camera photo), read two ways:

- the rubric's letter: its inception statements, read from ../shared/rubrics/asset-rubric-signals-local.yml
  and evaluated here over each manifest's crJSON (the plain c2pa engine's, as the conformance
  evaluators read it). The rubric is local (per manifest): the original's manifests are carried
  unchanged in the rendition's store and keep exactly their signals, and the rendition's own
  manifest (`c2pa.opened`, non-editorial actions) adds none;
- the project's reading of it (verifier/label.py `history_inception`, what the label is derived
  from): the inception the history starts from, followed along the parentOf chain, the same for
  the original, its rendition and its thumbnail.

By the rubric's letter none of the three corpus originals gives an inception signal (Firefly and
generative fill write only the older c2pa.actions, which it does not read; the camera writes its
source type with a leading space, which its exact comparison misses), so a fourth original, AI
output signed by originmark (c2pa.created + trainedAlgorithmicMedia in c2pa.actions.v2), is the
case where the letter gives one (fully GenAI) and the rendition's chain must carry it.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest

from app.store.interface import DEFAULT_TENANT, Scope
from tests.api.test_renditions import (
    CAMERA,
    FIREFLY,
    GENERATIVE_FILL,
    _camera_key,
    _renditions,
    _resized,
    _sign,
    _verify,
)
from verifier.label import Signal, history_inception
from verifier.label_types import LabelEvidence

from .helpers import ApiKeys, jpeg_bytes

SIGNALS_RUBRIC = "asset-rubric-signals-local.yml"
# The rubric's own helper, which its inception statements call: the manifest's c2pa.actions.v2 has a
# c2pa.created or c2pa.opened action of exactly this digital source type (implemented in _created_with).
CREATED_WITH_DST = (
    'length(_manifest_signalActions($args[0])[? (action == "c2pa.created" || action == "c2pa.opened") '
    "&& digitalSourceType == $args[1]]) > 0"
)
# And the actions it reads (implemented in _created_with too): the c2pa.actions.v2 assertion's, only.
SIGNAL_ACTIONS = "$args[0].assertions.'c2pa.actions.v2'.actions"
UNKNOWN_PROVENANCE = "assertions.'c2pa.ingredient.v3' != null && assertions.'c2pa.ingredient.v3'.activeManifest == null"


def _inception_statements(shared_dir: Path) -> dict[str, tuple[str, ...] | None]:
    """Each inception statement's id and the source types it tests (None: the unknown-provenance one),
    read from the rubric's text (as tests/signer/test_conformance.py reads the conformance rubrics).
    A statement of another shape fails the test: it must be read here before it can be relied on."""
    text = (shared_dir / "rubrics" / SIGNALS_RUBRIC).read_text()
    assert "_manifest_createdWithDst: |-\n    " + CREATED_WITH_DST + "\n" in text
    # Its helper too: a rubric reading other actions (c2pa.actions v1, an ingredient's) fails here.
    assert "\n  _manifest_signalActions: " + SIGNAL_ACTIONS + "\n" in text
    found: dict[str, tuple[str, ...] | None] = {}
    for block in re.split(r"^- id: ", text.split("\n---\n", 1)[1], flags=re.MULTILINE)[1:]:
        name = block.split("\n", 1)[0].strip()
        if not name.startswith("inception:"):
            continue
        expression = " ".join(block.split("expression:", 1)[1].split("reportText:", 1)[0].split()).strip("|'\" ")
        if expression == UNKNOWN_PROVENANCE:
            found[name] = None
            continue
        types = tuple(re.findall(r'_createdWithDst\(@, "([^"]+)"\)', expression))
        rest = re.sub(r'_createdWithDst\(@, "[^"]+"\)', "X", expression).replace(" || ", "")
        assert types and rest == "X" * len(types), f"an inception statement this test cannot read: {name}: {expression}"
        found[name] = types
    assert len(found) >= 8, found
    return found


def _created_with(manifest: dict, source_type: str) -> bool:
    actions = (manifest["assertions"].get("c2pa.actions.v2") or {}).get("actions") or []
    return any(
        a.get("action") in ("c2pa.created", "c2pa.opened") and a.get("digitalSourceType") == source_type
        for a in actions
    )


def _unknown_provenance(manifest: dict) -> bool:
    ingredient = manifest["assertions"].get("c2pa.ingredient.v3")
    return ingredient is not None and ingredient.get("activeManifest") is None


def _signals(crjson: dict, statements: dict[str, tuple[str, ...] | None]) -> dict[str, frozenset[str]]:
    """Per manifest label, the rubric's inception signals it gives."""
    return {
        manifest["label"]: frozenset(
            name
            for name, types in statements.items()
            if (_unknown_provenance(manifest) if types is None else any(_created_with(manifest, t) for t in types))
        )
        for manifest in crjson["manifests"]
    }


def _thumbnail(client, token: str, media_id: str) -> bytes:
    deadline = time.monotonic() + 30
    while (response := client.get(f"/v1/thumbnails/{media_id}", headers=ApiKeys.header(token))).status_code == 404:
        assert time.monotonic() < deadline, "no thumbnail was kept"
        time.sleep(0.1)
    assert response.status_code == 200, response.text
    return response.content


SIGNED_HERE = "signed by originmark"  # AI output signed by POST /v1/sign: the one original the letter reads


@pytest.mark.parametrize(
    ("source", "letter", "inception", "evidence"),
    [
        # Firefly 2023: a plain c2pa.created (older c2pa.actions, which the rubric does not read)
        # beside Adobe's generative-AI assertion, which the project reads as fully GenAI.
        (FIREFLY, set(), Signal.FULLY_GENAI_MEDIA, LabelEvidence.GENERATIVE_AI_ASSERTION),
        # Photoshop's generative fill (older c2pa.actions): created without a source type, then
        # AI-generated components placed (an edit, not an inception: labelled AI-edited).
        (GENERATIVE_FILL, set(), None, None),
        # A camera: c2pa.created in c2pa.actions.v2, but its source type is written " http://...
        # digitalCapture" (a leading space): the rubric's exact comparison misses it; the project
        # reads the trimmed URI as captured media.
        (CAMERA, set(), Signal.CAPTURED_MEDIA, LabelEvidence.DIGITAL_SOURCE_TYPE),
        (
            SIGNED_HERE,
            {"inception:signal_fullyGenAIMedia"},
            Signal.FULLY_GENAI_MEDIA,
            LabelEvidence.DIGITAL_SOURCE_TYPE,
        ),
    ],
)
def test_a_rendition_and_a_thumbnail_get_the_originals_inception_signal(
    client, api_keys, store, shared_dir, plain_reader, worker_pools, tmp_path, source, letter, inception, evidence
):
    statements = _inception_statements(shared_dir)
    store.set_feed_thumbnails(DEFAULT_TENANT, True)
    if source == SIGNED_HERE:
        data = _sign(client, api_keys.sign, jpeg_bytes((400, 300), seed=91), "original").content
        kind = "ai_generated"
    else:
        data = (shared_dir / "corpus" / source).read_bytes()
        # A key allowed to claim captures (a camera app's): a thumbnail, like a rendition, is shown with
        # its original's label kind, and only a key whose policy could claim it gets one.
        camera = _camera_key(store, scopes=frozenset({Scope.SIGN, Scope.VERIFY}))
        kind = _verify(client, camera, data, "original")["label"]["kind"]
    token = api_keys.sign if kind != "captured" else camera
    response = _renditions(
        client, token, {"file": _resized(data, (160, 120))}, media_id="small", source_media_id="original"
    )
    assert response.status_code == 200, response.text
    rendition = client.get("/v1/verdicts/small", headers=ApiKeys.header(api_keys.read))
    assert rendition.status_code == 200, rendition.text
    files = {
        "original": data,
        "rendition": base64.b64decode(response.json()["renditions"][0]["content_base64"]),
        "thumbnail": _thumbnail(client, api_keys.read, "original"),
    }

    # The rubric's letter, manifest by manifest.
    original_signals = _signals(plain_reader(data)[1], statements)
    assert set().union(*original_signals.values()) == letter
    for name in ("rendition", "thumbnail"):
        report, crjson = plain_reader(files[name])
        signals = _signals(crjson, statements)
        own = signals.pop(report["active_manifest"])
        assert own == frozenset(), (name, own)  # c2pa.opened without a source type, its parent named
        assert signals == original_signals, name  # the original's manifests, their signals unchanged

    # The project's reading (the label's): the same inception along the history, for all three.
    hits = {}
    for name, content in files.items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(content)
        hits[name] = history_inception(worker_pools.verifier.verify_file(path))
    assert hits["rendition"] == hits["original"] and hits["thumbnail"] == hits["original"], hits
    found = hits["original"]
    assert (None if found is None else (found.signal, found.evidence)) == (
        None if inception is None else (inception, evidence)
    )
