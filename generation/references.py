"""Reference photos: checked and cleaned on upload, scaled down before they go to a provider.

Threat model. An upload is untrusted bytes from a browser: it may not be an image whatever its name
and type say, may be a decompression bomb (a few KB that decode to gigapixels), and a phone photo
carries EXIF with GPS coordinates and the camera's serial number. So every upload is decoded by
Pillow under a pixel limit (a bomb is refused before its pixels are decoded), turned upright by its
EXIF orientation, and re-encoded from its pixels alone, so no metadata survives; only that copy is
stored, privately (served to members of its workspace only, like avatars). A reference is sent to a
provider only by the worker of a generation of the same workspace (`generation.pipeline`).

Sending: references are scaled to about two megapixels first (fal bills input megapixels; a 40 MP
photo would cost about $1.24 per image). `send_size` is the size sent, so that a quote made before the
click (`fal` exact) sees the same pixels the provider will bill.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

from django.utils.translation import gettext as _
from PIL import Image, ImageFile, ImageOps

from providers.base import ProviderImage

MAX_REFERENCES = 4  # per persona
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # per file
MAX_UPLOAD_PIXELS = 40_000_000  # per file: larger is refused, and a bomb is never decoded
SEND_PIXELS = 2 * 1024 * 1024  # about two megapixels, what a provider receives
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
JPEG_QUALITY = 90


class ReferenceRejected(ValueError):
    """The upload is not a reference we take; the message says why, for the field."""


@dataclass(frozen=True)
class CleanReference:
    data: bytes
    content_type: str
    width: int
    height: int


def _open(data: bytes) -> ImageFile.ImageFile:
    """Read the header with the JPEG, PNG and WebP decoders only, whatever the file's name or type says.

    Pillow's own `Image.open` refuses above twice the process-wide `Image.MAX_IMAGE_PIXELS`, which is
    set for provider output (`generation.images`), below what a 40 MP photo needs: this applies the
    upload's limit instead, still from the header alone.
    """
    Image.init()
    for name in ACCEPTED:
        factory, accept = Image.OPEN[name]
        if accept is not None and not accept(data[:16]):
            continue
        try:
            return factory(io.BytesIO(data), "")
        except (SyntaxError, IndexError, TypeError, struct.error, OSError, ValueError):
            continue
    raise ReferenceRejected(_("This is not a JPEG, PNG or WebP image (whatever its name says)."))


def _decode(data: bytes) -> Image.Image:
    """Return the decoded image, refusing anything that is not a JPEG, PNG or WebP within the limits."""
    if not data:
        raise ReferenceRejected(_("The file is empty."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise ReferenceRejected(_("The file is larger than 20 MB."))
    image = _open(data)
    # The header gives the size before any pixel is decoded: a bomb stops here.
    if image.width * image.height > MAX_UPLOAD_PIXELS:
        raise ReferenceRejected(_("The photo has more than 40 megapixels. Use a smaller one."))
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, struct.error):
        raise ReferenceRejected(_("The image is damaged or incomplete.")) from None
    return image


def clean_upload(data: bytes) -> CleanReference:
    """Return the upload upright, without metadata, re-encoded; raise ReferenceRejected."""
    image = _decode(data)
    source_format = image.format or "JPEG"
    image = ImageOps.exif_transpose(image)  # upright first: the orientation tag is about to be dropped
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    clean = image.convert("RGBA" if has_alpha else "RGB")
    clean.info = {}  # Pillow writes ICC profiles, EXIF and text chunks from info: none survive
    out = io.BytesIO()
    if has_alpha or source_format == "PNG":
        clean.save(out, "PNG", optimize=False)
        content_type = "image/png"
    else:
        clean.save(out, "JPEG", quality=JPEG_QUALITY)
        content_type = "image/jpeg"
    return CleanReference(out.getvalue(), content_type, clean.width, clean.height)


def send_size(width: int, height: int) -> tuple[int, int]:
    """Return the size a reference of `width`×`height` is sent at: at most about two megapixels."""
    if width * height <= SEND_PIXELS:
        return width, height
    scale = math.sqrt(SEND_PIXELS / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def for_provider(data: bytes) -> ProviderImage:
    """Return a stored reference (or avatar) scaled to `send_size`, as it is sent (with its size)."""
    image: Image.Image = _open(data)  # stored by us: checked on upload, within the upload's pixel limit
    size = send_size(image.width, image.height)
    if size == image.size and image.format in ("PNG", "JPEG"):
        return ProviderImage(data, ACCEPTED[image.format], *size)
    if image.format == "JPEG":
        # Decode at a power-of-two reduction no smaller than the target (a 40 MP photo: 4× faster, a
        # sixteenth of the memory); the exact size comes from the resize below.
        image.draft("RGB", size)
    image.load()
    has_alpha = image.mode in ("RGBA", "LA", "PA")
    image = image.convert("RGBA" if has_alpha else "RGB")
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    if has_alpha:
        image.save(out, "PNG")
        return ProviderImage(out.getvalue(), "image/png", *image.size)
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return ProviderImage(out.getvalue(), "image/jpeg", *image.size)
