"""A DataFrame result as a table people read: header, numbers right-aligned with thousands separators.

The sandbox returns a DataFrame as pandas' `to_html` (E2B's Jupyter does the same). That HTML comes from
the analysed code, so it is never shown as markup: only the text of its cells is kept (html.parser, no
attributes but colspan/rowspan), and the page renders its own table from it, escaped like any text.

How many rows a table has is decided once, in the sandbox: the runner sends a DataFrame's first FRAME_ROWS
rows and says "showing the first N of M rows" under it (analysis/sandboxes/runner.py). The page shows the
first FIRST_ROWS of what was sent, then "Show all", and says when the sandbox cut rows. Markup with more rows
than the runner sends (E2B's own display, or HTML the code forged) is cut to the same number, saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from .sandboxes.runner import FRAME_ROWS

MAX_ROWS = FRAME_ROWS
MAX_COLUMNS = 200  # cells per row kept from markup (the runner sends 50 columns, plus index levels)
MAX_CELL_CHARS = 500
FIRST_ROWS = 10  # shown at first; "show all" reveals the rest (every row is in the page)
NUMBER = re.compile(r"^[-+−]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?([eE][-+]?\d+)?%?$")
MISSING = {"", "nan", "NaN", "None", "<NA>", "NaT", "null"}
ELLIPSIS = {"...", "…"}
SANDBOX_CUT = re.compile(r"\[?showing the first (\d+) of (\d+) rows\]?")  # the runner's note


@dataclass
class Cell:
    text: str
    header: bool = False
    numeric: bool = False
    sort_value: str = ""
    colspan: int = 1
    rowspan: int = 1


@dataclass
class Table:
    head: list[list[Cell]]
    body: list[list[Cell]]
    note: str = ""  # pandas' "60 rows × 3 columns" when it shortened the frame
    sortable: bool = False
    first_rows: int = FIRST_ROWS
    total_rows: int | None = None  # the frame's rows when fewer were sent (the sandbox's cut)
    row_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.row_count = len(self.body)

    @property
    def collapsible(self) -> bool:
        return self.row_count > self.first_rows

    @property
    def cut_note(self) -> str:
        """Says that the table has more rows than the page received, or ''."""
        if self.total_rows is None or self.total_rows <= self.row_count:
            return ""
        sent, total = f"{self.row_count:,}", f"{self.total_rows:,}"
        return f"The first {sent} of {total} rows: a result sends at most {MAX_ROWS:,} rows."


class _TableParser(HTMLParser):
    """Collects the first <table>'s rows as cell texts; everything else (tags, attributes, scripts) goes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.head: list[list[Cell]] = []
        self.body: list[list[Cell]] = []
        self.after: list[str] = []
        self.rows_left_out = 0  # body rows past MAX_ROWS
        self._depth = 0
        self._done = False
        self._section = "body"
        self._row: list[Cell] | None = None
        self._cell: Cell | None = None
        self._text: list[str] = []
        self._skip = 0  # inside <script> or <style>: their text is not a cell's

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if self._done:
            return
        if tag == "table":
            self._depth += 1
        elif self._depth != 1:
            return
        elif tag == "thead":
            self._section = "head"
        elif tag == "tbody":
            self._section = "body"
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            values = dict(attrs)
            spans = {"colspan": _span(values), "rowspan": _span(values, "rowspan")}
            self._cell = Cell(text="", header=tag == "th", **spans)
            self._text = []
        elif tag == "br" and self._cell is not None:
            self._text.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        if self._done:
            return
        if tag == "table":
            self._depth -= 1
            self._done = self._depth == 0
        elif self._depth != 1:
            return
        elif tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._cell.text = " ".join("".join(self._text).split())[:MAX_CELL_CHARS]
            if len(self._row) < MAX_COLUMNS:
                self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            rows = self.head if self._section == "head" else self.body
            if len(rows) < MAX_ROWS:
                rows.append(self._row)
            elif rows is self.body:
                self.rows_left_out += 1
            self._row = None

    def handle_data(self, data):
        if self._skip:
            return
        if self._cell is not None:
            self._text.append(data)
        elif self._done:
            self.after.append(data)


def _span(attrs: dict, name: str = "colspan") -> int:
    try:
        return max(1, min(int(attrs.get(name) or 1), MAX_COLUMNS))
    except ValueError:
        return 1


def table_from_html(html: str) -> Table | None:
    """The table in `html` (pandas' to_html), or None when there is none to show."""
    if "<table" not in html:
        return None
    parser = _TableParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # malformed markup from the analysed code: show its text instead
        return None
    head, body = parser.head, parser.body
    if not head and body and all(c.header for c in body[0]):
        head, body = [body[0]], body[1:]
    if not head and not body:
        return None
    head = _one_header_row(head)
    head, body = _without_range_index(head, body)
    _mark_numbers(head, body)
    note = " ".join("".join(parser.after).split())
    total = len(body) + parser.rows_left_out if parser.rows_left_out else None
    cut = SANDBOX_CUT.search(note)
    if cut is not None:
        total = max(int(cut.group(2)), len(body))
        note = " ".join(SANDBOX_CUT.sub(" ", note).split())
    simple = len(head) <= 1 and all(c.colspan == 1 and c.rowspan == 1 for row in head + body for c in row)
    widths = {len(row) for row in body}
    sortable = simple and len(widths) <= 1
    return Table(head=head, body=body, note=note[:200], sortable=sortable, total_rows=total)


def _one_header_row(head: list[list[Cell]]) -> list[list[Cell]]:
    """pandas writes a named index as a second header row ([region, '', '', …]) under the columns' row: its
    name moves into the empty corner, so the table has one header row (and can be sorted). A name the columns
    have (an unstacked "region" above "month") stays beside it: "month / region"."""
    if len(head) != 2 or len(head[0]) != len(head[1]):
        return head
    columns, names = head
    if any(c.colspan != 1 or c.rowspan != 1 for c in columns + names):
        return head
    index_levels = next((i for i, c in enumerate(names) if not c.text), len(names))
    if index_levels == 0 or any(c.text for c in names[index_levels:]):
        return head
    merged = [Cell(text=c.text, header=True) for c in names[:index_levels]]
    corner = columns[index_levels - 1].text
    if corner:
        merged[-1].text = f"{merged[-1].text} / {corner}"
    return [merged + columns[index_levels:]]


def _without_range_index(head: list[list[Cell]], body: list[list[Cell]]):
    """Drops pandas' default index (0, 1, 2, … in a nameless first column): it is row numbering, not data."""
    data_rows = [row for row in body if row and row[0].text not in ELLIPSIS]
    if not data_rows or not all(row[0].header for row in data_rows):
        return head, body
    if any(row and row[0].text for row in head):
        return head, body  # a named index is data (e.g. "month")
    numbers = [int(row[0].text) if row[0].text.isdigit() else -1 for row in data_rows]
    if numbers[0] != 0 or any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        return head, body
    return [row[1:] for row in head], [row[1:] if row else row for row in body]


def _mark_numbers(head: list[list[Cell]], body: list[list[Cell]]) -> None:
    """A column whose values are all numbers is right-aligned, grouped by thousands, and sorts by value."""
    width = max((len(row) for row in body), default=0)
    for column in range(width):
        cells = [row[column] for row in body if column < len(row) and not row[column].header]
        values = [c for c in cells if c.text not in MISSING and c.text not in ELLIPSIS]
        if not values or not all(NUMBER.match(c.text) for c in values):
            continue
        for cell in cells:
            cell.numeric = True
            if cell in values:
                cell.sort_value = _plain_number(cell.text)
                cell.text = grouped(cell.text)
        for row in head:
            if column < len(row) and len(row) == width:
                row[column].numeric = True


def _plain_number(text: str) -> str:
    return text.replace(",", "").replace("−", "-").rstrip("%")


def grouped(text: str) -> str:
    """'1234567.5' → '1,234,567.5'; exponents, percentages and grouped numbers keep their form."""
    if "," in text or "e" in text.lower():
        return text
    match = re.match(r"^([-+−]?)(\d+)(.*)$", text)
    if match is None:
        return text
    sign, digits, rest = match.groups()
    return f"{sign}{int(digits):,}{rest}"
