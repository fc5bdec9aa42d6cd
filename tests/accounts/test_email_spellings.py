"""One normalisation for every address (issue 15, finding 1): NFKC + case fold, on both databases.

The outside test's repro: after 5 wrong passwords for isis@sis.test, "ısis@sis.test" (dotless i) and
"isis@ſis.test" (long s) each got 5 more tries on PostgreSQL, whose UPPER() maps ı to I and ſ to S, and
the right password then logged in.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from accounts.collisions import assign_keys
from accounts.emails import canonical_email, email_key
from accounts.models import User
from accounts.services import create_account
from tests.support import mailbox
from tests.support.accounts import PASSWORD

pytestmark = pytest.mark.django_db

ISIS = "isis@sis.test"
LONG_S = "isis@ſis.test"  # U+017F folds to "s": the same address
DOTLESS = "ısis@sis.test"  # U+0131 is a letter of its own: another address
KELVIN = "\u212aim@example.com"  # the Kelvin sign folds to "k"
FULL_WIDTH = "ｋｉｍ@ｅｘａｍｐｌｅ.ｃｏｍ"


def _login(email: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return Client().post("/accounts/login/", {"login": email, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        (ISIS, ISIS),
        (LONG_S, ISIS),
        (DOTLESS, DOTLESS),
        ("ISIS@SIS.TEST", ISIS),
        (KELVIN, "kim@example.com"),
        (FULL_WIDTH, "kim@example.com"),
        ("kim@straße.de", "kim@strasse.de"),
        ("  Kim@Example.com ", "kim@example.com"),
    ],
)
def test_the_key_is_nfkc_casefold(typed, key):
    assert email_key(typed) == key


def test_the_lockout_bypass_through_other_spellings_is_closed():
    create_account(email=ISIS, password=PASSWORD)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert _login(ISIS, "wrong").status_code == 200
    for spelling in (ISIS, LONG_S, "ISIS@sis.test", "ｉｓｉｓ@sis.test"):
        response = _login(spelling, ip="10.0.0.2")
        assert response.status_code == 200, spelling
        assert b"Too many failed login attempts" in response.content, spelling
    # The dotless i names another address: no account, so its "tries" reach nobody's password.
    assert _login(DOTLESS, ip="10.0.0.3").status_code == 200
    assert not Client().get("/").context["user"].is_authenticated


@pytest.mark.parametrize("spelling", [LONG_S, "ISIS@SIS.TEST", "ｉｓｉｓ@ｓｉｓ.ｔｅｓｔ"])
def test_every_spelling_of_the_address_logs_in_to_the_account(spelling):
    user = create_account(email=ISIS, password=PASSWORD)
    client = Client()
    assert client.post("/accounts/login/", {"login": spelling, "password": PASSWORD}).status_code == 302
    assert client.get("/").context["user"] == user


def test_the_dotless_i_does_not_log_in_to_the_dotted_account():
    create_account(email=ISIS, password=PASSWORD)
    client = Client()
    assert client.post("/accounts/login/", {"login": DOTLESS, "password": PASSWORD}).status_code == 200
    assert not client.get("/").context["user"].is_authenticated


@pytest.mark.parametrize("spelling", [KELVIN, FULL_WIDTH, "KIM@EXAMPLE.COM"])
def test_sign_up_with_another_spelling_finds_the_existing_account(spelling):
    create_account(email="kim@example.com", password=PASSWORD)
    response = Client().post(
        "/accounts/signup/", {"email": spelling, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert User.objects.count() == 1
    (message,) = mailbox.to("kim@example.com")  # the owner hears of it, at the stored address
    assert "already" in message.body.lower()


def test_a_reset_for_another_spelling_goes_to_the_stored_address():
    create_account(email="kim@example.com", password=PASSWORD)
    assert Client().post("/accounts/password/reset/", {"email": KELVIN}).status_code == 302
    (message,) = mailbox.to("kim@example.com")
    assert "/accounts/password/reset/key/" in message.body


def test_ss_and_sharp_s_are_one_account_but_mail_goes_as_typed_at_sign_up():
    user = create_account(email="kim@straße.de", password=PASSWORD)
    assert user.email == "kim@straße.de" and user.email_key == "kim@strasse.de"
    assert canonical_email("KIM@STRASSE.de") == "kim@straße.de"


def test_existing_accounts_that_collide_are_reported_not_merged(capsys):
    older = create_account(email="kim@strasse.de", password=PASSWORD)
    newer = create_account(email="other@example.com", password=PASSWORD)
    # Before keys existed both could sign up: make the newer one the colliding spelling, as it was then.
    User.objects.filter(pk=newer.pk).update(email="kim@straße.de", email_key=None)
    EmailAddress.objects.filter(user=newer).update(email="kim@straße.de")
    users = User.objects.order_by("date_joined", "pk")
    saved = []
    (collision,) = assign_keys(users, saved.append)
    assert (collision.kept, collision.without_key) == ("kim@strasse.de", "kim@straße.de")
    call_command("report_email_collisions")
    assert "1 collision(s)." in capsys.readouterr().out
    newer.refresh_from_db()
    assert newer.email_key is None and User.objects.count() == 2
    # Each still logs in with its address exactly as stored.
    assert _login("kim@straße.de").status_code == 302
    assert _login("kim@strasse.de").status_code == 302
    newer.save()  # a later save (last_login, name) keeps the empty key instead of failing
    older.refresh_from_db()
    assert older.email_key == "kim@strasse.de"
