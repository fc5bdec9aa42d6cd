from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generation import budgets, dates
from generation.models import CostRecord
from generation.usage import totals
from tests.support.accounts import workspace_of
from tests.support.clock import NOW
from tests.support.factories import bulk_costs, make_cost, make_generation, make_image
from tests.support.keys import make_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]

THIS_MONTH = dates.month_start(NOW)


def charge(workspace, user, *, when=THIS_MONTH, amount=10_000_000, **fields):
    return make_cost(
        make_generation(workspace, user, created_at=when, **fields), amount_nanousd=amount, created_at=when
    )


def value(response, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">([^<]*)<', response.content.decode()).group(1)


def test_it_shows_this_utc_months_spend_and_requests_only(alice, alice_client):
    workspace = workspace_of(alice)
    charge(workspace, alice, when=THIS_MONTH, amount=11_090_000)
    charge(workspace, alice, when=THIS_MONTH + dt.timedelta(minutes=5), amount=100_000_000, n=2)
    charge(workspace, alice, when=THIS_MONTH - dt.timedelta(microseconds=1), amount=500_000_000)
    response = alice_client.get("/")
    assert response.status_code == 200
    assert value(response, "month-spend") == "$0.11109"
    assert value(response, "month-requests") == "2"
    assert b"Charged requests \xc2\xb7 3 avatars" in response.content
    assert b'href="/usage/"' in response.content


def test_an_unknown_cost_is_counted_but_never_shown_as_zero(alice, alice_client):
    charge(workspace_of(alice), alice, amount=None)
    response = alice_client.get("/")
    assert value(response, "month-spend") == "$0.00"
    assert b"plus 1 request of unknown cost" in response.content


def test_it_shows_the_budget_and_what_is_left(alice, alice_client):
    workspace = workspace_of(alice)
    budgets.set_cap(workspace=workspace, user=alice, cap_nanousd=1_000_000_000)
    charge(workspace, alice, amount=250_000_000)
    response = alice_client.get("/")
    assert value(response, "budget-cap") == "$1.00"
    assert value(response, "budget-left") == "$0.75"
    assert b"25% used or reserved" in response.content
    assert b'data-testid="budget-banner"' not in response.content


def test_the_dashboard_and_the_budget_count_one_spend_from_the_records(alice, alice_client):
    """Both read usage.totals.month_spend: a record not yet rolled up counts, an unknown one at its quote."""
    workspace = workspace_of(alice)
    budgets.set_cap(workspace=workspace, user=alice, cap_nanousd=1_000_000_000)
    charge(workspace, alice, amount=250_000_000)
    unknown = make_generation(workspace, alice, created_at=THIS_MONTH, quote_nanousd=40_000_000)
    # Inserted in bulk, so without its roll-up (as before a rebuild_usage_roll_ups).
    CostRecord.objects.bulk_create([make_cost(unknown, amount_nanousd=None, save=False)])
    response = alice_client.get("/")
    assert value(response, "month-spend") == "$0.25"
    assert value(response, "month-requests") == "2"
    assert b"plus 1 request of unknown cost" in response.content
    assert value(response, "budget-left") == "$0.71"  # $1.00 - $0.25 - the unknown charge at its $0.04 quote
    status = budgets.status(workspace)
    assert status.month == totals.month_spend(workspace) == response.context["month"]
    assert status.spent_nanousd == 290_000_000


def test_it_warns_at_eighty_percent_of_the_budget(alice, alice_client):
    workspace = workspace_of(alice)
    budgets.set_cap(workspace=workspace, user=alice, cap_nanousd=1_000_000_000)
    charge(workspace, alice, amount=800_000_000)
    response = alice_client.get("/")
    assert b'data-testid="budget-banner"' in response.content
    assert value(response, "budget-left") == "$0.20"


def test_without_a_cap_it_offers_to_set_one(alice, alice_client):
    response = alice_client.get("/")
    assert value(response, "budget-cap") == "No cap"
    assert b'href="/workspace/">set one</a>' in response.content
    assert b'data-testid="budget-left"' not in response.content


@pytest.mark.usefixtures("media_root")
def test_it_shows_the_twelve_newest_avatars_linking_to_their_generation(alice, alice_client):
    workspace = workspace_of(alice)
    images = [make_image(make_generation(workspace, alice, persona_name=f"P{i}")) for i in range(14)]
    response = alice_client.get("/")
    thumbs = re.findall(r"/images/([0-9a-f-]{36})/thumb/", response.content.decode())
    assert thumbs == [str(image.code) for image in reversed(images[2:])]
    assert f'href="/generations/{images[-1].generation.code}/"'.encode() in response.content


def test_it_links_to_api_keys_only_while_no_key_exists(alice, alice_client, double):
    response = alice_client.get("/")
    assert b'data-testid="no-key"' in response.content
    assert b'href="/personas/new/"' in response.content
    assert b'href="/generate/"' in response.content
    make_key(alice, "fal")
    assert b'data-testid="no-key"' not in alice_client.get("/").content


@pytest.mark.usefixtures("media_root")
def test_its_query_count_is_the_same_with_10_and_1000_records(alice, bob, alice_client):
    workspace = workspace_of(alice)
    budgets.set_cap(workspace=workspace, user=alice, cap_nanousd=10**12)
    make_image(make_generation(workspace, alice))
    bulk_costs(workspace, alice, 10, newest=NOW)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get("/").status_code == 200
        return len(captured)

    few = queries()
    bulk_costs(workspace, bob, 990, newest=NOW - dt.timedelta(seconds=1), step=dt.timedelta(seconds=1))
    for _ in range(3):
        make_image(make_generation(workspace, bob))
    assert queries() == few


def test_members_see_the_workspace_spend(alice, bob_client):
    charge(workspace_of(alice), alice, amount=30_000_000)
    assert value(bob_client.get("/"), "month-spend") == "$0.03"


@pytest.mark.usefixtures("media_root")
def test_it_never_shows_another_workspace_spend_or_avatars(alice, charlie_client):
    workspace = workspace_of(alice)
    charge(workspace, alice, amount=30_000_000)
    make_image(make_generation(workspace, alice, persona_name="Budget Ben"))
    response = charlie_client.get("/")
    assert value(response, "month-spend") == "$0.00"
    assert value(response, "month-requests") == "0"
    assert b"/thumb/" not in response.content
    assert b"Budget Ben" not in response.content
