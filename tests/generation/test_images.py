"""What a provider sends is checked before it is stored."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from generation.images import ImageRejected, check_image, make_thumbnail


def _png(width=64, height=48, *, text: str | None = None) -> bytes:
    image = Image.new("RGB", (width, height), (200, 120, 40))
    out = io.BytesIO()
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", text)
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (32, 32), (10, 20, 30))
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_a_clean_image_is_kept_byte_for_byte():
    data = _png()
    checked = check_image(data, width=64, height=48)
    assert checked.data == data
    assert checked.content_type == "image/png"
    assert (checked.width, checked.height) == (64, 48)


def test_png_text_chunks_are_stripped():
    checked = check_image(_png(text="hidden payload"), width=64, height=48)
    assert b"hidden payload" not in checked.data
    assert Image.open(io.BytesIO(checked.data)).size == (64, 48)


def test_jpeg_exif_is_stripped():
    checked = check_image(_jpeg_with_exif(), width=32, height=32)
    assert b"secret description" not in checked.data
    assert checked.content_type == "image/jpeg"


@pytest.mark.parametrize(
    "data",
    [b"not an image at all", _png()[: len(_png()) // 2], b"", b"GIF89a" + b"\x00" * 20],
    ids=["text", "truncated", "empty", "broken-gif"],
)
def test_anything_but_a_complete_image_is_rejected(data):
    with pytest.raises(ImageRejected):
        check_image(data, width=64, height=48)


def test_an_image_of_the_wrong_size_is_rejected():
    with pytest.raises(ImageRejected, match="64×48 image instead of 1024×1024"):
        check_image(_png(), width=1024, height=1024)


def test_thumbnails_are_small_webp():
    thumb = Image.open(io.BytesIO(make_thumbnail(_png(1024, 768))))
    assert thumb.format == "WEBP"
    assert max(thumb.size) == 320


def test_a_thumbnail_from_the_checked_pixels_is_the_same_as_one_from_the_bytes():
    data = _png(1024, 768)
    checked = check_image(data, width=1024, height=768)
    assert make_thumbnail(checked.pixels) == make_thumbnail(data)
    assert checked.pixels.size == (1024, 768)  # the thumbnail did not shrink the checked pixels
