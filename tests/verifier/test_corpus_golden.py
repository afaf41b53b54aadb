"""Every verdict field, trust attribution and label of the whole shared corpus, file by file.

`tests/fixtures/corpus_verdicts.json` holds what the in-process verifier (verifier/reader.py, the
code the isolated verifier's workers run) and `label_for` said for each of the 161 files of
`../shared/corpus/index.json` under the production trust settings (the shipped C2PA, C2PA TSA
and Interim Trust lists with their EKU configuration), before the verifier's report handling was
rewritten as one pass (issue 16). The test verifies every file again and compares the whole
verdict (state, reason, error code, signer, times, time-stamp and the list it was attributed
to, trust list, actions, ingredients, failure codes, every manifest summary) and the whole label.

Deterministic: nothing in a verdict depends on the machine or the run (the manifest order is the
history order, not the engine's hash map). It does depend on the date, as certificate validity
does: the file records the first certificate end after the day it was written (`valid_until`);
past that day a difference may be a certificate that expired, not a regression (rewrite the file
then, after checking the differences are only that).

Rewrite (only when a change of a verdict is intended):

    PYTHONPATH=. python tests/verifier/test_corpus_golden.py --write
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "corpus_verdicts.json"
# The first notAfter of a signing or time-stamping certificate in the corpus after the file was
# written (2026-12-07): until then no verdict of the corpus can change with the date.
VALID_UNTIL = "2030-08-26T18:46:28+00:00"


def _plain(value: Any) -> Any:
    """JSON-ready; a field that is None, False or empty is left out (the file stays small)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ((field.name, _plain(getattr(value, field.name))) for field in dataclasses.fields(value))
        return {name: item for name, item in fields if item not in (None, False, [], "")}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def corpus_records(corpus: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """(the engine version, {corpus path: {"verdict": ..., "label": ...}}) for every file of the index."""
    from verifier.label import label_for
    from verifier.reader import Verifier
    from verifier.trust import default_trust_policy

    verifier = Verifier(policy=default_trust_policy())
    records = {}
    for entry in json.loads((corpus / "index.json").read_text())["files"]:
        verdict = verifier.verify_file(corpus / entry["path"])
        record = _plain(verdict)
        record.pop("engine_version")  # the same for every file: kept once, at the top
        records[entry["path"]] = {"verdict": record, "label": _plain(label_for(verdict))}
    return verifier.engine_version, records


def _differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(expected.keys() | actual.keys()):
            found += _differences(expected.get(key), actual.get(key), f"{where}.{key}" if where else key)
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for index, (one, other) in enumerate(zip(expected, actual, strict=True)):
            found += _differences(one, other, f"{where}[{index}]")
        return found
    return [] if expected == actual else [f"{where}: {expected!r} -> {actual!r}"]


def test_every_verdict_field_and_label_of_the_corpus_is_unchanged(shared_dir: Path):
    golden = json.loads(GOLDEN.read_text())
    engine, records = corpus_records(shared_dir / "corpus")
    assert engine == golden["engine"], "another engine: rewrite the golden file after reviewing its differences"
    assert list(records) == list(golden["files"]), "the corpus index changed: rewrite the golden file"
    changed = {
        path: diffs for path, record in records.items() if (diffs := _differences(golden["files"][path], record))
    }
    late = datetime.now(UTC) >= datetime.fromisoformat(golden["valid_until"])
    assert not changed, (
        ("(past valid_until: a certificate of the corpus may have expired) " if late else "")
        + f"{len(changed)} of {len(records)} files changed:\n"
        + "\n".join(f"{path}\n    " + "\n    ".join(diffs[:20]) for path, diffs in changed.items())
    )


def test_the_comparison_sees_a_changed_field():
    # The comparison itself must not be blind (a nested field, a list element, a key that appeared).
    before = {"verdict": {"manifests": [{"time_stamp": {"trust_list": "itl"}}], "state": "valid"}}
    after = {"verdict": {"manifests": [{"time_stamp": {"trust_list": "c2pa-tsa"}}], "state": "valid", "x": 1}}
    assert _differences(before, after) == [
        "verdict.manifests[0].time_stamp.trust_list: 'itl' -> 'c2pa-tsa'",
        "verdict.x: None -> 1",
    ]


def _write() -> None:
    corpus = Path(__file__).resolve().parents[3] / "shared" / "corpus"
    engine, records = corpus_records(corpus)
    lines = [
        f"  {json.dumps(path)}: {json.dumps(record, sort_keys=True, ensure_ascii=False)}"
        for path, record in records.items()
    ]
    about = "Verdict and label of every corpus file under the production trust settings: tests/verifier/test_corpus_golden.py"
    GOLDEN.write_text(
        "{\n"
        f'"about": {json.dumps(about)},\n'
        f'"engine": {json.dumps(engine)},\n'
        f'"valid_until": {json.dumps(VALID_UNTIL)},\n'
        '"files": {\n' + ",\n".join(lines) + "\n}}\n"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    _write()
