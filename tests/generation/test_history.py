from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generation import dates, money
from generation.models import CostRecord
from tests.support.accounts import workspace_of
from tests.support.clock import NOW
from tests.support.factories import bulk_costs, make_cost, make_generation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]

UTC = dt.UTC


def shown(response) -> list[str]:
    """Return the generation codes of the history's rows, in page order."""
    return re.findall(r'<tr data-generation="([0-9a-f-]{36})">', response.content.decode())


def link(response, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', response.content.decode())
    return found.group(1).replace("&amp;", "&") if found else None


def charge(workspace, user, *, when, amount=10_000_000, **fields):
    return make_cost(
        make_generation(workspace, user, created_at=when, **fields), amount_nanousd=amount, created_at=when
    )


def test_it_invites_to_generate_when_there_are_no_charges(alice_client):
    response = alice_client.get("/usage/")
    assert response.status_code == 200
    assert b"No charges yet" in response.content
    assert b'aria-current="page">Usage</a>' in response.content


def test_visitors_are_sent_to_log_in(client):
    for url in ("/usage/", "/usage.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_it_shows_each_charge_with_member_persona_model_size_usage_cost_and_status(alice, bob, alice_client):
    workspace = workspace_of(alice)
    openai = charge(workspace, bob, when=NOW, persona_name="Budget Ben", quality="high", amount=11_090_000)
    openai.usage = {"input_tokens": 57, "output_tokens": 4160}
    openai.save()
    fal = charge(
        workspace,
        alice,
        when=NOW - dt.timedelta(hours=1),
        provider="fal",
        model="fal-ai/flux-2-max",
        width=1536,
        height=1024,
        quality="",
        status="failed",
        amount=100_000_000,
    )
    fal.usage = {"images": [{"width": 1536, "height": 1024, "megapixels": 2}]}
    fal.save()
    response = alice_client.get("/usage/")
    page = response.content.decode()
    assert shown(response) == [str(openai.generation.code), str(fal.generation.code)]
    first, second = page.split('<tr data-generation="')[1:3]
    for text in (
        "bob@example.com",
        "Budget Ben",
        "gpt-image-2",
        "openai",
        "<bdi>1024×1024</bdi>, high",
        "57 in · 4,160 out",
        "$0.01109",
    ):
        assert text in first
    assert "Succeeded" in first
    for text in (
        "alice@example.com",
        "fal-ai/flux-2-max",
        "<bdi>1536×1024</bdi>",
        '>2<br><span class="muted small">megapixels',
        "$0.10",
        "Failed",
    ):
        assert text in second
    assert f'href="/generations/{openai.generation.code}/"' in first


def test_the_cost_column_lines_up_its_decimal_points_and_a_big_total_is_grouped(alice, alice_client):
    workspace = workspace_of(alice)
    amounts = [370_205_000, 280_000_000, 12_499_349_795_000, 1_000_100_000, None]
    for i, amount in enumerate(amounts):
        charge(workspace, alice, when=NOW - dt.timedelta(minutes=i), amount=amount)
    page = alice_client.get("/usage/").content.decode()
    records = page.split('data-testid="usage-records"')[1]
    cells = re.findall(r'data-testid="cost"><span class="amount">([^<]*)</span>', records)
    assert [cell.rstrip(money.FIGURE_SPACE) for cell in cells] == [
        "$0.370205",
        "$0.28",
        "$12,499.349795",
        "$1.0001",
    ]
    # Every amount has as many characters after its decimal point as the column's longest fraction, the
    # shorter ones padded with figure spaces (U+2007), so that right-aligned they line up.
    assert {len(cell.partition(".")[2]) for cell in cells} == {6}
    assert cells[1] == "$0.28" + money.FIGURE_SPACE * 4
    assert 'data-testid="cost"><span class="badge badge-warn">unknown</span>' in records
    assert 'data-testid="total-amount">$12,501.0001<' in page
    by_provider = page.split('data-testid="totals-by-provider"')[1].split("</table>")[0]
    assert '<span class="amount">$12,501.0001</span>' in by_provider


def test_a_record_found_not_billed_says_so_under_its_amount(alice, alice_client):
    workspace = workspace_of(alice)
    record = charge(workspace, alice, when=NOW, amount=0)
    charge(workspace, alice, when=NOW - dt.timedelta(minutes=1), amount=11_095_000)
    record.resolution = CostRecord.Resolution.NOT_BILLED
    record.save()
    page = alice_client.get("/usage/").content.decode()
    first = page.split('<tr data-generation="')[1]
    f = money.FIGURE_SPACE
    assert f'<span class="amount">$0.00{f * 4}</span><br><span class="muted small">not billed</span>' in first


def test_it_shows_an_unknown_cost_as_unknown_never_as_zero(alice, alice_client):
    workspace = workspace_of(alice)
    charge(workspace, alice, when=NOW, amount=None)
    charge(workspace, alice, when=NOW - dt.timedelta(minutes=1), amount=20_000_000)
    response = alice_client.get("/usage/")
    page = response.content.decode()
    assert re.search(r'data-testid="cost"><span class="badge badge-warn">unknown</span>', page)
    assert "$0.00" not in page.split('data-testid="usage-records"')[1]
    assert 'data-testid="total-amount">$0.02<' in page
    assert "plus 1 request of unknown cost" in page


def test_totals_per_provider_and_model_equal_the_sum_of_the_records(alice, alice_client):
    workspace = workspace_of(alice)
    plan = [
        ("openai", "gpt-image-2", 11_090_000),
        ("openai", "gpt-image-2", 53_000_001),
        ("openai", "gpt-image-1.5", 7_000_000),
        ("openai", "gpt-image-1.5", None),
        ("fal", "fal-ai/flux-2-max", 70_000_000),
        ("fal", "fal-ai/flux-2-pro", 30_000_000),
        ("fal", "fal-ai/flux-2-pro", 60_000_000),
    ]
    for i, (provider, model, amount) in enumerate(plan):
        charge(
            workspace,
            alice,
            when=NOW - dt.timedelta(minutes=i),
            provider=provider,
            model=model,
            amount=amount,
        )
    totals = alice_client.get("/usage/").context["totals"]

    records = list(CostRecord.objects.for_workspace(workspace))
    assert totals.overall.count == len(records) == 7
    assert totals.overall.amount_nanousd == sum(r.amount_nanousd or 0 for r in records)
    assert totals.overall.unknown == 1
    by_provider, by_model = defaultdict(int), defaultdict(int)
    for r in records:
        by_provider[r.provider] += r.amount_nanousd or 0
        by_model[r.model] += r.amount_nanousd or 0
    assert {t.provider: t.amount_nanousd for t in totals.by_provider} == by_provider
    assert {t.model: t.amount_nanousd for t in totals.by_model} == by_model
    assert {t.model: t.count for t in totals.by_model} == {
        "gpt-image-2": 2,
        "gpt-image-1.5": 2,
        "fal-ai/flux-2-max": 1,
        "fal-ai/flux-2-pro": 2,
    }
    assert {t.model: t.unknown for t in totals.by_model}["gpt-image-1.5"] == 1


def test_monthly_totals_equal_the_sum_of_the_records_of_each_month(alice, alice_client):
    workspace = workspace_of(alice)
    this_month = dates.month_start(NOW)
    expected = {}
    for back in (0, 1, 4, 11, 12):  # 12 months back is outside the chart
        start = dates.add_months(this_month, -back)
        amounts = [1_000_000 * (back + 1), 2_500_000]
        for i, amount in enumerate(amounts):
            charge(workspace, alice, when=start + dt.timedelta(hours=i), amount=amount)
        expected[start.strftime("%Y-%m")] = (len(amounts), sum(amounts))
    response = alice_client.get("/usage/")
    months = response.context["months"]
    assert len(months) == 12
    assert months[-1].key == this_month.strftime("%Y-%m")
    assert months[0].key == dates.add_months(this_month, -11).strftime("%Y-%m")
    for month in months:
        count, amount = expected.get(month.key, (0, 0))
        assert (month.total.count, month.total.amount_nanousd) == (count, amount), month.key
    # The screen-reader table carries the same numbers as the bars.
    table = response.content.decode().split('data-testid="monthly-table"')[1].split("</table>")[0]
    assert len(re.findall(r"<tr><th scope=\"row\">", table)) == 12
    assert money.format_usd(expected[this_month.strftime("%Y-%m")][1]) in table
    assert len(re.findall(r'<rect class="chart-bar', response.content.decode())) == 12


def test_the_month_filter_keeps_exactly_that_utc_month(alice, alice_client):
    workspace = workspace_of(alice)
    inside = [
        charge(workspace, alice, when=dt.datetime(2026, 11, 1, tzinfo=UTC)),
        charge(workspace, alice, when=dt.datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)),
    ]
    charge(workspace, alice, when=dt.datetime(2026, 10, 31, 23, 59, 59, 999999, tzinfo=UTC))
    charge(workspace, alice, when=dt.datetime(2026, 12, 1, tzinfo=UTC))
    response = alice_client.get("/usage/", {"month": "2026-11"})
    assert shown(response) == [str(c.generation.code) for c in reversed(inside)]
    assert response.context["totals"].overall.count == 2
    assert b"Totals: November 2026" in response.content


def test_a_date_range_typed_in_wins_over_the_month_left_in_the_form(alice, alice_client):
    """A chart bar set the month; the user then types dates and filters: those dates, not the month."""
    workspace = workspace_of(alice)
    october = charge(workspace, alice, when=dt.datetime(2026, 10, 5, 12, tzinfo=UTC))
    charge(workspace, alice, when=dt.datetime(2026, 11, 5, 12, tzinfo=UTC))
    response = alice_client.get("/usage/", {"month": "2026-11", "from": "2026-10-01", "to": "2026-10-15"})
    assert shown(response) == [str(october.generation.code)]
    body = response.content.decode()
    assert "Totals: 1 Oct 2026 – 15 Oct 2026" in body
    assert 'name="month" id="filter-month" value=""' in body


def test_the_date_range_includes_both_days(alice, alice_client):
    workspace = workspace_of(alice)
    days = [dt.datetime(2026, 11, d, 12, tzinfo=UTC) for d in (2, 3, 5, 10, 11)]
    made = [charge(workspace, alice, when=day) for day in days]
    response = alice_client.get("/usage/", {"from": "2026-11-03", "to": "2026-11-10"})
    assert shown(response) == [str(made[i].generation.code) for i in (3, 2, 1)]
    assert "Totals: 3 Nov 2026 – 10 Nov 2026" in response.content.decode()
    only_from = alice_client.get("/usage/", {"from": "2026-11-10"})
    assert shown(only_from) == [str(made[i].generation.code) for i in (4, 3)]


def test_a_malformed_period_is_reported_and_ignored(alice, alice_client):
    charge(workspace_of(alice), alice, when=NOW)
    for params in (
        {"month": "November"},
        {"month": "9999-12"},
        {"from": "2026-13-01"},
        {"to": "9999-12-31"},
        {"from": "2026-11-10", "to": "2026-11-01"},
    ):
        response = alice_client.get("/usage/", params)
        assert response.status_code == 200
        assert b'class="banner banner-warning" role="alert">The ' in response.content
        assert len(shown(response)) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"provider": "fal"},
        {"model": "gpt-image-2"},
        {"member": "bob@example.com"},
        {"month": "2026-11", "provider": "openai"},
        {"month": "2026-10", "model": "fal-ai/flux-2-max", "member": "alice@example.com"},
        {"from": "2026-10-20", "to": "2026-11-05", "provider": "openai", "member": "bob@example.com"},
        {"provider": "fal", "model": "gpt-image-2"},
    ],
)
def test_filters_combine(alice, bob, alice_client, params):
    workspace = workspace_of(alice)
    made = []
    when = dt.datetime(2026, 11, 20, tzinfo=UTC)
    for i in range(24):
        provider, model = [
            ("openai", "gpt-image-2"),
            ("fal", "fal-ai/flux-2-max"),
            ("openai", "gpt-image-1.5"),
        ][i % 3]
        user = (alice, bob)[i % 2]
        made.append(
            charge(workspace, user, when=when - dt.timedelta(days=2 * i), provider=provider, model=model)
        )

    def matches(record: CostRecord) -> bool:
        day = record.created_at.date()
        return (
            params.get("provider", record.provider) == record.provider
            and params.get("model", record.model) == record.model
            and params.get("member", record.created_by.email) == record.created_by.email
            and params.get("month", record.created_at.strftime("%Y-%m"))
            == record.created_at.strftime("%Y-%m")
            and params.get("from", str(day)) <= str(day) <= params.get("to", str(day))
        )

    expected = [str(r.generation.code) for r in made if matches(r)]
    response = alice_client.get("/usage/", params)
    assert shown(response) == expected
    assert response.context["totals"].overall.count == len(expected)
    assert response.context["totals"].overall.amount_nanousd == 10_000_000 * len(expected)
    for key, value in params.items():
        if key in ("provider", "model", "member"):
            assert f'<option value="{value}" selected>' in response.content.decode()


def test_the_chart_follows_provider_model_and_member_but_not_the_period(alice, bob, alice_client):
    workspace = workspace_of(alice)
    last_month = dates.add_months(dates.month_start(NOW), -1)
    charge(workspace, alice, when=last_month, provider="fal", model="fal-ai/flux-2-max", amount=70_000_000)
    charge(workspace, bob, when=last_month, amount=11_000_000)
    response = alice_client.get("/usage/", {"provider": "fal", "month": NOW.strftime("%Y-%m")})
    months = {m.key: m.total.amount_nanousd for m in response.context["months"]}
    assert months[last_month.strftime("%Y-%m")] == 70_000_000
    assert shown(response) == []


def test_keyset_pagination_walks_every_record_once_newest_first(alice, alice_client):
    workspace = workspace_of(alice)
    newest = dt.datetime(2026, 11, 20, tzinfo=UTC)
    records = bulk_costs(workspace, alice, 120, newest=newest)
    # Records created in the same instant still come out once each, ordered by id.
    records += bulk_costs(workspace, alice, 7, newest=newest - dt.timedelta(days=3), step=dt.timedelta(0))
    expected = [
        str(r.generation.code) for r in sorted(records, key=lambda r: (r.created_at, r.pk), reverse=True)
    ]
    pages, url = [], "/usage/?model=gpt-image-2"
    while url:
        response = alice_client.get(url if url.startswith("/") else "/usage/" + url)
        pages.append(shown(response))
        url = link(response, "next")
        if url:
            assert "model=gpt-image-2" in url
    assert [len(p) for p in pages] == [50, 50, 27]
    assert [code for p in pages for code in p] == expected
    # And back: "Newer" from the last page returns the pages before it.
    last = alice_client.get("/usage/" + link(alice_client.get("/usage/"), "next"))
    last = alice_client.get("/usage/" + link(last, "next"))
    assert link(last, "next") is None
    back = alice_client.get("/usage/" + link(last, "prev"))
    assert shown(back) == pages[1]
    top = alice_client.get("/usage/" + link(back, "prev"))
    assert shown(top) == pages[0]
    assert link(top, "prev") is None


def test_a_foreign_or_malformed_cursor_shows_the_first_page(alice, alice_client, charlie):
    mine = charge(workspace_of(alice), alice, when=NOW)
    theirs = charge(workspace_of(charlie), charlie, when=NOW + dt.timedelta(minutes=1))
    for cursor in ("nope", str(theirs.code)):
        response = alice_client.get("/usage/", {"before": cursor})
        assert shown(response) == [str(mine.generation.code)]


def test_its_query_count_is_the_same_with_10_and_1000_records(alice, bob, alice_client):
    workspace = workspace_of(alice)
    newest = NOW - dt.timedelta(minutes=1)
    bulk_costs(workspace, alice, 10, newest=newest)

    def queries(params: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get("/usage/", params).status_code == 200
        return len(captured)

    few = [queries({}), queries({"provider": "openai", "member": "alice@example.com"})]
    first = CostRecord.objects.order_by("-created_at").first().code
    few_paged = queries({"before": str(first)})
    bulk_costs(
        workspace, bob, 990, newest=newest - dt.timedelta(seconds=30), amount_nanousd=None, provider="fal"
    )
    assert [queries({}), queries({"provider": "openai", "member": "alice@example.com"})] == few
    assert queries({"before": str(first)}) == few_paged


def test_members_see_the_workspace_charges(alice, bob_client):
    record = charge(workspace_of(alice), alice, when=NOW)
    response = bob_client.get("/usage/")
    assert shown(response) == [str(record.generation.code)]


def test_it_never_shows_another_workspace_charges(alice, charlie, charlie_client):
    charge(workspace_of(alice), alice, when=NOW, persona_name="Budget Ben", amount=99_000_000)
    own = charge(workspace_of(charlie), charlie, when=NOW, model="gpt-image-1.5", amount=5_000_000)
    response = charlie_client.get("/usage/")
    assert shown(response) == [str(own.generation.code)]
    page = response.content.decode()
    assert "Budget Ben" not in page
    assert "alice@example.com" not in page
    assert response.context["totals"].overall.amount_nanousd == 5_000_000
    assert sum(m.total.count for m in response.context["months"]) == 1
    assert shown(charlie_client.get("/usage/", {"member": "alice@example.com"})) == []
