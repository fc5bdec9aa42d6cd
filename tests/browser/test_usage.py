from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from pathlib import Path

import pytest
from django.utils.text import slugify
from playwright.sync_api import expect

from generation import dates
from tests.support.accounts import PASSWORD, workspace_of
from tests.support.factories import make_cost, make_generation

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_user_reads_the_usage_chart_filters_a_month_and_downloads_the_csv(page, alice, frozen_now):
    workspace = workspace_of(alice)
    this_month = dates.month_start(frozen_now)
    last_month = dates.add_months(this_month, -1)
    for when, amount, persona in (
        (this_month, 11_090_000, "Budget Ben"),
        (last_month, 70_000_000, "Careful Cora"),
    ):
        generation = make_generation(workspace, alice, created_at=when, persona_name=persona)
        make_cost(generation, amount_nanousd=amount, created_at=when)

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_test_id("month-spend")).to_have_text("$0.01109")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Usage and costs")).to_be_visible()
    expect(page.get_by_test_id("total-amount")).to_have_text("$0.08109")
    expect(page.locator("svg.chart rect.chart-bar")).to_have_count(12)

    # A bar links to its month; the page keeps that filter.
    page.locator(f'svg.chart a[href*="month={last_month:%Y-%m}"]').click()
    expect(page).to_have_url(re.compile(rf"month={last_month:%Y-%m}"))
    expect(page.get_by_test_id("total-amount")).to_have_text("$0.07")
    expect(page.get_by_test_id("usage-records")).to_contain_text("Careful Cora")
    expect(page.get_by_test_id("usage-records")).not_to_contain_text("Budget Ben")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"aniavatar-usage-{slugify(workspace.name)}-{last_month:%Y-%m}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [(row["persona"], row["amount_usd"]) for row in rows] == [("Careful Cora", "0.070000000")]


def test_the_cost_column_lines_up_its_decimal_points(page, alice, frozen_now):
    workspace = workspace_of(alice)
    for minutes, amount in enumerate((370_205_000, 280_000_000, 12_499_349_795_000, 1_000_100_000)):
        when = frozen_now - dt.timedelta(minutes=minutes)
        make_cost(make_generation(workspace, alice, created_at=when), amount_nanousd=amount, created_at=when)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.goto("/usage/")
    expect(page.get_by_test_id("total-amount")).to_have_text("$12,501.0001")
    # The x of each amount's decimal point, as drawn: one value for the whole column.
    points = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="usage-records"] td[data-testid="cost"] .amount')]
            .map((span) => {
              const text = span.firstChild, range = document.createRange(), at = text.data.indexOf('.');
              range.setStart(text, at); range.setEnd(text, at + 1);
              return Math.round(range.getBoundingClientRect().left * 10) / 10;
            })"""
    )
    assert len(points) == 4
    assert max(points) - min(points) < 0.5, points


def test_the_chart_labels_are_at_least_12_px_on_a_phone(page, alice, frozen_now):
    """SVG text shrinks with its viewBox (8 px at 390 px wide): the labels are HTML beside the shapes."""
    workspace = workspace_of(alice)
    this_month = dates.month_start(frozen_now)
    generation = make_generation(workspace, alice, created_at=this_month)
    make_cost(generation, amount_nanousd=1_234_560_000_000, created_at=this_month)  # a wide label

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.goto("/usage/")
    expect(page.locator("svg.chart rect.chart-bar")).to_have_count(12)
    labels = page.eval_on_selector_all(
        ".chart-ticks .chart-axis, .chart-months .chart-axis",
        """els => els.filter(e => getComputedStyle(e).visibility !== 'hidden').map(e => {
            const box = e.getBoundingClientRect();
            return {text: e.textContent, size: parseFloat(getComputedStyle(e).fontSize),
                    left: box.left, right: box.right, months: !!e.closest('.chart-months')};
        })""",
    )
    assert labels and all(label["size"] >= 12 for label in labels), labels
    months = [label for label in labels if label["months"]]
    assert len(months) == 6 and months[-1]["text"] == f"{frozen_now:%b}"  # every other, this one shown
    assert all(a["right"] <= b["left"] for a, b in itertools.pairwise(months))  # no overlap
    assert page.locator("svg.chart text").count() == 0
    # Nothing sticks out of the page sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
