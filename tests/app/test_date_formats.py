"""One date format and one date-time format, with its zone, on every page (issue 17, defect 8).

A date reads "3 Dec 2026"; a date-time "3 Dec 2026, 05:39 UTC". The main pages are rendered with data
and every date in their text must be one of the two (attributes such as `datetime` keep ISO 8601).
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from generation import pipeline
from generation.models import CostRecord, GeneratedImage, Generation
from generation.reconciliation import service
from keys import services as vault
from keys.models import KeyUse, ProviderKey
from tests.support.accounts import workspace_of
from tests.support.factories import make_persona
from tests.support.generation import start
from tests.support.keys import OPENAI_KEY, make_key

pytestmark = pytest.mark.django_db

MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
ALLOWED = re.compile(rf"\b\d{{1,2}} (?:{MONTHS}) \d{{4}}(?:, \d{{2}}:\d{{2}} UTC)?")
# What a date in another format looks like: ISO days, slashes, "Dec. 3", a bare time, seconds.
OTHER = re.compile(
    rf"\d{{4}}-\d{{2}}-\d{{2}}|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b(?:{MONTHS})\.? \d{{1,2}}\b|\b\d{{1,2}}:\d{{2}}\b"
)
WHEN = dt.datetime(2026, 12, 3, 5, 39, 12, tzinfo=dt.UTC)
OPENAI_ADMIN = "sk-admin-DatesTestAdminKey0123456789abcdefghijklmnopqrstuv"


def _text(page: str) -> str:
    """Return what a reader sees: no tags, scripts or styles (attributes hold machine dates)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _dates(page: str) -> list[str]:
    text = _text(page)
    found = [m.group(0) for m in ALLOWED.finditer(text)]
    others = OTHER.findall(ALLOWED.sub(" ", text))
    assert not others, f"dates in another format: {others}"
    return found


@pytest.fixture
def data(alice, double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    workspace = workspace_of(alice)
    key = make_key(alice, "openai")
    persona = make_persona(workspace, alice, name="Ana")
    generation = start(alice, key, "gpt-image-2")
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error_message
    Generation.objects.filter(pk=generation.pk).update(persona=persona, persona_name="Ana", created_at=WHEN)
    GeneratedImage.objects.filter(generation=generation).update(created_at=WHEN)
    CostRecord.objects.filter(generation=generation).update(created_at=WHEN)
    ProviderKey.objects.filter(pk=key.pk).update(created_at=WHEN, last_used_at=WHEN, last_verified_at=WHEN)
    KeyUse.objects.update(created_at=WHEN)
    vault.add_usage_key(workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN)
    double.bill_outside("openai", OPENAI_KEY, "gpt-image-2", when=dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC))
    run = service.start_reconciliation(
        workspace, "openai", start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 8)
    )
    service.run_reconciliation(run.pk)
    run.refresh_from_db()
    return {"generation": generation, "persona": persona, "run": run}


def test_every_main_page_shows_dates_in_one_of_the_two_formats(alice_client, data):
    pages = {
        "/gallery/": ["3 Dec 2026"],
        f"/personas/{data['persona'].code}/": ["3 Dec 2026"],
        "/usage/": ["3 Dec 2026, 05:39 UTC", "1 Dec 2026", "7 Dec 2026"],
        "/usage/?from=2026-12-01&to=2026-12-08": ["1 Dec 2026", "8 Dec 2026"],
        f"/usage/reconciliations/{data['run'].code}/": ["1 Dec 2026", "7 Dec 2026", "2 Dec 2026"],
        "/keys/": ["3 Dec 2026, 05:39 UTC"],
        f"/generations/{data['generation'].code}/": [],
        "/": [],
        "/personas/": [],
        "/workspace/": [],
    }
    for url, expected in pages.items():
        response = alice_client.get(url)
        assert response.status_code == 200, url
        found = _dates(response.content.decode())
        for date in expected:
            assert date in found, (url, date, found)


def test_a_finished_reconciliation_says_its_zone(alice_client, data):
    run = data["run"]
    type(run).objects.filter(pk=run.pk).update(finished_at=WHEN)
    found = _dates(alice_client.get(f"/usage/reconciliations/{run.code}/").content.decode())
    assert "3 Dec 2026, 05:39 UTC" in found


def test_the_checker_catches_the_old_formats():
    for old in ["Dec. 3, 2026", "12/03/2026", "2026-12-03 05:43", "3 Dec 2026, 05:39", "05:39:12"]:
        with pytest.raises(AssertionError):
            _dates(f"<p>{old}</p>")
    assert _dates('<time datetime="2026-12-03T05:39:12+00:00">3 Dec 2026, 05:39 UTC</time>') == [
        "3 Dec 2026, 05:39 UTC"
    ]
