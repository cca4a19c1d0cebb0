import pytest
from django.contrib.auth.models import Permission

from analysis.management.commands.seed_demo import STAFF_PERMISSIONS
from billing.models import Membership
from tests.browser.support import PASSWORD, VIEWPORTS
from tests.factories import member
from tests.worker import purge_queues_of_this_run

# Who takes part, with the console permissions `seed_demo` gives each role.
PEOPLE = {
    "ann": Membership.Role.ANALYST,
    "rita": Membership.Role.REVIEWER,
    "sam": Membership.Role.REVIEWER,
    "otto": Membership.Role.AUDITOR,
}


@pytest.fixture(autouse=True)
def _no_task_left_behind():
    """Journeys ask questions through the services, which enqueue their generation; where no worker runs,
    those tasks must not wait in the broker for a later test's worker."""
    yield
    purge_queues_of_this_run()


@pytest.fixture(autouse=True)
def _review_polled_every_second(settings):
    """A journey's reviewer decides within seconds; the page looks every second rather than every 10."""
    settings.SANDGATE_REVIEW_POLL_SECONDS = 1


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture
def people(transactional_db, team) -> dict:
    users = {}
    for username, role in PEOPLE.items():
        user = member(team, role, user__username=username)
        user.set_password(PASSWORD)
        perms = STAFF_PERMISSIONS.get(role, [])
        user.is_staff = bool(perms)
        user.save()
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        users[username] = user
    return users
