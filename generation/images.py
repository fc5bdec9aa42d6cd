"""Check what a provider sent before it is stored, and make thumbnails.

The provider's bytes are untrusted input: they must decode as the image format claimed, at the size
asked for, and must not smuggle data in metadata (EXIF, XMP, text chunks, comments). Images without
such metadata are kept byte for byte; the others are re-encoded without it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

from django.utils.translation import gettext_noop
from PIL import Image

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
THUMBNAIL_SIDE = 320  # twice the 160 CSS pixels that lists show, for high-density screens
# Shown at half their size, thumbnails hide compression well: at 50 a photograph's is 7 KB instead of
# 12 KB at 80, and looks the same, so a gallery page of 50 avatars stays under 400 KB (bench pages).
THUMBNAIL_QUALITY = 50
# A decompression bomb is a provider fault too: nothing we ask for is larger than 4K.
Image.MAX_IMAGE_PIXELS = 3840 * 2160 * 2
_METADATA_KEYS = {"exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile", "photoshop", "dpi"}


# Why an image was refused: stored with the generation in English, shown translated (generation/stored_text.py).
NOT_AN_IMAGE = gettext_noop("The provider sent data that is not a complete image.")
UNEXPECTED_FORMAT = gettext_noop("The provider sent an unexpected image format ({format}).")
WRONG_SIZE = gettext_noop("The provider sent a {got} image instead of {wanted}.")
SENTENCES = (NOT_AN_IMAGE, UNEXPECTED_FORMAT, WRONG_SIZE)


class ImageRejected(ValueError):
    """The bytes are not a usable image of the expected size (a provider fault)."""


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str
    # The pixels decoded by the check, so the thumbnail does not decode the image a second time (a
    # 1024×1024 photo takes ~30 ms of CPU to decode, the largest share of a generation's overhead).
    pixels: Image.Image | None = field(default=None, repr=False, compare=False)
    # The WebP thumbnail, made in a finish slot (the files are written outside it: generation.pipeline).
    thumbnail: bytes = field(default=b"", repr=False, compare=False)


def _open(data: bytes) -> tuple[Image.Image, str]:
    """Return the decoded image and its content type."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            probe.verify()  # structure and checksums; the image is unusable afterwards
            image = Image.open(io.BytesIO(data))
            image.load()  # decodes every pixel: truncated data fails here
    except Exception as exc:
        raise ImageRejected(NOT_AN_IMAGE) from exc
    if image.format not in FORMATS:
        raise ImageRejected(UNEXPECTED_FORMAT.format(format=image.format))
    return image, FORMATS[image.format]


def check_image(data: bytes, *, width: int | None, height: int | None) -> CheckedImage:
    """Return the image with metadata stripped, or raise ImageRejected."""
    image, content_type = _open(data)
    if width is not None and height is not None and image.size != (width, height):
        raise ImageRejected(
            WRONG_SIZE.format(got=f"{image.width}×{image.height}", wanted=f"{width}×{height}")
        )
    # PNG text chunks appear in info as str values; the named keys cover EXIF, XMP, ICC and comments.
    has_metadata = bool(_METADATA_KEYS & set(image.info)) or any(
        isinstance(v, str) for v in image.info.values()
    )
    if has_metadata or image.getexif():
        data = _reencode(image)
    return CheckedImage(
        data=data,
        content_type=content_type,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(data).hexdigest(),
        pixels=image,
    )


def _reencode(image: Image.Image) -> bytes:
    """Return the pixels in the same format with no metadata at all."""
    clean = image.copy()
    clean.info = {}  # Pillow writes ICC profiles and text chunks from info; EXIF only when asked
    out = io.BytesIO()
    if image.format == "JPEG":
        clean.save(out, "JPEG", quality=95, subsampling=0)
    elif image.format == "WEBP":
        clean.save(out, "WEBP", lossless=True)
    else:
        clean.save(out, "PNG")
    return out.getvalue()


def make_thumbnail(source: bytes | Image.Image) -> bytes:
    """Return a WebP thumbnail, at most THUMBNAIL_SIDE pixels on its longer side, of bytes or pixels."""
    if isinstance(source, Image.Image):
        image = source
    else:
        image = Image.open(io.BytesIO(source))
        image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # fast JPEG downscale while decoding
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if image.mode in ("LA", "P", "PA") else "RGB")
    scale = min(THUMBNAIL_SIDE / image.width, THUMBNAIL_SIDE / image.height)
    if scale < 1:
        # resize() returns the small image: no copy of the full-size pixels, and `source` is kept as is.
        # reducing_gap=1.0: an integer box reduction first, then LANCZOS over the last step. A third of
        # the time of LANCZOS over the whole image, and the same picture (PSNR 40 dB between them).
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=THUMBNAIL_QUALITY, method=4)
    return out.getvalue()
