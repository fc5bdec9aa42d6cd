"""The usage filter form: which period and equalities a query string gives, and what it refuses."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import QueryDict

from generation.usage.filters import FIRST_DAY, LAST_DAY, FilterForm, Filters, parse_filters

UTC = dt.UTC


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_nothing_typed_is_all_time_without_errors():
    form = FilterForm(QueryDict(""))
    assert form.filters() == Filters()
    assert form.errors == {} and form.ignored() == []


def test_a_month_is_its_utc_month():
    filters, errors = parse_filters({"month": " 2026-11 "})
    assert (filters.start, filters.end, filters.period) == (day("2026-11-01"), day("2026-12-01"), "2026-11")
    assert filters.period_label == "November 2026"
    assert errors == []


def test_a_range_includes_its_last_day_and_either_end_may_be_open():
    assert parse_filters({"from": "2026-11-03", "to": "2026-11-10"})[0] == Filters(
        day("2026-11-03"), day("2026-11-11"), period="2026-11-03_2026-11-10"
    )
    assert parse_filters({"from": "2026-11-03"})[0].period == "2026-11-03_now"
    assert parse_filters({"to": "2026-11-10"})[0].period == "start_2026-11-10"


def test_a_typed_range_wins_over_a_month_and_the_month_is_not_even_checked():
    form = FilterForm({"month": "garbage", "from": "2026-10-01", "to": "2026-10-15"})
    assert form.filters().period == "2026-10-01_2026-10-15"
    assert form.errors == {}


def test_the_equalities_are_stripped_and_apply_whatever_the_period():
    form = FilterForm(
        {"month": "2026-13", "provider": " fal ", "model": "fal-ai/flux-2-max", "member": "a@b.c"}
    )
    filters = form.filters()
    assert (filters.provider, filters.model, filters.member) == ("fal", "fal-ai/flux-2-max", "a@b.c")
    assert (filters.start, filters.end, filters.period) == (None, None, "all")


def test_a_nul_in_an_equality_is_no_error_it_matches_nothing():
    form = FilterForm({"provider": "open\x00ai"})
    assert form.errors == {}
    assert form.filters().provider == "open\x00ai"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "November"}, "month"),
        ({"month": "2026-13"}, "month"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "from"),
    ],
)
def test_a_malformed_period_is_refused_beside_its_field_and_ignored(params, field):
    form = FilterForm(params)
    assert list(form.errors) == [field]
    filters = form.filters()
    assert (filters.start, filters.end, filters.period) == (None, None, "all")
    [line] = form.ignored()
    assert line.startswith("The ") and form.errors[field][0] in line


@pytest.mark.parametrize(
    ("params", "accepted"),
    [
        ({"from": str(FIRST_DAY)}, True),
        ({"from": str(FIRST_DAY - dt.timedelta(days=1))}, False),
        ({"to": str(LAST_DAY)}, True),
        ({"to": str(LAST_DAY + dt.timedelta(days=1))}, False),
        ({"from": "9999-12-31"}, False),
        ({"from": "0001-01-01"}, False),
        ({"month": "2000-01"}, True),
        ({"month": "1999-12"}, False),
        ({"month": "9998-12"}, True),
        ({"month": "9999-12"}, False),
        ({"month": "0001-01"}, False),
    ],
)
def test_dates_are_bounded_so_the_period_always_has_a_next_day_and_month(params, accepted):
    form = FilterForm(params)
    assert form.is_valid() == accepted
    if accepted:
        filters = form.filters()
        assert filters.period_label  # computes the next month: no ValueError or OverflowError
    else:
        [errors] = form.errors.values()
        assert errors[0].startswith("Enter a ") and (" from 2000-01" in errors[0])


def test_parse_filters_reads_a_query_dict_as_the_views_do():
    filters, errors = parse_filters(QueryDict("from=2026-01-01&from=2026-02-01&provider=fal"))
    assert filters.start == day("2026-02-01")  # the last of repeated values, as QueryDict.get gives it
    assert filters.provider == "fal" and errors == []
