"""Plain helpers that create personas, generations and images directly (no provider involved)."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image

from accounts.models import User, Workspace
from generation.models import GeneratedImage, Generation, Persona


def make_persona(workspace: Workspace, user: User | None = None, **fields: Any) -> Persona:
    """Create a persona in `workspace`; `fields` override the defaults."""
    defaults = {"name": "Budget Ben", "role": "freelance designer", "art_style": Persona.ArtStyle.PHOTO}
    return Persona.objects.create(workspace=workspace, created_by=user, **{**defaults, **fields})


def make_generation(workspace: Workspace, user: User | None = None, **fields: Any) -> Generation:
    """Create a succeeded generation row; `fields` override the defaults."""
    persona = fields.get("persona")
    defaults = {
        "provider": "openai",
        "model": "gpt-image-2",
        "prompt": "A photo-realistic portrait photograph of a person.",
        "width": 1024,
        "height": 1024,
        "quality": "low",
        "output_format": "png",
        "quote_nanousd": 11_000_000,
        "status": Generation.Status.SUCCEEDED,
        "persona_name": persona.name if persona else "",
    }
    return Generation.objects.create(workspace=workspace, created_by=user, **{**defaults, **fields})


def png_bytes(width: int = 8, height: int = 8, color: tuple[int, int, int] = (91, 75, 219)) -> bytes:
    """Return a small, real PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def make_image(generation: Generation, index: int = 0, *, data: bytes | None = None) -> GeneratedImage:
    """Store a real PNG and its WebP thumbnail through the model's FileFields."""
    data = data or png_bytes()
    picture = Image.open(io.BytesIO(data))
    thumb = io.BytesIO()
    picture.save(thumb, "WEBP")
    name = uuid.uuid4().hex
    image = GeneratedImage(
        code=uuid.uuid4(),
        workspace=generation.workspace,
        generation=generation,
        index=index,
        width=picture.width,
        height=picture.height,
        content_type="image/png",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    image.file.save(f"{name}.png", ContentFile(data), save=False)
    image.thumbnail.save(f"{name}.thumb.webp", ContentFile(thumb.getvalue()), save=False)
    image.save()
    return image
