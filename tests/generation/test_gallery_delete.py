"""Deleting an avatar: asked first, then the row and both files go; what it cost stays counted."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import default_storage

from generation.models import CostRecord, GeneratedImage, Generation, UsageMonth
from generation.usage.filters import Filters
from generation.usage.totals import month_spend, totals
from tests.support.factories import make_cost, make_generation, make_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

MADE = dt.datetime(2026, 11, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def paid(alice, workspace, persona):
    """A generation of two avatars, charged in November 2026."""
    generation = make_generation(workspace, alice, persona=persona, n=2)
    Generation.objects.filter(pk=generation.pk).update(created_at=MADE)
    images = [make_image(generation, 0), make_image(generation, 1)]
    record = make_cost(generation, amount_nanousd=22_180_000, created_at=MADE)  # rolled up too
    return {"generation": generation, "images": images, "record": record}


def usage(workspace) -> dict:
    return {
        "records": list(CostRecord.objects.order_by("pk").values()),
        "months": list(UsageMonth.objects.order_by("pk").values()),
        "totals": totals(workspace, Filters()),
        "november": month_spend(workspace, now=MADE + dt.timedelta(days=1)),
    }


def test_it_asks_first(alice_client, paid):
    image = paid["images"][0]
    response = alice_client.get(f"/gallery/{image.code}/delete/", {"persona": "x", "q": "ben"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Delete this avatar?" in html
    assert f'action="/gallery/{image.code}/delete/"' in html and 'method="post"' in html
    assert "data-confirm=" in html
    assert '<input type="hidden" name="q" value="ben">' in html  # back to the same filters after
    assert GeneratedImage.objects.filter(pk=image.pk).exists()


def test_it_deletes_the_image_and_its_files_and_keeps_the_costs(
    alice_client, workspace, paid, django_capture_on_commit_callbacks
):
    image, kept = paid["images"]
    names = [image.file.name, image.thumbnail.name]
    assert all(default_storage.exists(name) for name in names)
    before = usage(workspace)
    assert before["totals"].overall.amount_nanousd == 22_180_000  # positive control

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/gallery/{image.code}/delete/", {"q": "ben"})

    assert response.status_code == 302
    assert response["Location"] == "/gallery/?q=ben"
    assert not GeneratedImage.objects.filter(pk=image.pk).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert default_storage.exists(kept.file.name) and default_storage.exists(kept.thumbnail.name)
    assert Generation.objects.filter(pk=paid["generation"].pk).exists()
    assert usage(workspace) == before
    page = alice_client.get("/gallery/")
    assert "Avatar deleted. What it cost stays in your usage history." in page.content.decode()
    assert str(image.code) not in page.content.decode()
    assert alice_client.get(f"/gallery/{image.code}/").status_code == 404
    assert alice_client.get(f"/images/{image.code}/").status_code == 404


def test_the_generation_page_still_opens_with_its_cost(
    alice_client, paid, django_capture_on_commit_callbacks
):
    for image in paid["images"]:
        with django_capture_on_commit_callbacks(execute=True):
            alice_client.post(f"/gallery/{image.code}/delete/")
    response = alice_client.get(f"/generations/{paid['generation'].code}/")
    assert response.status_code == 200
    assert b"$0.02218" in response.content


def test_a_file_already_gone_does_not_stop_the_delete(alice_client, paid, django_capture_on_commit_callbacks):
    image = paid["images"][0]
    default_storage.delete(image.file.name)
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.post(f"/gallery/{image.code}/delete/").status_code == 302
    assert not default_storage.exists(image.thumbnail.name)


def test_members_may_delete(bob_client, paid):
    image = paid["images"][0]
    assert bob_client.post(f"/gallery/{image.code}/delete/").status_code == 302
    assert not GeneratedImage.objects.filter(pk=image.pk).exists()


def test_another_workspace_gets_404_and_nothing_goes(
    charlie_client, paid, django_capture_on_commit_callbacks
):
    image = paid["images"][0]
    assert charlie_client.get(f"/gallery/{image.code}/delete/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert charlie_client.post(f"/gallery/{image.code}/delete/").status_code == 404
    assert GeneratedImage.objects.filter(pk=image.pk).exists()
    assert default_storage.exists(image.file.name) and default_storage.exists(image.thumbnail.name)
