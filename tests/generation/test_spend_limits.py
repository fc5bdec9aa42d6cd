"""Monthly limits per member and per key, beside the workspace's cap: refusals, alerts, settings."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.models import Membership
from accounts.services import create_account
from generation import budgets, pipeline
from generation.models import Generation, LimitAlert, SpendLimit
from tests.support.accounts import workspace_of
from tests.support.generation import start
from tests.support.keys import make_key
from tests.support.prices import fal_image, usd

pytestmark = pytest.mark.django_db

FLUX = fal_image()
SECOND_FAL = "5d1c0b2a-9e8f-4a7b-8c6d-5e4f3a2b1c0d:7f6e5d4c3b2a19081726354453627180"


def _member_limit(owner, member, cap):
    budgets.set_limit(workspace=workspace_of(owner), user=owner, member=member, cap_nanousd=cap)


def _key_limit(owner, key, cap):
    budgets.set_limit(workspace=workspace_of(owner), user=owner, key=key, cap_nanousd=cap)


def test_a_members_limit_stops_that_member_only(alice, bob, double):
    key = make_key(alice, "fal")
    _member_limit(alice, bob, FLUX * 3 // 2)
    start(bob, key, "fal-ai/flux-2-max")
    with pytest.raises(budgets.BudgetExceeded) as refused:
        start(bob, key, "fal-ai/flux-2-max")
    message = str(refused.value)
    assert (
        f"would pass the monthly limit for {bob.email} of {usd(FLUX * 3 // 2)} by {usd(FLUX // 2)}" in message
    )
    assert f"{usd(FLUX)} reserved" in message and f"{usd(FLUX // 2)} left" in message
    start(alice, key, "fal-ai/flux-2-max")  # alice has no limit
    assert Generation.objects.count() == 2


def test_a_keys_limit_stops_that_key_only(alice, double):
    first = make_key(alice, "fal", label="Studio fal")
    second = make_key(alice, "fal", SECOND_FAL, label="Personal fal")
    _key_limit(alice, first, FLUX)
    start(alice, first, "fal-ai/flux-2-max")
    with pytest.raises(budgets.BudgetExceeded) as refused:
        start(alice, first, "fal-ai/flux-2-max")
    assert f"the monthly limit on the key Studio fal ({first.hint}) of {usd(FLUX)} by {usd(FLUX)}" in str(
        refused.value
    )
    start(alice, second, "fal-ai/flux-2-max")


def test_a_members_limit_counts_their_spend_not_only_reservations(alice, bob, double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    key = make_key(alice, "fal")
    pipeline.run_generation(start(bob, key, "fal-ai/flux-2-max").pk)
    status = budgets.status(workspace_of(alice), member=bob)
    assert (status.spent_nanousd, status.reserved_nanousd) == (FLUX, 0)
    assert budgets.status(workspace_of(alice), member=alice).spent_nanousd == 0
    assert budgets.status(workspace_of(alice), key=key).spent_nanousd == FLUX
    _member_limit(alice, bob, FLUX)
    with pytest.raises(budgets.BudgetExceeded):
        start(bob, key, "fal-ai/flux-2-max")


def test_the_tightest_limit_refuses_and_says_which(alice, double):
    key = make_key(alice, "fal")
    budgets.set_cap(workspace=workspace_of(alice), user=alice, cap_nanousd=10 * FLUX)
    _key_limit(alice, key, FLUX // 2)
    with pytest.raises(budgets.BudgetExceeded) as refused:
        start(alice, key, "fal-ai/flux-2-max")
    assert "the monthly limit on the key" in str(refused.value)


def test_the_generate_page_shows_the_limit_beside_the_button(alice, bob, bob_client, double):
    make_key(alice, "fal")
    _member_limit(alice, bob, FLUX // 2)
    response = bob_client.post(
        "/generate/", {"model": "fal-ai/flux-2-max", "prompt": "x", "size": "1024x1024", "n": "1"}
    )
    page = response.content.decode().replace("&#x27;", "'")
    refusal = page[page.index('id="generate-refusal"') :]
    assert f"the monthly limit for {bob.email}" in refusal[: refusal.index("</div>")]
    assert not Generation.objects.exists()


def test_the_owner_and_admins_get_one_email_when_a_limit_passes_80_percent(
    alice, bob, double, django_capture_on_commit_callbacks
):
    dana = create_account(email="dana@example.com", password="a long passphrase 42")
    Membership.objects.create(user=dana, workspace=workspace_of(alice), role=Membership.Role.ADMIN)
    key = make_key(alice, "fal", label="Studio fal")
    _key_limit(alice, key, 5 * FLUX)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            start(bob, key, "fal-ai/flux-2-max")  # 60 %
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        start(bob, key, "fal-ai/flux-2-max")  # 80 %
        start(bob, key, "fal-ai/flux-2-max")  # 100 %: the same limit, the same month: no second email
    # One email to each manager (each in their own language): the owner and the admin, not the member.
    assert sorted(address for m in mail.outbox for address in m.to) == [alice.email, dana.email]
    email = mail.outbox[0]
    assert "the monthly limit on the key Studio fal" in email.subject and "80%" in email.subject
    assert usd(5 * FLUX) in email.body
    assert LimitAlert.objects.get().scope == f"key:{key.pk}"


def test_each_limit_alerts_once(alice, bob, double, django_capture_on_commit_callbacks):
    key = make_key(alice, "fal")
    budgets.set_cap(workspace=workspace_of(alice), user=alice, cap_nanousd=FLUX)
    _member_limit(alice, bob, FLUX)
    with django_capture_on_commit_callbacks(execute=True):
        start(bob, key, "fal-ai/flux-2-max")
    assert sorted(m.subject.split(":")[1].split(" is ")[0].strip() for m in mail.outbox) == sorted(
        ["this month's budget", f"the monthly limit for {bob.email}"]
    )


def test_the_owner_sets_limits_per_member_and_per_key(alice, bob, alice_client):
    key = make_key(alice, "fal", label="Studio fal")
    response = alice_client.post(
        "/workspace/", {"scope": "member", "member": bob.email, "limit_usd": "12.50"}
    )
    assert response.status_code == 302
    assert SpendLimit.objects.get(member=bob).monthly_cap_nanousd == 12_500_000_000
    alice_client.post("/workspace/", {"scope": "key", "key": str(key.code), "limit_usd": "3"})
    assert SpendLimit.objects.get(provider_key=key).monthly_cap_nanousd == 3_000_000_000
    page = alice_client.get("/workspace/").content.decode()
    assert "$12.50" in page and "$3.00" in page
    alice_client.post("/workspace/", {"scope": "member", "member": bob.email, "limit_usd": ""})
    assert not SpendLimit.objects.filter(member=bob).exists()


def test_a_bad_limit_gets_an_error_beside_its_field(alice, bob, alice_client):
    response = alice_client.post("/workspace/", {"scope": "member", "member": bob.email, "limit_usd": "-1"})
    assert response.status_code == 200
    assert b"limit_usd_error" in response.content
    assert not SpendLimit.objects.exists()


def test_a_member_cannot_set_limits(alice, bob, bob_client):
    response = bob_client.post("/workspace/", {"scope": "member", "member": bob.email, "limit_usd": "99"})
    assert response.status_code == 403
    assert not SpendLimit.objects.exists()


def test_limits_name_only_this_workspaces_members_and_keys(alice, charlie, alice_client, charlie_client):
    theirs = make_key(charlie, "fal")
    assert (
        alice_client.post(
            "/workspace/", {"scope": "key", "key": str(theirs.code), "limit_usd": "1"}
        ).status_code
        == 404
    )
    assert (
        alice_client.post(
            "/workspace/", {"scope": "member", "member": charlie.email, "limit_usd": "1"}
        ).status_code
        == 404
    )
    assert not SpendLimit.objects.exists()


def test_a_member_sees_their_limit_and_spend_but_no_forms(alice, bob, bob_client):
    key = make_key(alice, "fal", label="Studio fal")
    _member_limit(alice, bob, 2_000_000_000)
    _key_limit(alice, key, 3_000_000_000)
    page = bob_client.get("/workspace/").content.decode()
    assert "$2.00" in page and "$3.00" in page and f"Studio fal ({key.hint})" in page
    assert 'name="limit_usd"' not in page


def test_limits_of_another_workspace_are_never_shown(alice, charlie, charlie_client):
    _member_limit(alice, alice, 12_340_000_000)
    assert b"$12.34" not in charlie_client.get("/workspace/").content
