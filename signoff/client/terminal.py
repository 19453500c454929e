"""What every `signoff` command writes: one rich console, listings that fit the terminal or are
plain tab-separated lines, JSON for scripts, and the sign-in hint a command without a token
prints.

A listing (`print_listing`) is a table when standard output is a terminal (rich's test: a
tty, or `TTY_COMPATIBLE=1` / `FORCE_COLOR` set), fitted to its width (`fitted_table`): ids
are never cut or wrapped, the summary wraps, the other columns shrink, and those that no
longer fit at their narrowest are left out, least useful first. Otherwise (piped, redirected)
it is one line per row, its fields separated by tabs, with no header, no colour and no
border, every value whole (as `gh` does). Every value is shown as text (`plain`): never read
as rich markup, on one line, with control characters written as escapes, so text an agent
or a requester chose can neither break a listing nor drive the terminal.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

console = Console()
"""Standard output. In a terminal it wraps to the terminal's width; otherwise nothing it
prints is wrapped or cut (soft wrap), since no width applies."""
console.soft_wrap = not console.is_terminal

SIGN_IN = "Sign in: set SIGNOFF_TOKEN (or --token) to a user token of the server."
"""What a command that needs the server says when it has no token."""

GAP = 3
"""The cells between two columns of a fitted table: a divider and a space either side."""

NARROWEST = 2
"""The fewest cells a column of a fitted table ever gets (a wide character takes two)."""


def print_json(value: Any) -> None:
    """`value` as indented JSON on standard output (what `--json` prints)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def plain(value: Any, lines: bool = False) -> str:
    """`value` as text to print: whitespace (line breaks too, unless `lines`) as spaces, and
    other control and format characters, which a terminal would act on or a text file could
    not hold, as escapes (`\\x1b`)."""
    return "".join(
        character
        if lines and character == "\n"
        else " "
        if character.isspace()
        else _escaped(character)
        if unicodedata.category(character) in ("Cc", "Cf", "Cs")
        else character
        for character in str(value)
    )


def indented(text: Text, indent: int) -> RenderableType:
    """`text` `indent` cells in, every line of it (in a terminal, wrapped lines too)."""
    if console.is_terminal:
        return Padding(text, (0, 0, 0, indent), expand=False)
    return Text("\n").join(Text(" " * indent) + line for line in text.split("\n"))


def _escaped(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True)
class Column:
    """A column of a fitted table."""

    header: str
    keep: int = 0
    """How long it stays as the terminal narrows: 0 always, then 1, 2, ...: from the first
    that does not fit at its narrowest on, columns are left out (the listing's lines and
    `--json` have them)."""
    least: int = 0
    """The fewest cells it wraps to (0: its header's width)."""
    whole: bool = False
    """Never wrapped or cut (ids), as long as the terminal has room for it at all."""
    wraps_last: bool = False
    """Shrinks only once the others are at their narrowest (the summary)."""
    leaves: int = 0
    """Shown only while the `wraps_last` columns keep this many cells beside it (or as many
    as their widest cell needs)."""


def fitted_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, title: str = ""
) -> Table:
    """A table of `rows` (one cell per column, as `plain` text) no wider than `width`:

    each column as wide as its widest cell where there is room; otherwise the columns that
    wrap shrink, widest first (a `wraps_last` one last), not below their `least`; columns
    are kept in order of `keep` up to the first that would not fit at that (leaving the
    `wraps_last` ones the cells it `leaves` them). When even the columns kept
    always do not fit at that, whole columns wrap too and every column shrinks towards
    `NARROWEST` cells."""
    natural = [
        max([cell_len(column.header), 1, *(cell_len(row[index]) for row in rows)])
        for index, column in enumerate(columns)
    ]
    least = [
        natural[index] if column.whole else min(natural[index], column.least or len(column.header))
        for index, column in enumerate(columns)
    ]
    kept = [index for index, column in enumerate(columns) if column.keep == 0]
    for index in sorted(set(range(len(columns))) - set(kept), key=lambda i: columns[i].keep):
        leaves = columns[index].leaves
        cells = sum(
            max(least[i], min(natural[i], leaves)) if columns[i].wraps_last else least[i]
            for i in (*kept, index)
        )
        if cells + GAP * len(kept) > width:
            break
        kept.append(index)
    kept.sort()
    widths = {index: natural[index] for index in kept}
    room = width - GAP * (len(kept) - 1)
    whole = {index for index in kept if columns[index].whole}
    if sum(least[index] for index in kept) > room:
        whole = set()
    last = {index for index in kept if columns[index].wraps_last}
    for shrinking, floor in (
        (set(kept) - whole - last, least),
        (set(kept) - whole, least),
        (set(kept), [NARROWEST] * len(columns)),
    ):
        _shrink(widths, shrinking, floor, sum(widths.values()) - room)
    table = Table(
        title=Text(plain(title)) if title else None,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    for index in kept:
        table.add_column(
            Text(plain(columns[index].header)),
            width=widths[index],
            no_wrap=index in whole,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(Text(plain(row[index])) for index in kept))
    return table


def _shrink(widths: dict[int, int], shrinking: set[int], floor: Sequence[int], excess: int) -> None:
    """Take `excess` cells from the widest of the `shrinking` columns, none below its floor."""
    while excess > 0:
        wider = [index for index in shrinking if widths[index] > floor[index]]
        if not wider:
            return
        widest = max(wider, key=lambda index: (widths[index], -index))
        widths[widest] -= 1
        excess -= 1


def print_listing(
    title: str,
    columns: Sequence[Column],
    cells: Sequence[Sequence[str]],
    lines: Iterable[Sequence[Any]] | None = None,
) -> None:
    """In a terminal, `cells` (one row per item) as a table fitted to it, under `title`;
    otherwise `lines` (the same items, full values; by default the cells) as tab-separated
    lines."""
    if console.is_terminal:
        console.print(fitted_table(columns, cells, console.width, title))
        return
    piped = cells if lines is None else lines
    sys.stdout.writelines("\t".join(plain(field) for field in line) + "\n" for line in piped)
