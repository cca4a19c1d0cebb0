"""One editable row per policy rule, with the defaults of approvals/policy.py at the time of writing."""

from django.db import migrations

ALLOWED_MODULES = """pandas
numpy
matplotlib
seaborn
scipy
openpyxl
pyarrow
math
statistics
datetime
decimal
fractions
random
re
json
csv
collections
itertools
functools
operator
string
textwrap
calendar
zoneinfo
typing
dataclasses
enum
warnings
pprint
io
pathlib
os.path"""

RULES = [
    ("syntax-error", "critical", "The code does not parse as Python, so it cannot be checked."),
    ("import-not-allowed", "high", "Imports a module outside the allow-list."),
    ("dynamic-code", "critical", "Runs code built at run time: eval, exec, compile, importlib."),
    ("dunder-access", "critical", "Reaches interpreter internals through dunder names or builtins."),
    ("os-command", "critical", "Starts processes or shell commands: os.system, subprocess, os.exec*."),
    ("shell-escape", "critical", "Notebook shell escapes or pip: !cmd, %magic, get_ipython, pip."),
    ("network", "critical", "Uses the network: socket, urllib, requests, http, or reads a URL."),
    ("native-code", "critical", "Loads native code: ctypes, cffi."),
    ("file-delete", "critical", "Deletes files or directories."),
    ("write-outside-output", "critical", "Writes a file outside /output."),
    ("read-outside-data", "critical", "Reads a file outside /data (and its own /output and scratch)."),
    ("dynamic-path", "medium", "Reads or writes a path computed at run time, which the check cannot see."),
]


def seed(apps, schema_editor):
    PolicyRule = apps.get_model("approvals", "PolicyRule")
    for code, severity, description in RULES:
        PolicyRule.objects.get_or_create(
            code=code,
            defaults={
                "severity": severity,
                "description": description,
                "allowed_modules": ALLOWED_MODULES if code == "import-not-allowed" else "",
            },
        )


class Migration(migrations.Migration):
    dependencies = [("approvals", "0004_policy_quorum_integrity")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
