from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from analysis.demo import sales_csv
from analysis.models import Session
from analysis.services.datasets import dataset_create
from approvals.models import ApprovalRequest
from approvals.services import code_sha256
from billing.models import Membership, Price, Team


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANALYST


def member(team: Team, role: str = Membership.Role.ANALYST, **kwargs):
    return MembershipFactory(team=team, role=role, **kwargs).user


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    title = "a question"


SIMPLE_CODE = "print('hello from the sandbox')\n"


class ApprovalRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalRequest

    query = "print hello"
    code = SIMPLE_CODE
    code_sha256 = factory.LazyAttribute(lambda o: code_sha256(o.code))
    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    session = factory.LazyAttribute(lambda o: SessionFactory(user=o.user, team=o.team))
    status = ApprovalRequest.Status.PENDING_REVIEW
    provider = "offline"
    model = "offline-rules-v1"


def demo_dataset(team: Team, rows: int = 1200):
    return dataset_create(team=team, name="sales.csv", content=sales_csv(rows=rows))


# The seeded defaults (billing/migrations/0004_seed_prices.py); transactional tests empty the table, so
# tests that price anything put them back.
DEFAULT_PRICES = [
    ("mistral-large-latest", "2.00", "6.00"),
    ("mistral-small-latest", "0.20", "0.60"),
    ("offline-rules-v1", "0", "0"),
]


def default_prices() -> None:
    for name, price_in, price_out in DEFAULT_PRICES:
        Price.objects.update_or_create(
            name=name,
            defaults={
                "kind": Price.Kind.LLM,
                "input_usd_per_mtok": Decimal(price_in),
                "output_usd_per_mtok": Decimal(price_out),
                "source": "test",
                "as_of": date(2026, 11, 26),
            },
        )
    for backend in ("local", "e2b"):
        Price.objects.update_or_create(
            name=backend,
            defaults={
                "kind": Price.Kind.SANDBOX,
                "usd_per_vcpu_second": Decimal("0.000014"),
                "usd_per_gib_second": Decimal("0.0000045"),
                "source": "test",
                "as_of": date(2026, 11, 26),
            },
        )
