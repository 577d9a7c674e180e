"""Tables that fit the terminal, whatever its width (issue 37): 80 columns, a pipe or a file included.

A table is a title, columns and rows of cells. A cell holds a short value (a number with its interval) and may hold a
note (a status, a verdict's reason): in a table the note moves under it, numbered, and the cell shows "[1]"; cells
may wrap onto two lines, headers onto three, never inside a word. Where even that is wider than the console, each
row (group) is printed as a block of "column: value" lines instead, notes inline, so nothing is cut off with "…".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

CELL_LINES = 2  # a cell may wrap onto this many lines before the table gives way to blocks
HEADER_LINES = 3
SHORT = 14  # a status this long or shorter stays in its cell; a longer one becomes a note


@dataclass(frozen=True)
class Cell:
    """``value``: rich markup, short; ``note``: plain text, moved under the table as a numbered note; ``inline``:
    what a block shows after the value instead of "(note)" (e.g. "grid-limited")."""

    value: str = ""
    note: str = ""
    inline: str | None = None

    def block_text(self) -> str:
        if not self.note:
            return self.value or "–"
        extra = self.inline if self.inline is not None else (f"({escape(self.note)})" if self.value
                                                            else escape(self.note))
        return f"{self.value} {extra}" if self.value else extra


def status_cell(text: str) -> Cell:
    """A status or reason: kept in the cell when short, a note when long."""
    text = str(text) if text is not None else ""
    if not text:
        return Cell("–")
    return Cell(escape(text)) if len(text) <= SHORT else Cell("", text)


@dataclass
class ConsoleTable:
    title: str
    columns: list[tuple[str, str]]  # (header, justify)
    rows: list[list[Cell]] = field(default_factory=list)
    caption: str = ""  # plain text, printed under the table (or the blocks)

    def add_row(self, *cells: Cell | str) -> None:
        self.rows.append([cell if isinstance(cell, Cell) else Cell(cell) for cell in cells])


def _lines(console: Console, markup: str, width: int) -> int:
    return len(Text.from_markup(markup).wrap(console, width))


def _min_width(console: Console, markup: str, lines: int) -> int:
    """The narrowest width at which ``markup`` wraps onto at most ``lines`` lines without breaking a word."""
    text = Text.from_markup(markup)
    width = max([len(word) for word in text.plain.split()] or [1])
    while width < text.cell_len and _lines(console, markup, width) > lines:
        width += 1
    return width


def _numbered(table: ConsoleTable) -> tuple[list[list[str]], list[str]]:
    """Cell texts with notes replaced by [k] (one number per distinct note, in reading order) and the notes."""
    notes: list[str] = []
    texts = []
    for row in table.rows:
        texts.append([])
        for cell in row:
            if cell.note and cell.note not in notes:
                notes.append(cell.note)
            mark = f"\\[{notes.index(cell.note) + 1}]" if cell.note else ""
            texts[-1].append(" ".join(part for part in (cell.value, mark) if part) or "–")
    return texts, notes


def _rich_table(table: ConsoleTable, texts: list[list[str]], widths: list[int], fixed: bool) -> Table:
    rich_table = Table(title=table.title, caption=escape(table.caption) if table.caption else None,
                       box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left")
    for k, (header, justify) in enumerate(table.columns):
        if fixed:
            rich_table.add_column(escape(header), justify=justify, width=widths[k])
        else:
            rich_table.add_column(escape(header), justify=justify, min_width=widths[k])
    for row in texts:
        rich_table.add_row(*row)
    return rich_table


def _natural_width(table: Table) -> int:
    wide = Console(width=100_000, file=None, record=False, color_system=None)
    with wide.capture() as captured:
        wide.print(table)
    return max((Text(line).cell_len for line in captured.get().splitlines()), default=0)


def print_table(console: Console, table: ConsoleTable) -> None:
    """The table when it fits the console (cells on at most two lines, notes under it), else one block per row."""
    texts, notes = _numbered(table)
    widths = []
    for k, (header, _) in enumerate(table.columns):
        widths.append(max([_min_width(console, escape(header), HEADER_LINES)]
                          + [_min_width(console, row[k], CELL_LINES) for row in texts]))
    if _natural_width(_rich_table(table, texts, widths, fixed=True)) <= console.width:
        console.print(_rich_table(table, texts, widths, fixed=False))
        if notes:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True, justify="right")
            grid.add_column()
            for k, note in enumerate(notes, 1):
                grid.add_row(f"\\[{k}]", escape(note))
            console.print(grid)
        return
    print_blocks(console, table)


def print_blocks(console: Console, table: ConsoleTable) -> None:
    """One block per row: the first cell as its heading, then "column: value" for the others, notes inline."""
    console.print(f"[bold]{table.title}[/]" if table.title else "", highlight=False)
    for row in table.rows:
        console.print(f"[bold]{row[0].block_text()}[/]", highlight=False)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)  # the indent
        grid.add_column(max_width=max(console.width // 2, 12))
        grid.add_column()
        for (header, _), cell in zip(table.columns[1:], row[1:]):
            grid.add_row("", f"{escape(header)}:", cell.block_text())
        console.print(grid)
    if table.caption:
        console.print(f"[dim]{escape(table.caption)}[/]", highlight=False)
    explained = dict.fromkeys(cell.note for row in table.rows for cell in row if cell.note and cell.inline)
    for note in explained:  # what a short inline word ("grid-limited") stands for, once
        console.print(f"[dim]{escape(note)}[/]", highlight=False)
