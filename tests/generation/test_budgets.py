"""Monthly budgets: a hard cap checked and reserved under a lock, released or replaced at the end."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connections

from generation import budgets, dates, pipeline
from generation.models import CostRecord, Generation
from generation.usage.roll_ups import roll_up
from tests.support.accounts import workspace_of
from tests.support.clock import NOW
from tests.support.factories import make_generation
from tests.support.generation import start
from tests.support.keys import make_key
from tests.support.prices import fal_image, usd

pytestmark = pytest.mark.django_db

FLUX = fal_image()  # one flux-2-max 1024² image, exact


def _cap(user, usd_nano: int | None):
    return budgets.set_cap(workspace=workspace_of(user), user=user, cap_nanousd=usd_nano)


def test_a_request_that_would_pass_the_cap_is_refused_with_the_numbers(alice, double):
    key = make_key(alice, "fal")
    cap = FLUX * 3 // 2  # room for one image, not two
    _cap(alice, cap)
    start(alice, key, "fal-ai/flux-2-max")  # reserves one image
    with pytest.raises(budgets.BudgetExceeded) as refused:
        start(alice, key, "fal-ai/flux-2-max")
    message = str(refused.value)
    assert f"({usd(FLUX)})" in message and f"budget of {usd(cap)}" in message
    assert "$0.00 spent" in message and f"{usd(FLUX)} reserved" in message
    assert f"{usd(cap - FLUX)} left" in message
    assert Generation.objects.count() == 1
    assert double.count("fal.submit") == 0  # nothing was sent to the provider


def test_no_cap_means_no_limit(alice, double):
    key = make_key(alice, "fal")
    for _ in range(3):
        start(alice, key, "fal-ai/flux-2-max")
    assert budgets.status(workspace_of(alice)).reserved_nanousd == 3 * FLUX


def test_success_replaces_the_reservation_with_the_actual_cost(alice, double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    key = make_key(alice, "fal")
    generation = start(alice, key, "fal-ai/flux-2-max")
    assert budgets.status(workspace_of(alice)).reserved_nanousd == FLUX
    pipeline.run_generation(generation.pk)
    status = budgets.status(workspace_of(alice))
    assert (status.spent_nanousd, status.reserved_nanousd) == (FLUX, 0)


def test_failure_releases_the_reservation(alice, double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    key = make_key(alice, "fal")
    double.script("fal", ["insufficient_quota"])  # refused at submit: nothing charged
    generation = start(alice, key, "fal-ai/flux-2-max")
    pipeline.run_generation(generation.pk)
    status = budgets.status(workspace_of(alice))
    assert (status.spent_nanousd, status.reserved_nanousd) == (0, 0)


def test_a_charge_of_unknown_amount_counts_as_its_quote(alice, double, settings, tmp_path):
    """OpenAI billed a 200 we could not read: its cost is unknown, so the cap counts the quote, not 0."""
    settings.MEDIA_ROOT = tmp_path
    key = make_key(alice, "openai")
    double.script("openai", ["malformed"])
    generation = start(alice, key, "gpt-image-2")
    _cap(alice, generation.quote_nanousd * 3 // 2)
    pipeline.run_generation(generation.pk)
    assert CostRecord.objects.get(generation=generation).amount_nanousd is None
    status = budgets.status(workspace_of(alice))
    assert (status.spent_nanousd, status.reserved_nanousd) == (generation.quote_nanousd, 0)
    with pytest.raises(budgets.BudgetExceeded):
        start(alice, key, "gpt-image-2")


def test_only_this_utc_month_counts(alice):
    workspace = workspace_of(alice)
    old = make_generation(workspace, alice)
    record = CostRecord.objects.create(
        workspace=workspace,
        generation=old,
        provider="openai",
        model="gpt-image-2",
        price_version="x",
        amount_nanousd=5_000_000_000,
        created_at=dates.month_start(NOW) - timedelta(seconds=1),
    )
    roll_up([record])
    assert budgets.status(workspace, now=NOW).spent_nanousd == 0


def test_the_banner_warns_at_80_percent(alice, alice_client, double):
    key = make_key(alice, "fal")
    _cap(alice, 5 * FLUX)
    for _ in range(3):
        start(alice, key, "fal-ai/flux-2-max")
    assert b"budget-banner" not in alice_client.get("/workspace/").content  # 60 %
    start(alice, key, "fal-ai/flux-2-max")
    page = alice_client.get("/generate/").content.decode()
    assert "80% of this month" in page


def test_percentages_are_written_the_english_way_without_a_space(alice, alice_client, double):
    key = make_key(alice, "fal")
    _cap(alice, 5 * FLUX)
    for _ in range(4):
        start(alice, key, "fal-ai/flux-2-max")
    for url in ("/", "/workspace/", "/generate/"):
        page = alice_client.get(url).content.decode()
        assert "80%" in page, url
        assert re.search(r"\d[ \u00a0]%", page) is None, url  # never "80 %"


def test_the_generate_page_shows_the_refusal(alice, alice_client, double):
    make_key(alice, "fal")
    _cap(alice, FLUX // 2)  # less than one image
    response = alice_client.post(
        "/generate/", {"model": "fal-ai/flux-2-max", "prompt": "x", "size": "1024x1024", "n": "1"}
    )
    assert response.status_code == 200
    assert f"would pass this month&#x27;s budget of {usd(FLUX // 2)}" in response.content.decode()
    assert not Generation.objects.exists()


def test_the_owner_sets_and_clears_the_budget(alice, alice_client):
    response = alice_client.post("/workspace/", {"monthly_cap_usd": "25.50"})
    assert response.status_code == 302
    assert budgets.status(workspace_of(alice)).cap_nanousd == 25_500_000_000
    alice_client.post("/workspace/", {"monthly_cap_usd": ""})
    assert budgets.status(workspace_of(alice)).cap_nanousd is None


@pytest.mark.parametrize("value", ["-1", "abc", "10000000", "1.234"])
def test_bad_budgets_get_an_error_beside_the_field(alice_client, value):
    response = alice_client.post("/workspace/", {"monthly_cap_usd": value})
    assert response.status_code == 200
    assert b'id="id_monthly_cap_usd_error"' in response.content


def test_a_member_sees_the_budget_but_cannot_change_it(alice, bob_client):
    _cap(alice, FLUX)
    page = bob_client.get("/workspace/")
    assert usd(FLUX).encode() in page.content and b"Only the workspace owner" in page.content
    assert bob_client.post("/workspace/", {"monthly_cap_usd": "999"}).status_code == 403
    assert budgets.status(workspace_of(alice)).cap_nanousd == FLUX


def test_another_workspace_budget_is_never_shown(alice, charlie_client):
    _cap(alice, 12_340_000_000)
    assert b"$12.34" not in charlie_client.get("/workspace/").content


def _limit(scope: str, owner, key, cap: int) -> str:
    """Set a cap of `cap` at one scope; return the words its refusals name it by."""
    workspace = workspace_of(owner)
    if scope == "workspace":
        _cap(owner, cap)
        return "this month's budget"
    if scope == "member":
        budgets.set_limit(workspace=workspace, user=owner, member=owner, cap_nanousd=cap)
        return f"the monthly limit for {owner.email}"
    budgets.set_limit(workspace=workspace, user=owner, key=key, cap_nanousd=cap)
    return f"the monthly limit on the key {key.label} ({key.hint})"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scope", ["workspace", "member", "key"])
def test_concurrent_submissions_never_pass_the_cap(alice, double, scope):
    """50 threads submit at once against a cap (of the workspace, a member or a key) that fits exactly 7."""
    # PostgreSQL serializes them with SELECT … FOR UPDATE on the workspace row, whatever the scope;
    # SQLite with BEGIN IMMEDIATE.
    key = make_key(alice, "fal")
    name = _limit(scope, alice, key, 7 * FLUX + FLUX // 2)
    barrier = threading.Barrier(50)
    accepted, refused, errors = [], [], []

    def submit() -> None:
        try:
            barrier.wait()
            accepted.append(start(alice, key, "fal-ai/flux-2-max").pk)
        except budgets.BudgetExceeded as exc:
            refused.append(str(exc))
        except Exception as exc:  # anything else is a bug
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(accepted) == 7 and len(refused) == 43
    assert all(f"would pass {name} of" in message for message in refused)
    status = budgets.status(
        workspace_of(alice), member=alice if scope == "member" else None, key=key if scope == "key" else None
    )
    assert status.spent_nanousd + status.reserved_nanousd == 7 * FLUX <= status.cap_nanousd
