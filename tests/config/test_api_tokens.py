"""API tokens (django-rest-knox, config/tokens.py): hashed, expiring, the owner's to make, list and revoke."""

import hashlib
from datetime import timedelta

from django.apps import apps
from django.core import serializers
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import AuditEvent
from config.tokens import token_create


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def logged_in(user) -> Client:
    """A session from a password login (the web app or /admin/): the only way to make a token."""
    user.save()  # the factory's password is not saved: the session's hash must match the stored one
    client = Client()
    client.force_login(user)
    return client


def test_a_logged_in_user_creates_a_token_that_works_as_authorization_token(analyst, settings, time_machine):
    time_machine.move_to("2030-03-01 09:00:00+00:00", tick=False)
    made = logged_in(analyst).post("/api/tokens")
    assert made.status_code == 201, made.content
    body = made.json()
    assert set(body) == {"tokenId", "created", "expiry", "current", "token"}
    assert body["expiry"] == "2030-03-02T09:00:00Z"  # SANDGATE_API_TOKEN_TTL_HOURS = 24 by default
    assert with_token(body["token"]).get("/api/sessions").status_code == 200


def test_a_token_cannot_make_another_token(analyst):
    _, key = token_create(user=analyst)
    refused = with_token(key).post("/api/tokens")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "session_required"
    assert AuthToken.objects.count() == 1


def test_the_database_never_holds_the_key_only_its_sha512_digest(analyst):
    key = logged_in(analyst).post("/api/tokens").json()["token"]
    with_token(key).get("/api/sessions")  # used once: nothing about it is written in clear either
    token = AuthToken.objects.get()
    assert token.digest == hashlib.sha512(key.encode()).hexdigest()
    for model in apps.get_models():  # every row of every table, audit log included
        dumped = serializers.serialize("json", model._default_manager.all())
        assert key not in dumped, model
    assert len(key) == 64 and token.token_key == key[:15]  # knox's lookup prefix: 60 of 256 bits


def test_a_token_past_its_lifetime_answers_401_and_is_deleted(analyst, settings, time_machine):
    settings.SANDGATE_API_TOKEN_TTL_HOURS = 2
    time_machine.move_to("2030-03-01 09:00:00+00:00", tick=False)
    _, key = token_create(user=analyst)
    time_machine.move_to("2030-03-01 10:59:59+00:00", tick=False)
    assert with_token(key).get("/api/sessions").status_code == 200
    time_machine.move_to("2030-03-01 11:00:01+00:00", tick=False)
    expired = with_token(key).get("/api/sessions")
    assert expired.status_code == 401
    assert expired["WWW-Authenticate"] == 'Token realm="api"'
    assert not AuthToken.objects.exists()
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.TOKEN_REVOKED)
    assert event.details["expired"] is True


def test_the_owner_lists_their_live_tokens_without_the_key(analyst, reviewer, time_machine):
    time_machine.move_to("2030-03-01 09:00:00+00:00", tick=False)
    first, first_key = token_create(user=analyst)
    time_machine.move_to("2030-03-01 10:00:00+00:00", tick=False)
    second, second_key = token_create(user=analyst)
    token_create(user=reviewer)
    listed = with_token(second_key).get("/api/tokens")
    assert listed.status_code == 200
    assert listed.json() == {
        "results": [
            {
                "tokenId": second.digest[:16],
                "created": "2030-03-01T10:00:00Z",
                "expiry": "2030-03-02T10:00:00Z",
                "current": True,
            },
            {
                "tokenId": first.digest[:16],
                "created": "2030-03-01T09:00:00Z",
                "expiry": "2030-03-02T09:00:00Z",
                "current": False,
            },
        ]
    }
    for key in (first_key, second_key):
        assert key[:15] not in listed.content.decode()


def test_the_owner_revokes_one_token_and_it_stops_working_at_once(analyst):
    token, key = token_create(user=analyst)
    _, other_key = token_create(user=analyst)
    assert with_token(other_key).delete(f"/api/tokens/{token.digest[:16]}").status_code == 204
    assert with_token(key).get("/api/sessions").status_code == 401
    assert with_token(other_key).get("/api/sessions").status_code == 200


def test_another_users_token_id_answers_404_and_stays(analyst, reviewer):
    theirs, their_key = token_create(user=reviewer)
    _, key = token_create(user=analyst)
    for token_id in (theirs.digest[:16], "not-a-token-id", theirs.digest[:8]):
        answer = with_token(key).delete(f"/api/tokens/{token_id}")
        assert answer.status_code == 404, token_id
    assert with_token(their_key).get("/api/sessions").status_code == 200


def test_revoking_all_ends_every_token_of_the_owner_and_no_one_elses(analyst, reviewer):
    keys = [token_create(user=analyst)[1] for _ in range(3)]
    _, their_key = token_create(user=reviewer)
    revoked = with_token(keys[0]).delete("/api/tokens")
    assert revoked.json() == {"revoked": 3}
    assert [with_token(key).get("/api/sessions").status_code for key in keys] == [401, 401, 401]
    assert with_token(their_key).get("/api/sessions").status_code == 200


def test_a_user_has_at_most_the_configured_number_of_live_tokens(analyst, settings):
    settings.SANDGATE_API_TOKENS_PER_USER = 2
    client = logged_in(analyst)
    assert [client.post("/api/tokens").status_code for _ in range(2)] == [201, 201]
    refused = client.post("/api/tokens")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "too_many_tokens")
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))  # expired ones do not count
    assert client.post("/api/tokens").status_code == 201
    assert AuthToken.objects.count() == 1  # and making a token deletes them


def test_the_console_lists_tokens_by_id_and_owner_never_by_key(admin_client, analyst):
    token, key = token_create(user=analyst)
    page = admin_client.get("/admin/knox/authtoken/").content.decode()
    assert token.digest[:16] in page and "ann" in page
    assert key[:15] not in page
    assert admin_client.get("/admin/knox/authtoken/add/").status_code == 403


def test_a_header_that_is_not_utf8_is_a_bad_token_not_a_server_error(analyst):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token \udcff".encode("utf-8", "surrogateescape").decode("latin-1"))
    assert client.get("/api/sessions").status_code == 401
