"""Several avatars as one ZIP, streamed: meaningful names, this workspace's images only, a sane limit."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.core.files.storage import default_storage

from generation import archive
from generation.models import Generation
from tests.support.accounts import workspace_of
from tests.support.factories import make_generation, make_image, make_persona, png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

DAY = dt.datetime(2026, 11, 14, 9, 30, tzinfo=dt.UTC)


def zip_of(response) -> zipfile.ZipFile:
    assert response.streaming  # never built whole in memory
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


@pytest.fixture
def images(alice, workspace, persona):
    """Two avatars of one Budget Ben generation, one of "Ana / Lee" (a name to sanitise), all on DAY."""
    ben = make_generation(workspace, alice, persona=persona, n=2)
    ana = make_generation(workspace, alice, persona=make_persona(workspace, alice, name="Ana / Lée ✨"))
    Generation.objects.filter(pk__in=[ben.pk, ana.pk]).update(created_at=DAY)
    colours = [(200, 10, 10), (10, 200, 10), (10, 10, 200)]
    return [
        make_image(ben, 0, data=png_bytes(color=colours[0])),
        make_image(ben, 1, data=png_bytes(color=colours[1])),
        make_image(ana, 0, data=png_bytes(color=colours[2])),
    ]


def test_it_streams_the_selected_images_with_meaningful_names(alice_client, images):
    response = alice_client.post("/gallery/download/", {"image": [str(image.code) for image in images]})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="aniavatar-3-avatars.zip"'
    archive_ = zip_of(response)
    assert archive_.testzip() is None
    names = archive_.namelist()
    assert sorted(names) == [
        "ana-lee-20261114-1.png",
        "budget-ben-20261114-1.png",
        "budget-ben-20261114-2.png",
    ]
    by_name = {"budget-ben-20261114-1.png": images[0], "budget-ben-20261114-2.png": images[1]}
    by_name["ana-lee-20261114-1.png"] = images[2]
    for name, image in by_name.items():
        with default_storage.open(image.file.name) as stored:
            assert archive_.read(name) == stored.read()


def test_only_the_selected_images_are_included(alice_client, images):
    response = alice_client.post("/gallery/download/", {"image": [str(images[1].code)]})
    assert zip_of(response).namelist() == ["budget-ben-20261114-2.png"]


def test_the_gallery_offers_a_labelled_checkbox_per_image_for_the_download_form(alice_client, images):
    html = alice_client.get("/gallery/").content.decode()
    assert 'id="download-form"' in html and 'action="/gallery/download/"' in html
    for image in images:
        assert f'<input type="checkbox" name="image" value="{image.code}" form="download-form">' in html
    assert 'Select<span class="visually-hidden"> avatar for Budget Ben,' in html


def test_nothing_selected_goes_back_with_an_error(alice_client, images):
    response = alice_client.post("/gallery/download/", {"next": "/gallery/?q=ben"})
    assert response.status_code == 302
    assert response["Location"] == "/gallery/?q=ben"
    page = alice_client.get(response["Location"]).content.decode()
    assert "Select the avatars to download first." in page


def test_more_than_the_limit_is_refused_with_a_clear_error(alice_client, images):
    codes = [str(images[0].code)] * 101
    response = alice_client.post("/gallery/download/", {"image": codes, "next": "/gallery/"})
    assert response.status_code == 302
    page = alice_client.get(response["Location"]).content.decode()
    assert "A ZIP holds at most 100 avatars; you selected 101." in page


def test_another_workspace_s_image_makes_it_a_404(alice, alice_client, images, charlie):
    theirs = make_image(make_generation(workspace_of(charlie), charlie))
    response = alice_client.post("/gallery/download/", {"image": [str(images[0].code), str(theirs.code)]})
    assert response.status_code == 404


def test_another_workspace_cannot_download_alice_s_images(charlie_client, images):
    response = charlie_client.post("/gallery/download/", {"image": [str(images[0].code)]})
    assert response.status_code == 404
    assert b"Budget Ben" not in response.content


@pytest.mark.parametrize("code", ["not-a-code", "\x00", "1" * 10_000])
def test_a_malformed_code_is_a_404(alice_client, images, code):
    assert alice_client.post("/gallery/download/", {"image": [code]}).status_code == 404


def test_the_limit_itself_is_allowed(alice, alice_client, workspace, persona):
    generation = make_generation(workspace, alice, persona=persona, n=4)
    codes = [str(make_image(generation, i).code) for i in range(100)]
    response = alice_client.post("/gallery/download/", {"image": codes, "next": "/gallery/"})
    assert response.status_code == 200
    assert len(zip_of(response).namelist()) == 100


def test_it_takes_only_post(alice_client):
    assert alice_client.get("/gallery/download/").status_code == 405


def test_the_archive_is_written_a_chunk_at_a_time(alice, workspace, persona, monkeypatch):
    # Three images of 3 chunks each: the stream yields as it goes, not one archive at the end.
    monkeypatch.setattr(archive, "CHUNK", 1024)
    generation = make_generation(workspace, alice, persona=persona, n=3)
    big = [make_image(generation, i, data=png_bytes(64, 64) + bytes(3000)) for i in range(3)]
    entries = [archive.Entry(f"{i}.png", image.file, DAY) for i, image in enumerate(big)]
    chunks = list(archive.stream_zip(entries))
    assert len(chunks) >= 9
    assert max(len(chunk) for chunk in chunks) < 2 * 1024
    readback = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert readback.namelist() == ["0.png", "1.png", "2.png"]
    assert readback.getinfo("0.png").date_time == (2026, 11, 14, 9, 30, 0)


def test_a_file_gone_from_storage_is_left_out(alice, workspace, persona):
    generation = make_generation(workspace, alice, persona=persona, n=2)
    gone, kept = make_image(generation, 0), make_image(generation, 1)
    default_storage.delete(gone.file.name)
    entries = [archive.Entry("gone.png", gone.file, DAY), archive.Entry("kept.png", kept.file, DAY)]
    readback = zipfile.ZipFile(io.BytesIO(b"".join(archive.stream_zip(entries))))
    assert readback.namelist() == ["kept.png"]


def test_repeated_names_are_made_distinct():
    assert archive.unique_names(["a.png", "a.png", "b.png", "a.png", "c"]) == [
        "a.png",
        "a-2.png",
        "b.png",
        "a-3.png",
        "c",
    ]
