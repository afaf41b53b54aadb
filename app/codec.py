"""JSON for verdicts and labels: one codec for the store, the API and the CLI client.

pydantic's TypeAdapter reads the frozen dataclasses of verifier/ directly, so the wire
and storage form is exactly the fields of `Verdict` and `Label` (enums as their values,
datetimes in ISO 8601) and decodes back to equal objects. A field added later has a default,
so JSON stored before it still decodes (e.g. `error_code`: None for older `error` verdicts;
`time_stamp`: None for verdicts stored before time-stamps were reported, which keep their
`time_stamped` flag).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from verifier.label_types import Label
from verifier.verdict import Verdict

_VERDICT = TypeAdapter(Verdict)
_LABEL = TypeAdapter(Label)


def verdict_to_json(verdict: Verdict) -> str:
    return _VERDICT.dump_json(verdict).decode()


def verdict_from_json(text: str | bytes) -> Verdict:
    return _VERDICT.validate_json(text)


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    return _VERDICT.dump_python(verdict, mode="json")


def label_to_json(label: Label) -> str:
    return _LABEL.dump_json(label).decode()


def label_from_json(text: str | bytes) -> Label:
    return _LABEL.validate_json(text)


def label_to_dict(label: Label) -> dict[str, Any]:
    return _LABEL.dump_python(label, mode="json")
