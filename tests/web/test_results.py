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
    assert [[c.text for c in row] for row in table.head] == [["month", "revenue"]]  # one header row
    assert [c.text for c in table.body[0]] == ["2024-01", "10"]
    assert table.body[0][0].header
    assert table.sortable


def test_an_unstacked_frame_names_its_index_and_its_columns_in_the_corner():
    html = (
        "<table><thead><tr><th>region</th><th>North</th><th>South</th></tr>"
        "<tr><th>month</th><th></th><th></th></tr></thead>"
        "<tbody><tr><th>2024-01</th><td>1.0</td><td>2.0</td></tr></tbody></table>"
    )
    table = table_from_html(html)
    assert [[c.text for c in row] for row in table.head] == [["month / region", "North", "South"]]
    assert table.sortable and [c.numeric for c in table.head[0]] == [False, True, True]


def test_a_row_index_of_two_levels_keeps_its_header_rows_and_its_order():
    html = (
        "<table><thead><tr><th></th><th></th><th>revenue</th></tr>"
        "<tr><th>region</th><th>month</th><th></th></tr></thead><tbody>"
        '<tr><th rowspan="2">North</th><th>2024-01</th><td>1</td></tr><tr><th>2024-02</th><td>2</td></tr>'
        "</tbody></table>"
    )
    table = table_from_html(html)
    assert [[c.text for c in row] for row in table.head] == [["region", "month", "revenue"]]
    assert not table.sortable  # its index cells span rows: kept in the code's order


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
        (
            "By region:\nregion  revenue\nNorth  12.00\nHighest: North (12.00); lowest: South (4.00)\n",
            "Highest: North (12.00); lowest: South (4.00)",
        ),
        ("Total revenue: 1,234.50\n", "Total revenue: 1,234.50"),
        ("#1: North (12)\n", "#1: North (12)"),
        ("Revenue by region:\n", ""),
        ("12:30\n", ""),
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


def _frame_html(rows: int) -> str:
    body = "".join(f"<tr><th>{i}</th><td>{i}</td></tr>" for i in range(rows))
    return f"<table><thead><tr><th></th><th>n</th></tr></thead><tbody>{body}</tbody></table>"


def test_a_table_the_sandbox_cut_says_how_many_rows_the_frame_had():
    from analysis.sandboxes.runner import FRAME_ROWS

    table = table_from_html(
        _frame_html(FRAME_ROWS) + f"\n<p>showing the first {FRAME_ROWS} of 250000 rows</p>"
    )

    assert (table.row_count, table.total_rows, table.note) == (FRAME_ROWS, 250_000, "")
    assert (
        table.cut_note == f"The first {FRAME_ROWS} of 250,000 rows: a result sends at most {FRAME_ROWS} rows."
    )
    assert table.collapsible  # the page shows its first rows, then "Show all"


def test_markup_with_more_rows_than_the_sandbox_sends_is_cut_to_the_same_number_saying_so():
    from analysis.sandboxes.runner import FRAME_ROWS

    table = table_from_html(_frame_html(FRAME_ROWS + 50))

    assert (table.row_count, table.total_rows) == (FRAME_ROWS, FRAME_ROWS + 50)
    assert table.cut_note.startswith(f"The first {FRAME_ROWS} of {FRAME_ROWS + 50} rows")


def test_a_table_sent_whole_has_no_cut_note():
    table = table_from_html(_frame_html(25))

    assert (table.row_count, table.total_rows, table.cut_note) == (25, None, "")


def test_the_runners_row_cap_and_the_pages_table_agree(settings, analyst, reviewer, team):
    """A 250-row Series, run for real: the sandbox sends its first FRAME_ROWS rows as a one-column table and
    says so; the page shows the first ten of them, the rest behind "Show all", and says the sandbox cut it."""
    from analysis.sandboxes.runner import FRAME_ROWS
    from analysis.tables import FIRST_ROWS
    from tests.analysis.test_sandbox_results import run_approved
    from tests.web.test_pages import logged_in

    settings.SANDBOX_BACKEND = "local"
    code = "import pandas as pd\npd.Series(range(250), name='n')\n"
    execution = run_approved(analyst=analyst, reviewer=reviewer, team=team, code=code)
    assert execution.status == "succeeded", execution.error

    page = logged_in(analyst).get(f"/sessions/{execution.request.session_id}/").content.decode()

    table = page[page.index('<table class="result-table') : page.index("</table>")]
    assert table.count("<tr") == 1 + FRAME_ROWS  # the header and the rows the sandbox sent
    assert table.count('<tr class="more">') == FRAME_ROWS - FIRST_ROWS  # behind "Show all"
    assert f"The first {FRAME_ROWS} of 250 rows: a result sends at most {FRAME_ROWS} rows." in table
    assert "showing the first" not in page  # the runner's own note is not shown twice


def test_the_offline_generators_table_reaches_the_page_as_a_sortable_table_with_its_answer(
    settings, analyst, reviewer, team
):
    from analysis.services.asking import analysis_submit
    from analysis.services.execution import execution_run, execution_start
    from analysis.services.generation import request_generate_code
    from approvals.services import approval_request_approve
    from tests.factories import demo_dataset
    from tests.web.test_pages import logged_in

    settings.SANDBOX_BACKEND = "local"
    settings.MISTRAL_API_KEY = ""
    dataset = demo_dataset(team, rows=60)
    asked = analysis_submit(user=analyst, query="Total revenue by region", dataset_ids=[str(dataset.pk)])
    request = approval_request_approve(request=request_generate_code(request_id=asked.pk), reviewer=reviewer)
    execution, _ = execution_start(request=request, user=analyst)
    execution = execution_run(execution_id=execution.pk)
    assert execution.status == "succeeded", execution.error

    page = logged_in(analyst).get(f"/sessions/{request.session_id}/").content.decode()

    assert page.count('<table class="result-table sortable"') == 1
    table = page[page.index('<table class="result-table') : page.index("</table>")]
    assert '<th scope="col">region</th><th scope="col" class="num">revenue</th>' in table
    assert '<p class="answer"><strong>Answer:</strong> Highest: ' in page
    assert "<summary>Printed output</summary>" in page  # the printed table folded: shown once, as a table
