"""Tables and figures: what every benchmark prints and saves.

A benchmark returns `Table`s. They print with `rich` (a dev dependency), and `save_results`
writes them, with the run's settings, as JSON under `bench/results/`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable

RESULTS = Path(__file__).resolve().parent / "results"

Cell = str | int | float | None


@dataclass
class Table:
    """One printed table: a title, column names, rows of cells, and notes printed below."""

    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        """Append one row (as many cells as columns)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def note(self, text: str) -> None:
        """Add a line printed under the table."""
        self.notes.append(text)


Emit = Callable[[Table], None]
"""Where a benchmark sends each table as soon as it is ready (print it, keep it for JSON)."""


def fmt(value: Cell, digits: int = 2) -> str:
    """A cell as text: floats with `digits` decimals, `None` as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def ms(seconds: float | None) -> str:
    """Seconds shown as milliseconds."""
    return "-" if seconds is None else f"{seconds * 1000:,.2f} ms"


def ratio(value: float | None, base: float | None) -> str:
    """`value / base` as `1.23x`."""
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}x"


def median(values: Iterable[float]) -> float:
    """The median of `values`."""
    return statistics.median(list(values))


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The 25th and 75th percentiles of `values` (both the value itself when alone)."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def render(table: Table) -> None:
    """Print `table` with rich: wide enough for every column when the output is not a
    terminal (a log file, CI), where rich would otherwise assume 80 columns."""
    rich_table = RichTable(title=table.title, title_justify="left")
    for index, column in enumerate(table.columns):
        rich_table.add_column(column, justify="left" if index == 0 else "right")
    for row in table.rows:
        rich_table.add_row(*(fmt(cell) for cell in row))
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(rich_table)
    for line in table.notes:
        console.print(f"  {line}", highlight=False)
    console.print()


def save_results(tables: list[Table], settings: dict[str, Any], directory: Path = RESULTS) -> Path:
    """Write the run's tables and settings as JSON; returns the file (also `latest.json`)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {"when": stamp, "settings": settings, "tables": [asdict(t) for t in tables]}
    text = json.dumps(payload, indent=2, default=str)
    path = directory / f"run-{stamp}.json"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path
