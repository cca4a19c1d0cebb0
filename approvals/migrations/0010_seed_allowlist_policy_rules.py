"""Rows for the allow-list model's rules (approvals/policy/rules.py), with their defaults at the time of writing."""

from django.db import migrations

RULES = [
    ("not-understood", "medium",
     "Uses a name or attribute that is not on the allow-list, so the check cannot say what it does."),
    ("module-via-module", "high",
     "Reaches a module through another module (pathlib.os, np.ctypeslib) or passes a module around."),
    ("dynamic-attribute", "high",
     "Looks up attributes by a name the check cannot see: getattr, setattr, delattr, attrgetter."),
    ("builtin-alias", "high",
     "Uses open, getattr, a file writer or an evaluator (df.to_csv, df.query) as a value: an alias, an "
     "argument, a default, where the check no longer sees what it is given."),
    ("deserialise", "critical",
     "Loads pickled data, which runs code: read_pickle, pickle, joblib, dill, shelve, allow_pickle."),
    ("dynamic-query", "high",
     "Evaluates a string built at run time as an expression: pd.eval, DataFrame.eval, DataFrame.query."),
]  # fmt: skip
DESCRIPTIONS = {"import-not-allowed": "Imports or uses a module outside the allow-list."}


def seed(apps, schema_editor):
    PolicyRule = apps.get_model("approvals", "PolicyRule")
    for code, severity, description in RULES:
        PolicyRule.objects.get_or_create(code=code, defaults={"severity": severity, "description": description})
    for code, description in DESCRIPTIONS.items():
        PolicyRule.objects.filter(code=code).update(description=description)


class Migration(migrations.Migration):
    dependencies = [("approvals", "0009_approve_function")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
