"""What `originmark verify` prints: one record per file, four writers, and the batch summary.

`verdict_record` is the one serializer: json, jsonl and csv all print what it returns, and the
table shows a few of its fields. Writers print each record as soon as they get it and keep
nothing; the summary keeps counters only, so a batch of any size runs in constant memory.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from app.cli.render import clean_text, label_style, make_console, safe_text, state_style
from app.cli.tables import PathText
from verifier.label import label_for
from verifier.label_types import Label, LabelKind
from verifier.verdict import Verdict, VerdictState

Record = dict[str, Any]
StreamProvider = Callable[[], TextIO]


class OutputFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"

    @property
    def is_machine_readable(self) -> bool:
        return self is not OutputFormat.TABLE


def current_stdout() -> TextIO:
    # Looked up at each write: a progress display (or a test runner) may swap sys.stdout meanwhile.
    return sys.stdout


# --- records ---------------------------------------------------------------------------------


def display_path(path: Path) -> str:
    """The path as given, made printable: undecodable filename bytes become `\\udcXX` escapes."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


# Values that are JSON-ready as they are (exact types: a str enum is not one of them).
_AS_IS = frozenset({str, int, float, bool, type(None)})
_field_names: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, looked up once per class


def _plain(value: Any) -> Any:
    """A JSON-ready copy: enums as values, datetimes as ISO 8601, tuples as lists, dataclasses as objects."""
    # A batch makes a record per file from verdicts of a few dozen nested values each: the
    # common cases come first, and a class's fields are listed once, not per object.
    cls = type(value)
    if cls in _AS_IS:
        return value
    if cls is tuple or cls is list:
        return [_plain(item) for item in value]
    names = _field_names.get(cls)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _field_names.setdefault(cls, tuple(field.name for field in dataclasses.fields(value)))
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, Path):
        return display_path(value)
    return value


_VERDICT_FIELDS = tuple(field.name for field in dataclasses.fields(Verdict) if field.name != "state")


def verdict_record(path: Path, verdict: Verdict, label: Label) -> Record:
    """`path`, `state`, `label`, then every other Verdict field in declaration order."""
    record: Record = {"path": display_path(path), "state": verdict.state.value, "label": _plain(label)}
    for name in _VERDICT_FIELDS:
        record[name] = _plain(getattr(verdict, name))
    return record


def unverified_record(path: Path, *, reason: str) -> Record:
    """A record for a path that never reached the verifier (missing, unreadable, an internal failure).

    Same keys as `verdict_record`, state `error`, the label an `error` verdict gets; what was never
    measured (hash, size, engine version) is null.
    """
    placeholder = Verdict(state=VerdictState.ERROR, sha256="", size=0, engine_version="", reason=reason)
    record = verdict_record(path, placeholder, label_for(placeholder))
    record.update(sha256=None, size=None, engine_version=None)
    return record


# --- writers ---------------------------------------------------------------------------------


class RecordWriter(Protocol):
    def start(self) -> None: ...

    def write(self, record: Record) -> None: ...

    def finish(self) -> None: ...


def json_text(record: Record) -> str:
    # ensure_ascii: every control character (C0, C1, bidi overrides in hostile manifest text)
    # leaves as a \\u escape, so printing the output to a terminal cannot drive it.
    return json.dumps(record, ensure_ascii=True, separators=(", ", ": "))


class JsonLinesWriter:
    """One JSON object per line, flushed per file: `tail -f`-able and safe to cut off."""

    def __init__(self, *, out: StreamProvider = current_stdout) -> None:
        self._out = out

    def start(self) -> None:
        pass

    def write(self, record: Record) -> None:
        stream = self._out()
        stream.write(json_text(record) + "\n")
        stream.flush()

    def finish(self) -> None:
        pass


class JsonArrayWriter:
    """A JSON array streamed element by element (one element per line); valid only once finished."""

    def __init__(self, *, out: StreamProvider = current_stdout) -> None:
        self._out = out
        self._count = 0

    def start(self) -> None:
        self._out().write("[")

    def write(self, record: Record) -> None:
        stream = self._out()
        stream.write(("\n" if self._count == 0 else ",\n") + json_text(record))
        stream.flush()
        self._count += 1

    def finish(self) -> None:
        stream = self._out()
        stream.write("\n]\n" if self._count else "]\n")
        stream.flush()


# CSV: scalars and nested objects become columns (label_kind, signer_common_name, ...); lists of
# strings are joined with "; "; lists of objects (actions, ingredients, manifests) stay JSON text.
CSV_LIST_SEPARATOR = "; "
# Cells a spreadsheet would run as a formula get a leading apostrophe (OWASP CSV injection advice):
# manifest text is attacker-controlled and CSV output is made to be opened in spreadsheets.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# C0/C1 controls but newline, DEL, bidi embeddings/overrides/isolates, line/paragraph separators
# (the set app.cli.render removes for terminals; zero-width joiners stay, scripts need them).
_CSV_UNSAFE_CHARS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\u061c]")


def _csv_safe_text(text: str) -> str:
    # Unsafe characters are shown as \\uXXXX, so `cat out.csv` on a terminal cannot be driven by a
    # hostile manifest; newlines in a field are kept (the CSV writer quotes the field).
    cleaned = _CSV_UNSAFE_CHARS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return "'" + cleaned if cleaned.startswith(_FORMULA_TRIGGERS) else cleaned


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return _csv_safe_text(CSV_LIST_SEPARATOR.join(value))
        return _csv_safe_text(json.dumps(value, ensure_ascii=True))
    return _csv_safe_text(str(value))


def _flatten(record: Record, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _nested_columns(prefix: str, dataclass_type: type) -> list[str]:
    return [f"{prefix}_{field.name}" for field in dataclasses.fields(dataclass_type)]


def csv_columns() -> list[str]:
    """The CSV header: fixed, from the Verdict and Label types, so every row has every column."""
    from verifier.verdict import Recovered, Signer, TimeStamp  # the nested objects among Verdict's own fields

    nested = {"signer": Signer, "time_stamp": TimeStamp}
    columns = ["path", "state", *_nested_columns("label", Label)]
    for field in dataclasses.fields(Verdict):
        if field.name == "state":
            continue
        if field.name == "recovered":  # one level deeper: the recovered manifest's signer
            for inner in dataclasses.fields(Recovered):
                name = f"recovered_{inner.name}"
                columns.extend(_nested_columns(name, Signer) if inner.name == "signer" else [name])
            continue
        columns.extend(_nested_columns(field.name, nested[field.name]) if field.name in nested else [field.name])
    return columns


class CsvWriter:
    """A header row, then one flattened row per file (see `csv_columns`)."""

    def __init__(self, *, out: StreamProvider = current_stdout) -> None:
        self._out = out
        self._columns = csv_columns()

    def _row(self, values: list[Any]) -> None:
        stream = self._out()
        csv.writer(stream, lineterminator="\n").writerow(values)
        stream.flush()

    def start(self) -> None:
        self._row(self._columns)

    def write(self, record: Record) -> None:
        flat = _flatten(record)
        self._row([csv_cell(flat.get(column)) for column in self._columns])

    def finish(self) -> None:
        pass


# Table cells are bounded (the record keeps the full text): a hostile 10,000-character title
# must not take over the screen.
_CELL_CHARS = 300


class TableWriter:
    """A table printed row by row as results arrive (fixed column widths keep the rows aligned).

    On a wide console (>= `WIDE_CONSOLE` columns) the reason is a column; on a narrower one it is a
    line under the row, and only for `invalid` and `error` (for the other states the label says it).
    There, a path longer than its column is shortened in the middle (`app.cli.tables.PathText`): one
    line per file, both ends of the path kept; the records (json, jsonl, csv) always carry it whole.
    """

    WIDE_CONSOLE = 140
    _COLUMNS = ("Path", "State", "Label", "Issuer", "Trust list")
    _EXPLAINED_STATES = (VerdictState.INVALID.value, VerdictState.ERROR.value)

    def __init__(self, *, console: Console | None = None) -> None:
        # make_console(): no file= so Rich writes to whatever sys.stdout is at print time.
        self._console = console or make_console()
        self._reason_column = self._console.width >= self.WIDE_CONSOLE

    def _table(self, *, header: bool) -> Table:
        headers = self._COLUMNS + (("Reason",) if self._reason_column else ())
        width = max(self._console.width, 60)
        # state: "invalid"/"trusted"; label: "Content Credentials ·" on a line; trust list: the header (the
        # list names are shorter). Columns are 3 cells apart (padding, gap, padding).
        state_width, label_width, trust_width = 7, 21, 10
        flexible = max(width - (state_width + label_width + trust_width) - 3 * (len(headers) - 1), 24)
        if self._reason_column:
            path_width, issuer_width = flexible * 2 // 5, flexible // 5
        else:
            issuer_width = max(flexible // 3, 12)  # wraps by words: "C2PA Test Signing Cert" on two lines
            path_width = flexible - issuer_width
        widths = [path_width, state_width, label_width, issuer_width, trust_width]
        if self._reason_column:
            widths.append(flexible - path_width - issuer_width)
        table = Table(
            box=box.SIMPLE_HEAD,  # the same box for header and rows: its column gaps keep them aligned
            show_header=header,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1),
            header_style="bold",
        )
        for title, column_width in zip(headers, widths, strict=True):
            table.add_column(title, width=column_width, overflow="fold")
        return table

    def _path_cell(self, path: str) -> PathText | Text:
        # Wide: the path column has room to wrap a long path over a few lines, kept whole. Narrower,
        # wrapping would stack it in slivers: one line, shortened in the middle.
        if self._reason_column:
            return safe_text(path, max_chars=_CELL_CHARS)
        return PathText(clean_text(path, max_chars=_CELL_CHARS))

    def start(self) -> None:
        self._console.print(self._table(header=True))

    def write(self, record: Record) -> None:
        label = record["label"]
        reason = record.get("reason") or CSV_LIST_SEPARATOR.join(record.get("failure_codes") or [])
        cells = [
            self._path_cell(record["path"]),
            Text(record["state"], style=state_style(record["state"])),
            safe_text(label["text"], style=label_style(label["kind"]), max_chars=_CELL_CHARS),
            safe_text(label["issuer"], max_chars=_CELL_CHARS),
            safe_text(record.get("trust_list"), max_chars=_CELL_CHARS),
        ]
        if self._reason_column:
            cells.append(safe_text(reason, max_chars=_CELL_CHARS))
        table = self._table(header=False)
        table.add_row(*cells)
        self._console.print(table)
        if not self._reason_column and reason and record["state"] in self._EXPLAINED_STATES:
            line = Text("↳ ", style="dim")
            line.append_text(safe_text(reason, style=state_style(record["state"]), max_chars=_CELL_CHARS))
            self._console.print(Padding(line, (0, 0, 0, 2)))

    def finish(self) -> None:
        pass


def open_writer(output_format: OutputFormat, *, out: StreamProvider = current_stdout) -> RecordWriter:
    if output_format is OutputFormat.JSONL:
        return JsonLinesWriter(out=out)
    if output_format is OutputFormat.JSON:
        return JsonArrayWriter(out=out)
    if output_format is OutputFormat.CSV:
        return CsvWriter(out=out)
    return TableWriter()


# --- summary ---------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, kw_only=True)
class BatchSummary:
    """Counters only (never the records): counts by state and by label kind, and unreadable paths."""

    by_state: Counter[str] = dataclasses.field(default_factory=Counter)
    by_label: Counter[str] = dataclasses.field(default_factory=Counter)
    unreadable_paths: int = 0
    skipped_folders: int = 0

    def add(self, record: Record, *, unreadable: bool) -> None:
        self.by_state[record["state"]] += 1
        self.by_label[record["label"]["kind"]] += 1
        if unreadable:
            self.unreadable_paths += 1

    @property
    def files(self) -> int:
        return sum(self.by_state.values())

    @property
    def any_invalid(self) -> bool:
        return self.by_state[VerdictState.INVALID.value] > 0

    def render(self, *, elapsed_seconds: float) -> Text:
        rate = self.files / elapsed_seconds if elapsed_seconds > 0 else 0.0
        noun = "file" if self.files == 1 else "files"
        text = Text.assemble(
            ("Verified ", "bold"),
            (f"{self.files} {noun}", "bold"),
            f" in {elapsed_seconds:.1f} s ({rate:.1f} files/s)\n",
        )
        text.append("  states: ")
        text.append_text(self._counts(self.by_state, [state.value for state in VerdictState], state_style))
        text.append("\n  labels: ")
        text.append_text(self._counts(self.by_label, [kind.value for kind in LabelKind], label_style))
        if self.unreadable_paths:
            text.append(
                f"\n  {self.unreadable_paths} path(s) could not be read or fully checked (see their records' reason): exit status 2",
                style="bold magenta",
            )
        if self.skipped_folders:
            text.append(
                f"\n  {self.skipped_folders} subfolder(s) not entered: pass -r to verify folders recursively",
                style="yellow",
            )
        return text

    @staticmethod
    def _counts(counter: Counter[str], order: list[str], style_of: Callable[[str], str]) -> Text:
        parts = [Text(f"{key} {counter[key]}", style=style_of(key)) for key in order if counter[key]]
        return Text(" · ").join(parts) if parts else Text("none", style="dim")
