"""Sign-in edges a real user hits: capitals, proxies, an ended session, a stale form, a password change."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts import throttle
from accounts.models import User
from generation.models import Generation
from keys.models import ProviderKey
from tests.support import mailbox
from tests.support.accounts import PASSWORD, workspace_of
from tests.support.factories import make_generation

pytestmark = pytest.mark.django_db

NEW = "Another passphrase, 2026!"


def _login(client: Client, email: str, password: str = PASSWORD, **extra: str):
    return client.post("/accounts/login/", {"login": email, "password": password}, **extra)


def test_the_email_logs_in_whatever_its_capitals(alice):
    assert _login(Client(), alice.email.upper()).status_code == 302


def test_someone_who_signed_up_with_capitals_is_stored_lower_cased_and_logs_in_as_typed(client):
    from tests.support import mailbox

    email = "Dana@Example.com"
    client.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    client.post("/accounts/confirm-email/", {"code": mailbox.code_in(mailbox.to("dana@example.com")[0])})
    assert User.objects.get().email == "dana@example.com"
    client.post("/accounts/logout/")
    assert _login(client, email).status_code == 302


@pytest.mark.parametrize(
    ("count", "forwarded", "remote", "expected"),
    [
        (0, "203.0.113.66", "10.0.0.2", "10.0.0.2"),  # no proxy: the header is the client's say-so
        (1, "203.0.113.66", "10.0.0.2", "203.0.113.66"),
        (1, "198.51.100.1, 203.0.113.66", "10.0.0.2", "203.0.113.66"),  # the left entry is forged
        (2, "203.0.113.66, 10.0.0.9", "10.0.0.2", "203.0.113.66"),
        (1, "", "10.0.0.2", "10.0.0.2"),
        (3, "not-an-address, 203.0.113.66, 10.0.0.9", "10.0.0.2", "10.0.0.2"),  # count set too high
        (1, "2001:db8::1", "10.0.0.2", "2001:db8::1"),
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxy_saw(
    rf, settings, count, forwarded, remote, expected
):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert throttle.client_ip(request) == expected


def test_behind_the_proxy_one_client_is_limited_not_everyone(alice, settings):
    """Every request comes from the proxy: the per-client limit must count the address it reports."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(10):
        _login(Client(), f"guess{n}@example.com", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy)
    limited = _login(Client(), alice.email, HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy)
    assert b"Too many failed login attempts" in limited.content
    assert _login(Client(), alice.email, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 302


def test_a_short_forwarded_header_is_the_peer_not_a_500(alice, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert _login(Client(), alice.email, HTTP_X_FORWARDED_FOR="203.0.113.66").status_code == 302


def test_the_host_header_does_not_open_a_fresh_failure_count(alice, settings):
    """allauth's own key holds the Host, which a client chooses (the port passes ALLOWED_HOSTS)."""
    settings.ALLOWED_HOSTS = ["testserver"]
    for port in range(settings.LOGIN_FAILURE_LIMIT):
        _login(Client(), alice.email, "wrong", HTTP_HOST=f"testserver:{8000 + port}")
    response = _login(Client(), alice.email, HTTP_HOST="testserver:9999")
    assert b"Too many failed login attempts" in response.content


def test_polling_after_the_session_ended_sends_the_whole_page_to_the_login(alice, alice_client):
    generation = make_generation(workspace_of(alice), alice)
    alice_client.post("/accounts/logout/")
    page = f"/generations/{generation.code}/"
    response = alice_client.get(
        f"{page}status/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )
    assert response["HX-Redirect"] == f"/accounts/login/?next={page.replace('/', '%2F')}"
    assert Generation.objects.get().status == generation.status


def test_a_signed_in_user_sent_to_the_login_page_itself_goes_home(alice_client):
    response = alice_client.get("/accounts/login/?next=/accounts/login/")
    assert response.status_code == 302 and response.url == "/"


def test_a_stale_form_gets_a_page_of_ours_not_djangos(alice):
    client = Client(enforce_csrf_checks=True)
    response = _login(client, alice.email)
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form expired" in body and "DEBUG=True" not in body


def test_a_signed_in_user_changes_their_password_and_stays_signed_in(alice, alice_client):
    page = alice_client.get("/")
    assert 'href="/accounts/password/change/"' in page.content.decode()
    wrong = alice_client.post(
        "/accounts/password/change/", {"oldpassword": "nope", "password1": NEW, "password2": NEW}
    )
    assert wrong.status_code == 200 and 'id="id_oldpassword_error"' in wrong.content.decode()
    changed = alice_client.post(
        "/accounts/password/change/", {"oldpassword": PASSWORD, "password1": NEW, "password2": NEW}
    )
    assert changed.status_code == 302
    assert alice_client.get("/").status_code == 200  # this session stays signed in
    assert _login(Client(), alice.email).status_code == 200  # the old password no longer works
    assert _login(Client(), alice.email, NEW).status_code == 302


def test_the_old_change_password_path_redirects(alice_client):
    response = alice_client.get("/accounts/password_change/")
    assert response.status_code == 302 and response.url == "/accounts/password/change/"


def test_changing_a_password_needs_a_signed_in_user(client):
    response = client.get("/accounts/password/change/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_an_email_saved_with_capitals_elsewhere_still_logs_in(alice):
    """The admin, or an older row, may hold capitals: the login matches whatever the case."""
    User.objects.filter(pk=alice.pk).update(email="Alice@Example.com")
    assert _login(Client(), "alice@example.com").status_code == 302
    alice.refresh_from_db()
    alice.full_clean()
    assert alice.email == "alice@example.com"


def test_guessing_the_old_password_on_the_change_form_counts_like_the_login(alice, alice_client):
    """A hijacked session must not try passwords without limit."""
    guess = {"oldpassword": "guess", "password1": NEW, "password2": NEW}
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        alice_client.post("/accounts/password/change/", guess)
    right = alice_client.post("/accounts/password/change/", {**guess, "oldpassword": PASSWORD})
    assert right.status_code in (200, 429)
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert b"Too many failed login attempts" in _login(Client(), alice.email).content


def test_keys_need_a_verified_address_even_for_an_account_made_by_hand(client):
    from accounts.services import create_account

    user = create_account(email="root@example.com", password=PASSWORD, verified=False)
    client.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")
    response = client.post("/keys/add/", {"provider": "openai", "label": "Main", "secret": "sk-test"})
    assert response.status_code == 302 and response.url.startswith("/accounts/confirm-email/")
    assert not ProviderKey.objects.exists()
    (message,) = mailbox.to("root@example.com")
    client.post("/accounts/confirm-email/", {"code": mailbox.code_in(message)})
    assert client.get("/keys/add/").url == "/keys/"  # the form is on the list page: no longer the code page
