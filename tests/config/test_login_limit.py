"""Failed logins are limited per username and address, per address (spraying) and per username (distributed
guessing), on the analysts' page and in the admin, counted in the cache, and audited (config/auth.py)."""

import hashlib

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from audit.models import AuditEvent
from tests.config.test_cache import REDIS
from tests.factories import UserFactory

Action = AuditEvent.Action
LOCKED = "Too many failed logins"
WRONG = "correct username and password"


@pytest.fixture(autouse=True)
def _default_limits(settings):
    """The shipped defaults (config/settings/base.py), whatever the environment says."""
    settings.SANDGATE_LOGIN_FAILURES = 5
    settings.SANDGATE_LOGIN_ADDRESS_FAILURES = 20
    settings.SANDGATE_LOGIN_ACCOUNT_FAILURES = 20
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


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


@pytest.mark.parametrize("login", [web_login, admin_login], ids=["web", "admin"])
def test_the_right_password_is_refused_with_a_clear_message_after_too_many_failures(sam, login):
    for _ in range(4):
        assert WRONG in login("wrong").content.decode()
    reaching = login("wrong")  # the failure that reaches the limit already says so
    assert (reaching.status_code, LOCKED in reaching.content.decode()) == (429, True)
    refused = login("pw")
    assert refused.status_code == 429  # the form again, with the message; not a redirect into the app
    assert LOCKED in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_the_lockout_is_audited_once_with_the_username_the_rule_and_the_address(sam):
    for _ in range(8):
        web_login("wrong")
    (event,) = AuditEvent.objects.filter(action=Action.LOGIN_LOCKED)
    assert event.details == {
        "username": "sam",
        "rule": "account_address",
        "failures": 5,
        "window_seconds": 900,
    }
    assert (event.actor_label, event.ip_address) == ("anonymous", "10.0.0.1")


def test_spraying_one_attempt_at_each_of_50_usernames_from_one_address_is_limited(sam):
    UserFactory.create_batch(50)
    names = [f"user{i}" for i in range(50)]
    answers = [web_login("Winter2026!", username=name, ip="203.0.113.7") for name in names]
    assert [LOCKED in a.content.decode() for a in answers] == [False] * 19 + [True] * 31
    assert not logged_in(web_login("pw", ip="203.0.113.7"))  # the address is refused for everyone
    assert logged_in(web_login("pw", ip="10.0.0.2"))  # others are not
    (event,) = AuditEvent.objects.filter(action=Action.LOGIN_LOCKED)
    assert (event.details["rule"], event.ip_address) == ("address", "203.0.113.7")


def test_distributed_guessing_from_50_addresses_at_one_username_is_limited(sam):
    answers = [web_login(f"guess{i}", ip=f"198.51.100.{i}") for i in range(50)]
    assert [LOCKED in a.content.decode() for a in answers] == [False] * 19 + [True] * 31
    (event,) = AuditEvent.objects.filter(action=Action.LOGIN_LOCKED)
    assert event.details["rule"] == "account"
    # The trade-off (docs/security.md): that many addresses together lock the account for the window.
    assert LOCKED in web_login("pw", ip="10.0.0.2").content.decode()


def test_one_address_cannot_lock_a_user_out_from_another_address(sam):
    for _ in range(50):
        web_login("wrong", ip="10.0.0.1")  # only the first 5 are counted: then this address is refused
    assert LOCKED in web_login("pw", ip="10.0.0.1").content.decode()
    assert logged_in(web_login("pw", ip="10.0.0.2"))


def test_one_address_spraying_every_username_cannot_lock_any_of_them_out_elsewhere(sam):
    for i in range(50):
        web_login("wrong", username="sam" if i % 2 else f"user{i}", ip="10.0.0.1")
    assert logged_in(web_login("pw", ip="10.0.0.2"))


def test_other_usernames_from_the_same_address_are_not_locked_out_by_one_usernames_failures(sam):
    for _ in range(5):
        web_login("wrong", username="nobody")
    assert logged_in(web_login("pw"))


def test_the_username_is_counted_case_insensitively(sam):
    for name in ("SAM", "Sam", "sAm", " sam", "saM"):
        web_login("wrong", username=name)
    assert LOCKED in web_login("pw").content.decode()


def test_a_username_that_looks_like_an_address_does_not_count_against_that_address(sam):
    for i in range(25):  # 25 failures of the username "10.0.0.2", from addresses of their own
        web_login("wrong", username="10.0.0.2", ip=f"198.51.100.{i}")
    assert logged_in(web_login("pw", ip="10.0.0.2"))


def test_a_successful_login_clears_only_its_own_username_and_address_count(sam):
    for _ in range(4):
        web_login("wrong")
    assert logged_in(web_login("pw"))
    for _ in range(4):
        web_login("wrong")
    assert logged_in(web_login("pw"))  # 8 failures in all, never 5 in a row: the pair count was cleared
    for i in range(11):
        web_login("wrong", username=f"user{i}")  # 8 + 11 = 19 failures from this address
    assert logged_in(web_login("pw"))  # logging into one's own account does not clear the address's count
    assert LOCKED in web_login("wrong", username="user99").content.decode()  # the 20th


def test_the_lockout_ends_with_its_window(sam, time_machine):
    # The counters live in the cache with the window as their timeout; locmem expires by wall clock.
    time_machine.move_to("2030-01-01 12:00:00+00:00", tick=False)
    for _ in range(5):
        web_login("wrong")
    assert LOCKED in web_login("pw").content.decode()
    time_machine.move_to("2030-01-01 12:15:01+00:00", tick=False)
    assert logged_in(web_login("pw"))


def test_the_counts_live_in_the_configured_redis_cache_which_every_web_process_reads(sam, settings):
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS}}
    from django.core.cache import cache

    cache.clear()
    for _ in range(3):
        web_login("wrong", ip="192.0.2.44")
    digest = hashlib.sha256(b"192.0.2.44").hexdigest()
    other_client = redis.Redis.from_url(REDIS)  # as another process would read it
    (key,) = other_client.keys(f"*login-limit:address:{digest}")
    assert int(other_client.get(key)) == 3
    cache.clear()


def test_with_the_cache_down_logins_are_checked_by_password_alone(sam, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    assert WRONG in web_login("wrong").content.decode()
    assert logged_in(web_login("pw"))
    assert "login limit not applied: the cache is unreachable" in caplog.text


def test_an_account_limit_not_above_the_username_and_address_limit_is_refused(sam, settings):
    settings.SANDGATE_LOGIN_ACCOUNT_FAILURES = 5  # one address could then lock the account everywhere
    with pytest.raises(ImproperlyConfigured, match="SANDGATE_LOGIN_ACCOUNT_FAILURES"):
        web_login("wrong")
