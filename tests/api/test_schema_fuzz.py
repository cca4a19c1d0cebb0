"""Fuzz every API operation from the published OpenAPI schema, as an analyst, a reviewer and an auditor.

Schemathesis reads `/api/schema/` from the Django WSGI app, generates inputs from it and checks each answer:
never a 500, a declared status code and content type, and a body that matches the declared schema.
It runs inside the test database's transaction (`db`), so `on_commit` tasks never fire and nothing leaks.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.models import Membership
from tests.conftest import api_token
from tests.factories import ApprovalRequestFactory, SessionFactory, member

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES = [Membership.Role.ANALYST, Membership.Role.REVIEWER, Membership.Role.AUDITOR]


# Serving the schema reads no table, so it is fetched once, at collection, from the real endpoint.
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@pytest.fixture(autouse=True)
def _keep_test_connection(db):
    """Like Django's test client: the test's connection (and its transaction) stays open between requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token_headers(team):
    """One Authorization header per role; the team has a session and a request, so ids can be found."""
    users = [member(team, role) for role in ROLES]
    ApprovalRequestFactory(team=team, session=SessionFactory(team=team, user=users[0]), user=users[0])
    return [{"Authorization": f"Token {api_token(user)}"} for user in users]


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case, token_headers):
    for headers in token_headers:
        case.call_and_validate(headers=headers, checks=CHECKS)
