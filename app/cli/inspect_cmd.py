"""`originmark inspect FILE`: one asset's manifest history, readable.

The file is verified in an isolated worker process (bounded time and memory:
it may be hostile), its verdict becomes a `Story`, and the story is printed as
a Rich tree with the feed label on top — or as JSON with `--json`. Every
manifest-derived string goes through `app.cli.render` before it reaches the
terminal.

Exit status (app.exit_codes): 0 normally, 1 when the credentials are invalid, 2
when the file cannot be read (missing, a folder, no permission) or the
settings are wrong. An `error` verdict (unsupported or malformed media) is a
result shown with its reason, exit 0, as in `originmark verify`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from app.cli.render import clean_text, label_text, make_console, safe_text, state_style
from app.exit_codes import EXIT_USAGE_OR_IO, exit_code_for, exit_code_for_state, user_message
from verifier.label_types import LabelEvidence
from verifier.story import ActionLine, IngredientLine, ManifestChapter, SignalLine, Story, story_of, story_record
from verifier.verdict import TimeStamp, Verdict, VerdictState

MAX_ITEMS_SHOWN = 50  # per list (actions, ingredients, assertions): a hostile file may carry thousands
MAX_NESTING = 8  # deeper ingredient manifests are shown at this depth, so the tree stays readable


# --- reading the file -----------------------------------------------------------


def _unreadable_reason(file: Path) -> str | None:
    """Why `file` cannot be inspected, in words a user can act on; None when it can."""
    try:
        status = file.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return error.strerror or type(error).__name__
    if stat.S_ISDIR(status.st_mode):
        return "is a folder: inspect takes one file (use `originmark verify -r` for folders)"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file (FIFO, socket or device)"
    if not os.access(file, os.R_OK):
        return "permission denied"
    return None


def _verify(file: Path) -> Verdict:
    # Imported here: building the verifier loads the engine and the trust lists,
    # which `originmark --help` should not pay for.
    from app.cli.early_workers import verifier_workers

    launched = verifier_workers(1)  # imports the engine while this process reads its settings
    try:
        from app.settings import Settings
        from app.wiring import build_verifier

        settings = Settings()
    except BaseException:
        launched[0].discard()
        raise
    verifier = build_verifier(settings, workers=1, launched=launched)
    try:
        return verifier.verify_file(file)
    finally:
        verifier.close()


# --- rendering ------------------------------------------------------------------


def _field(name: str, value: object, *, style: str = "", max_chars: int = 200) -> Text:
    return Text.assemble((f"{name}: ", "bold"), safe_text(value, style=style, max_chars=max_chars))


def _bounded(items: tuple, node: Tree, add) -> None:
    for item in items[:MAX_ITEMS_SHOWN]:
        add(node, item)
    if len(items) > MAX_ITEMS_SHOWN:
        node.add(Text(f"… {len(items) - MAX_ITEMS_SHOWN} more", style="dim"))


def _add_action(node: Tree, action: ActionLine) -> None:
    line = safe_text(action.action, style="bold", max_chars=80)
    if action.source_type_term:
        line.append("  ")
        line.append_text(safe_text(action.source_type_term, style="magenta", max_chars=120))
    if action.software_agent:
        line.append("  agent: ", style="dim")
        line.append_text(safe_text(action.software_agent, max_chars=120))
    if action.description:
        line.append("  “", style="dim")
        line.append_text(safe_text(action.description, max_chars=120))
        line.append("”", style="dim")
    line.append(f"  ({action.form.value})", style="dim")
    node.add(line)


def _add_ingredient(node: Tree, ingredient: IngredientLine) -> None:
    line = safe_text(ingredient.relationship or "ingredient", style="bold", max_chars=40)
    line.append(" ")
    line.append_text(safe_text(ingredient.title or "(untitled)", max_chars=120))
    if ingredient.format:
        line.append("  ")
        line.append_text(safe_text(ingredient.format, style="dim", max_chars=60))
    if ingredient.source_type_term:
        line.append("  ")
        line.append_text(safe_text(ingredient.source_type_term, style="magenta", max_chars=120))
    if ingredient.manifest_label:
        line.append("  → ", style="dim")
        line.append_text(safe_text(ingredient.manifest_label, max_chars=120))
    else:
        line.append("  (no credentials)", style="dim")
    if ingredient.state is not None:
        line.append("  ")
        line.append(ingredient.state.value, style=state_style(ingredient.state))
    branch = node.add(line)
    if ingredient.failure_codes:
        branch.add(_field("codes", ", ".join(ingredient.failure_codes), style="red", max_chars=400))


def _signer_line(chapter: ManifestChapter) -> Text:
    who = chapter.signer_organisation or chapter.signer_common_name or "(unnamed)"
    line = Text.assemble(("signed by: ", "bold"), safe_text(who, max_chars=120))
    if chapter.signer_common_name and chapter.signer_organisation:
        line.append(" (")
        line.append_text(safe_text(chapter.signer_common_name, max_chars=120))
        line.append(")")
    if chapter.signing_algorithm:
        line.append("  ")
        line.append_text(safe_text(chapter.signing_algorithm, style="dim", max_chars=20))
    if chapter.signed_at is not None:
        line.append(f"  {chapter.signed_at.isoformat()}")
        line.append(" time-stamped" if chapter.time_stamped else " (signer's clock, not time-stamped)", style="dim")
    return line


def _time_stamp_line(stamp: TimeStamp, *, caption: str = "time-stamp") -> Text:
    """When a TSA stamped the signature, which one, and whether its word counts (trusted, on which list)."""
    line = Text.assemble((f"{caption}: ", "bold"), stamp.time.isoformat())
    if stamp.authority:
        line.append(" by ")
        line.append_text(safe_text(stamp.authority, max_chars=120))
    if stamp.trusted:
        line.append("  trusted", style="green")
        if stamp.trust_list:
            line.append(" (trust list ")
            line.append_text(safe_text(stamp.trust_list, max_chars=60))
            line.append(")")
    else:
        line.append("  authority on no trust list: the time is not confirmed", style="yellow")
    return line


def _signal_name(line: SignalLine) -> str:
    # "inception:signal_fullyGenAIMedia" -> "fullyGenAIMedia"; readings beyond the rubric say what they rest on
    name = line.signal.value.split(":", 1)[1].removeprefix("signal_")
    if line.evidence in (LabelEvidence.DIGITAL_SOURCE_TYPE.value, LabelEvidence.NONE.value):
        return name
    return f"{name} (from {line.evidence})"


def _chapter_tree(chapter: ManifestChapter) -> Tree:
    heading = Text.assemble((f"[{chapter.role.value}] ", "bold cyan"), safe_text(chapter.label, max_chars=120))
    node = Tree(heading)
    if chapter.title:
        node.add(_field("title", chapter.title))
    if chapter.claim_generator:
        node.add(_field("claim generator", chapter.claim_generator))
    if chapter.signer_organisation or chapter.signer_common_name or chapter.signed_at:
        node.add(_signer_line(chapter))
    if chapter.time_stamp is not None:
        node.add(_time_stamp_line(chapter.time_stamp))
    if chapter.actions:
        _bounded(chapter.actions, node.add(Text("actions", style="bold")), _add_action)
    if chapter.ingredients:
        _bounded(chapter.ingredients, node.add(Text("ingredients", style="bold")), _add_ingredient)
    signals = chapter.inception_signals + chapter.transformation_signals
    if signals:
        listed = sorted({_signal_name(line) for line in signals})
        node.add(_field("signals", ", ".join(listed), style="dim", max_chars=600))
    if chapter.assertion_labels:
        shown = chapter.assertion_labels[:MAX_ITEMS_SHOWN]
        more = len(chapter.assertion_labels) - len(shown)
        text = ", ".join(clean_text(each, max_chars=80) for each in shown) + (f", … {more} more" if more else "")
        node.add(_field("assertions", text, style="dim", max_chars=4000))
    if chapter.validation_codes:
        node.add(_field("validation codes", ", ".join(chapter.validation_codes), style="red", max_chars=1000))
    return node


def render_story(story: Story, *, path: Path) -> Group:
    """The story as Rich renderables: a header with the label, then the manifest tree."""
    header = Text.assemble(safe_text(str(path), style="bold", max_chars=300), "\n")
    header.append_text(Text.assemble(("label: ", "bold"), label_text(story.label)))
    if story.label.issuer:
        header.append("  issuer: ", style="bold")
        header.append_text(safe_text(story.label.issuer, max_chars=120))
    if story.label.evidence is not LabelEvidence.NONE:
        header.append(f"  (evidence: {story.label.evidence.value})", style="dim")
    header.append("\nstate: ", style="bold")
    header.append(story.state.value, style=state_style(story.state))
    if story.trust_list:
        header.append("  trust list: ")
        header.append_text(safe_text(story.trust_list, max_chars=60))
    if story.time_stamp is not None:
        header.append("\n")
        header.append_text(_time_stamp_line(story.time_stamp, caption="time-stamped"))
    if story.reason:
        header.append("\nreason: ", style="bold")
        header.append_text(safe_text(story.reason, max_chars=400))
    details = [f"{story.size} bytes", f"engine {clean_text(story.engine_version)}"]
    if story.format:
        details.insert(0, clean_text(story.format, max_chars=60))
    header.append("\n" + " · ".join(details), style="dim")
    if story.sha256:
        header.append(f"\nsha256 {clean_text(story.sha256, max_chars=64)}", style="dim")
    if story.ingredient_failure_codes:
        header.append("\ningredient codes: ", style="bold")
        header.append_text(safe_text(", ".join(story.ingredient_failure_codes), style="red", max_chars=600))
    if not story.chapters:
        return Group(header)
    if story.state is VerdictState.INVALID:
        # UX guidance: broken credentials make no claim. The tree stays, for forensics, marked as such.
        header.append("\nThe credentials below are broken: nothing they say is confirmed.", style="bold red")

    root = Tree(Text(f"manifests ({len(story.chapters)})", style="bold"))
    # Chapters come depth-first: a chapter hangs under the last one shallower than it.
    parents: list[Tree] = [root]
    for chapter in story.chapters:
        del parents[min(chapter.depth, MAX_NESTING) + 1 :]
        node = _chapter_tree(chapter)
        parents[-1].children.append(node)
        parents.append(node)
    return Group(header, root)


# --- the command ----------------------------------------------------------------


def inspect(
    file: Annotated[Path, typer.Argument(help="The media file (or .c2pa manifest store) to inspect.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the story as JSON instead of a tree.")] = False,
) -> None:
    """Show one file's Content Credentials: label, manifests, actions, ingredients, signer, codes."""
    errors = make_console(stderr=True)
    reason = _unreadable_reason(file)
    if reason is not None:
        errors.print(Text.assemble(("error: ", "bold red"), safe_text(str(file), max_chars=300), f": {reason}"))
        raise typer.Exit(EXIT_USAGE_OR_IO)
    try:
        verdict = _verify(file)
    except Exception as error:  # noqa: BLE001 - the command boundary: a message and an exit code, never a traceback
        # OSError, bad settings or a verifier that cannot start: exit 2; anything else is a bug: exit 70.
        errors.print(Text.assemble(("error: ", "bold red"), safe_text(user_message(error), max_chars=2000)))
        raise typer.Exit(exit_code_for(error)) from None
    story = story_of(verdict)
    if json_output:
        record = {"path": str(file), **story_record(story)}
        # ensure_ascii: any control character a manifest carries is printed as a \u escape.
        typer.echo(json.dumps(record, ensure_ascii=True, indent=2))
    else:
        make_console().print(render_story(story, path=file))
    raise typer.Exit(exit_code_for_state(verdict.state))
