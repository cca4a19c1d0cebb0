"""Create the demo team, its users with API tokens, sales.csv and two budgets. Safe to run again.

Two reviewers, so that a high-risk request's quorum of two and "edit, then another reviewer approves" can
be tried; a team monthly budget and one for `analyst`, so the home page's meters and the review card's
"tightest budget" line have something to say.

The demo users' passwords are published (README), so with DEBUG off they are created or reset only with
`--allow-public`: `make up` passes it when it listens on a loopback address, nowhere else. Without the flag,
demo users that already exist (a first `make up` created them) get fresh API tokens and nothing else,
which is what the README's curl flow (`seed_demo --json`) needs.
"""

import json
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from analysis.demo import sales_csv
from analysis.models import Dataset
from analysis.services.datasets import dataset_create
from billing.models import Budget, Membership, Team
from billing.services import budget_save
from config.tokens import token_create, token_revoke_all

USERS = (
    ("analyst", Membership.Role.ANALYST),
    ("analyst2", Membership.Role.ANALYST),
    ("reviewer", Membership.Role.REVIEWER),
    ("reviewer2", Membership.Role.REVIEWER),
    ("auditor", Membership.Role.AUDITOR),
)
# (scope, username or None, monthly limit in USD): the demo team's budget and the first analyst's own.
BUDGETS = (
    (Budget.Scope.TEAM, None, Decimal("25.00")),
    (Budget.Scope.USER, "analyst", Decimal("5.00")),
)
ADMIN = ("admin", "admin")
STAFF_PERMISSIONS = {
    Membership.Role.REVIEWER: [
        "approvals.view_approvalrequest",
        "approvals.change_approvalrequest",
        "analysis.view_execution",
        "analysis.view_dataset",
        "analysis.view_session",
        "billing.view_costspan",  # the spend report links them
    ],
    Membership.Role.AUDITOR: [
        "audit.view_auditevent",
        "billing.view_costspan",
        "approvals.view_approvalrequest",
    ],
}
REFUSAL = (
    "Not creating the demo users: their passwords are published, and DEBUG is off. On a machine nobody "
    "else can reach, run `python manage.py seed_demo --allow-public` (`make up` does when HOST is a loopback "
    "address); anywhere else, create your own users (`python manage.py createsuperuser`)."
)


def demo_password(username: str) -> str:
    return f"{username}-demo-pass"


class Command(BaseCommand):
    help = (
        "Create the demo team, users (with API tokens) and the sales.csv dataset. Idempotent; each run "
        "gives every demo user one new API token and revokes their earlier ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the credentials.")
        parser.add_argument(
            "--allow-public",
            action="store_true",
            help="Create (or reset) the demo users with their published passwords even with DEBUG off. "
            "Only on a machine nobody else can reach.",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        if settings.DEBUG or options["allow_public"]:
            summary = self._seed()
        else:
            summary = self._tokens_for_existing_users()
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        for user in summary["users"]:
            password = user["password"] or "(unchanged)"
            self.stdout.write(
                f"{user['role']:9} {user['username']:9} password={password} token={user['token']}"
            )
        for dataset in summary["datasets"]:
            self.stdout.write(f"dataset  {dataset['name']} id={dataset['id']}")
        for budget in summary.get("budgets", []):
            whose = f"user {budget['user']}" if budget["user"] else "team"
            self.stdout.write(f"budget   {whose}: ${budget['limitUsd']} {budget['period']}")

    def _seed(self) -> dict:
        team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo team"})
        users = [self._member(team, username, role) for username, role in USERS]
        admin = self._user(ADMIN[0], is_staff=True, is_superuser=True)
        users.append(self._entry(admin, ADMIN[1]))
        dataset = Dataset.objects.filter(team=team, name="sales.csv").first()
        if dataset is None:
            dataset = dataset_create(team=team, name="sales.csv", content=sales_csv())
        return {
            "team": team.slug,
            "users": users,
            "datasets": [{"id": str(dataset.pk), "name": dataset.name}],
            "budgets": [
                self._budget(team, scope, username, limit, admin) for scope, username, limit in BUDGETS
            ],
        }

    def _budget(self, team: Team, scope: str, username: str | None, limit: Decimal, admin) -> dict:
        """The demo's monthly budget of this scope; one that exists (maybe changed by hand) is kept."""
        user = get_user_model().objects.get(username=username) if username else None
        budget = Budget.objects.filter(
            team=team, scope=scope, user=user, period=Budget.Period.MONTHLY
        ).first()
        if budget is None:
            budget = budget_save(
                budget=Budget(
                    team=team, scope=scope, user=user, period=Budget.Period.MONTHLY, limit_usd=limit
                ),
                actor=admin,
            )
        return {
            "scope": budget.scope,
            "user": username,
            "period": budget.period,
            "limitUsd": f"{budget.limit_usd:.2f}",
            "softThreshold": f"{budget.soft_threshold:.3f}",
        }

    def _tokens_for_existing_users(self) -> dict:
        """Only new tokens for demo users a loopback `make up` already created; no password is set."""
        roles = dict([*USERS, ADMIN])
        found = {user.username: user for user in get_user_model().objects.filter(username__in=roles)}
        team = Team.objects.filter(slug="demo").first()
        if team is None or set(found) != set(roles):
            raise CommandError(REFUSAL)
        users = [self._entry(found[username], role, password=None) for username, role in roles.items()]
        datasets = Dataset.objects.filter(team=team, name="sales.csv")
        return {
            "team": team.slug,
            "users": users,
            "datasets": [{"id": str(dataset.pk), "name": dataset.name} for dataset in datasets],
        }

    def _user(self, username: str, **flags):
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@demo.local"}
        )
        user.set_password(demo_password(username))
        for name, value in flags.items():
            setattr(user, name, value)
        user.save()
        return user

    def _member(self, team: Team, username: str, role: str) -> dict:
        perms = STAFF_PERMISSIONS.get(role, [])
        user = self._user(username, is_staff=bool(perms))
        Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return self._entry(user, role)

    def _entry(self, user, role: str, *, password: str | None = "demo") -> dict:
        # Tokens are stored hashed: a printed token is always a new one, and the demo user's earlier ones go.
        token_revoke_all(user=user)
        _, key = token_create(user=user)
        return {
            "username": user.username,
            "password": demo_password(user.username) if password else None,
            "token": key,
            "role": role,
        }
