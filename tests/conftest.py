import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.models import Membership
from tests.factories import TeamFactory, member


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """transactional_db empties tables with TRUNCATE, which the audit trigger forbids: allow it here only."""
    import pgtrigger

    with pgtrigger.ignore("audit.AuditEvent:audit_forbid_truncate"):
        return (yield)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def team(db):
    return TeamFactory(slug="acme")


@pytest.fixture
def other_team(db):
    return TeamFactory(slug="globex")


@pytest.fixture
def analyst(team):
    return member(team, Membership.Role.ANALYST, user__username="ann")


@pytest.fixture
def reviewer(team):
    return member(team, Membership.Role.REVIEWER, user__username="rita")


@pytest.fixture
def auditor(team):
    return member(team, Membership.Role.AUDITOR, user__username="otto")


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def as_user():
    return client_for


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real worker for this test; the test's rows are committed, so the worker sees them."""
    from config.celery import app
    from tests.worker import WorkerProcess

    app.control.purge()
    worker = WorkerProcess()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache; each test starts from zero."""
    from django.core.cache import cache

    cache.clear()
