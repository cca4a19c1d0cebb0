"""Results people read: a DataFrame's HTML becomes a table of text, numbers grouped; a one-line answer."""

import pytest

from analysis.presenters import answer_line, chart_titles
from analysis.tables import grouped, table_from_html

FRAME = """<table border="1" class="dataframe">
  <thead><tr style="text-align: right;"><th></th><th>region</th><th>revenue</th><th>share</th></tr></thead>
  <tbody>
    <tr><th>0</th><td>North</td><td>1234567.891</td><td>0.5</td></tr>
    <tr><th>1</th><td>South <b onclick="x()">&amp; co</b></td><td>-4200</td><td>NaN</td></tr>
    <tr><th>2</th><td><script>alert(1)</script>West</td><td>12</td><td>0.25</td></tr>
  </tbody>
</table>
<p>3 rows × 3 columns</p>"""


def test_a_frame_becomes_cells_of_text_without_its_default_index():
    table = table_from_html(FRAME)
    assert [c.text for c in table.head[0]] == ["region", "revenue", "share"]
    assert [[c.text for c in row] for row in table.body] == [
        ["North", "1,234,567.891", "0.5"],
        ["South & co", "-4,200", "NaN"],
        ["West", "12", "0.25"],
    ]
    assert table.note == "3 rows × 3 columns"
    assert table.sortable


def test_number_columns_are_right_aligned_and_sort_by_value_text_columns_are_not():
    table = table_from_html(FRAME)
    region, revenue, share = (list(column) for column in zip(*table.body, strict=True))
    assert not any(c.numeric for c in region)
    assert all(c.numeric for c in revenue) and [c.sort_value for c in revenue] == [
        "1234567.891",
        "-4200",
        "12",
    ]
    assert all(c.numeric for c in share) and share[1].sort_value == ""  # NaN: no value to sort by
    assert [c.numeric for c in table.head[0]] == [False, True, True]


def test_a_named_index_is_kept_as_the_first_column():
    html = (
        "<table><thead><tr><th></th><th>revenue</th></tr><tr><th>month</th><th></th></tr></thead>"
        "<tbody><tr><th>2024-01</th><td>10</td></tr><tr><th>2024-02</th><td>20</td></tr></tbody></table>"
    )
    table = table_from_html(html)
    assert [c.text for c in table.body[0]] == ["2024-01", "10"]
    assert table.body[0][0].header
    assert not table.sortable  # two header rows: kept in the code's order


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1234567", "1,234,567"),
        ("-4200.5", "-4,200.5"),
        ("12", "12"),
        ("1.5e+07", "1.5e+07"),
        ("1,234", "1,234"),
    ],
)
def test_numbers_are_grouped_by_thousands(text, shown):
    assert grouped(text) == shown


def test_markup_without_a_table_or_broken_markup_is_not_a_table():
    assert table_from_html("<p>just text</p>") is None
    assert table_from_html("<table></table>") is None


def test_more_rows_than_the_first_ones_can_be_shown_all():
    rows = "".join(f"<tr><th>{i}</th><td>{i}</td></tr>" for i in range(25))
    table = table_from_html(
        f"<table><thead><tr><th></th><th>n</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    assert table.row_count == 25 and table.collapsible


@pytest.mark.parametrize(
    ("stdout", "answer"),
    [
        ("Revenue by region:\nregion  revenue\nNorth   12\nHighest: North (12).\n", "Highest: North (12)."),
        ("Answer: North sold most.\nregion  revenue\nNorth   12\n", "North sold most."),
        ("region  revenue\nNorth   12\n", ""),
        ("", ""),
        ("x" * 300 + ".\n", ""),
    ],
)
def test_the_one_line_answer_is_the_answer_line_or_a_short_last_sentence(stdout, answer):
    assert answer_line(stdout) == answer


def test_charts_are_described_by_the_titles_the_code_gives_them():
    code = 'fig, ax = plt.subplots()\nax.set_title("Revenue per month")\nplt.title(f"{x}")\n'
    assert chart_titles(code) == ("Revenue per month",)
    assert chart_titles("not python (") == ()
