"""Where a report lands: rich tables and colour on a terminal, plain lines on a pipe or in a file.

Plain output is one finding or file per line, never wrapped or cut, so CI logs, `grep` and
`2>file` keep whole paths and whole sentences. FORCE_COLOR asks for the terminal form anywhere;
NO_COLOR and COLUMNS are honoured by rich on a terminal. rich is imported only when used.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Sequence, TextIO, Union


Cell = Union[str, tuple[str, str]]      # text, or (text, rich style)


def is_terminal(stream: TextIO) -> bool:
    """The terminal form: a TTY, or FORCE_COLOR set (as rich reads it: any non-empty value)."""
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):   # a closed or replaced stream
        return False


def text_of(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell[0]


class Printer:
    """Lines and tables for one stream (stdout for reports, stderr for warnings and progress)."""

    def __init__(self, stream: TextIO | None = None, *, err: bool = False):
        self.stream = stream or (sys.stderr if err else sys.stdout)
        self.rich = is_terminal(self.stream)
        self._console = None

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console
            self._console = Console(file=self.stream, highlight=False)
        return self._console

    def line(self, *parts: Cell) -> None:
        """One line from parts; styles show on a terminal only. Text is never read as markup."""
        if self.rich:
            from rich.text import Text
            self.console.print(Text.assemble(*parts))
        else:
            print("".join(text_of(p) for p in parts), file=self.stream)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]],
              plain: Callable[[list[str]], str]) -> None:
        """A table on a terminal; elsewhere the title and then plain(row) per row, one line each."""
        if not self.rich:
            if title:
                print(title, file=self.stream)
            for row in rows:
                print(plain([text_of(c) for c in row]), file=self.stream)
            return
        from rich.table import Table
        from rich.text import Text
        table = Table(title=Text(title) if title else None, title_justify="left")   # not read as markup
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*[Text(c) if isinstance(c, str) else Text(c[0], style=c[1]) for c in row])
        self.console.print(table)
