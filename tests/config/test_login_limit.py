"""Failed logins are limited per username and IP, on the analysts' page and in the admin, and audited."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.factories import UserFactory

Action = AuditEvent.Action


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.SANDGATE_LOGIN_FAILURES = 3
    settings.SANDGATE_LOGIN_WINDOW_SECONDS = 900


@pytest.fixture
def sam(db):
    user = UserFactory(username="sam", is_staff=True, is_superuser=True)
    user.save()  # the factory sets the password "pw" without saving it
    return user


def web_login(password, *, ip="10.0.0.1", username="sam"):
    return Client(REMOTE_ADDR=ip).post("/login/", {"username": username, "password": password})


def admin_login(password, *, ip="10.0.0.1", username="sam"):
    data = {"username": username, "password": password}
    return Client(REMOTE_ADDR=ip).post("/admin/login/?next=/admin/", data)


@pytest.mark.parametrize("login", [web_login, admin_login], ids=["web", "admin"])
def test_the_right_password_is_refused_with_a_clear_message_after_too_many_failures(sam, login):
    for _ in range(2):
        assert "correct username and password" in login("wrong").content.decode()
    assert "Too many failed logins" in login("wrong").content.decode()  # the failure that reaches the limit
    refused = login("pw")
    assert refused.status_code == 200  # the form again, not a redirect into the app
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_the_lockout_is_audited_once_with_the_username_and_ip(sam):
    for _ in range(5):
        web_login("wrong")
    (event,) = AuditEvent.objects.filter(action=Action.LOGIN_LOCKED)
    assert event.details == {"username": "sam", "failures": 3, "window_seconds": 900}
    assert (event.actor_label, event.ip_address) == ("anonymous", "10.0.0.1")


def test_a_locked_out_username_can_still_log_in_from_another_address(sam):
    for _ in range(3):
        web_login("wrong", ip="10.0.0.1")
    assert web_login("pw", ip="10.0.0.2").status_code == 302


def test_other_usernames_from_the_same_address_are_not_locked_out(sam):
    for _ in range(3):
        web_login("wrong", username="nobody")
    assert web_login("pw").status_code == 302


def test_the_username_is_counted_case_insensitively(sam):
    for name in ("SAM", "Sam", "sAm"):
        web_login("wrong", username=name)
    assert "Too many failed logins" in web_login("pw").content.decode()


def test_a_successful_login_starts_the_count_again(sam):
    for _ in range(2):
        web_login("wrong")
    assert web_login("pw").status_code == 302
    for _ in range(2):
        web_login("wrong")
    assert web_login("pw").status_code == 302


def test_the_lockout_ends_with_its_window(sam, time_machine):
    # The counter lives in the cache with the window as its timeout; locmem expires by wall clock.
    time_machine.move_to("2030-01-01 12:00:00+00:00", tick=False)
    for _ in range(3):
        web_login("wrong")
    assert "Too many failed logins" in web_login("pw").content.decode()
    time_machine.move_to("2030-01-01 12:15:01+00:00", tick=False)
    assert web_login("pw").status_code == 302


def test_with_the_cache_down_logins_are_checked_by_password_alone(sam, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    assert "correct username and password" in web_login("wrong").content.decode()
    assert web_login("pw").status_code == 302  # into the app
    assert "login limit not applied: the cache is unreachable" in caplog.text
