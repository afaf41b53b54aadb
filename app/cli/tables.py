"""Tables that stay readable at 80 columns and in pipes (Rich's width there: COLUMNS, else 80).

Left to itself, Rich fits a table that is too wide by squeezing every column, down to headers
split into one-character pieces and ids cut short. Instead:

- `PathText`: a path or URI cell that is cut in the middle (`/work/data/…/image-0042.jpg`)
  to the width its column gets, keeping both ends: where it is and which file it is;
- `print_table`: prints the table when every column fits whole (ids, dates and other no-wrap
  cells unbroken, no header word split), else the same rows as one block per record:

      key id   69wh46w
      tenant   acme-ai
      ...
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from app.cli.render import ELLIPSIS

MIN_PATH_WIDTH = 16  # narrower than this, a path says too little: the table falls back to blocks
_UNBOUNDED = 100_000


def middle_ellipsis(text: str, width: int) -> str:
    """`text` in at most `width` terminal cells, its middle replaced by "…" when it is longer.

    The end gets two thirds of what is kept: a file's name says more than its first folders.
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head_budget = (width - 1) // 3
    tail_budget = width - 1 - head_budget
    head = _fit_cells(text, head_budget)
    tail = _fit_cells(text[::-1], tail_budget)[::-1]
    return f"{head}{ELLIPSIS}{tail}"


def _fit_cells(text: str, budget: int) -> str:
    """The longest start of `text` that takes at most `budget` cells (wide characters count 2)."""
    used = 0
    for index, character in enumerate(text):
        used += cell_len(character)
        if used > budget:
            return text[:index]
    return text


class PathText:
    """A one-line cell shortened in the middle to its column's width (never wrapped, never cut at an end)."""

    def __init__(self, text: str, *, style: str = "") -> None:
        self.text = text
        self.style = style

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = cell_len(self.text)
        return Measurement(min(width, MIN_PATH_WIDTH), width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(middle_ellipsis(self.text, options.max_width), style=self.style, no_wrap=True, end="")


def fits(console: Console, table: Table) -> bool:
    """Whether `table` prints at the console's width without cutting a no-wrap cell or a word."""
    unbounded = console.options.update_width(_UNBOUNDED)  # measured at the console's width, nothing is too wide
    for column in table.columns:
        if column.no_wrap:  # Rich measures the longest word even here; a no-wrap cell needs its whole width
            cells: list[RenderableType] = [column.header, *column.cells]
            widest = max(Measurement.get(console, unbounded, cell).maximum for cell in cells)
            column.min_width = max(column.min_width or 0, widest)
    return Measurement.get(console, unbounded, table).minimum <= console.width


def as_blocks(table: Table) -> Table:
    """The table's rows as blocks: each cell beside its column's header, a blank line between records."""
    blocks = Table.grid(padding=(0, 2))
    blocks.add_column(no_wrap=True, style="bold")
    blocks.add_column(overflow="fold")
    rows = list(zip(*(column.cells for column in table.columns), strict=True))
    for number, row in enumerate(rows):
        if number:
            blocks.add_row("", "")
        for column, cell in zip(table.columns, row, strict=True):
            blocks.add_row(column.header, cell)
    return blocks


def print_table(console: Console, table: Table) -> None:
    """`table` if it fits the console, else its records as blocks (see the module docstring)."""
    console.print(table if fits(console, table) else as_blocks(table))
