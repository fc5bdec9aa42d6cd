"""The reconciliation pages: "Reconcile now" for owners, a run's page, the owner's key choice; tenancy."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import translation

from generation.models import KeyMatch, Reconciliation
from generation.reconciliation import service
from keys import services as vault
from provider_double.ledger import api_key_id
from tests.support.accounts import workspace_of
from tests.support.keys import OPENAI_KEY, make_key

pytestmark = pytest.mark.django_db

OPENAI_ADMIN = "sk-admin-ViewsTestAdminKey0123456789abcdefghijklmnopqrstu"


@pytest.fixture
def run(alice, double) -> Reconciliation:
    workspace = workspace_of(alice)
    vault.add_usage_key(workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN)
    make_key(alice, "openai")
    double.bill_outside("openai", OPENAI_KEY, "gpt-image-2", when=dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC))
    found = service.start_reconciliation(
        workspace, "openai", start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 8)
    )
    service.run_reconciliation(found.pk)
    found.refresh_from_db()
    return found


def test_the_usage_page_shows_the_latest_run_per_day_in_utc(alice_client, run):
    page = alice_client.get("/usage/").content.decode()
    assert "Reconciliation with the providers (UTC days)" in page
    assert "Reconcile now" in page
    assert 'data-day="2026-12-02"' in page  # the day of the outside request: theirs beside ours


def test_members_see_the_run_but_cannot_reconcile_or_choose(bob_client, run, double):
    assert bob_client.get(f"/usage/reconciliations/{run.code}/").status_code == 200
    assert "Reconcile now" not in bob_client.get("/usage/").content.decode()
    assert bob_client.post("/usage/reconcile/", {"provider": "openai"}).status_code == 403
    data = {"run": str(run.code), "key": str(uuid.uuid4()), "provider_key_id": "x"}
    assert bob_client.post("/usage/key-matches/", data).status_code == 403


def test_reconcile_now_starts_a_run_for_the_month_so_far(
    alice, alice_client, run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post("/usage/reconcile/", {"provider": "openai"})
    started = Reconciliation.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response.url == f"/usage/reconciliations/{started.code}/"
    assert (started.start, started.end) == service.default_period()
    assert started.status == "running" and len(callbacks) == 1  # the task, enqueued on commit


def test_another_workspace_gets_404_for_a_run_and_its_key_choice(alice, charlie_client, run):
    assert charlie_client.get(f"/usage/reconciliations/{run.code}/").status_code == 404
    alices_key = run.key_matches[0]["key_code"]
    data = {"run": str(run.code), "key": alices_key, "provider_key_id": api_key_id(OPENAI_KEY)}
    assert charlie_client.post("/usage/key-matches/", data).status_code == 404
    assert not KeyMatch.objects.filter(how="owner").exists()
    # Charlie has no usage key: nothing starts, in his workspace or alice's.
    charlie_client.post("/usage/reconcile/", {"provider": "openai"})
    assert Reconciliation.objects.count() == 1


def test_the_owner_chooses_a_key_id_from_the_report(alice_client, run):
    key_code = run.key_matches[0]["key_code"]
    data = {"run": str(run.code), "key": key_code, "provider_key_id": api_key_id(OPENAI_KEY)}
    response = alice_client.post("/usage/key-matches/", data)
    assert response.status_code == 302
    match = KeyMatch.objects.get()
    assert (match.provider_key_id, match.how) == (api_key_id(OPENAI_KEY), "owner")
    # An id the report never showed is refused.
    alice_client.post("/usage/key-matches/", {**data, "provider_key_id": "key_made_up"})
    assert KeyMatch.objects.get().provider_key_id == api_key_id(OPENAI_KEY)
    # A malformed id is a 404, never a 500.
    assert alice_client.post("/usage/key-matches/", {**data, "run": "not-a-uuid"}).status_code == 404


def test_reconcile_now_says_why_while_a_run_is_running(alice_client, run):
    alice_client.post("/usage/reconcile/", {"provider": "openai"})
    response = alice_client.post("/usage/reconcile/", {"provider": "openai"}, follow=True)
    assert Reconciliation.objects.filter(status="running").count() == 1
    assert "already running" in response.content.decode()


def test_a_key_of_another_provider_is_refused_for_the_run(alice, alice_client, run):
    fal_key = make_key(alice, "fal")
    data = {"run": str(run.code), "key": str(fal_key.code), "provider_key_id": api_key_id(OPENAI_KEY)}
    response = alice_client.post("/usage/key-matches/", data, follow=True)
    assert not KeyMatch.objects.exists()
    assert "generation keys" in response.content.decode()


def test_a_runs_reasons_and_summary_show_in_the_readers_language(alice_client, run):
    # Stored in English (the CSV and the logs keep it); each page shows it in the reader's language, with
    # Arabic's plural form for each count: 7 days (3-10), 1 request (one).
    # The locale middleware leaves the thread in the last page's language: restored for the next test.
    with translation.override("en"):
        _assert_shown_in_each_language(alice_client, run)


def _assert_shown_in_each_language(alice_client, run: Reconciliation) -> None:
    assert run.message == "7 UTC days: ours $0.00, theirs $0.00826."
    assert list(run.lines.values_list("reason", flat=True)) == [
        "1 request by other keys of the same OpenAI project."
    ]
    run_page = f"/usage/reconciliations/{run.code}/"
    english = alice_client.get(run_page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "7 UTC days: ours $0.00, theirs $0.00826." in english
    assert "1 request by other keys of the same OpenAI project." in english
    assert "No charged requests in this period to match by." in english  # the key's match evidence
    arabic = alice_client.get(run_page, HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert "7 أيام (UTC): لدينا $0.00، ولدى المزوّد $0.00826." in arabic
    assert "طلب واحد بمفاتيح أخرى في مشروع OpenAI نفسه." in arabic
    assert "لا توجد في هذه الفترة طلبات محتسَبة تُبنى عليها المطابقة." in arabic
    for sentence in ("UTC days", "by other keys", "No charged requests"):
        assert sentence not in arabic
    usage = alice_client.get("/usage/", HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert "7 أيام (UTC): لدينا $0.00، ولدى المزوّد $0.00826." in usage
    assert "طلب واحد بمفاتيح أخرى في مشروع OpenAI نفسه." in usage
