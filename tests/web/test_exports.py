"""The notebook and script downloads: only approved code is code, and nothing people wrote can become code,
markup or a link in them."""

import ast
import html
import re
import subprocess
import sys

import nbformat
import pytest
from markdown_it import MarkdownIt

from approvals.models import ApprovalRequest
from approvals.services import (
    approval_request_approve,
    approval_request_cancel,
    approval_request_edit,
    approval_request_reject,
)
from tests.factories import ApprovalRequestFactory
from tests.web.test_pages import finish, logged_in

Status = ApprovalRequest.Status
APPROVED_CODE = "print('approved code ran')\n"
REJECTED_CODE = "print('NOT APPROVED CODE RAN')\n"
PAYLOAD = "print('INJECTED')"
# Every line break Python's tokenizer honours, and every other one str.splitlines() (and editors) know.
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
MARKUP = (
    "[click me](https://evil.example/a) <img src=x onerror=alert(1)> <script>alert(2)</script> "
    "**bold** _it_ `tick` $\\href{javascript:alert(3)}{x}$ www.evil.example https://evil.example/b "
    "![pic](https://evil.example/c.png) &amp; &lt;b&gt;\n# heading\n- item\n[ref]: https://evil.example/d"
)


@pytest.fixture
def approved(analyst, reviewer, team):
    """A version a reviewer approved and the worker ran, as the first question of the session."""
    request = ApprovalRequestFactory(user=analyst, team=team, query="Plot revenue", code=APPROVED_CODE)
    approval_request_approve(request=request, reviewer=reviewer)
    finish(request, reviewer, stdout="approved code ran\n")
    return request


def ask(approved, **fields):
    """A later question of the same session."""
    fields.setdefault("code", REJECTED_CODE)
    return ApprovalRequestFactory(user=approved.user, team=approved.team, session=approved.session, **fields)


def script_of(approved) -> bytes:
    response = logged_in(approved.user).get(f"/sessions/{approved.session_id}/script.py")
    assert response.status_code == 200
    return response.content


def notebook_of(approved):
    response = logged_in(approved.user).get(f"/sessions/{approved.session_id}/notebook.ipynb")
    assert response.status_code == 200
    notebook = nbformat.reads(response.content.decode(), as_version=4)
    nbformat.validate(notebook)
    return notebook


def assert_only_approved_code_is_code(script: bytes, approved_code: str = APPROVED_CODE):
    # From bytes, as Python reads a file: a `coding:` comment would apply.
    assert ast.dump(ast.parse(script)) == ast.dump(ast.parse(approved_code))


def rendered(markdown: str) -> str:
    """The cell as Jupyter shows it: CommonMark with raw HTML allowed."""
    return MarkdownIt("commonmark", {"html": True}).render(markdown)


def shown_text(markdown: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered(markdown)))


# --- the script ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line_break", LINE_BREAKS, ids=[repr(b) for b in LINE_BREAKS])
def test_no_line_break_in_a_question_ends_its_comment_in_the_script(approved, line_break):
    ask(approved, query=f"Now by month{line_break}{PAYLOAD}{line_break}", status=Status.PENDING_REVIEW)
    script = script_of(approved)
    assert_only_approved_code_is_code(script)
    text = script.decode()
    shown = [line for line in text.splitlines() if "INJECTED" in line]  # lines as an editor shows them
    assert shown and all(line.startswith("#") for line in shown)


@pytest.mark.parametrize(("codec", "line_break"), [("utf-7", "+AAo-"), ("unicode_escape", "\\n")])
def test_a_question_cannot_declare_the_scripts_encoding(approved, tmp_path, codec, line_break):
    """Python honours a `coding:` comment on line 1 or 2 (where the session's title is); utf-7 reads `+AAo-`
    and unicode_escape reads a backslash and an n as a line break, turning the rest of a comment into code."""
    approved.session.title = f"coding: {codec}"
    approved.session.save()
    ask(approved, query=f"coding: {codec} {line_break}{PAYLOAD}", status=Status.PENDING_REVIEW)
    script = script_of(approved)
    assert_only_approved_code_is_code(script)
    path = tmp_path / "session.py"
    path.write_bytes(script)
    ran = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True)
    assert ran.stdout == "approved code ran\n"


def test_control_and_bidi_characters_in_a_question_are_written_as_escapes(approved):
    ask(approved, query="total\x07 by\x1b[2J region\u202e)'x'(tnirp", status=Status.PENDING_REVIEW)
    text = script_of(approved).decode()
    assert "# Question: total\\x07 by\\x1b[2J region\\u202e)'x'(tnirp\n" in text
    assert not {"\x07", "\x1b", "\u202e"} & set(text)


def test_an_approved_version_is_code_and_says_that_it_ran_and_how_it_ended(approved):
    text = script_of(approved).decode()
    assert "# Approved by rita; ran and succeeded.\n" in text
    assert "\n" + APPROVED_CODE in text


def rejected(approved, reviewer):
    request = ask(approved, query="Show the customers' emails")
    return approval_request_reject(request=request, reviewer=reviewer, reason="No personal data.\nprint(1)")


def policy_blocked(approved, reviewer):
    return ask(approved, status=Status.POLICY_BLOCKED, policy_reason="It opens a network connection.")


def superseded(approved, reviewer):
    request = ask(approved)
    approval_request_edit(request=request, reviewer=reviewer, code="print('the edited version')\n")
    request.refresh_from_db()
    return request


def generation_failed(approved, reviewer):
    return ask(approved, status=Status.GENERATION_FAILED, generation_error="The model answered no code.")


def withdrawn_by_the_analyst(approved, reviewer):
    return approval_request_cancel(request=ask(approved), user=approved.user)


def waiting_for_review(approved, reviewer):
    return ask(approved)


NOT_APPROVED = [
    rejected,
    policy_blocked,
    superseded,
    generation_failed,
    withdrawn_by_the_analyst,
    waiting_for_review,
]


@pytest.mark.parametrize("make", NOT_APPROVED, ids=[f.__name__ for f in NOT_APPROVED])
def test_a_version_that_was_not_approved_is_only_a_comment_in_the_script(approved, reviewer, make):
    version = make(approved, reviewer)
    assert version.code == REJECTED_CODE
    script = script_of(approved)
    assert_only_approved_code_is_code(script)
    text = script.decode()
    if make is superseded:  # the edit is the next version, waiting for review: a comment too
        assert "# | print('the edited version')\n" in text
    assert "# | " + REJECTED_CODE in text
    assert "Not approved, so it is not code here" in text


def test_a_rejected_version_says_who_rejected_it_and_why_as_comments(approved, reviewer):
    rejected(approved, reviewer)
    text = script_of(approved).decode()
    assert "# Rejected by rita.\n# Reason: No personal data.\n# print(1)\n" in text


def test_approved_code_that_was_changed_afterwards_is_not_code(approved):
    ApprovalRequest.objects.filter(pk=approved.pk).update(code=REJECTED_CODE)
    script = script_of(approved)
    assert ast.parse(script).body == []
    assert "Its code is not the code a reviewer approved." in script.decode()


# --- the notebook ----------------------------------------------------------------------------------------


def markdown_cells(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]


def code_cells(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def test_a_question_cannot_become_a_link_markup_or_html_in_the_notebook(approved):
    ask(approved, query=MARKUP, status=Status.PENDING_REVIEW)
    (cell,) = [c for c in markdown_cells(notebook_of(approved)) if c.startswith("## 2.")]
    page = rendered(cell)
    for tag in ("<a ", "<img", "<script", "<strong", "<em", "<code", "<h1", "<ul", "<li"):
        assert tag not in page, tag
    assert page.count("<h2>") == 1
    assert "$" not in cell and "://" not in cell and "www." not in cell  # MathJax and bare-URL autolinks
    assert " ".join(MARKUP.splitlines()) in shown_text(cell)  # and the reader still sees what was asked


@pytest.mark.parametrize("line_break", LINE_BREAKS, ids=[repr(b) for b in LINE_BREAKS])
def test_a_line_break_in_a_question_cannot_start_markdown_of_its_own(approved, line_break):
    ask(approved, query=f"by month{line_break}# Approved by rita{line_break}<b>x</b>", status=Status.REJECTED)
    (cell,) = [c for c in markdown_cells(notebook_of(approved)) if c.startswith("## 2.")]
    page = rendered(cell)
    assert page.count("<h") == 1 and "<h1>" not in page and "<b>" not in page


def test_a_reviewers_reason_is_text_in_the_notebook(approved, reviewer):
    request = ask(approved, query="emails")
    approval_request_reject(request=request, reviewer=reviewer, reason="See [policy](https://evil.example)")
    (cell,) = [c for c in markdown_cells(notebook_of(approved)) if c.startswith("## 2.")]
    assert "<a " not in rendered(cell)
    assert "Reason: See [policy](https://evil.example)" in shown_text(cell)


@pytest.mark.parametrize("make", NOT_APPROVED, ids=[f.__name__ for f in NOT_APPROVED])
def test_a_version_that_was_not_approved_is_markdown_not_a_code_cell(approved, reviewer, make):
    make(approved, reviewer)
    notebook = notebook_of(approved)
    assert code_cells(notebook) == [APPROVED_CODE]
    (shown,) = [c for c in markdown_cells(notebook) if "```python\n" + REJECTED_CODE in c]
    assert "Not approved, so it is not code here" in shown_text(shown)


def test_code_shown_as_markdown_stays_one_literal_block(approved):
    code = "x = 1\n# ```\n# </code></pre><script>alert(1)</script>\nprint(x)  # $\\href{javascript:1}{y}$\n"
    ask(approved, code=code, status=Status.REJECTED)
    (cell,) = [c for c in markdown_cells(notebook_of(approved)) if "alert(1)" in c]
    page = rendered(cell)
    assert page.count("<pre>") == 1 and "<script" not in page
    assert html.unescape(page.split('<code class="language-python">')[1].split("</code>")[0]) == code


def test_the_notebooks_approved_cell_has_its_outputs_and_says_how_it_ended(approved):
    notebook = notebook_of(approved)
    (cell,) = [c for c in notebook.cells if c.cell_type == "code"]
    assert cell.source == APPROVED_CODE and cell.outputs[0].text == "approved code ran\n"
    assert "Approved by rita; ran and succeeded." in shown_text(markdown_cells(notebook)[1])
