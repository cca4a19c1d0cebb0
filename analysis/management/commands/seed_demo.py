"""Create the demo team, its users with API tokens, and sales.csv. Safe to run again."""

import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from analysis.demo import sales_csv
from analysis.models import Dataset
from analysis.services.datasets import dataset_create
from billing.models import Membership, Team

USERS = (
    ("analyst", Membership.Role.ANALYST),
    ("analyst2", Membership.Role.ANALYST),
    ("reviewer", Membership.Role.REVIEWER),
    ("auditor", Membership.Role.AUDITOR),
)
STAFF_PERMISSIONS = {
    Membership.Role.REVIEWER: [
        "approvals.view_approvalrequest",
        "approvals.change_approvalrequest",
        "analysis.view_execution",
        "analysis.view_dataset",
        "analysis.view_session",
    ],
    Membership.Role.AUDITOR: [
        "audit.view_auditevent",
        "billing.view_costspan",
        "approvals.view_approvalrequest",
    ],
}


def demo_password(username: str) -> str:
    return f"{username}-demo-pass"


class Command(BaseCommand):
    help = "Create the demo team, users (with API tokens) and the sales.csv dataset. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the credentials.")

    @transaction.atomic
    def handle(self, *args, **options):
        team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo team"})
        users = [self._member(team, username, role) for username, role in USERS]
        users.append(self._admin())
        dataset = Dataset.objects.filter(team=team, name="sales.csv").first()
        if dataset is None:
            dataset = dataset_create(team=team, name="sales.csv", content=sales_csv())
        summary = {
            "team": team.slug,
            "users": users,
            "datasets": [{"id": str(dataset.pk), "name": dataset.name}],
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        for user in users:
            self.stdout.write(
                f"{user['role']:9} {user['username']:9} password={user['password']} token={user['token']}"
            )
        self.stdout.write(f"dataset  sales.csv id={dataset.pk}")

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

    def _admin(self) -> dict:
        return self._entry(self._user("admin", is_staff=True, is_superuser=True), "admin")

    def _entry(self, user, role: str) -> dict:
        token, _ = Token.objects.get_or_create(user=user)
        return {
            "username": user.username,
            "password": demo_password(user.username),
            "token": token.key,
            "role": role,
        }
