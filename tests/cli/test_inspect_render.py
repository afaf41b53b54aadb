"""Hostile manifest text through `app.cli.render` and the `inspect` tree: shown literally, never obeyed."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from app.cli.inspect_cmd import MAX_ITEMS_SHOWN, render_story
from app.cli.render import clean_text, escape_text, label_style, make_console, safe_text
from verifier.label import IPTC
from verifier.label_types import LabelKind
from verifier.story import story_of
from verifier.verdict import (
    Action,
    ActionsForm,
    IngredientSummary,
    ManifestSummary,
    Signer,
    Verdict,
    VerdictState,
)

ANSI_OR_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def attack_strings(shared_dir: Path) -> list[str]:
    strings = []
    for path in sorted((shared_dir / "attacks").glob("*.attack")):
        # split on "\n" only: a lone "\r" inside a line is part of the attack
        strings += [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    return strings


MARKUP_ATTACKS = [
    "[bold red]x[/]",
    "[link=https://evil.example]click[/link]",
    "[/]",
    "\\[not escaped]",
    "trailing backslash\\",
    ":warning: :skull:",
    "\x1b[2J\x1b[H cleared",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\x1b]0;new window title\x07",
    "\u202eevil\u202c",
    "tab\tnew\nline\rreturn",
    "\x9b31mC1 CSI",
]


def rendered(renderable, *, width: int = 200) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, color_system="truecolor", force_terminal=True, emoji=False, highlight=False
    )
    console.print(renderable)
    return buffer.getvalue()


def plain(renderable, *, width: int = 200) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, emoji=False, highlight=False).print(renderable)
    return buffer.getvalue()


def strip_sgr(output: str) -> str:
    # Rich's own colours are the only escape sequences allowed in the output.
    return re.sub(r"\x1b\[[0-9;]*m", "", output)


# --- the helpers ----------------------------------------------------------------


@pytest.mark.parametrize("attack", MARKUP_ATTACKS)
def test_escape_text_shows_markup_literally_and_drops_control_sequences(attack):
    output = rendered(escape_text(attack))
    assert "\x1b]" not in output and "\x07" not in output and "\u202e" not in output
    assert not ANSI_OR_CONTROL.search(strip_sgr(output).replace("\n", ""))
    if attack == "[bold red]x[/]":
        assert strip_sgr(output).strip() == "[bold red]x[/]"
        assert "\x1b[1;31m" not in output  # not bold red


def test_escape_text_on_every_attack_string_keeps_the_visible_text(shared_dir):
    for attack in attack_strings(shared_dir) + MARKUP_ATTACKS:
        # as the CLI uses it: inside markup of its own, e.g. a styled table cell
        markup = f"[dim]{escape_text(attack, max_chars=20_000)}[/dim]"
        shown = strip_sgr(rendered(markup, width=20_000)).rstrip("\n")
        assert shown == clean_text(attack, max_chars=20_000)
        assert not ANSI_OR_CONTROL.search(shown)


def test_clean_text_removes_controls_and_bidi_and_makes_one_line():
    assert clean_text("a\x00b\x1b[31mc\nd\te\u202ef\x7fg") == "a bc d e f g"  # sequences go, controls become spaces
    assert clean_text(None) == ""
    assert clean_text(42) == "42"


def test_clean_text_bounds_length_before_escaping_so_no_backslash_dangles():
    long = "[" * 500
    escaped = escape_text(long, max_chars=10)
    assert clean_text(long, max_chars=10) == "[" * 9 + "…"
    assert strip_sgr(rendered(escaped)).strip() == "[" * 9 + "…"
    assert len(clean_text("A" * 10_000)) == 200


def test_clean_text_marks_a_cut_even_when_whitespace_collapsed_the_rest():
    assert clean_text("A" + " " * 100_000 + "B", max_chars=10) == "A…"
    assert clean_text("x" * 5) == "xxxxx"


def test_safe_text_is_never_parsed_as_markup():
    assert plain(safe_text("[bold]x[/bold] :skull:")).strip() == "[bold]x[/bold] :skull:"


def test_make_console_does_not_expand_emoji_codes_or_highlight():
    console = make_console()
    assert console._emoji is False and console._highlight is False


@pytest.mark.parametrize("kind", list(LabelKind))
def test_every_label_kind_has_a_style(kind):
    assert label_style(kind) and label_style(kind.value) == label_style(kind)
    Text("x", style=label_style(kind))  # a style Rich accepts


# --- the inspect tree ------------------------------------------------------------


def hostile_verdict(value: str) -> Verdict:
    hostile = ManifestSummary(
        label=value,
        claim_generator=value,
        title=value,
        signer=Signer(organisation=value, common_name=value, algorithm=value),
        actions=(
            Action(
                action=value, form=ActionsForm.V2, digital_source_type=value, software_agent=value, description=value
            ),
            Action(
                action="c2pa.created",
                form=ActionsForm.V2,
                digital_source_type=IPTC + "trainedAlgorithmicMedia",
            ),
        ),
        assertion_labels=(value, "c2pa.actions.v2"),
        ingredients=(
            IngredientSummary(
                title=value,
                relationship=value,
                format=value,
                manifest_label=value,
                state=VerdictState.INVALID,
                failure_codes=(value,),
                digital_source_type=value,
            ),
        ),
    )
    return Verdict(
        state=VerdictState.VALID,
        sha256="0" * 64,
        size=10,
        engine_version=value,
        format=value,
        reason=value,
        trust_list=value,
        signer=hostile.signer,
        failure_codes=(value,),
        ingredient_failure_codes=(value,),
        manifests=(hostile,),
    )


def test_inspect_tree_renders_every_attack_string_literally(shared_dir):
    for attack in attack_strings(shared_dir) + MARKUP_ATTACKS:
        output = rendered(render_story(story_of(hostile_verdict(attack)), path=Path(attack[:100] or "x")))
        visible = strip_sgr(output)
        assert "\x1b" not in visible, repr(attack)
        assert not ANSI_OR_CONTROL.search(visible.replace("\n", "")), repr(attack)
        assert "\u202e" not in visible


def test_inspect_tree_shows_markup_as_text():
    output = plain(render_story(story_of(hostile_verdict("[bold red]x[/]")), path=Path("f.jpg")))
    assert "title: [bold red]x[/]" in output
    assert "claim generator: [bold red]x[/]" in output
    assert "label: AI-generated · unrecognized signer" in output


def test_inspect_tree_truncates_a_ten_thousand_character_field(shared_dir):
    field = (shared_dir / "attacks" / "ten_thousand_characters.attack").read_text().strip()
    assert len(field) >= 10_000
    output = plain(render_story(story_of(hostile_verdict(field)), path=Path("f.jpg")), width=100_000)
    longest_run = max(len(run) for run in re.findall(r"A+", output))
    assert longest_run < 1000
    assert "…" in output


def test_inspect_tree_bounds_long_lists():
    actions = tuple(Action(action=f"c2pa.edited.{n}", form=ActionsForm.V2) for n in range(500))
    verdict = Verdict(
        state=VerdictState.TRUSTED,
        sha256="0" * 64,
        size=1,
        engine_version="x",
        manifests=(ManifestSummary(label="m", claim_generator="g", actions=actions),),
    )
    output = plain(render_story(story_of(verdict), path=Path("f")))
    assert f"… {500 - MAX_ITEMS_SHOWN} more" in output
    assert "c2pa.edited.499" not in output


def test_inspect_tree_nests_ingredient_manifests_under_their_parent():
    parent = ManifestSummary(
        label="urn:parent", claim_generator="camera", actions=(Action(action="c2pa.created", form=ActionsForm.V2),)
    )
    child = ManifestSummary(
        label="urn:child",
        claim_generator="editor",
        ingredients=(IngredientSummary(title="p.jpg", relationship="parentOf", manifest_label="urn:parent"),),
    )
    verdict = Verdict(
        state=VerdictState.TRUSTED, sha256="0" * 64, size=1, engine_version="x", manifests=(child, parent)
    )
    lines = plain(render_story(story_of(verdict), path=Path("f"))).splitlines()
    child_line = next(line for line in lines if "[active] urn:child" in line)
    parent_line = next(line for line in lines if "[ingredient] urn:parent" in line)
    assert parent_line.index("[ingredient]") > child_line.index("[active]")
