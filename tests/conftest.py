import pytest
from rest_framework.test import APIClient

from billing.models import Membership
from tests.factories import TeamFactory, default_prices, member


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """transactional_db empties tables with TRUNCATE, which the audit trigger forbids: allow it here only."""
    import pgtrigger

    with pgtrigger.ignore("audit.AuditEvent:audit_forbid_truncate"):
        return (yield)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDGATE_DATASET_CACHE_DIR = tmp_path / "dataset-cache"


@pytest.fixture(scope="session", autouse=True)
def _configured_bucket_exists(django_db_blocker):
    """With AWS_STORAGE_BUCKET_NAME set (the suite run against a bucket, `.ci/with-bucket`), make sure the
    bucket exists; every test then stores datasets and artifacts there instead of under MEDIA_ROOT."""
    from django.conf import settings

    if not settings.AWS_STORAGE_BUCKET_NAME:
        return
    from botocore.exceptions import ClientError
    from django.core.files.storage import default_storage

    client = default_storage.connection.meta.client
    try:
        client.head_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)
    except ClientError:
        client.create_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server (the real wire protocol) in its own process, for the tests that need a bucket."""
    from tests.fakes.s3_server import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server, settings) -> str:
    """Sandgate's storage is a new bucket of the local S3 server for this test (as with AWS_* set)."""
    name = s3_server.new_bucket()
    for setting, value in s3_server.settings(name).items():
        setattr(settings, setting, value)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    return name


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


def api_token(user) -> str:
    """A new API token of `user` (tokens are stored hashed: the key exists only when it is made)."""
    from config.tokens import token_create

    return token_create(user=user)[1]


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    return client


@pytest.fixture
def as_user():
    return client_for


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real worker for this test; the test's rows are committed, so the worker sees them."""
    from tests.worker import WorkerProcess, purge_queues_of_this_run

    # What earlier tests published: a reaper's re-enqueue, a transactional test's commit.
    purge_queues_of_this_run()
    worker = WorkerProcess()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache; each test starts from zero."""
    from django.core.cache import cache

    from billing.selectors import prices_forget

    cache.clear()
    prices_forget()  # and this process's copy of the price table: a test's prices roll back with it


@pytest.fixture
def prices(db):
    default_prices()
