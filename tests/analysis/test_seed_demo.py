import json
from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from analysis.models import Dataset
from billing.models import Membership


def run_seed() -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_prints_one_json_object_with_users_tokens_and_datasets(db):
    data = run_seed()
    assert data["team"] == "demo"
    assert {u["username"]: u["role"] for u in data["users"]} == {
        "analyst": "analyst",
        "analyst2": "analyst",
        "reviewer": "reviewer",
        "auditor": "auditor",
        "admin": "admin",
    }
    analyst = get_user_model().objects.get(username="analyst")
    entry = next(u for u in data["users"] if u["username"] == "analyst")
    assert analyst.check_password(entry["password"])
    assert analyst.auth_token.key == entry["token"]
    assert data["datasets"] == [{"id": str(Dataset.objects.get().pk), "name": "sales.csv"}]


def test_seed_demo_is_idempotent(db):
    first, second = run_seed(), run_seed()
    assert first == second
    assert Membership.objects.filter(team__slug="demo").count() == 4
    assert Dataset.objects.count() == 1


def test_demo_dataset_has_the_documented_columns_and_enough_rows(db):
    run_seed()
    dataset = Dataset.objects.get()
    assert dataset.row_count >= 1000
    assert [(c["name"], c["dtype"]) for c in dataset.columns] == [
        ("date", "datetime64[ns]"),
        ("region", "object"),
        ("product", "object"),
        ("units", "int64"),
        ("revenue", "float64"),
    ]
