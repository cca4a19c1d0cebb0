import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from knox.models import AuthToken
from rest_framework.test import APIClient

from analysis.models import Dataset
from billing.models import Budget, Membership, Team


def run_seed(*args: str) -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def token_works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/sessions").status_code == 200


def test_seed_demo_prints_one_json_object_with_users_working_tokens_and_datasets(db):
    data = run_seed("--allow-public")
    assert data["team"] == "demo"
    assert {u["username"]: u["role"] for u in data["users"]} == {
        "analyst": "analyst",
        "analyst2": "analyst",
        "reviewer": "reviewer",
        "reviewer2": "reviewer",
        "auditor": "auditor",
        "admin": "admin",
    }
    analyst = get_user_model().objects.get(username="analyst")
    entry = next(u for u in data["users"] if u["username"] == "analyst")
    assert analyst.check_password(entry["password"])
    assert token_works(entry["token"])
    assert data["datasets"] == [{"id": str(Dataset.objects.get().pk), "name": "sales.csv"}]


def test_the_demo_has_two_reviewers_a_team_budget_and_the_analyst_s_own(db):
    data = run_seed("--allow-public")
    reviewers = Membership.objects.filter(team__slug="demo", role=Membership.Role.REVIEWER)
    assert sorted(reviewers.values_list("user__username", flat=True)) == ["reviewer", "reviewer2"]
    assert get_user_model().objects.get(username="reviewer2").is_staff
    assert data["budgets"] == [
        {"scope": "team", "user": None, "period": "monthly", "limitUsd": "25.00", "softThreshold": "0.800"},
        {
            "scope": "user",
            "user": "analyst",
            "period": "monthly",
            "limitUsd": "5.00",
            "softThreshold": "0.800",
        },
    ]
    team_budget = Budget.objects.get(scope="team")
    assert (team_budget.team.slug, team_budget.user, team_budget.is_active) == ("demo", None, True)
    assert Budget.objects.get(scope="user").user.username == "analyst"


def test_seed_demo_is_idempotent_and_each_run_replaces_the_demo_users_tokens(db):
    first, second = run_seed("--allow-public"), run_seed("--allow-public")
    without_tokens = [{k: v for k, v in user.items() if k != "token"} for user in first["users"]]
    assert without_tokens == [{k: v for k, v in user.items() if k != "token"} for user in second["users"]]
    assert Membership.objects.filter(team__slug="demo").count() == 5
    assert Dataset.objects.count() == 1
    assert Budget.objects.count() == 2 and first["budgets"] == second["budgets"]
    assert AuthToken.objects.count() == 6
    assert [token_works(u["token"]) for u in first["users"]] == [False] * 6
    assert [token_works(u["token"]) for u in second["users"]] == [True] * 6


def test_with_debug_off_seed_demo_refuses_to_create_the_published_users_without_the_flag(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--allow-public"):
        run_seed()
    assert not get_user_model().objects.exists()
    assert not Team.objects.exists()


def test_with_debug_on_seed_demo_needs_no_flag(db, settings):
    settings.DEBUG = True
    assert token_works(run_seed()["users"][0]["token"])


def test_without_the_flag_existing_demo_users_get_new_tokens_and_keep_their_passwords(db, settings):
    settings.DEBUG = False
    run_seed("--allow-public")
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-after-seeding")
    admin.save()
    data = run_seed()  # the README's curl flow, after `make up`
    assert {u["password"] for u in data["users"]} == {None}
    assert all(token_works(u["token"]) for u in data["users"])
    admin.refresh_from_db()
    assert admin.check_password("changed-after-seeding")


def test_demo_dataset_has_the_documented_columns_and_enough_rows(db):
    run_seed("--allow-public")
    dataset = Dataset.objects.get()
    assert dataset.row_count >= 1000
    assert [(c["name"], c["dtype"]) for c in dataset.columns] == [
        ("date", "datetime64[ns]"),
        ("region", "object"),
        ("product", "object"),
        ("units", "int64"),
        ("revenue", "float64"),
    ]
