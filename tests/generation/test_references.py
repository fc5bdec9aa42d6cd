"""Reference photos on a persona (issue 19): checked, cleaned, private, deleted with the persona."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generation import references
from generation.models import PersonaReference

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def photo(width: int = 64, height: int = 48, fmt: str = "JPEG", *, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 120, 40))
    image.paste((0, 0, 255), (0, 0, 16, 16))  # a marker in the top-left corner, to check the rotation
    image.save(out, fmt, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def gps_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation  # rotate 90° clockwise to view
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    return exif


def upload(client, persona, *files: tuple[str, bytes, str], consent: bool = True):
    data = {"photos": [SimpleUploadedFile(n, b, content_type=t) for n, b, t in files]}
    if consent:
        data["consent"] = "on"
    return client.post(f"/personas/{persona.code}/references/", data)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width`×`height` (its data would decompress to gigabytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_an_upload_is_stored_upright_without_metadata_and_with_consent(alice, alice_client, persona):
    response = upload(alice_client, persona, ("me.jpg", photo(exif=gps_exif()), "image/jpeg"))
    assert response.status_code == 302
    reference = PersonaReference.objects.get()
    assert (reference.persona, reference.workspace, reference.created_by) == (
        persona,
        persona.workspace,
        alice,
    )
    assert reference.consent_at is not None and reference.original_name == "me.jpg"
    stored = reference.file.read()
    image = Image.open(io.BytesIO(stored))
    assert image.size == (48, 64)  # turned upright by its orientation tag
    assert not image.getexif() and "exif" not in image.info
    assert b"SpyCam" not in stored
    assert image.getpixel((40, 8))[2] > 200  # the marker moved with the rotation
    page = alice_client.get(f"/personas/{persona.code}/")
    assert f"/references/{reference.code}/".encode() in page.content
    assert b"<bdi>me.jpg</bdi>" in page.content


@pytest.mark.parametrize(
    ("name", "data", "content_type", "message"),
    [
        ("notes.jpg", b"hello, I am text " * 20, "image/jpeg", "not a JPEG, PNG or WebP"),
        ("anim.gif", b"GIF89a" + photo(fmt="GIF")[6:], "image/gif", "not a JPEG, PNG or WebP"),
        ("empty.png", b"", "image/png", "empty"),
        ("bomb.png", bomb_png(50_000, 50_000), "image/png", "more than 40 megapixels"),
        ("cut.png", photo(fmt="PNG")[:60], "image/png", "damaged or incomplete"),
    ],
)
def test_a_bad_upload_is_refused_beside_the_field_and_nothing_is_stored(
    alice_client, persona, name, data, content_type, message
):
    response = upload(
        alice_client, persona, ("good.png", photo(fmt="PNG"), "image/png"), (name, data, content_type)
    )
    assert response.status_code == 200
    assert message.encode() in response.content
    assert not PersonaReference.objects.exists()


def test_too_large_and_too_many_and_no_consent_are_refused(alice_client, persona, settings, monkeypatch):
    monkeypatch.setattr(references, "MAX_UPLOAD_BYTES", 1000)
    response = upload(alice_client, persona, ("big.jpg", photo(400, 400), "image/jpeg"))
    assert b"larger than 20 MB" in response.content
    monkeypatch.undo()
    five = [(f"p{i}.jpg", photo(), "image/jpeg") for i in range(5)]
    assert b"at most 4 reference photos" in upload(alice_client, persona, *five).content
    response = upload(alice_client, persona, ("me.jpg", photo(), "image/jpeg"), consent=False)
    assert b"Confirm that you may use these photos" in response.content
    assert not PersonaReference.objects.exists()


def test_references_are_private_and_go_with_the_persona(
    alice_client, charlie_client, persona, media_root, django_capture_on_commit_callbacks
):
    upload(alice_client, persona, ("me.png", photo(fmt="PNG"), "image/png"))
    reference = PersonaReference.objects.get()
    path = media_root / reference.file.name
    assert alice_client.get(f"/references/{reference.code}/").status_code == 200
    assert charlie_client.get(f"/references/{reference.code}/").status_code == 404
    assert charlie_client.post(f"/references/{reference.code}/delete/").status_code == 404
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/personas/{persona.code}/delete/")
    assert not PersonaReference.objects.exists()
    assert not path.exists()


def test_send_size_keeps_about_two_megapixels():
    assert references.send_size(1024, 1024) == (1024, 1024)
    width, height = references.send_size(7000, 5000)  # 35 MP
    assert width * height <= references.SEND_PIXELS and width / height == pytest.approx(1.4, rel=1e-3)
    sent = references.for_provider(photo(3000, 1000))
    assert Image.open(io.BytesIO(sent.data)).size == references.send_size(3000, 1000)
    assert (sent.width, sent.height) == references.send_size(3000, 1000)
    assert sent.content_type == "image/jpeg"


def test_a_webp_with_transparency_is_kept_as_png_and_a_misnamed_jpeg_is_taken(alice_client, persona):
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (0, 0, 0, 0)).save(out, "WEBP", lossless=True)
    response = upload(
        alice_client,
        persona,
        ("clear.webp", out.getvalue(), "image/webp"),
        ("photo.png", photo(), "image/png"),
    )
    assert response.status_code == 302
    clear, misnamed = PersonaReference.objects.order_by("original_name")
    assert (clear.content_type, clear.width, clear.height) == ("image/png", 40, 30)
    assert misnamed.content_type == "image/jpeg"  # what it is, not what its name says


def test_a_storage_that_fails_mid_upload_keeps_nothing(alice_client, persona, media_root, monkeypatch):
    """The second photo of an upload is refused by the storage: the first is deleted again, no row stays."""
    from django.core.files.storage import FileSystemStorage

    real_save = FileSystemStorage._save
    calls = []

    def failing_save(self, name, content):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", failing_save)
    response = upload(
        alice_client,
        persona,
        ("one.jpg", photo(), "image/jpeg"),
        ("two.jpg", photo(32, 32), "image/jpeg"),
    )
    assert response.status_code == 200
    assert b"could not be stored just now" in response.content
    assert len(calls) == 2
    assert not PersonaReference.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]
